"""Per-camera multi-object tracking: detections across frames become tracks, tracks become sightings.

A sighting is one person or vehicle passing a camera, not one detection per analysed frame: that
keeps the store small and lets each sighting show its best crop. Association is greedy on a score
built from the overlap with each track's constant-velocity prediction (sparse sampling moves objects
a box width between analysed frames), gated by appearance: a face must look like its track's face
(cosine similarity of embeddings), a vehicle's plate read must agree with its track's reads (a few
character edits). Greedy assignment on sorted scores is within a hair of Hungarian matching at the
handful of objects a camera sees per frame, without the cubic cost or a SciPy dependency.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from ingest.crops import encode_jpeg
from ingest.plate_vote import edit_distance, vote_plate
from ingest.settings import IngestSettings
from recognition.types import Box, PlateRead
from search.records import NewSighting, SightingKind

__all__ = ["Observation", "TrackResult", "Tracker"]

log = logging.getLogger(__name__)

#: A detection whose size differs from its track's by more than this factor (per side) is another
#: object: people and vehicles do not double in apparent size between two analysed frames.
_MAX_SCALE_CHANGE = 2.0
#: Plate reads a track remembers for the agreement gate (the voted plate uses all of them).
_RECENT_READS = 5


@dataclass(frozen=True, slots=True)
class Observation:
    """One detection in one analysed frame, ready for association.

    ``box`` is what is tracked (a face box, a vehicle-front box); ``crop`` is what the sighting
    will show if this turns out to be the track's best observation; ``quality`` in [0, 1] ranks them.
    """

    kind: SightingKind
    box: Box
    time: datetime
    quality: float
    crop: NDArray[np.uint8]
    embedding: NDArray[np.float32] | None = None
    plate: PlateRead | None = None
    color: str | None = None
    color_score: float = 0.0


@dataclass(frozen=True, slots=True)
class TrackResult:
    """A finished track: its time span, hit count, best observation and voted plate and colour."""

    track_id: int
    kind: SightingKind
    first_seen: datetime
    last_seen: datetime
    hits: int
    best: Observation
    plate: PlateRead | None = None
    color: str | None = None

    def to_sighting(self, camera_id: str, source: str | None = None, jpeg_quality: int = 90) -> NewSighting:
        """The store's record of this track, with the best crop JPEG-encoded."""
        return NewSighting(
            kind=self.kind,
            camera_id=camera_id,
            first_seen=self.first_seen,
            last_seen=self.last_seen,
            box=self.best.box,
            quality=float(self.best.quality),
            crop_jpeg=encode_jpeg(self.best.crop, jpeg_quality),
            embedding=self.best.embedding,
            plate=self.plate,
            color=self.color,
            source=source,
        )


@dataclass(slots=True)
class _Track:
    track_id: int
    kind: SightingKind
    first_seen: datetime
    last_seen: datetime
    last_box: Box
    best: Observation
    hits: int = 1
    velocity: tuple[float, float] = (0.0, 0.0)
    last_embedding: NDArray[np.float32] | None = None
    plate_reads: list[PlateRead] = field(default_factory=list)
    color_votes: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def predicted(self, now: datetime) -> Box:
        dt = (now - self.last_seen).total_seconds()
        dx, dy = self.velocity[0] * dt, self.velocity[1] * dt
        b = self.last_box
        return Box(b.x1 + dx, b.y1 + dy, b.x2 + dx, b.y2 + dy)

    def add(self, obs: Observation) -> None:
        dt = (obs.time - self.last_seen).total_seconds()
        if dt > 0:
            (cx0, cy0), (cx1, cy1) = self.last_box.center, obs.box.center
            v = ((cx1 - cx0) / dt, (cy1 - cy0) / dt)
            # The first step sets the velocity; later steps average to damp detector jitter.
            self.velocity = (
                v if self.hits == 1 else ((self.velocity[0] + v[0]) / 2, (self.velocity[1] + v[1]) / 2)
            )
        self.last_box = obs.box
        self.last_seen = max(self.last_seen, obs.time)
        self.hits += 1
        if obs.quality > self.best.quality:
            self.best = obs
        self.remember(obs)

    def remember(self, obs: Observation) -> None:
        if obs.embedding is not None:
            self.last_embedding = obs.embedding
        if obs.plate is not None:
            self.plate_reads.append(obs.plate)
        if obs.color is not None:
            self.color_votes[obs.color] += max(obs.color_score, 1e-3)

    def result(self) -> TrackResult:
        color = max(self.color_votes.items(), key=lambda kv: kv[1])[0] if self.color_votes else None
        return TrackResult(
            track_id=self.track_id,
            kind=self.kind,
            first_seen=self.first_seen,
            last_seen=self.last_seen,
            hits=self.hits,
            best=self.best,
            plate=vote_plate(self.plate_reads),
            color=color,
        )


def _cosine(a: NDArray[np.float32], b: NDArray[np.float32]) -> float:
    """Cosine similarity of two L2-normalised vectors."""
    return float(np.dot(a, b))


class Tracker:
    """Tracks the faces and vehicles of one camera; :meth:`update` once per analysed frame in time order.

    Finished tracks (no match for ``track_max_gap_s``) come back from :meth:`update` as soon as they
    end, so the caller can write them at once; :meth:`flush` ends the rest at the end of a stream.
    Tracks with fewer than ``track_min_hits`` hits are dropped and counted in ``tracks_dropped``.
    Faces below ``face_min_quality`` extend tracks but never start one: a blurred or tiny face alone
    is not worth a sighting, while the same person's sharp frame later is.
    """

    def __init__(self, settings: IngestSettings, face_min_quality: float = 0.0) -> None:
        self._settings = settings
        self._face_min_quality = face_min_quality
        self._max_gap = timedelta(seconds=settings.track_max_gap_s)
        self._tracks: list[_Track] = []
        self._ids = itertools.count(1)
        self.tracks_dropped = 0

    @property
    def open_tracks(self) -> int:
        return len(self._tracks)

    def update(self, now: datetime, observations: Sequence[Observation]) -> list[TrackResult]:
        """Associate one frame's observations (all taken at ``now``); returns the tracks that ended."""
        ended = self.expire(now)
        pairs: list[tuple[float, int, int]] = []
        for ti, track in enumerate(self._tracks):
            predicted = track.predicted(now)
            for oi, obs in enumerate(observations):
                score = self._score(track, predicted, obs)
                if score is not None:
                    pairs.append((score, ti, oi))
        pairs.sort(key=lambda p: -p[0])
        used_tracks: set[int] = set()
        used_obs: set[int] = set()
        for _, ti, oi in pairs:
            if ti in used_tracks or oi in used_obs:
                continue
            used_tracks.add(ti)
            used_obs.add(oi)
            self._tracks[ti].add(observations[oi])
        for oi, obs in enumerate(observations):
            if oi not in used_obs:
                self._start(obs)
        return ended

    def flush(self) -> list[TrackResult]:
        """End every open track (end of stream or a broken stream)."""
        finished, self._tracks = self._tracks, []
        return self._results(finished)

    def expire(self, now: datetime) -> list[TrackResult]:
        """End the tracks unmatched for longer than the gap at ``now``; :meth:`update` calls it too.

        A caller holding frames back (to batch their embeddings) may call it with the time of its
        earliest held frame: no later frame can revive those tracks, so they can be written already.
        """
        finished = [t for t in self._tracks if now - t.last_seen > self._max_gap]
        if finished:
            self._tracks = [t for t in self._tracks if now - t.last_seen <= self._max_gap]
        return self._results(finished)

    def _results(self, finished: list[_Track]) -> list[TrackResult]:
        results: list[TrackResult] = []
        for track in sorted(finished, key=lambda t: (t.last_seen, t.track_id)):
            if track.hits >= self._settings.track_min_hits:
                results.append(track.result())
            else:
                self.tracks_dropped += 1
                log.debug("track %d dropped: %d hits", track.track_id, track.hits)
        return results

    def _start(self, obs: Observation) -> None:
        if obs.kind is SightingKind.FACE and obs.quality < self._face_min_quality:
            return
        track = _Track(
            track_id=next(self._ids),
            kind=obs.kind,
            first_seen=obs.time,
            last_seen=obs.time,
            last_box=obs.box,
            best=obs,
        )
        track.remember(obs)
        self._tracks.append(track)

    def _score(self, track: _Track, predicted: Box, obs: Observation) -> float | None:
        """Association score of ``obs`` with ``track``, or None when a gate rejects the pair."""
        if obs.kind is not track.kind:
            return None
        s = self._settings
        size = math.sqrt(max(predicted.width * predicted.height, 1.0))
        obs_size = math.sqrt(max(obs.box.width * obs.box.height, 1.0))
        if max(size, obs_size) > _MAX_SCALE_CHANGE * min(size, obs_size):
            return None
        iou = predicted.iou(obs.box)
        (px, py), (ox, oy) = predicted.center, obs.box.center
        shift = math.hypot(ox - px, oy - py) / size
        if iou < s.track_min_iou and shift > s.track_max_shift:
            return None
        score = iou + 0.5 * max(0.0, 1.0 - shift / max(s.track_max_shift, 1e-6))
        if obs.embedding is not None and track.last_embedding is not None and obs.kind is SightingKind.FACE:
            similarity = max(_cosine(obs.embedding, track.last_embedding), self._best_similarity(track, obs))
            if similarity < s.track_face_min_similarity:
                return None
            score += 0.5 * similarity
        if obs.plate is not None and track.plate_reads:
            recent = track.plate_reads[-_RECENT_READS:]
            edits = min(edit_distance(obs.plate.text, r.text) for r in recent)
            if edits > s.track_plate_max_edits:
                return None
            score += 0.5 * (1.0 - edits / (s.track_plate_max_edits + 1))
        return score

    @staticmethod
    def _best_similarity(track: _Track, obs: Observation) -> float:
        if obs.embedding is None or track.best.embedding is None:
            return -1.0
        return _cosine(obs.embedding, track.best.embedding)

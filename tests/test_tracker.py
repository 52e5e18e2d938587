"""Tracking detections into one sighting per object, and voting a track's plate reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from ingest.plate_vote import edit_distance, vote_plate
from ingest.settings import IngestSettings
from ingest.tracker import Observation, Tracker, TrackResult
from recognition.types import Box, PlateRead
from search.records import SightingKind

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
SETTINGS = IngestSettings(track_max_gap_s=2.0, track_min_hits=1)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def unit(seed: int, dim: int = 64) -> NDArray[np.float32]:
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def patch(value: int) -> NDArray[np.uint8]:
    return np.full((24, 24, 3), value, np.uint8)


def obs(
    kind: SightingKind,
    x: float,
    t: float,
    *,
    quality: float = 0.5,
    tag: int = 0,
    embedding: NDArray[np.float32] | None = None,
    plate: PlateRead | None = None,
    size: float = 40.0,
) -> Observation:
    return Observation(
        kind=kind,
        box=Box(x, 100.0, x + size, 100.0 + size),
        time=at(t),
        quality=quality,
        crop=patch(tag),
        embedding=embedding,
        plate=plate,
    )


def read(text: str, conf: float = 0.95, low: dict[int, float] | None = None) -> PlateRead:
    confs = [conf] * len(text)
    for i, c in (low or {}).items():
        confs[i] = c
    return PlateRead(text=text, char_confidences=tuple(confs))


def run(tracker: Tracker, frames: list[tuple[float, list[Observation]]]) -> list[TrackResult]:
    ended: list[TrackResult] = []
    for t, observations in frames:
        ended.extend(tracker.update(at(t), observations))
    return ended + tracker.flush()


def test_two_objects_crossing_keep_their_tracks() -> None:
    """Two same-sized boxes pass through each other; only their motion tells them apart.

    Just after the crossing each box is nearer the other's last position than its own (they move
    30 px per analysed frame, 20 px apart at the crossing): only the constant-velocity prediction
    keeps the tracks apart.
    A's best frame is its first and B's its last: had the tracks swapped at the crossing, one track
    would hold both peaks and the other neither.
    """
    tracker = Tracker(SETTINGS)
    frames = []
    for step in range(11):
        q_a = 0.9 if step == 0 else 0.5
        q_b = 0.8 if step == 10 else 0.5
        a = obs(SightingKind.VEHICLE, -10.0 + 30.0 * step, step * 0.5, quality=q_a, tag=1)
        b = obs(SightingKind.VEHICLE, 310.0 - 30.0 * step, step * 0.5, quality=q_b, tag=2)
        frames.append((step * 0.5, [b, a] if step % 2 else [a, b]))
    results = run(tracker, frames)
    assert len(results) == 2
    assert sorted((int(r.best.crop[0, 0, 0]), r.best.quality) for r in results) == [(1, 0.9), (2, 0.8)]
    assert all(r.hits == 11 and r.first_seen == at(0) and r.last_seen == at(5.0) for r in results)


def test_a_gap_longer_than_max_gap_ends_the_track_when_it_happens() -> None:
    tracker = Tracker(SETTINGS)
    for t in (0.0, 0.5, 1.0):
        assert tracker.update(at(t), [obs(SightingKind.FACE, 50, t, embedding=unit(1))]) == []
    assert tracker.update(at(2.9), []) == []
    ended = tracker.update(at(3.1), [])
    assert [(r.first_seen, r.last_seen, r.hits) for r in ended] == [(at(0), at(1.0), 3)]
    assert tracker.open_tracks == 0
    # The same face again after the gap is a new sighting.
    tracker.update(at(4.0), [obs(SightingKind.FACE, 50, 4.0, embedding=unit(1))])
    again = tracker.flush()
    assert [(r.first_seen, r.hits) for r in again] == [(at(4.0), 1)]
    assert again[0].track_id != ended[0].track_id


@pytest.mark.parametrize(("second_person", "tracks"), [(2, 2), (1, 1)])
def test_embedding_gate_splits_two_people_at_the_same_place(second_person: int, tracks: int) -> None:
    """Person 1 stands still, then (without a gap) someone stands in the same place."""
    tracker = Tracker(SETTINGS)
    frames = [(t, [obs(SightingKind.FACE, 50, t, embedding=unit(1))]) for t in (0.0, 0.5, 1.0)]
    frames += [(t, [obs(SightingKind.FACE, 52, t, embedding=unit(second_person))]) for t in (1.5, 2.0)]
    results = run(tracker, frames)
    assert len(results) == tracks
    assert sum(r.hits for r in results) == 5


def test_plate_agreement_splits_two_vehicles_at_the_same_place() -> None:
    tracker = Tracker(SETTINGS)
    frames = [(t, [obs(SightingKind.VEHICLE, 50, t, plate=read("京A12345"))]) for t in (0.0, 0.5)]
    frames += [
        (1.0, [obs(SightingKind.VEHICLE, 50, 1.0, plate=read("京A1Z345"))])
    ]  # one look-alike: same car
    frames += [(t, [obs(SightingKind.VEHICLE, 50, t, plate=read("苏E88K21"))]) for t in (1.5, 2.0)]
    results = run(tracker, frames)
    assert [(r.plate.text if r.plate else None, r.hits) for r in results] == [
        ("京A12345", 3),
        ("苏E88K21", 2),
    ]


def test_one_sighting_per_track_with_the_best_quality_crop() -> None:
    tracker = Tracker(SETTINGS)
    qualities = [0.4, 0.9, 0.6, 0.7]
    frames = [
        (
            i * 0.5,
            [obs(SightingKind.FACE, 50 + 5 * i, i * 0.5, quality=q, tag=10 * (i + 1), embedding=unit(3))],
        )
        for i, q in enumerate(qualities)
    ]
    results = run(tracker, frames)
    assert len(results) == 1
    sighting = results[0].to_sighting("cam-1", source="clip.mp4")
    assert sighting.kind is SightingKind.FACE and sighting.camera_id == "cam-1"
    assert sighting.quality == 0.9
    assert sighting.box == Box(55.0, 100.0, 95.0, 140.0)
    assert (sighting.first_seen, sighting.last_seen) == (at(0), at(1.5))
    decoded = cv2.imdecode(np.frombuffer(sighting.crop_jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None
    assert decoded.shape == (24, 24, 3) and abs(int(decoded[12, 12, 0]) - 20) <= 2
    assert sighting.embedding is not None and np.allclose(sighting.embedding, unit(3))


def test_low_quality_faces_do_not_start_tracks_but_extend_them() -> None:
    tracker = Tracker(SETTINGS, face_min_quality=0.3)
    tracker.update(at(0), [obs(SightingKind.FACE, 50, 0, quality=0.1, embedding=unit(1))])
    assert tracker.open_tracks == 0
    tracker.update(at(0.5), [obs(SightingKind.FACE, 50, 0.5, quality=0.6, embedding=unit(1))])
    tracker.update(at(1.0), [obs(SightingKind.FACE, 55, 1.0, quality=0.1, embedding=unit(1))])
    results = tracker.flush()
    assert [(r.first_seen, r.last_seen, r.hits, r.best.quality) for r in results] == [
        (at(0.5), at(1.0), 2, 0.6)
    ]


def test_tracks_with_too_few_hits_are_dropped_and_counted() -> None:
    tracker = Tracker(IngestSettings(track_min_hits=2))
    tracker.update(
        at(0),
        [obs(SightingKind.FACE, 50, 0, embedding=unit(1)), obs(SightingKind.FACE, 400, 0, embedding=unit(2))],
    )
    tracker.update(at(0.5), [obs(SightingKind.FACE, 52, 0.5, embedding=unit(1))])
    results = tracker.flush()
    assert len(results) == 1 and results[0].hits == 2
    assert tracker.tracks_dropped == 1


def test_faces_and_vehicles_never_share_a_track() -> None:
    tracker = Tracker(SETTINGS)
    tracker.update(
        at(0), [obs(SightingKind.FACE, 50, 0, embedding=unit(1)), obs(SightingKind.VEHICLE, 50, 0)]
    )
    tracker.update(
        at(0.5), [obs(SightingKind.VEHICLE, 50, 0.5), obs(SightingKind.FACE, 50, 0.5, embedding=unit(1))]
    )
    assert sorted((r.kind, r.hits) for r in tracker.flush()) == [
        (SightingKind.FACE, 2),
        (SightingKind.VEHICLE, 2),
    ]


# -- plate voting ---------------------------------------------------------------------------------


def test_plate_vote_fixes_a_single_bad_read() -> None:
    reads = [read("京A12345")] * 4 + [read("京A1Z345", low={3: 0.6})]
    voted = vote_plate(reads)
    assert voted is not None
    assert voted.text == "京A12345" and voted.valid
    assert voted.candidates[0] == "京A12345" and "京A1Z345" in voted.candidates
    assert voted.char_confidences[3] == pytest.approx(0.95 * 4 / 5)
    assert [c for c, _ in voted.alternatives[3]] == ["2", "Z"]
    assert voted.char_confidences[0] == pytest.approx(0.95)


def test_plate_vote_weighs_character_confidence() -> None:
    """Two confident reads outvote three doubtful ones at the position they disagree on."""
    reads = [read("京A12345", low={6: 0.2})] * 3 + [read("京A12346")] * 2
    voted = vote_plate(reads)
    assert voted is not None and voted.text == "京A12346"


def test_plate_vote_ignores_reads_of_another_length() -> None:
    """A border read as a stray leading character must not shift every position of the vote."""
    reads = [read("京A12345"), read("J京A12345"), read("京A12845", low={4: 0.5}), read("京A12345")]
    voted = vote_plate(reads)
    assert voted is not None and voted.text == "京A12345"
    assert "J京A12345" in voted.candidates


def test_plate_vote_uses_per_character_alternatives() -> None:
    bad = PlateRead(
        text="京A1Z345",
        char_confidences=(0.9, 0.9, 0.9, 0.5, 0.9, 0.9, 0.9),
        alternatives=(
            *(((c, 0.9),) for c in "京A1"),
            (("Z", 0.5), ("2", 0.45)),
            *(((c, 0.9),) for c in "345"),
        ),
    )
    voted = vote_plate([bad, read("京A12345", low={3: 0.3})])
    assert voted is not None and voted.text == "京A12345"
    assert vote_plate([]) is None


@pytest.mark.parametrize(
    ("a", "b", "d"),
    [("京A12345", "京A12345", 0), ("京A12345", "京A1Z345", 1), ("J京A12345", "京A12345", 1), ("", "AB", 2)],
)
def test_edit_distance(a: str, b: str, d: int) -> None:
    assert edit_distance(a, b) == d

"""Score live ingest on a sample set replayed as RTSP cameras (``sightline replay DIR --check``).

The clips are served by :class:`~sample_streams.replay.RtspReplayServer`, registered in a fresh
temporary store with their ``rtsp://`` URLs and ingested by :class:`~ingest.supervisor.LiveIngest`
(worker processes, real models) for one full pass of every clip; then every subject is searched and
scored exactly as :func:`~sightline.evaluation.samples.evaluate_samples` does.

Clip time. A live camera stamps frames with the wall clock at decode, not with the clip's recorded
start, and the replay server plays every clip in a loop from the moment it starts, whether or not
anyone watches (its reader pipelines play in real time, looping without a gap; RTP timestamps only
count running time, so the stream itself carries no clip position). So the wall time ``W`` of clip
position ``t`` on loop ``k`` is ``origin + (t + k * duration) / speed``, with ``origin`` the moment
the server's readers started. The launcher starts them just before it reports ready, and
``RtspReplayServer.start`` returns one RTSP round trip later, so we take origin = the time ``start``
returned; the readers started at most the launcher's start-up before that (reported as
``origin_uncertainty_s``, mostly the import of GStreamer, when no clip plays yet) and decode latency
adds a little after it, both far inside the scoring tolerance (``TIME_TOLERANCE``, 1 s).

Every appearance therefore has one *instance* per loop; an appearance counts as found when a
returned sighting overlaps any instance, and a returned sighting is correct when it overlaps any
instance of the searched subject. Instances are generated for every loop that started before ingest
stopped, so the scoring stays right however many times a clip loops.

Connection burst. With FFmpeg's default probing, ``av.open`` read 2-3 s of a new RTSP stream before
returning, and those frames were then decoded in a burst stamped with the decode time, i.e. late;
``RtspSource`` now probes minimally, so there is no such burst. ``precision_steady`` (precision
without the sightings that begin within ``_CONNECT_BURST_S`` of a camera's first frame) and
``connect_burst`` (how many those are) stay in the report to catch a regression: with correct
timing ``precision`` equals ``precision_steady``.

How long to watch. A camera joins the loop wherever it is when it connects (at the next keyframe).
Watching it for ``duration / speed + longest appearance + track_max_gap_s + 1 s`` from its first
frame contains every appearance whole at least once: an appearance's instance that starts within
the first ``duration`` of the watch also ends within it, and the gap lets its track close.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ingest.status import CameraState
from sample_streams.ground_truth import Appearance, GroundTruth, load_ground_truth
from search.records import Camera
from sightline.errors import StreamError
from sightline.evaluation.samples import (
    Instance,
    SubjectResult,
    load_sample_cameras,
    plate_reads,
    score_instances,
    search_subjects,
    summarise,
)
from sightline.settings import Settings

__all__ = ["LoopClock", "check_replay", "format_report"]

log = logging.getLogger(__name__)

#: Worker processes load the models (seconds on a small machine) before cameras connect.
_CONNECT_TIMEOUT_S = 90.0
_MARGIN_S = 1.0
#: The connection burst is decoded at CPU speed (30 frames in ~0.05 s measured): one second covers
#: it on a busy machine; a longer window would also leave out sightings with correct times.
_CONNECT_BURST_S = 1.0


@dataclass(frozen=True, slots=True)
class LoopClock:
    """Maps clip positions of a looping replayed camera to wall-clock time (see the module doc)."""

    origin: datetime
    duration_s: float
    speed: float = 1.0

    @property
    def period(self) -> timedelta:
        return timedelta(seconds=self.duration_s / self.speed)

    def instances(self, index: int, app: Appearance, until: datetime) -> list[Instance]:
        """Every loop's instance of ``app`` whose loop started before ``until``."""
        out = []
        k = 0
        while self.origin + k * self.period <= until:
            base = self.origin + k * self.period
            out.append(
                Instance(
                    index,
                    app.camera_id,
                    base + timedelta(seconds=app.t_start / self.speed),
                    base + timedelta(seconds=app.t_end / self.speed),
                )
            )
            k += 1
        return out


def _watch_s(gt: GroundTruth, settings: Settings, speed: float) -> float:
    longest = max((a.t_end - a.t_start for a in gt.appearances), default=0.0)
    duration = max(c.duration_s for c in gt.clips)
    return (duration + longest) / speed + settings.ingest.track_max_gap_s + _MARGIN_S


def check_replay(
    settings: Settings,
    sample_dir: Path,
    *,
    seconds: float | None = None,
    speed: float = 1.0,
    progress: bool = True,
    work_dir: Path | None = None,
) -> dict[str, Any]:
    """Replay ``sample_dir`` as live RTSP cameras, ingest them live, search every subject, score.

    ``seconds``: how long each camera is watched from its first frame (default: one full pass, see
    the module doc). StreamError when GStreamer's RTSP server is missing or a camera never streams.
    """
    from ingest.supervisor import LiveIngest
    from sample_streams.replay import RtspReplayServer, check_gstreamer, sample_files
    from search.services import SearchService

    check_gstreamer()
    sample_dir = Path(sample_dir)
    gt = load_ground_truth(sample_dir)
    watch_s = seconds if seconds is not None else _watch_s(gt, settings, speed)
    with tempfile.TemporaryDirectory(prefix="sightline-replay-check-", dir=work_dir) as tmp:
        data = settings.model_dump()
        data["search"]["data_dir"] = Path(tmp)
        data["ingest"]["status_interval_s"] = min(settings.ingest.status_interval_s, 0.5)
        run = Settings(**data)
        server = RtspReplayServer(sample_files(sample_dir), speed=speed)
        before = datetime.now(UTC)
        server.start()  # the readers begin their loops just before this returns
        origin = datetime.now(UTC)
        try:
            cameras = {
                c.id: Camera(id=c.id, name=c.name, lat=c.lat, lon=c.lon, url=server.url(c.id), tags=c.tags)
                for c in load_sample_cameras(sample_dir)
                if c.id in server.files
            }
            with SearchService.open(run.search) as service:
                for camera in cameras.values():
                    service.store.ensure_camera(camera)
            live = LiveIngest(run, lambda: SearchService.open(run.search))
            with live:
                for camera in cameras.values():
                    live.add_camera(camera)
                joined = _wait_streaming(live, list(cameras))
                _watch(live, joined, watch_s, progress)
            stopped = datetime.now(UTC)
        finally:
            server.stop()
        statuses = {s.camera_id: s for s in live.statuses()}
        clocks = {c.camera_id: LoopClock(origin, c.duration_s, speed) for c in gt.clips}
        with SearchService.open(run.search) as service:
            results = search_subjects(run, service, gt, sample_dir)
            stored = service.store.count_sightings()

    def instances_of(apps: Sequence[Appearance]) -> list[Instance]:
        return [inst for i, a in enumerate(apps) for inst in clocks[a.camera_id].instances(i, a, stopped)]

    summary = summarise(gt, results, instances_of)
    per_camera = _per_camera(gt, results, instances_of)
    burst = timedelta(seconds=_CONNECT_BURST_S)
    steady_results = [
        dataclasses.replace(
            r, sightings=tuple(s for s in r.sightings if s.first_seen >= joined[s.camera_id] + burst)
        )
        for r in results
    ]
    steady = summarise(gt, steady_results, instances_of)
    for camera_id, row in _per_camera(gt, steady_results, instances_of).items():
        per_camera[camera_id]["precision_steady"] = row["precision"]
    for camera_id, row in per_camera.items():
        st = statuses.get(camera_id)
        row["sightings"] = st.sightings if st is not None else 0
        row["join_delay_s"] = round((joined[camera_id] - origin).total_seconds(), 3)
        row["loops_watched"] = round((stopped - joined[camera_id]) / clocks[camera_id].period, 2)
        row["reconnects"] = st.reconnects if st is not None else 0
    subjects = summary.pop("subjects")
    for row in subjects.values():
        row["recall"] = row["found"] / row["appearances"] if row["appearances"] else 0.0
        row["precision"] = row["correct"] / row["returned"] if row["returned"] else 0.0
    return summary | {
        "precision_steady": steady["precision"],
        "connect_burst": summary["returned"] - steady["returned"],
        "cameras": per_camera,
        "subjects": subjects,
        "sightings_written": live.sightings_written,
        "sightings_stored": stored,
        "write_errors": live.write_errors,
        "watch_s": round(watch_s, 2),
        "speed": speed,
        "origin_uncertainty_s": round((origin - before).total_seconds(), 3),
    }


def _wait_streaming(live: Any, camera_ids: list[str]) -> dict[str, datetime]:
    """Each camera's first frame time (when it entered STREAMING); StreamError on timeout."""
    joined: dict[str, datetime] = {}
    deadline = time.monotonic() + _CONNECT_TIMEOUT_S
    while len(joined) < len(camera_ids):
        for camera_id in camera_ids:
            st = live.status(camera_id)
            if camera_id not in joined and st.state is CameraState.STREAMING:
                joined[camera_id] = st.since
        if time.monotonic() > deadline:
            missing = sorted(set(camera_ids) - set(joined))
            last = {c: live.status(c).last_error for c in missing}
            raise StreamError(f"cameras never streamed within {_CONNECT_TIMEOUT_S:.0f} s: {last}")
        time.sleep(0.1)
    return joined


def _watch(live: Any, joined: dict[str, datetime], watch_s: float, progress: bool) -> None:
    """Sleep until every camera has been watched ``watch_s`` seconds from its first frame."""
    end = max(joined.values()) + timedelta(seconds=watch_s)
    # tqdm ships no type information and its stubs are not a dependency: use it as Any.
    tqdm: Any = importlib.import_module("tqdm").tqdm
    total = max(0.0, (end - datetime.now(UTC)).total_seconds())
    with tqdm(total=round(total), unit="s", desc="live", disable=not progress, file=sys.stderr) as bar:
        while (remaining := (end - datetime.now(UTC)).total_seconds()) > 0:
            time.sleep(min(1.0, remaining))
            bar.n = round(total - max(0.0, remaining))
            bar.refresh()
    for st in live.statuses():
        if st.state is not CameraState.STREAMING:
            log.warning("camera %s ended the watch %s: %s", st.camera_id, st.state.value, st.last_error)


def _per_camera(
    gt: GroundTruth, results: Sequence[SubjectResult], instances_of: Any
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for clip in gt.clips:
        c = clip.camera_id
        appearances = found = returned = correct = plates = plate_total = 0
        for r in results:
            apps = gt.appearances_of(r.subject_id)
            mine = [inst for inst in instances_of(apps) if inst.camera_id == c]
            count = sum(1 for a in apps if a.camera_id == c)
            score = score_instances(r.subject_id, count, mine, [s for s in r.sightings if s.camera_id == c])
            appearances += count
            found += score.found
            returned += score.returned
            correct += score.correct
            if r.kind == "vehicle":
                plates += plate_reads(r.plate_text or "", count, mine, r.sightings)
                plate_total += count
        out[c] = {
            "recall": found / appearances if appearances else 0.0,
            "precision": correct / returned if returned else 0.0,
            "plates_exact": plates / plate_total if plate_total else 0.0,
            "appearances": appearances,
            "found": found,
            "returned": returned,
            "correct": correct,
        }
    return out


def format_report(result: dict[str, Any]) -> str:
    """The check as text: overall scores, then one row per camera and per subject."""
    lines = [
        f"live replay check: recall {result['recall']:.3f}  precision {result['precision']:.3f}  "
        f"plates exact {result['plates_exact']:.3f}  precision without the connection burst "
        f"{result['precision_steady']:.3f}  ({result['appearances']} appearances, "
        f"{result['returned']} returned, {result['sightings_stored']} sightings stored, "
        f"watched {result['watch_s']} s per camera)",
        "",
        f"{'camera':<12} {'recall':>7} {'precision':>9} {'plates':>7} {'found':>9} {'correct':>9} "
        f"{'sightings':>9} {'joined_s':>8} {'loops':>6}",
    ]
    for cid, r in result["cameras"].items():
        lines.append(
            f"{cid:<12} {r['recall']:>7.3f} {r['precision']:>9.3f} {r['plates_exact']:>7.3f} "
            f"{r['found']:>4}/{r['appearances']:<4} {r['correct']:>4}/{r['returned']:<4} "
            f"{r['sightings']:>9} {r['join_delay_s']:>8.2f} {r['loops_watched']:>6.2f}"
        )
    lines += ["", f"{'subject':<12} {'recall':>7} {'precision':>9} {'found':>9} {'correct':>9}"]
    for sid, r in result["subjects"].items():
        lines.append(
            f"{sid:<12} {r['recall']:>7.3f} {r['precision']:>9.3f} "
            f"{r['found']:>4}/{r['appearances']:<4} {r['correct']:>4}/{r['returned']:<4}"
        )
    return "\n".join(lines)

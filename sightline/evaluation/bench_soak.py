"""Soak live ingest: many replayed RTSP cameras, faults injected on a schedule; recovery, loss, memory.

One :class:`~sample_streams.replay.RtspReplayServer` serves N mounts (a few small generated clips
shared between them) and :class:`~ingest.supervisor.LiveIngest` ingests all N with the workers and
motion gating of ``settings``. The clips hold moving shapes on a textured background and no faces;
one clip in three (its cameras at 320x240, the others at 160x120) also has a plate crossing, so that
sightings flow and their loss can be counted. Every sampled frame passes the motion gate and runs
recognition, which finds little, so the soak measures streaming, reconnection and bookkeeping under
load rather than recognition.

Faults alternate between
- a server restart: ``kill()`` (SIGKILL: every connection drops at once), 2 s down, ``start()`` on
  the same port; it affects every camera;
- a stall: ``pause`` a rotating tenth of the cameras (at least one) for the stall timeout plus 2 s,
  then ``resume``; connections stay up but no packet flows.

After warm-up (every camera streaming) comes a quiet window without faults, a tenth of the run and
at most a minute; faults are spread evenly over the time after it, less an equal quiet window at
the end. Resident memory is sampled every 5 s throughout: its medians over the two quiet windows
are the warm and end levels, and its slope tells a leak from allocator pools that level off. Each
fault is followed by waiting for its cameras to recover (at most ``RECOVERY_LIMIT_S``), then the
next one waits for its slot of the schedule.

A camera *recovers* from a fault when, after its stream returned (``start()`` or ``resume``
returned), its status is STREAMING with a frame decoded after that moment; its recovery
time runs from the return to the first frame of the new connection (the status' ``since``), or, for
a camera that never left STREAMING, to the newest frame seen.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import cv2
import numpy as np
from numpy.typing import NDArray

from ingest.status import CameraState, CameraStatus
from search.records import Camera
from sightline.errors import InputError, StreamError

if TYPE_CHECKING:
    from ingest.supervisor import LiveIngest
    from sample_streams.replay import RtspReplayServer
    from sightline.settings import Settings

__all__ = ["RECOVERY_LIMIT_S", "bench_soak", "make_soak_clip", "rss_mb"]

log = logging.getLogger(__name__)

#: A camera counts as recovered when it streams again within this long of its stream returning.
RECOVERY_LIMIT_S = 30.0
#: Small frames: the soak is about hundreds of connections on a small machine, not pixels.
SOAK_SIZE = (160, 120)
#: The one clip with a plate is larger: at 0.6 px/mm (264 px wide) the plate is read; 0.4 was not.
PLATE_CLIP_SIZE = (320, 240)
_PLATE = "京A12345"
_PLATE_PX_PER_MM = 0.6
SOAK_FPS = 5
_CLIPS = 3
_CLIP_S = 8.0
_DOWN_S = 2.0
_STALL_EXTRA_S = 2.0
_STALL_FRACTION = 0.1
_POLL_S = 0.2
_STATUS_GRACE_S = 60.0
_QUIET_MAX_S = 60.0
_RSS_EVERY_S = 5.0


def make_soak_clip(
    path: Path, index: int, size: tuple[int, int] = SOAK_SIZE, plate: NDArray[np.uint8] | None = None
) -> Path:
    """An ``_CLIP_S`` clip with a 1 s GOP: shapes crossing a smooth texture, no faces; with ``plate``
    (an RGB image) that plate also drives across once, so some cameras do produce sightings."""
    width, height = size
    rng = np.random.default_rng(index)
    texture = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    background: NDArray[np.uint8] = np.asarray(
        cv2.resize(texture, (texture.shape[1] * 8, texture.shape[0] * 8))[:height, :width], dtype=np.uint8
    )
    frames = int(_CLIP_S * SOAK_FPS)
    try:
        with av.open(str(path), "w") as out:
            stream = out.add_stream(
                "libx264",
                rate=SOAK_FPS,
                options={"g": str(SOAK_FPS), "keyint_min": str(SOAK_FPS), "sc_threshold": "0", "bf": "0"},
            )
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.time_base = Fraction(1, SOAK_FPS)
            for i in range(frames):
                img = background.copy()
                x = int((i / frames) * (width - 30))  # both shapes stay in view: every frame moves
                y = height // 3 + index * 7 % (height // 3)
                cv2.rectangle(img, (x, y), (x + 30, y + 24), (40, 200, 230), -1)
                cv2.circle(img, (width - 15 - x, height - y), 10, (200, 60, 60), -1)
                if plate is not None:
                    _paste(
                        img, plate[:, :, ::-1], int((i / frames) * (width - plate.shape[1] // 2)), height // 2
                    )
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="bgr24")
                frame.pts, frame.time_base = i, Fraction(1, SOAK_FPS)
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
    except av.FFmpegError as exc:
        raise StreamError(f"cannot write {path}: {exc}") from exc
    return path


def _paste(img: NDArray[np.uint8], patch: NDArray[np.uint8], x: int, y: int) -> None:
    h, w = patch.shape[:2]
    x0, x1 = max(0, x), min(img.shape[1], x + w)
    y0, y1 = max(0, y), min(img.shape[0], y + h)
    if x1 > x0 and y1 > y0:
        img[y0:y1, x0:x1] = patch[y0 - y : y1 - y, x0 - x : x1 - x]


def rss_mb(pids: list[int]) -> float:
    """Resident memory of these processes (VmRSS from /proc), in MiB; gone processes count 0."""
    total_kb = 0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("VmRSS:"):
                total_kb += int(line.split()[1])
    return round(total_kb / 1024, 1)


@dataclasses.dataclass(slots=True)
class _Fault:
    kind: str
    at_s: float
    cameras: list[str]
    returned: datetime | None = None
    recovery_s: dict[str, float] = dataclasses.field(default_factory=dict)
    status_delay_s: float = 0.0
    rss_after_mb: float | None = None

    def report(self) -> dict[str, Any]:
        times = sorted(self.recovery_s.values())
        return {
            "kind": self.kind,
            "at_s": round(self.at_s, 1),
            "cameras": len(self.cameras),
            "recovered": sum(1 for t in times if t <= RECOVERY_LIMIT_S),
            "median_recovery_s": round(statistics.median(times), 2) if times else None,
            "max_recovery_s": round(times[-1], 2) if times else None,
            "max_status_delay_s": round(self.status_delay_s, 2),
            "rss_after_mb": self.rss_after_mb,
        }


def _recovered_at(st: CameraStatus, returned: datetime) -> datetime | None:
    if st.state is not CameraState.STREAMING or st.last_frame_at is None or st.last_frame_at <= returned:
        return None
    return st.since if st.since >= returned else st.last_frame_at


def _await_recovery(live: LiveIngest, fault: _Fault) -> None:
    """Record each camera's recovery time, from the worker's own timestamps (``since``,
    ``last_frame_at``), so a status that reaches us late still measures the camera, not the
    delivery. Statuses travel once per recognition round, which takes long under overload: keep
    watching up to ``_STATUS_GRACE_S`` past the limit for recoveries that happened within it."""
    assert fault.returned is not None
    give_up = time.monotonic() + RECOVERY_LIMIT_S + _STATUS_GRACE_S
    pending = set(fault.cameras)
    while pending and time.monotonic() < give_up:
        for camera_id in list(pending):
            at = _recovered_at(live.status(camera_id), fault.returned)
            if at is not None:
                fault.recovery_s[camera_id] = max(0.0, (at - fault.returned).total_seconds())
                fault.status_delay_s = max(fault.status_delay_s, (datetime.now(UTC) - at).total_seconds())
                pending.discard(camera_id)
        if pending and all(
            (datetime.now(UTC) - fault.returned).total_seconds() > RECOVERY_LIMIT_S
            and live.status(c).state is not CameraState.STREAMING
            and (live.status(c).since - fault.returned).total_seconds() > RECOVERY_LIMIT_S
            for c in pending
        ):
            break  # what is left has been seen failing after the limit: not recovered in time
        if pending:
            time.sleep(_POLL_S)
    if pending:
        log.warning(
            "%s fault: %d camera(s) not streaming %.0f s after it", fault.kind, len(pending), RECOVERY_LIMIT_S
        )


def _inject(server: RtspReplayServer, fault: _Fault, stall_s: float) -> None:
    if fault.kind == "restart":
        server.kill()
        time.sleep(_DOWN_S)
        server.start()
    else:
        for camera_id in fault.cameras:
            server.pause(camera_id)
        time.sleep(stall_s)
        for camera_id in fault.cameras:
            server.resume(camera_id)
    fault.returned = datetime.now(UTC)


def _pids(live: LiveIngest, workers: int) -> list[int]:
    return [os.getpid()] + [p for i in range(workers) if (p := live.worker_pid(i)) is not None]


def _rss_by_process(live: LiveIngest, workers: int) -> dict[str, float]:
    """VmRSS per process (``main``, ``worker-N``): tells which one grows."""
    named = {"main": os.getpid()} | {
        f"worker-{i}": p for i in range(workers) if (p := live.worker_pid(i)) is not None
    }
    return {name: rss_mb([pid]) for name, pid in named.items()}


class _RssSampler:
    """Samples the ingest processes' total VmRSS every ``every_s`` on a thread, for medians and a slope.

    Resident memory is a sawtooth (allocator pools fill, the workers' periodic trim empties them), so
    one reading at one instant says little; medians over quiet windows and the slope over the whole
    run do. The slope is what tells a leak (it keeps growing) from pools (it levels off).
    """

    def __init__(self, pids: Callable[[], list[int]], every_s: float) -> None:
        self._pids = pids
        self._every_s = every_s
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), rss_mb(self._pids())))
            self._stop.wait(self._every_s)

    def __enter__(self) -> _RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def median(self, start: float, stop: float) -> float:
        window = [mb for t, mb in self.samples if start <= t <= stop]
        return round(statistics.median(window), 1) if window else rss_mb(self._pids())

    def per_minute(self, start: float) -> list[float]:
        """Median of each whole or partial minute since ``start``: the curve, compact."""
        minutes: dict[int, list[float]] = {}
        for t, mb in self.samples:
            if t >= start:
                minutes.setdefault(int((t - start) // 60), []).append(mb)
        return [round(statistics.median(v), 1) for _, v in sorted(minutes.items())]

    def slope_mb_per_min(self, start: float) -> float | None:
        points = [(t, mb) for t, mb in self.samples if t >= start]
        if len(points) < 3:
            return None
        t = np.array([p[0] for p in points]) / 60.0
        mb = np.array([p[1] for p in points])
        return round(float(np.polyfit(t - t[0], mb, 1)[0]), 2)


def bench_soak(
    settings: Settings,
    cameras: int = 200,
    minutes: float = 10.0,
    progress: bool = True,
    *,
    faults: int | None = None,
    work_dir: Path | None = None,
) -> dict[str, Any]:
    """Run the soak (see the module doc) and return its measurements.

    ``faults``: how many to inject, alternating restart and stall (default: one a minute after
    warm-up, at least two). Keys: ``cameras``; ``faults`` (injected); ``affected`` (camera-fault
    pairs); ``recovered`` (pairs streaming again within ``RECOVERY_LIMIT_S`` of the stream's return);
    ``max_recovery_s``; ``lost_sightings`` = sightings the supervisor's writer received (written plus
    write errors) minus the rows in the store after stop (the store starts empty, so a sighting
    counted as written but not stored is lost too); ``rss_warm_mb`` / ``rss_end_mb`` = median VmRSS
    of this process and the worker processes over a quiet window (no fault) right after warm-up and
    one at the end, each a tenth of the run and at most a minute (the replay server apart, in
    ``server_rss_mb``); ``rss_slope_mb_per_min`` over everything after warm-up.
    """
    from ingest.supervisor import LiveIngest
    from sample_streams.render import find_cjk_font, render_plate
    from sample_streams.replay import RtspReplayServer, check_gstreamer
    from search.services import SearchService
    from sightline.settings import Settings

    if cameras < 1 or minutes <= 0:
        raise InputError(f"cameras must be >= 1 and minutes > 0, got {cameras} and {minutes}")
    check_gstreamer()
    t_start = time.monotonic()
    end = t_start + minutes * 60.0
    # tqdm ships no type information and its stubs are not a dependency: use it as Any.
    tqdm: Any = importlib.import_module("tqdm").tqdm
    with tempfile.TemporaryDirectory(prefix="sightline-soak-", dir=work_dir) as tmp:
        data = settings.model_dump()
        data["search"]["data_dir"] = Path(tmp) / "var"
        run = Settings(**data)
        plate = render_plate(_PLATE, "blue", find_cjk_font(run.models), _PLATE_PX_PER_MM).image
        clips = [
            make_soak_clip(Path(tmp) / f"soak-{i}.mp4", i, *((PLATE_CLIP_SIZE, plate) if i == 0 else ()))
            for i in range(min(_CLIPS, cameras))
        ]
        files = {f"soak-{i:04d}": clips[i % len(clips)] for i in range(cameras)}
        server = RtspReplayServer(files, start_timeout_s=60.0)
        server.start()
        try:
            live = LiveIngest(run, lambda: SearchService.open(run.search))
            with SearchService.open(run.search) as service:
                for camera_id in files:
                    service.store.ensure_camera(Camera(id=camera_id, name=camera_id))
            live.start()
            try:
                for camera_id in files:
                    live.add_camera(Camera(id=camera_id, name=camera_id, url=server.url(camera_id)))
                warm_s, streaming = _warm_up(live, list(files), end)
                log.info("soak: %d/%d cameras streaming after %.1f s warm-up", streaming, cameras, warm_s)
                # Quiet windows without faults after warm-up and at the end, for comparable medians.
                quiet_s = min(_QUIET_MAX_S, 0.1 * minutes * 60.0)
                pids = partial(_pids, live, run.ingest.workers)
                with _RssSampler(pids, every_s=min(_RSS_EVERY_S, quiet_s / 3)) as rss:
                    warm_end = time.monotonic()
                    time.sleep(quiet_s)
                    rss_warm = rss.median(warm_end, warm_end + quiet_s)
                    rss_warm_by = _rss_by_process(live, run.ingest.workers)
                    server_rss_warm = rss_mb([server.pid] if server.pid is not None else [])
                    faults_start, faults_end = time.monotonic(), end - quiet_s
                    plan = _plan(list(files), faults_end, faults)
                    stall_s = run.ingest.stall_timeout_s + _STALL_EXTRA_S
                    slot = max(0.0, faults_end - faults_start) / max(1, len(plan))
                    done: list[_Fault] = []
                    with tqdm(
                        total=len(plan), unit="fault", desc="soak", disable=not progress, file=sys.stderr
                    ) as bar:
                        for i, fault in enumerate(plan):
                            time.sleep(max(0.0, faults_start + i * slot - time.monotonic()))
                            fault.at_s = time.monotonic() - t_start
                            _inject(server, fault, stall_s)
                            _await_recovery(live, fault)
                            fault.rss_after_mb = rss_mb(pids())
                            done.append(fault)
                            bar.update(1)
                    tail_start = max(time.monotonic(), end - quiet_s)
                    time.sleep(max(0.0, end - time.monotonic()))
                    rss_end = rss.median(tail_start, time.monotonic())
                rss_slope = rss.slope_mb_per_min(warm_end)
                rss_curve = rss.per_minute(warm_end)
                rss_end_by = _rss_by_process(live, run.ingest.workers)
                server_rss_end = rss_mb([server.pid] if server.pid is not None else [])
                final = live.statuses()
            finally:
                live.stop()
        finally:
            server.stop()
        received = live.sightings_written + live.write_errors
        with SearchService.open(run.search) as service:
            stored = service.store.count_sightings()
    recoveries = [t for f in done for t in f.recovery_s.values()]
    return {
        "cameras": cameras,
        "minutes": minutes,
        "resolution": f"{SOAK_SIZE[0]}x{SOAK_SIZE[1]}; 1 camera in {len(clips)} at "
        f"{PLATE_CLIP_SIZE[0]}x{PLATE_CLIP_SIZE[1]} with one plate crossing",
        "clips": f"{len(clips)} shared, {SOAK_FPS} fps, {_CLIP_S:.0f} s looped; moving shapes, no faces",
        "workers": run.ingest.workers,
        "sample_fps": run.ingest.sample_fps,
        "warm_up_s": round(warm_s, 1),
        "streaming_after_warm_up": streaming,
        "faults": len(done),
        "affected": sum(len(f.cameras) for f in done),
        "recovered": sum(1 for t in recoveries if t <= RECOVERY_LIMIT_S),
        "max_recovery_s": round(max(recoveries), 2) if recoveries else None,
        "median_recovery_s": round(statistics.median(recoveries), 2) if recoveries else None,
        "max_status_delay_s": round(max((f.status_delay_s for f in done), default=0.0), 2),
        "lost_sightings": received - stored,
        "sightings_received": received,
        "sightings_stored": stored,
        "write_errors": live.write_errors,
        "rss_warm_mb": rss_warm,
        "rss_end_mb": rss_end,
        "rss_slope_mb_per_min": rss_slope,
        "rss_samples": len(rss.samples),
        "rss_per_minute_mb": rss_curve,
        "rss_warm_by_process_mb": rss_warm_by,
        "rss_end_by_process_mb": rss_end_by,
        "server_rss_warm_mb": server_rss_warm,
        "server_rss_end_mb": server_rss_end,
        "streaming_at_end": sum(1 for s in final if s.state is CameraState.STREAMING),
        "frames_analysed": sum(s.frames_analysed for s in final),
        "frames_dropped": sum(s.frames_dropped for s in final),
        "frames_skipped_motion": sum(s.frames_skipped_motion for s in final),
        "reconnects": sum(s.reconnects for s in final),
        "duration_s": round(time.monotonic() - t_start, 1),
        "fault_log": [f.report() for f in done],
    }


def _warm_up(live: LiveIngest, camera_ids: list[str], end: float) -> tuple[float, int]:
    """Wait until every camera streams (at most a third of the run, and never past ``end``)."""
    t0 = time.monotonic()
    limit = t0 + max(10.0, (end - t0) / 3)
    streaming = 0
    while time.monotonic() < min(limit, end):
        streaming = sum(1 for s in live.statuses() if s.state is CameraState.STREAMING)
        if streaming == len(camera_ids):
            break
        time.sleep(_POLL_S)
    return time.monotonic() - t0, streaming


def _plan(camera_ids: list[str], end: float, faults: int | None) -> list[_Fault]:
    """Alternating restarts and stalls; stalls take a rotating tenth of the cameras."""
    if faults is None:
        faults = max(2, int((end - time.monotonic()) // 60))
    plan = []
    per_stall = max(1, round(len(camera_ids) * _STALL_FRACTION))
    offset = 0
    for i in range(faults):
        if i % 2 == 0:
            plan.append(_Fault("restart", 0.0, list(camera_ids)))
        else:
            chosen = [camera_ids[(offset + k) % len(camera_ids)] for k in range(per_stall)]
            offset += per_stall
            plan.append(_Fault("stall", 0.0, chosen))
    return plan

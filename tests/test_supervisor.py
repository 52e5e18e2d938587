"""Live ingest end to end: worker processes with the real models on generated sample streams,
sightings written through the supervisor into the real store, a worker killed with SIGKILL and
restarted, cameras added and removed while running, and an RTSP camera whose server dies.

"None lost, none duplicated" here means: every sighting a worker finishes is written exactly once
(one writer; a track is sent once, when it ends); a track open while its worker is killed is lost;
a track that spans a camera outage longer than ``track_max_gap_s`` is split into two sightings whose
time spans do not overlap. So for one camera, sightings of the same plate never overlap in time.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from realdeps import missing

from ingest.status import CameraState, CameraSupervisor
from ingest.supervisor import LiveIngest, shard_of
from search.records import Camera, Sighting, SightingKind
from search.services import SearchService
from search.store import SightingStore
from sightline.errors import InputError, NotFound, StreamError
from sightline.settings import Settings

pytestmark = pytest.mark.slow


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One generated sample camera (8 s, two people and three vehicles passing)."""
    from sample_streams.make import make_samples
    from sightline.settings import load_settings

    out = tmp_path_factory.mktemp("samples")
    make_samples(out, load_settings(), cameras=1, seconds=8.0, progress=False)
    return out


def live_settings(settings: Settings, **ingest: object) -> Settings:
    data = settings.model_dump()
    data["ingest"].update({"sample_fps": 2.0, "status_interval_s": 0.5, "reconnect_base_s": 0.2, **ingest})
    return Settings(**data)


def stored(settings: Settings) -> list[Sighting]:
    with SightingStore.open(settings.search) as store:
        ids = list(range(1, 10_000))
        return sorted(store.get_sightings(ids).values(), key=lambda s: s.first_seen)


def test_sightings_of_a_file_camera_are_written_through_the_supervisor(
    settings: Settings, sample_dir: Path
) -> None:
    from sample_streams.ground_truth import load_ground_truth

    gt = load_ground_truth(sample_dir / "ground_truth.json")
    clip = gt.clips[0]
    s = live_settings(settings)
    with SearchService.open(s.search) as service:
        service.store.ensure_camera(Camera(id=clip.camera_id, name=clip.camera_id))
    url = f"file://{sample_dir / clip.file}?start={quote(clip.start.isoformat())}"
    live = LiveIngest(s, lambda: SearchService.open(s.search))
    assert isinstance(live, CameraSupervisor)
    with live:
        live.add_camera(Camera(id=clip.camera_id, name="gate", url=url))
        assert wait_for(lambda: live.status(clip.camera_id).extra.get("ended") is not None, 40.0)
        status = live.status(clip.camera_id)
        assert status.frames_analysed >= 4 and (status.width, status.height) == (640, 480)
        assert status.frames_analysed + status.frames_skipped_motion + status.frames_dropped >= 14
        with pytest.raises(NotFound):
            live.status("nope")
        with pytest.raises(InputError):
            live.add_camera(Camera(id="no-url", name="x"))
    rows = stored(s)
    assert live.sightings_written == len(rows) > 0
    kinds = {sub.id: sub.kind for sub in gt.subjects}
    plates = {gt.subject(a.subject_id).plate_text for a in gt.appearances if kinds[a.subject_id] == "vehicle"}
    got_plates = {r.plate_text for r in rows if r.kind is SightingKind.VEHICLE}
    assert got_plates & plates, (got_plates, plates)
    assert any(r.kind is SightingKind.FACE for r in rows)
    for r in rows:
        assert (
            clip.start <= r.first_seen <= r.last_seen <= clip.start + timedelta(seconds=clip.duration_s + 1.0)
        )


def test_killed_worker_restarts_and_cameras_come_back(settings: Settings, sample_dir: Path) -> None:
    from sample_streams.ground_truth import load_ground_truth

    clip = load_ground_truth(sample_dir / "ground_truth.json").clips[0]
    s = live_settings(settings, workers=2, sample_fps=0.5)
    url = f"file://{sample_dir / clip.file}?loop=1"
    ids = ["a-1", "b-2", "c-3"]
    with LiveIngest(s, lambda: SearchService.open(s.search), restart_base_s=0.2) as live:
        for cid in ids[:2]:
            live.add_camera(Camera(id=cid, name=cid, url=url))

        def streaming(cids: list[str]) -> bool:
            return all(
                live.status(c).state is CameraState.STREAMING and live.status(c).frames_decoded for c in cids
            )

        assert wait_for(lambda: streaming(ids[:2]), 30.0)
        victim = shard_of("a-1", 2)
        pid = live.worker_pid(victim)
        assert pid is not None
        decoded = live.status("a-1").frames_decoded
        os.kill(pid, signal.SIGKILL)
        assert wait_for(lambda: live.status("a-1").state is not CameraState.STREAMING, 5.0)
        assert "exited" in (live.status("a-1").last_error or "")
        # Added while its worker is down: handed over when the worker is back.
        live.add_camera(Camera(id=ids[2], name="c", url=url))
        assert wait_for(lambda: live.restarts[victim] == 1 and streaming(ids), 30.0)
        assert live.worker_pid(victim) not in (None, pid)
        after = live.status("a-1")
        assert after.reconnects >= 1 and after.frames_decoded > decoded
        live.remove_camera("b-2")
        with pytest.raises(NotFound):
            live.status("b-2")
        with pytest.raises(NotFound):
            live.remove_camera("b-2")
        assert [st.camera_id for st in live.statuses()] == ["a-1", "c-3"]
    assert all(st.state is CameraState.STOPPED for st in live.statuses())


def test_rtsp_camera_survives_its_server_dying(settings: Settings, sample_dir: Path) -> None:
    """Sightings before and after the outage; none overlapping for one plate."""
    from sample_streams.replay import RtspReplayServer, check_gstreamer, sample_files

    try:
        check_gstreamer()
    except StreamError as exc:
        missing(str(exc))
    s = live_settings(settings, track_max_gap_s=1.0, stall_timeout_s=2.0)
    files = sample_files(sample_dir)
    cam = next(iter(files))
    with SearchService.open(s.search) as service:
        service.store.ensure_camera(Camera(id=cam, name=cam))
    with RtspReplayServer(files, credentials=("op", "pw")) as server:
        url = server.url(cam)
        with LiveIngest(s, lambda: SearchService.open(s.search)) as live:
            live.add_camera(Camera(id=cam, name=cam, url=url))
            assert wait_for(lambda: live.status(cam).state is CameraState.STREAMING, 30.0)
            time.sleep(6.0)
            written_before = live.sightings_written
            server.kill()
            assert wait_for(lambda: live.status(cam).state is not CameraState.STREAMING, 10.0)
            server.start()
            assert wait_for(lambda: live.status(cam).state is CameraState.STREAMING, 20.0)
            assert live.status(cam).reconnects >= 1
            restarted = time.time()
            time.sleep(9.0)
            assert "pw@" not in (live.status(cam).last_error or "")
    rows = stored(s)
    assert written_before > 0
    assert any(r.first_seen.timestamp() >= restarted for r in rows), "no sighting after the restart"
    by_plate: dict[str, list[Sighting]] = {}
    for r in rows:
        if r.plate_text:
            by_plate.setdefault(r.plate_text, []).append(r)
    for spans in by_plate.values():
        for a, b in itertools.pairwise(spans):
            assert a.last_seen < b.first_seen

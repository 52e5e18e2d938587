"""A camera's decode thread against real network failures: a closed port, and GStreamer's RTSP
server (``sample_streams.replay``) paused, killed and restarted, or refusing credentials.

The replay tests skip where Debian's GStreamer RTSP server is not installed.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from realdeps import missing

from ingest.camera import CameraRunner, FrameHub
from ingest.settings import IngestSettings
from ingest.sources import RtspSource, open_source
from ingest.status import CameraState
from sightline.errors import StreamError

FAST = IngestSettings(
    reconnect_base_s=0.1,
    reconnect_max_s=0.4,
    down_after_failures=4,
    down_retry_s=2.0,
    open_timeout_s=3.0,
    read_timeout_s=3.0,
    stall_timeout_s=1.5,
    motion_gating=False,
    sample_fps=2.0,
)


def write_clip(path: Path, frames: int, w: int, h: int, fps: int = 10) -> Path:
    """A moving square on grey, H.264 with a 1 s GOP."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"g": str(fps), "keyint_min": str(fps), "sc_threshold": "0", "bf": "0"}
        for i in range(frames):
            img = np.full((h, w, 3), 70, np.uint8)
            x = (10 + i * 7) % (w - 50)
            img[h // 3 : h // 3 + 40, x : x + 40] = (230, 200, 40)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="bgr24")))
        out.mux(stream.encode(None))
    return path


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def seen(states: set[CameraState], runner: CameraRunner) -> set[CameraState]:
    """Records the runner's current state; returns every state seen so far."""
    states.add(runner.state)
    return states


def runner_for(url: str, settings: IngestSettings = FAST) -> tuple[CameraRunner, FrameHub]:
    hub = FrameHub(settings.queue_size)
    return CameraRunner("cam-01", lambda: open_source(url, settings), settings, hub), hub


def test_unreachable_camera_goes_down_without_a_tight_loop() -> None:
    url = f"rtsp://admin:hunter2@127.0.0.1:{closed_port()}/live"
    runner, _ = runner_for(url)
    states: set[CameraState] = set()
    runner.start()
    try:
        assert wait_for(lambda: CameraState.DOWN in seen(states, runner), 5.0)
        # RECONNECTING lasts only the jittered backoff delay, which may fall between two polls.
        assert CameraState.RECONNECTING in states or runner.reconnects >= 2
        assert runner.last_error is not None and "hunter2" not in runner.last_error
        assert "refused" in runner.last_error.lower()
        attempts = runner.attempts
        assert attempts == FAST.down_after_failures
        time.sleep(0.8)
        # DOWN: retried every ~2 s (1-3 s with jitter), not in a loop.
        assert runner.attempts <= attempts + 1
        assert runner.status().reconnects == runner.attempts - (0 if runner.state is CameraState.DOWN else 1)
    finally:
        assert runner.stop()
    assert runner.state is CameraState.STOPPED


def test_rtsp_source_reports_refusal_as_stream_error() -> None:
    source = RtspSource(f"rtsp://u:pw@127.0.0.1:{closed_port()}/x", open_timeout_s=2)
    with pytest.raises(StreamError) as err:
        source.open()
    assert "pw@" not in str(err.value) and "***@" in str(err.value)


# -- against the RTSP replay server ---------------------------------------------------------------


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("rtsp") / "cam-01.mp4", frames=40, w=320, h=240)


@pytest.fixture(scope="module")
def gstreamer() -> None:
    from sample_streams.replay import check_gstreamer

    try:
        check_gstreamer()
    except StreamError as exc:
        missing(str(exc))


@pytest.fixture()
def server(gstreamer: None, clip: Path) -> Iterator[object]:
    from sample_streams.replay import RtspReplayServer

    with RtspReplayServer({"cam-01": clip}, credentials=("viewer", "s3cret")) as srv:
        yield srv


@pytest.mark.slow
def test_stall_reconnect_and_server_restart(server: object) -> None:
    from sample_streams.replay import RtspReplayServer

    assert isinstance(server, RtspReplayServer)
    runner, hub = runner_for(server.url("cam-01"))
    runner.start()
    try:
        assert wait_for(lambda: runner.state is CameraState.STREAMING and runner.frames_sampled >= 2, 10.0)
        assert (runner.width, runner.height) == (320, 240)
        # Paused: the session stays up but no frame comes.
        states: set[CameraState] = set()
        server.pause("cam-01")
        # STALLED lasts only the jittered backoff delay (full jitter may pick ~0 s), so a poll can
        # miss the state itself; the stall is also recorded in last_error, which stays.
        assert wait_for(
            lambda: CameraState.STALLED in seen(states, runner) or "stalled" in (runner.last_error or ""), 8.0
        )
        assert runner.last_error is not None and "stalled" in runner.last_error
        server.resume("cam-01")
        assert wait_for(lambda: runner.state is CameraState.STREAMING, 10.0)
        # Killed and restarted on the same port: the camera reconnects and frames flow again.
        sampled = runner.frames_sampled
        reconnects = runner.reconnects
        server.kill()
        assert wait_for(lambda: runner.state is not CameraState.STREAMING, 8.0)
        server.start()
        assert wait_for(
            lambda: runner.state is CameraState.STREAMING and runner.frames_sampled > sampled + 1, 15.0
        )
        assert runner.reconnects > reconnects
        assert "s3cret" not in (runner.last_error or "")
        assert hub.pending("cam-01") <= FAST.queue_size
    finally:
        assert runner.stop()


@pytest.mark.slow
def test_wrong_credentials_say_authentication(server: object) -> None:
    from sample_streams.replay import RtspReplayServer

    assert isinstance(server, RtspReplayServer)
    url = server.url("cam-01").replace("s3cret", "wrong-pw")
    runner, _ = runner_for(url)
    runner.start()
    try:
        assert wait_for(lambda: runner.last_error is not None, 8.0)
        assert "authentication" in (runner.last_error or "")
        assert "wrong-pw" not in (runner.last_error or "")
        assert wait_for(lambda: runner.state is CameraState.DOWN, 2.0), "refused credentials retry slowly"
    finally:
        assert runner.stop()


@pytest.mark.slow
def test_resolution_change_mid_stream_without_reconnect(server: object, tmp_path: Path) -> None:
    """The camera switches from 320x240 to 160x120 within its live RTSP session (new SPS/PPS in
    band, as a camera reconfigured on the fly sends): frames keep coming at the new size, the change
    is counted, and the camera does not reconnect.
    """
    from sample_streams.replay import RtspReplayServer

    assert isinstance(server, RtspReplayServer)
    smaller = write_clip(tmp_path / "cam-01-small.mp4", frames=40, w=160, h=120)
    runner, hub = runner_for(server.url("cam-01"))
    runner.start()
    try:
        assert wait_for(lambda: runner.state is CameraState.STREAMING and runner.frames_sampled >= 2, 10.0)
        assert (runner.width, runner.height) == (320, 240)
        reconnects = runner.reconnects
        server.switch("cam-01", smaller)
        assert wait_for(lambda: (runner.width, runner.height) == (160, 120), 10.0), runner.last_error
        sampled = runner.frames_sampled
        assert wait_for(lambda: runner.frames_sampled >= sampled + 2, 10.0)
        assert runner.resolution_changes == 1
        assert runner.reconnects == reconnects and runner.state is CameraState.STREAMING
        queued = [hub.take(1, timeout=0.5) for _ in range(hub.pending("cam-01"))]
        assert queued and queued[-1][0].frame.image.shape[:2] == (120, 160)  # the newest, in order
        assert runner.status().extra["resolution_changes"] == "1"
    finally:
        assert runner.stop()

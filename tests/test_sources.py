"""Frame sources, motion gating, URL redaction and reconnect backoff, on clips generated here."""

from __future__ import annotations

import itertools
import random
import time
from datetime import UTC, datetime
from pathlib import Path

import av
import numpy as np
import pytest
from numpy.typing import NDArray

from ingest.backoff import Backoff
from ingest.camera import CameraRunner, FrameHub
from ingest.motion import MotionGate
from ingest.settings import IngestSettings
from ingest.sources import DirectorySource, FileSource, RtspSource, StreamSource, open_source
from sightline.errors import NotFound
from sightline.redact import redact_text, redact_url

FPS = 10


def moving_frame(i: int, w: int, h: int, static: bool = False) -> NDArray[np.uint8]:
    """A grey scene with a bright square crossing it (or standing still)."""
    img = np.full((h, w, 3), 70, np.uint8)
    side = max(8, h // 6)
    x = 10 if static else (10 + i * 7) % max(1, w - side - 10)
    img[h // 3 : h // 3 + side, x : x + side] = (230, 200, 40)
    return img


def write_clip(
    path: Path,
    frames: int,
    w: int = 160,
    h: int = 120,
    gop: int = FPS,
    static: bool = False,
    fmt: str | None = None,
) -> Path:
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0", "bf": "0"}
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(moving_frame(i, w, h, static), format="bgr24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("clips") / "moving.mp4", frames=20)


def test_sources_implement_the_protocol(clip: Path) -> None:
    assert isinstance(FileSource(clip), StreamSource)
    assert isinstance(RtspSource("rtsp://127.0.0.1:1/x"), StreamSource)
    assert isinstance(DirectorySource(clip.parent), StreamSource)


def test_file_source_replays_in_real_time_with_wall_clock_times(clip: Path) -> None:
    source = FileSource(clip)
    source.open()
    started = time.monotonic()
    frames = list(source.frames())
    elapsed = time.monotonic() - started
    source.close()
    assert len(frames) == 20 and source.frames_decoded == 20
    # 20 frames at 10 fps: the last is due 1.9 s after the first.
    assert 1.7 <= elapsed <= 2.6
    gaps = {round((b.wall - a.wall).total_seconds(), 3) for a, b in itertools.pairwise(frames)}
    assert gaps == {0.1}
    assert abs((frames[0].wall - datetime.now(UTC)).total_seconds()) < 5


def test_speed_factor_and_sampling(clip: Path) -> None:
    source = FileSource(clip, speed=4.0, sample_fps=2.0)
    source.open()
    started = time.monotonic()
    frames = list(source.frames())
    elapsed = time.monotonic() - started
    assert 0.35 <= elapsed <= 1.0  # 1.9 s of video at 4x
    assert [f.pts for f in frames] == pytest.approx([0.0, 0.5, 1.0, 1.5])
    assert source.frames_decoded == 20


def test_file_source_loops_and_pins_its_start_time(clip: Path) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    source = FileSource(clip, realtime=False, loop=True, start_time=start)
    source.open()
    frames = []
    for f in source.frames():
        frames.append(f)
        if len(frames) == 45:
            source.close()
    assert frames[0].wall == start
    assert frames[20].pts == pytest.approx(2.0) and frames[40].pts == pytest.approx(4.0)
    assert all(b.pts > a.pts for a, b in itertools.pairwise(frames))


def test_keyframe_only_decoding(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "gop5.mp4", frames=20, gop=5)
    source = FileSource(path, realtime=False, keyframes_only=True)
    source.open()
    frames = list(source.frames())
    assert len(frames) == 4 and all(f.keyframe for f in frames)
    assert source.frames_decoded == 4
    assert [f.pts for f in frames] == pytest.approx([0.0, 0.5, 1.0, 1.5])


def test_open_source_parses_file_urls_and_directories(clip: Path) -> None:
    settings = IngestSettings()
    source = open_source(f"file://{clip}?speed=2&loop=1&start=2026-01-01T00:00:00Z", settings)
    assert isinstance(source, FileSource) and not source.finite
    assert isinstance(open_source(str(clip.parent), settings), DirectorySource)
    assert isinstance(open_source("rtsp://u:p@10.0.0.1/s", settings), RtspSource)
    with pytest.raises(NotFound):
        open_source(str(clip.parent / "missing.mp4"), settings)


def test_directory_source_plays_each_file_in_turn(tmp_path: Path) -> None:
    write_clip(tmp_path / "a.mp4", frames=10)
    write_clip(tmp_path / "b.mp4", frames=5, w=96, h=64)
    source = DirectorySource(tmp_path, realtime=False)
    source.open()
    sizes = [f.image.shape[:2] for f in source.frames()]
    assert sizes == [(120, 160)] * 10 + [(64, 96)] * 5
    assert source.frames_decoded == 15


def test_redaction_hides_credentials_everywhere() -> None:
    assert redact_url("rtsp://admin:s3cret@10.1.2.3:554/live") == "rtsp://***@10.1.2.3:554/live"
    assert redact_url("rtsp://10.1.2.3/live") == "rtsp://10.1.2.3/live"
    text = "rtsp://admin:s3cret@cam/a: 401 Unauthorized; retry http://u:p@h/x"
    assert "s3cret" not in redact_text(text) and ":p@" not in redact_text(text)
    assert "s3cret" not in repr(RtspSource("rtsp://admin:s3cret@cam/a"))


# -- motion gating ----------------------------------------------------------------------------------


def test_motion_gate_skips_a_static_scene_and_passes_a_moving_one() -> None:
    gate = MotionGate(threshold=0.001)
    rng = np.random.default_rng(0)
    static = [moving_frame(0, 320, 240, static=True) for _ in range(10)]
    # Sensor noise of a few grey levels must not count as motion.
    noisy = [
        np.clip(f.astype(np.int16) + rng.integers(-4, 5, f.shape), 0, 255).astype(np.uint8) for f in static
    ]
    results = [gate.moved(f) for f in noisy]
    assert results[0] and not any(results[1:])
    moving = [gate.moved(moving_frame(i, 320, 240)) for i in range(1, 10)]
    assert all(moving)


def test_motion_gate_resets_on_a_new_frame_size() -> None:
    gate = MotionGate()
    gate.moved(moving_frame(0, 320, 240, static=True))
    assert not gate.moved(moving_frame(0, 320, 240, static=True))
    assert gate.moved(moving_frame(0, 160, 120, static=True))


# -- backoff ----------------------------------------------------------------------------------------


def test_backoff_is_bounded_exponential_with_full_jitter() -> None:
    backoff = Backoff(1.0, 30.0, down_after=100, rng=random.Random(1))
    delays = [backoff.failure() for _ in range(12)]
    for n, d in enumerate(delays, start=1):
        assert 0.0 <= d <= min(30.0, 2.0 ** (n - 1))
    assert max(delays[6:]) > 10.0  # the window really grows to the cap
    backoff.reset()
    assert backoff.failure() <= 1.0


def test_backoff_keeps_cameras_out_of_lock_step() -> None:
    cameras = [Backoff(1.0, 30.0, rng=random.Random(seed)) for seed in range(200)]
    fifth = [[b.failure() for _ in range(5)][-1] for b in cameras]
    # Full jitter spreads the fifth retry over [0, 16 s]: no bucket of one second holds many.
    counts = np.histogram(fifth, bins=16, range=(0, 16))[0]
    assert counts.max() <= 30 and len({round(d, 3) for d in fifth}) > 190


def test_down_cameras_retry_slowly_with_jitter() -> None:
    backoff = Backoff(1.0, 30.0, down_after=3, down_retry_s=120.0, rng=random.Random(2))
    for _ in range(2):
        backoff.failure()
    assert not backoff.down
    slow = [backoff.failure() for _ in range(20)]
    assert backoff.down and all(60.0 <= d <= 180.0 for d in slow) and len(set(slow)) == 20


def test_give_up_goes_straight_to_slow_retries() -> None:
    backoff = Backoff(1.0, 30.0, down_after=6, down_retry_s=120.0, rng=random.Random(3))
    backoff.give_up()
    assert 60.0 <= backoff.failure() <= 180.0 and backoff.down


# -- a camera's decode thread on a file -------------------------------------------------------------


def test_camera_counts_a_resolution_change_and_drops_oldest_when_full(tmp_path: Path) -> None:
    # One MPEG-TS file made of two encodes at different sizes, as a camera reconfigured mid-stream.
    a = write_clip(tmp_path / "a.ts", frames=10, fmt="mpegts")
    b = write_clip(tmp_path / "b.ts", frames=10, w=96, h=64, fmt="mpegts")
    joined = tmp_path / "joined.ts"
    joined.write_bytes(a.read_bytes() + b.read_bytes())
    settings = IngestSettings(queue_size=2, motion_gating=False)
    hub = FrameHub(settings.queue_size)
    runner = CameraRunner("cam", lambda: FileSource(joined, realtime=False), settings, hub)
    runner.start()
    deadline = time.monotonic() + 10
    while not runner.finished and time.monotonic() < deadline:
        time.sleep(0.05)
    assert runner.finished and runner.frames_decoded == 20
    assert runner.resolution_changes == 1 and (runner.width, runner.height) == (96, 64)
    # Nobody consumed: the queue kept the newest two and dropped (and counted) the rest.
    assert runner.frames_dropped == 18 and hub.pending("cam") == 2
    frames = hub.take(limit=10, timeout=0.1)
    assert len(frames) == 1 and frames[0].frame.image.shape[:2] == (64, 96)
    status = runner.status()
    assert status.state.value == "stopped" and status.extra["resolution_changes"] == "1"
    assert runner.stop()

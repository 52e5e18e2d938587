"""RTSP replay: generated clips served by GStreamer's RTSP server, read back by a PyAV client.

Skips only where Debian's ``/usr/bin/python3`` cannot import ``gi`` (see
sample_streams/system_packages.txt); with ``gi`` present, a missing RTSP server typelib or plugin
fails the tests.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import av
import pytest
from realdeps import missing

from sample_streams.ground_truth import GroundTruth
from sample_streams.make import make_samples
from sample_streams.replay import (
    SYSTEM_PACKAGES,
    SYSTEM_PYTHON,
    RtspReplayServer,
    from_sample_dir,
    sample_files,
)
from sightline.errors import InputError, NotFound, StreamError
from sightline.settings import Settings

pytestmark = pytest.mark.slow

USER, PASSWORD = "viewer", "pa:ss@word"
_OPEN_TIMEOUT_S = 5.0


def _gi_importable() -> bool:
    if not SYSTEM_PYTHON.is_file():
        return False
    return subprocess.run([str(SYSTEM_PYTHON), "-c", "import gi"], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory, base_settings: Settings) -> tuple[Path, GroundTruth]:
    out = tmp_path_factory.mktemp("replay-samples")
    gt = make_samples(out, base_settings, cameras=2, seconds=6.0, progress=False)
    return out, gt


@pytest.fixture(scope="module")
def server(samples: tuple[Path, GroundTruth]) -> Iterator[RtspReplayServer]:
    if not _gi_importable():
        missing(f"{SYSTEM_PYTHON} cannot import gi; install: {' '.join(SYSTEM_PACKAGES)}")
    with from_sample_dir(samples[0], credentials=(USER, PASSWORD)) as srv:
        yield srv


def _open(url: str, read_timeout_s: float = 5.0, transport: str = "tcp") -> av.container.InputContainer:
    return av.open(url, options={"rtsp_transport": transport}, timeout=(_OPEN_TIMEOUT_S, read_timeout_s))


def _read(url: str, seconds: float, transport: str) -> list[tuple[float, float, int, int]]:
    """(wall time, frame time, width, height) of every frame decoded in ``seconds`` of wall time."""
    frames = []
    with _open(url, transport=transport) as container:
        t0 = time.monotonic()
        for frame in container.decode(video=0):
            assert frame.to_ndarray(format="rgb24").shape == (frame.height, frame.width, 3)
            if frame.time is not None:
                frames.append((time.monotonic(), frame.time, frame.width, frame.height))
            if time.monotonic() - t0 > seconds:
                break
    return frames


def test_two_clients_read_live_frames_across_loops(
    server: RtspReplayServer, samples: tuple[Path, GroundTruth]
) -> None:
    """Reading longer than one clip proves looping; two clients at once (one over TCP, one over UDP)
    prove the media is shared and both transports work."""
    clip = samples[1].clip("cam-01")
    seconds = clip.duration_s + 1.5
    results: dict[int, list[tuple[float, float, int, int]]] = {}
    errors: list[BaseException] = []

    def client(i: int) -> None:
        try:
            results[i] = _read(server.url("cam-01"), seconds, ("tcp", "udp")[i])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    for frames in results.values():
        assert {(w, h) for _, _, w, h in frames} == {(clip.width, clip.height)}
        times = [t for _, t, _, _ in frames]
        assert all(b > a for a, b in itertools.pairwise(times)), "timestamps must increase"
        assert times[-1] - times[0] > clip.duration_s, "the stream must outlast one pass of the clip"
        # Real-time pace: about fps frames per second of stream time (some lost to the join).
        assert len(frames) >= 0.8 * clip.fps * (times[-1] - times[0])


def test_wrong_or_missing_credentials_are_refused(server: RtspReplayServer) -> None:
    with pytest.raises(av.HTTPUnauthorizedError):
        _open(server.url("cam-02").replace("pa%3Ass", "wrong"))
    with pytest.raises(av.HTTPUnauthorizedError):
        _open(server.url("cam-02", with_credentials=False))


def test_pause_stalls_the_stream_and_resume_restarts_it(server: RtspReplayServer) -> None:
    """A stall keeps the connection open with no frames; after resume the same client reads on."""
    stall_s = 2.5
    arrivals: list[float] = []
    with _open(server.url("cam-02"), read_timeout_s=8.0) as container:
        frames = container.decode(video=0)
        next(frames)
        server.pause("cam-02")
        resumer = threading.Timer(stall_s, server.resume, args=("cam-02",))
        resumer.start()
        resumed_at = time.monotonic() + stall_s
        try:
            for _ in frames:
                arrivals.append(time.monotonic())
                # Frames resume at the next keyframe: up to one second (one GOP) after resume.
                if arrivals[-1] > resumed_at + 2.5:
                    break
        finally:
            resumer.join()
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert max(gaps) > stall_s - 0.7, f"no stall seen: longest gap {max(gaps):.2f} s"
    assert sum(t > resumed_at for t in arrivals) >= 6, "frames must flow again after resume"


def test_long_stall_times_the_client_out(server: RtspReplayServer) -> None:
    with _open(server.url("cam-02"), read_timeout_s=1.5) as container:
        frames = container.decode(video=0)
        next(frames)
        server.pause("cam-02")
        try:
            t0 = time.monotonic()
            with pytest.raises(av.FFmpegError):
                for _ in frames:
                    assert time.monotonic() - t0 < 6.0, "frames kept coming from a paused camera"
        finally:
            server.resume("cam-02")


def test_kill_drops_clients_and_restart_serves_the_same_url(server: RtspReplayServer) -> None:
    url = server.url("cam-01")
    port = server.port
    with _open(url, read_timeout_s=3.0) as container:
        frames = container.decode(video=0)
        next(frames)
        server.kill()
        assert not server.running
        # The client sees the end of the stream (EOF or an error), not frames from a dead server.
        t0 = time.monotonic()
        with contextlib.suppress(av.FFmpegError):
            for _ in frames:
                assert time.monotonic() - t0 < 2.0, "frames kept coming from a killed server"
    server.restart()
    assert server.port == port
    with _open(url) as container:
        frame = next(container.decode(video=0))
        assert (frame.width, frame.height) == (640, 480)


def test_speed_two_doubles_the_frame_rate(samples: tuple[Path, GroundTruth]) -> None:
    if not _gi_importable():
        missing(f"{SYSTEM_PYTHON} cannot import gi")
    files = {"cam-02": sample_files(samples[0])["cam-02"]}
    with RtspReplayServer(files, speed=2.0) as fast:
        assert "@" not in fast.url("cam-02")
        with _open(fast.url("cam-02")) as container:
            frames = container.decode(video=0)
            next(frames)
            # Drain what the client buffered while probing: live frames make next() wait.
            while True:
                waited = time.monotonic()
                next(frames)
                if time.monotonic() - waited > 0.02:
                    break
            n, t0 = 0, time.monotonic()
            while time.monotonic() - t0 < 2.0:
                next(frames)
                n += 1
    fps = n / (time.monotonic() - t0)
    assert 18 <= fps <= 30, f"expected about 24 frames/s at speed 2, got {fps:.1f}"


def test_cli_prints_masked_urls_and_stops_on_ctrl_c(samples: tuple[Path, GroundTruth]) -> None:
    if not _gi_importable():
        missing(f"{SYSTEM_PYTHON} cannot import gi")
    cmd = [sys.executable, "-m", "sightline.cli", "replay", str(samples[0]), "--port", "0"]
    proc = subprocess.Popen(
        [*cmd, "--user", USER, "--password", PASSWORD],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert proc.stdout is not None
    lines = [proc.stdout.readline() for _ in range(3)]
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    text = "".join(lines) + out
    assert proc.returncode == 0, err
    assert PASSWORD not in text and PASSWORD not in err
    assert lines[0].startswith("cam-01\trtsp://***@127.0.0.1:")
    assert lines[1].startswith("cam-02\t")


def test_missing_gstreamer_names_the_packages(samples: tuple[Path, GroundTruth]) -> None:
    """The venv's Python has no ``gi``: the launcher exits early and the error says what to install."""
    files = sample_files(samples[0])
    with pytest.raises(StreamError, match=r"gir1\.2-gst-rtsp-server-1\.0"):
        RtspReplayServer(files, python=Path(sys.executable)).start()
    with pytest.raises(StreamError, match="python3-gi"):
        RtspReplayServer(files, python=Path("/nonexistent/python3")).start()


def test_system_packages_file_lists_the_same_packages(repo_root: Path) -> None:
    listed = (repo_root / "sample_streams" / "system_packages.txt").read_text().split()
    assert tuple(listed) == SYSTEM_PACKAGES


@pytest.mark.parametrize(
    ("camera_id", "speed", "credentials", "error"),
    [
        ("cam 1", 1.0, None, InputError),
        ("cam-01", 0.0, None, InputError),
        ("cam-01", 1.0, ("a:b", "pw"), InputError),
        ("cam-01", 1.0, ("", "pw"), InputError),
    ],
)
def test_invalid_arguments_are_refused(
    samples: tuple[Path, GroundTruth],
    camera_id: str,
    speed: float,
    credentials: tuple[str, str] | None,
    error: type[Exception],
) -> None:
    clip = sample_files(samples[0])["cam-01"]
    with pytest.raises(error):
        RtspReplayServer({camera_id: clip}, speed=speed, credentials=credentials)


def test_missing_clip_and_unknown_camera(samples: tuple[Path, GroundTruth], tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        RtspReplayServer({"cam-01": tmp_path / "absent.mp4"})
    srv = RtspReplayServer(sample_files(samples[0]), port=8554, credentials=(USER, PASSWORD))
    assert srv.url("cam-01") == "rtsp://viewer:pa%3Ass%40word@127.0.0.1:8554/cam-01"
    assert srv.url("cam-01", with_credentials=False) == "rtsp://127.0.0.1:8554/cam-01"
    with pytest.raises(NotFound):
        srv.url("cam-09")


def test_switch_refuses_a_missing_clip_an_unknown_camera_and_a_broken_file(
    server: RtspReplayServer, tmp_path: Path
) -> None:
    """A refused switch names what is wrong and leaves the camera serving its clip."""
    before = dict(server.files)
    with pytest.raises(NotFound, match="no clip"):
        server.switch("cam-01", tmp_path / "absent.mp4")
    with pytest.raises(NotFound, match="no replayed camera 'cam-99'"):
        server.switch("cam-99", before["cam-01"])
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all" * 100)
    with pytest.raises(StreamError, match="refused switch cam-01"):
        server.switch("cam-01", broken)
    assert server.files == before
    frames = _read(server.url("cam-01"), 2.0, "tcp")
    assert frames, "the camera still serves its own clip"

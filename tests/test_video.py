"""Video decoding and sampling on clips generated here with PyAV (libx264)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import numpy as np
import pytest

from ingest.video import Frame, TimeSampler, open_video
from sightline.errors import NotFound, StreamError

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def make_clip(
    path: Path, *, seconds: float = 4.0, fps: int = 10, gop: int = 10, size: tuple[int, int] = (160, 120)
) -> Path:
    """A clip of a white square sliding over a frame whose colour encodes the frame number.

    ``faststart`` puts the index first, so a file cut short still opens and decodes its first part,
    as a recording interrupted by a crash would.
    """
    w, h = size
    with av.open(str(path), "w", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.gop_size = gop
        stream.codec_context.options = {
            "preset": "ultrafast",
            "sc_threshold": "0",
            "keyint_min": str(gop),
            "bf": "0",
        }
        for i in range(round(seconds * fps)):
            img = np.full((h, w, 3), (i * 4) % 256, np.uint8)
            x = (i * 3) % (w - 30)
            img[40:70, x : x + 30] = 255
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("video") / "clip.mp4")


def _pts(frames: list[Frame]) -> list[float]:
    return [round(f.pts, 3) for f in frames]


@pytest.mark.parametrize(
    ("sample_fps", "expected"),
    [
        (2.0, [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]),
        (3.0, [0.0, 0.4, 0.7, 1.0, 1.4, 1.7, 2.0, 2.4, 2.7, 3.0, 3.4, 3.7]),
        (1.0, [0.0, 1.0, 2.0, 3.0]),
        (25.0, [round(i / 10, 3) for i in range(40)]),
    ],
)
def test_sampling_picks_frames_by_timestamp(clip: Path, sample_fps: float, expected: list[float]) -> None:
    with open_video(clip, start_time=START, sample_fps=sample_fps) as video:
        frames = list(video)
        assert video.frames_decoded == 40
    assert _pts(frames) == expected
    assert frames[1].wall == START + timedelta(seconds=frames[1].pts)
    assert frames[0].image.shape == (120, 160, 3) and frames[0].image.dtype == np.uint8


def test_frames_carry_the_decoded_pixels(clip: Path) -> None:
    """The square's position encodes the frame number: the right pixels come with each pts."""
    with open_video(clip, start_time=START, sample_fps=1.0) as video:
        frames = list(video)
    assert [f.index for f in frames] == [0, 10, 20, 30]
    for f in frames:
        bright = np.flatnonzero(f.image[55, :, 0] > 200)
        assert abs(int(bright[0]) - (f.index * 3) % 130) <= 1


def test_sampler_resumes_on_the_grid_after_a_gap() -> None:
    sampler = TimeSampler(2.0)
    taken = [t for t in (0.0, 0.1, 0.5, 0.6, 3.2, 3.3, 3.5, 4.0) if sampler.take(t)]
    assert taken == [0.0, 0.5, 3.2, 3.5, 4.0]


def test_keyframes_only_yields_only_keyframes(clip: Path) -> None:
    with open_video(clip, start_time=START, keyframes_only=True) as video:
        frames = list(video)
    assert _pts(frames) == [0.0, 1.0, 2.0, 3.0]
    assert all(f.keyframe for f in frames)
    with open_video(clip, start_time=START) as video:
        all_frames = list(video)
    assert [f.pts for f in all_frames if f.keyframe] == [f.pts for f in frames]
    assert len(all_frames) == 40


def test_truncated_file_yields_earlier_frames_then_stream_error(clip: Path, tmp_path: Path) -> None:
    data = clip.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    frames: list[Frame] = []
    with (
        open_video(cut, start_time=START, sample_fps=None) as video,
        pytest.raises(StreamError, match=r"cut\.mp4.* s"),
    ):
        for frame in video:
            frames.append(frame)
    assert 5 <= len(frames) < 40
    assert _pts(frames) == [round(i / 10, 3) for i in range(len(frames))]


def test_non_video_file_is_a_stream_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 20)
    with pytest.raises(StreamError, match=r"notes\.mp4 is not a readable video file"):
        open_video(path)


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="video file not found"):
        open_video(tmp_path / "absent.mp4")


def test_start_time_defaults_to_file_time_minus_duration(clip: Path) -> None:
    with open_video(clip) as video:
        duration = video.duration_s
        assert duration == pytest.approx(4.0, abs=0.05)
        mtime = datetime.fromtimestamp(clip.stat().st_mtime, tz=UTC)
        assert video.start_time == mtime - timedelta(seconds=duration or 0.0)


def test_naive_start_time_is_rejected(clip: Path) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        open_video(clip, start_time=datetime(2026, 3, 1, 8, 0))

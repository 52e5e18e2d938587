"""How many cameras one core decodes at one analysed frame per second, measured side by side.

For 720p and 1080p clips (generated here with libx264, 25 fps, 1 s GOP, moving textured content,
at a camera-like capped bitrate of 2 and 4 Mbit/s):
a bare PyAV keyframe-decode loop (``skip_frame="NONKEY"`` + BGR conversion), our sources'
keyframe-only path, and our full-decode path sampled at 1 fps. "Cameras per core" is analysed
frames (decoded and converted to BGR) per CPU second (``time.process_time``, all threads), which at
one analysed frame per second per camera is the number of cameras one core keeps up with.
``pipeline`` runs the full live path (decode, motion gate, recognition, tracking) on sample streams
and reports video seconds per CPU second, i.e. cameras per core at ``ingest.sample_fps``.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import cv2
import numpy as np

from ingest.motion import MotionGate
from ingest.sources import FileSource
from ingest.tracker import Tracker

if TYPE_CHECKING:
    from sightline.settings import Settings

__all__ = ["bench_ingest", "make_bench_clip", "make_clip_from_video"]

log = logging.getLogger(__name__)

_FPS = 25
_SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}
#: Surveillance cameras stream H.264 at a capped bitrate, typically 2 Mbit/s at 720p and 4 at 1080p;
#: the cap bounds keyframe size, and keyframe size is what keyframe-only decoding pays for.
_BITRATES = {(1280, 720): 2_000_000, (1920, 1080): 4_000_000}


def _encode(path: Path, width: int, height: int, frames: Iterator[Any]) -> Path:
    """Encode BGR frames as H.264 at 25 fps with a 1 s GOP and a camera-like capped bitrate."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=_FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        rate = _BITRATES.get((width, height), width * height * 2)
        stream.bit_rate = rate
        stream.options = {
            "g": str(_FPS),
            "keyint_min": str(_FPS),
            "sc_threshold": "0",
            "preset": "veryfast",
            "maxrate": str(rate),
            "bufsize": str(2 * rate),
        }
        for img in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="bgr24")))
        out.mux(stream.encode(None))
    return path


def make_clip_from_video(video: Path, path: Path, width: int, height: int, seconds: float = 4.0) -> Path:
    """A recorded video re-encoded like a camera stream (see :func:`_encode`), looped to ``seconds``."""

    def frames() -> Iterator[Any]:
        wanted = int(seconds * _FPS)
        produced = 0
        while produced < wanted:
            with av.open(str(video)) as src:
                for frame in src.decode(video=0):
                    img: Any = frame.to_ndarray(format="bgr24")
                    if img.shape[:2] != (height, width):
                        img = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
                    yield np.ascontiguousarray(img)
                    produced += 1
                    if produced >= wanted:
                        return

    return _encode(path, width, height, frames())


def make_bench_clip(path: Path, width: int, height: int, seconds: float = 4.0) -> Path:
    """A clip with a 1 s GOP: a smooth textured background panning slowly and a block crossing it.

    The texture is noise upscaled 16x (street-like detail); raw per-pixel noise would make every
    keyframe unrealistically expensive to decode."""
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, (height // 16 + 2, width // 16 + 3, 3), dtype=np.uint8)
    background = cv2.resize(
        texture, (texture.shape[1] * 16, texture.shape[0] * 16), interpolation=cv2.INTER_CUBIC
    )

    def frames() -> Iterator[Any]:
        for i in range(int(seconds * _FPS)):
            shift = (i * 2) % 8
            img = np.ascontiguousarray(background[:height, shift : shift + width], dtype=np.uint8)
            x = (i * width // 50) % (width - 200)
            img[height // 3 : height // 3 + 200, x : x + 200] = (40, 200, 230)
            yield img

    return _encode(path, width, height, frames())


def _bare_keyframes(path: Path) -> Iterator[Any]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONKEY"
        for frame in container.decode(stream):
            yield frame.to_ndarray(format="bgr24")


def _ours(path: Path, keyframes_only: bool) -> Iterator[Any]:
    source = FileSource(path, realtime=False, keyframes_only=keyframes_only, sample_fps=1.0)
    source.open()
    try:
        for frame in source.frames():
            yield frame.image
    finally:
        source.close()


def _rate(run: Callable[[], Iterator[Any]], seconds: float) -> float:
    """Items per CPU second, repeating ``run`` until ``seconds`` of wall time have passed."""
    items = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    while time.perf_counter() - wall0 < seconds or items == 0:
        for _ in run():
            items += 1
    return items / max(time.process_time() - cpu0, 1e-9)


def _pipeline(settings: Settings, seconds: float, workdir: Path) -> float:
    """Video seconds per CPU second through decode, motion gate, recognition and tracking."""
    from ingest.recognise import FrameRecogniser
    from sample_streams.make import make_samples

    gt = make_samples(workdir / "samples", settings, cameras=2, seconds=6.0, progress=False)
    recogniser = FrameRecogniser.from_settings(settings)
    ingest = settings.ingest
    video_s = 0.0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    while time.perf_counter() - wall0 < seconds or video_s == 0:
        for clip in gt.clips:
            source = FileSource(workdir / "samples" / clip.file, realtime=False, sample_fps=ingest.sample_fps)
            gate = MotionGate(ingest.motion_threshold)
            tracker = Tracker(ingest, face_min_quality=settings.recognition.face.min_quality)
            source.open()
            for frame in source.frames():
                if ingest.motion_gating and not gate.moved(frame.image):
                    continue
                analysed = recogniser.analyse(frame.image, frame.wall)
                tracker.update(frame.wall, recogniser.embed([analysed])[0])
            tracker.flush()
            source.close()
            video_s += clip.duration_s
    return video_s / max(time.process_time() - cpu0, 1e-9)


def bench_ingest(
    seconds: float = 3.0,
    progress: bool = True,
    settings: Settings | None = None,
    pipeline: bool = True,
    video: Path | None = None,
) -> dict[str, Any]:
    """Cameras per core per path and resolution (see the module docstring), plus the ratios the
    targets are stated in: keyframe path within 20% of bare, keyframe at least 5x cheaper than full."""
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="sightline-bench-ingest-") as tmp:
        workdir = Path(tmp)
        clips: dict[str, tuple[int, int, Path | None]] = {
            name: (w, h, None) for name, (w, h) in _SIZES.items()
        }
        if video is not None:
            # The same measurement on recorded content, re-encoded like a camera stream at 1080p.
            clips["1080p_recorded"] = (1920, 1080, video)
        for name, (w, h, recorded) in clips.items():
            if progress:
                log.info("bench ingest: encoding a %s clip", name)
            if recorded is None:
                clip = make_bench_clip(workdir / f"{name}.mp4", w, h)
            else:
                clip = make_clip_from_video(recorded, workdir / f"{name}.mp4", w, h)
            runs: dict[str, Callable[[], Iterator[Any]]] = {
                f"bare_keyframe_{name}": partial(_bare_keyframes, clip),
                f"keyframe_{name}": partial(_ours, clip, True),
                f"full_{name}": partial(_ours, clip, False),
            }
            for key, run in runs.items():
                if progress:
                    log.info("bench ingest: %s", key)
                result[key] = round(_rate(run, seconds), 2)
            result[f"keyframe_vs_bare_{name}"] = round(
                result[f"keyframe_{name}"] / result[f"bare_keyframe_{name}"], 3
            )
            result[f"keyframe_vs_full_{name}"] = round(result[f"keyframe_{name}"] / result[f"full_{name}"], 2)
        if pipeline:
            if settings is None:
                from sightline.settings import load_settings

                settings = load_settings()
            if progress:
                log.info("bench ingest: pipeline on sample streams")
            result["pipeline"] = round(_pipeline(settings, seconds, workdir), 3)
    return result

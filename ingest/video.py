"""Video files decoded with PyAV into timestamped BGR frames, sampled by time.

Frames are chosen by timestamp, not by index, so a variable-rate or 25/30 fps source gives the same
analysed instants. PyAV errors are translated here into :class:`StreamError` naming the file and the
position reached; a file that ends before its declared duration (a recording cut short) is an error
too, raised after every frame decoded before it has been yielded.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Self

import av
import av.error
import numpy as np
from numpy.typing import NDArray

from sightline.errors import NotFound, StreamError

__all__ = ["Frame", "TimeSampler", "VideoSource", "open_video"]

log = logging.getLogger(__name__)

#: A stream may end this much before its declared duration without being called truncated: the
#: declared duration covers the last frame's display time, and muxers round it.
_END_TOLERANCE_S = 0.5


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame: its ordinal among decoded frames, its time in the clip and on the wall clock."""

    index: int
    pts: float
    wall: datetime
    image: NDArray[np.uint8]
    keyframe: bool = False


class TimeSampler:
    """Picks the first frame at or after each multiple of ``1 / fps`` seconds.

    After a gap (dropped frames, keyframe-only decoding) sampling resumes on the grid instead of
    emitting a burst of frames to catch up.
    """

    def __init__(self, fps: float | None) -> None:
        if fps is not None and fps <= 0:
            raise ValueError(f"TimeSampler: fps must be positive, got {fps}")
        self._step = None if fps is None else 1.0 / fps
        self._next = 0.0

    def take(self, t: float) -> bool:
        """Whether the frame at ``t`` seconds is analysed; frames must come in time order."""
        if self._step is None:
            return True
        if t + 1e-6 < self._next:
            return False
        self._next += self._step
        if self._next <= t + 1e-6:
            self._next = (math.floor(t / self._step + 1e-6) + 1) * self._step
        return True


class VideoSource:
    """An open video file; iterate it for sampled :class:`Frame`\\ s. Use as a context manager.

    ``start_time`` anchors pts 0 on the wall clock (UTC). Without it: the container's
    ``creation_time`` tag when present (cameras and recorders write it), else the file's
    modification time minus its duration, since a recorder last writes a file when it stops.
    """

    def __init__(
        self,
        path: Path,
        *,
        start_time: datetime | None = None,
        sample_fps: float | None = None,
        keyframes_only: bool = False,
    ) -> None:
        self.path = path
        if not path.exists():
            raise NotFound(f"video file not found: {path}")
        try:
            self._container = av.open(str(path), mode="r")
        except (av.error.FFmpegError, OSError) as exc:
            raise StreamError(f"{path} is not a readable video file: {exc}") from exc
        if not self._container.streams.video:
            self._container.close()
            raise StreamError(f"{path} has no video stream")
        self._stream = self._container.streams.video[0]
        self._keyframes_only = keyframes_only
        self._sample_fps = sample_fps
        self.frames_decoded = 0
        self.position_s = 0.0
        self.duration_s = self._declared_duration()
        self.start_time = self._wall_start(start_time)

    # -- metadata -------------------------------------------------------------------------------

    @property
    def width(self) -> int:
        return int(self._stream.codec_context.width)

    @property
    def height(self) -> int:
        return int(self._stream.codec_context.height)

    @property
    def fps(self) -> float | None:
        """The stream's average frame rate, when the container declares one."""
        rate = self._stream.average_rate
        return float(rate) if rate else None

    def _declared_duration(self) -> float | None:
        stream = self._stream
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        if self._container.duration is not None:
            return self._container.duration / av.time_base
        return None

    def _wall_start(self, start_time: datetime | None) -> datetime:
        if start_time is not None:
            if start_time.tzinfo is None:
                raise ValueError(f"start_time must be timezone-aware (UTC), got {start_time!r}")
            return start_time.astimezone(UTC)
        tag = self._container.metadata.get("creation_time") or self._stream.metadata.get("creation_time")
        if tag:
            try:
                parsed = datetime.fromisoformat(tag.replace("Z", "+00:00"))
            except ValueError:
                log.warning("%s: unreadable creation_time %r; using the file time", self.path, tag)
            else:
                return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        mtime = datetime.fromtimestamp(os.stat(self.path).st_mtime, tz=UTC)
        return mtime - timedelta(seconds=self.duration_s or 0.0)

    # -- decoding -------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Frame]:
        return self.frames()

    def frames(self) -> Iterator[Frame]:
        """Sampled frames in time order; raises StreamError after the last good frame on failure."""
        stream = self._stream
        if self._keyframes_only:
            stream.codec_context.skip_frame = "NONKEY"
        else:
            stream.thread_type = "AUTO"
        time_base = stream.time_base or Fraction(1, 90_000)
        origin = stream.start_time or 0
        sampler = TimeSampler(self._sample_fps)
        packet_end = 0.0
        try:
            for packet in self._container.demux(stream):
                if packet.pts is not None:
                    packet_end = max(packet_end, float((packet.pts - origin) * time_base))
                for frame in packet.decode():
                    pts = frame.pts if frame.pts is not None else frame.dts
                    t = float((pts - origin) * time_base) if pts is not None else self.position_s
                    self.frames_decoded += 1
                    self.position_s = t
                    if not sampler.take(t):
                        continue
                    image = np.ascontiguousarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)
                    yield Frame(
                        index=self.frames_decoded - 1,
                        pts=t,
                        wall=self.start_time + timedelta(seconds=t),
                        image=image,
                        keyframe=bool(frame.key_frame),
                    )
        except av.error.FFmpegError as exc:
            raise StreamError(
                f"{self.path}: decoding failed at {self.position_s:.2f} s "
                f"after {self.frames_decoded} frames: {exc}"
            ) from exc
        self._check_complete(max(packet_end, self.position_s))

    def _check_complete(self, reached: float) -> None:
        """A file that stops well short of its declared duration was cut off (disk full, crash)."""
        declared = self.duration_s
        if declared is None:
            return
        frame_s = 1.0 / self.fps if self.fps else 0.0
        if reached + frame_s + _END_TOLERANCE_S < declared:
            raise StreamError(
                f"{self.path}: stream ends at {reached:.2f} s of {declared:.2f} s declared "
                f"after {self.frames_decoded} frames (truncated file?)"
            )

    # -- lifetime -------------------------------------------------------------------------------

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def open_video(
    path: Path | str,
    *,
    start_time: datetime | None = None,
    sample_fps: float | None = None,
    keyframes_only: bool = False,
) -> VideoSource:
    """Open a video file for sampled decoding.

    ``sample_fps`` None analyses every decoded frame; ``keyframes_only`` decodes only keyframes
    (still thinned to ``sample_fps``), about six times cheaper at 1080p with a 1 s GOP.
    Raises NotFound for a missing file and StreamError for one that is not a decodable video.
    """
    return VideoSource(
        Path(path), start_time=start_time, sample_fps=sample_fps, keyframes_only=keyframes_only
    )

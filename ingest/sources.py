"""Live frame sources: RTSP (any FFmpeg network URL) and files replayed at real-time pace.

A source yields sampled :class:`~ingest.video.Frame`\\ s with wall-clock times; only sampled frames
are converted to BGR arrays (the conversion costs as much as decoding a frame). Sampling is either a
fixed analysed rate (:class:`~ingest.video.TimeSampler`) or keyframe-only decoding, where the
decoder skips every non-key frame (``skip_frame="NONKEY"``): with a 1 s GOP that is one decoded
frame per second at a fraction of the cost of full decoding (``sightline bench ingest``).

Every URL in a log line or error message passes through :func:`~ingest.redact.redact_url`. PyAV
errors are translated into :class:`StreamError`; an HTTP 401 from the camera says "authentication
failed" and a source that stops delivering frames sets :attr:`RtspSource.stalled`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import parse_qs, unquote, urlparse

import av
import av.error
import numpy as np

from ingest.video import Frame, TimeSampler
from sightline.errors import AuthenticationFailed, NotFound, StreamError
from sightline.redact import redact_text, redact_url

if TYPE_CHECKING:
    from ingest.settings import IngestSettings

__all__ = ["DirectorySource", "FileSource", "RtspSource", "StreamSource", "open_source"]

log = logging.getLogger(__name__)

_VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".avi", ".mov", ".ts", ".m4v", ".webm"})


@runtime_checkable
class StreamSource(Protocol):
    """A camera's frames. :meth:`open` connects, :meth:`frames` yields sampled frames until the
    stream ends (returns) or fails (StreamError); :meth:`close` may be called from another thread
    to make a paced or blocked read return soon."""

    #: A redacted name for logs and status.
    name: str
    #: Whether the stream has an end (a file played once); a live stream that ends is a failure.
    finite: bool
    #: Set when the last failure was a stall (no frame for the stall timeout).
    stalled: bool

    @property
    def frames_decoded(self) -> int:
        """Decoded frames since construction, sampled or not."""
        ...

    @property
    def width(self) -> int | None: ...

    @property
    def height(self) -> int | None: ...

    def open(self) -> None: ...

    def frames(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


#: FFmpeg probes ~2.5-3 s of a live stream before av.open returns, and those frames then arrive late
#: in one burst stamped with the wrong wall time. The SDP and the in-band SPS/PPS already say what the
#: stream is, so probing is cut to the minimum: open measured 3.1 s → 0.6 s on the replay server.
_RTSP_OPTIONS = {"analyzeduration": "0", "probesize": "32"}


def _stream_error(exc: BaseException, name: str) -> StreamError:
    """A PyAV error as our StreamError; refused credentials get their own class (retrying won't fix them)."""
    if isinstance(exc, av.error.HTTPUnauthorizedError | av.error.HTTPForbiddenError):
        return AuthenticationFailed(
            f"{name}: authentication failed (camera refused the credentials): {redact_text(str(exc))}"
        )
    return StreamError(f"{name}: {redact_text(str(exc))}")


class _AvDecoder:
    """Shared decode loop over an open PyAV container: sampling, BGR conversion, size tracking."""

    def __init__(self, sample_fps: float | None, keyframes_only: bool) -> None:
        self._sample_fps = sample_fps
        self._keyframes_only = keyframes_only
        self.frames_decoded = 0
        self._width: int | None = None
        self._height: int | None = None

    @property
    def width(self) -> int | None:
        return self._width

    @property
    def height(self) -> int | None:
        return self._height

    def decode(
        self, container: Any, stop: threading.Event, on_packet: Any = None
    ) -> Iterator[tuple[float, Any]]:
        """(seconds since the stream's start, av.VideoFrame) of the sampled frames, until ``stop``."""
        if not container.streams.video:
            raise StreamError("no video stream")
        stream = container.streams.video[0]
        if self._keyframes_only:
            stream.codec_context.skip_frame = "NONKEY"
        time_base = stream.time_base or Fraction(1, 90_000)
        sampler = TimeSampler(self._sample_fps)
        origin: int | None = None
        t = 0.0
        for packet in container.demux(stream):
            if stop.is_set():
                return
            if on_packet is not None:
                on_packet()
            for frame in packet.decode():
                self.frames_decoded += 1
                pts = frame.pts if frame.pts is not None else frame.dts
                if pts is not None:
                    origin = pts if origin is None else origin
                    t = max(t, float((pts - origin) * time_base))
                self._width, self._height = int(frame.width), int(frame.height)
                if sampler.take(t):
                    yield t, frame


def _to_bgr(frame: Any) -> np.ndarray[Any, np.dtype[np.uint8]]:
    return np.ascontiguousarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)


class _Closable:
    """Closing that is safe from any thread: closing a container while another thread (or a
    suspended generator) is inside its demuxer crashes FFmpeg, so while :meth:`frames` runs,
    :meth:`close` only raises the flag and the generator closes the container on its way out."""

    _container: Any
    _closed: threading.Event
    _lock: threading.Lock
    _iterating: bool

    def _init_closable(self) -> None:
        self._container = None
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._iterating = False

    def close(self) -> None:
        with self._lock:
            self._closed.set()
            if self._iterating:
                return
            container, self._container = self._container, None
        if container is not None:
            container.close()

    def _enter_frames(self) -> None:
        with self._lock:
            self._iterating = True

    def _leave_frames(self) -> None:
        with self._lock:
            self._iterating = False
            container = self._container if self._closed.is_set() else None
            if container is not None:
                self._container = None
        if container is not None:
            container.close()


class RtspSource(_Closable):
    """A network camera (``rtsp://``, also any FFmpeg URL such as ``tcp://`` or ``http://``).

    Frames carry the wall-clock time they were decoded (cameras' own clocks drift and RTSP
    timestamps restart on every reconnect). Reads block at most ``min(read_timeout_s,
    stall_timeout_s)``; a stream that delivers packets but no frame for ``stall_timeout_s`` fails too.
    """

    finite = False

    def __init__(
        self,
        url: str,
        *,
        transport: str = "tcp",
        open_timeout_s: float = 10.0,
        read_timeout_s: float = 10.0,
        stall_timeout_s: float | None = None,
        sample_fps: float | None = None,
        keyframes_only: bool = False,
    ) -> None:
        if transport not in ("tcp", "udp"):
            raise ValueError(f"RtspSource: transport must be 'tcp' or 'udp', got {transport!r}")
        self._url = url
        self.name = redact_url(url)
        self._transport = transport
        self._open_timeout = open_timeout_s
        self._stall_timeout = stall_timeout_s
        self._read_timeout = min(read_timeout_s, stall_timeout_s) if stall_timeout_s else read_timeout_s
        self._decoder = _AvDecoder(sample_fps, keyframes_only)
        self._init_closable()
        self.stalled = False

    def __repr__(self) -> str:
        return f"RtspSource({self.name!r})"

    @property
    def frames_decoded(self) -> int:
        return self._decoder.frames_decoded

    @property
    def width(self) -> int | None:
        return self._decoder.width

    @property
    def height(self) -> int | None:
        return self._decoder.height

    def open(self) -> None:
        self.close()
        self._closed.clear()
        self.stalled = False
        options = dict(_RTSP_OPTIONS, rtsp_transport=self._transport) if self._url.startswith("rtsp") else {}
        try:
            self._container = av.open(
                self._url, options=options, timeout=(self._open_timeout, self._read_timeout)
            )
        except (av.error.FFmpegError, OSError) as exc:
            raise _stream_error(exc, self.name) from exc

    def frames(self) -> Iterator[Frame]:
        self._enter_frames()
        try:
            yield from self._frames()
        finally:
            self._leave_frames()

    def _frames(self) -> Iterator[Frame]:
        if self._container is None:
            raise StreamError(f"{self.name}: not open")
        last = time.monotonic()

        def check_stall() -> None:
            if self._stall_timeout and time.monotonic() - last > self._stall_timeout:
                self.stalled = True
                raise StreamError(f"{self.name}: no frame for {self._stall_timeout:.1f} s (stalled)")

        index = 0
        try:
            for t, frame in self._decoder.decode(self._container, self._closed, check_stall):
                last = time.monotonic()
                yield Frame(index, t, datetime.now(UTC), _to_bgr(frame), bool(frame.key_frame))
                index += 1
        except (av.error.ExitError, av.error.TimeoutError) as exc:
            if self._closed.is_set():
                return
            self.stalled = True
            raise StreamError(f"{self.name}: no data for {self._read_timeout:.1f} s (stalled)") from exc
        except (av.error.FFmpegError, OSError) as exc:
            if self._closed.is_set():
                return
            raise _stream_error(exc, self.name) from exc
        if not self._closed.is_set():
            raise StreamError(f"{self.name}: stream ended")


class FileSource(_Closable):
    """A video file replayed as a camera: at real-time pace (or ``speed`` times faster), optionally
    looping, with wall-clock times ``start + position / speed``.

    ``start_time`` pins the wall time of the file's first frame (to compare with a recording's
    ground truth); without it the file starts when opened. ``realtime=False`` decodes as fast as
    possible (times still advance by position / speed).
    """

    def __init__(
        self,
        path: Path | str,
        *,
        realtime: bool = True,
        speed: float = 1.0,
        loop: bool = False,
        sample_fps: float | None = None,
        keyframes_only: bool = False,
        start_time: datetime | None = None,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"FileSource: speed must be positive, got {speed}")
        self.path = Path(path)
        if not self.path.is_file():
            raise NotFound(f"video file not found: {self.path}")
        self.name = str(self.path)
        self.finite = not loop
        self.stalled = False
        self._realtime = realtime
        self._speed = speed
        self._loop = loop
        self._decoder = _AvDecoder(sample_fps, keyframes_only)
        self._start_time = start_time
        self._init_closable()

    def __repr__(self) -> str:
        return f"FileSource({self.name!r}, speed={self._speed}, loop={self._loop})"

    @property
    def frames_decoded(self) -> int:
        return self._decoder.frames_decoded

    @property
    def width(self) -> int | None:
        return self._decoder.width

    @property
    def height(self) -> int | None:
        return self._decoder.height

    def open(self) -> None:
        self._closed.clear()
        self._container = self._open_container()

    def _open_container(self) -> Any:
        try:
            return av.open(str(self.path))
        except (av.error.FFmpegError, OSError) as exc:
            raise StreamError(f"{self.path} is not a readable video file: {exc}") from exc

    def frames(self) -> Iterator[Frame]:
        self._enter_frames()
        try:
            yield from self._frames()
        finally:
            self._leave_frames()

    def _frames(self) -> Iterator[Frame]:
        if self._container is None:
            raise StreamError(f"{self.name}: not open")
        wall0 = self._start_time or datetime.now(UTC)
        mono0 = time.monotonic()
        offset = 0.0  # seconds of video played in earlier loops
        index = 0
        while True:
            end = offset
            try:
                for t, frame in self._decoder.decode(self._container, self._closed):
                    position = offset + t
                    end = max(end, position)
                    if self._realtime and self._closed.wait(
                        max(0.0, mono0 + position / self._speed - time.monotonic())
                    ):
                        return
                    wall = wall0 + timedelta(
                        seconds=position / self._speed if self._start_time is None else position
                    )
                    yield Frame(index, position, wall, _to_bgr(frame), bool(frame.key_frame))
                    index += 1
            except (av.error.FFmpegError, OSError) as exc:
                if self._closed.is_set():
                    return
                raise StreamError(f"{self.name}: decoding failed: {exc}") from exc
            if not self._loop or self._closed.is_set():
                return
            fps = self._container.streams.video[0].average_rate
            offset = end + (1.0 / float(fps) if fps else 0.04)
            self._container.close()
            self._container = self._open_container()


class DirectorySource:
    """A camera whose recording is a directory of files, played in name order, one FileSource each."""

    def __init__(self, path: Path | str, **file_options: Any) -> None:
        self.path = Path(path)
        self.files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in _VIDEO_SUFFIXES)
        if not self.files:
            raise NotFound(f"no video files in {self.path}")
        self.name = str(self.path)
        self.finite = True
        self.stalled = False
        self._options = file_options
        self._current: FileSource | None = None
        self._closed = threading.Event()
        self._done = 0

    @property
    def frames_decoded(self) -> int:
        return self._done + (self._current.frames_decoded if self._current else 0)

    @property
    def width(self) -> int | None:
        return self._current.width if self._current else None

    @property
    def height(self) -> int | None:
        return self._current.height if self._current else None

    def open(self) -> None:
        self._closed.clear()

    def frames(self) -> Iterator[Frame]:
        for path in self.files:
            if self._closed.is_set():
                return
            source = FileSource(path, **self._options)
            self._current = source
            source.open()
            try:
                yield from source.frames()
            finally:
                self._done += source.frames_decoded
                self._current = None
                source.close()

    def close(self) -> None:
        self._closed.set()
        if self._current is not None:
            self._current.close()


def open_source(url: str, settings: IngestSettings) -> StreamSource:
    """The source for a camera URL: ``rtsp://``/``rtsps://``/``tcp://``/``http(s)://`` are network
    cameras; ``file://`` URLs and plain paths are files (or directories) replayed in real time.

    File URLs take query options: ``speed`` (float), ``loop`` (0/1), ``start`` (ISO time of the
    first frame). Not opened yet: the camera thread opens (and reopens) it.
    """
    sample_fps = settings.sample_fps
    parsed = urlparse(url)
    if parsed.scheme in ("rtsp", "rtsps", "tcp", "http", "https", "udp", "rtmp"):
        return RtspSource(
            url,
            transport=settings.rtsp_transport,
            open_timeout_s=settings.open_timeout_s,
            read_timeout_s=settings.read_timeout_s,
            stall_timeout_s=settings.stall_timeout_s,
            sample_fps=sample_fps,
            keyframes_only=settings.keyframes_only,
        )
    if parsed.scheme not in ("", "file"):
        raise StreamError(f"unsupported camera URL scheme {parsed.scheme!r}: {redact_url(url)}")
    path = Path(unquote(parsed.path) if parsed.scheme == "file" else url)
    query = {k: v[-1] for k, v in parse_qs(parsed.query).items()} if parsed.scheme == "file" else {}
    try:
        speed = float(query.get("speed", "1"))
        loop = query.get("loop", "0") in ("1", "true", "yes")
        start = datetime.fromisoformat(query["start"]).astimezone(UTC) if "start" in query else None
    except ValueError as exc:
        raise StreamError(f"bad file camera URL options in {redact_url(url)!r}: {exc}") from exc
    options: dict[str, Any] = {
        "speed": speed,
        "loop": loop,
        "sample_fps": sample_fps,
        "keyframes_only": settings.keyframes_only,
        "start_time": start,
    }
    if path.is_dir():
        return DirectorySource(path, **options)
    return FileSource(path, **options)

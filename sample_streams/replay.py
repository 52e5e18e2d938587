"""Replay recorded clips as live RTSP cameras, through GStreamer's RTSP server, for tests and testers.

The RTSP server is ``gst-rtsp-server`` run by :mod:`sample_streams.gst_rtsp_server` under Debian's
``/usr/bin/python3`` (our venv cannot import ``gi``). :class:`RtspReplayServer` starts that launcher
as a subprocess, waits until it answers RTSP, and drives it through a line protocol on its stdin:
``pause``/``resume`` a camera to simulate a stall, ``kill`` to simulate a crash, ``restart`` to
bring it back on the same port.

The launcher's configuration, the RTSP user and password included, is the first line written to its
stdin, never an argument: any local user can read a process's arguments (``ps``, ``/proc/PID/cmdline``),
while its stdin is a pipe only we hold.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Self
from urllib.parse import quote

from sample_streams.ground_truth import load_ground_truth
from sightline.errors import InputError, NotFound, StreamError

__all__ = [
    "LAUNCHER",
    "SYSTEM_PACKAGES",
    "SYSTEM_PYTHON",
    "RtspReplayServer",
    "check_gstreamer",
    "from_sample_dir",
    "sample_files",
]

log = logging.getLogger(__name__)

SYSTEM_PYTHON = Path("/usr/bin/python3")
LAUNCHER = Path(__file__).with_name("gst_rtsp_server.py")
# Debian packages the launcher needs; kept equal to system_packages.txt (a test checks).
SYSTEM_PACKAGES = (
    "python3-gi",
    "gir1.2-gst-rtsp-server-1.0",
    "gstreamer1.0-plugins-base",
    "gstreamer1.0-plugins-good",
    "gstreamer1.0-plugins-bad",
    "gstreamer1.0-tools",
)
_INSTALL_HINT = "apt-get install -y --no-install-recommends " + " ".join(SYSTEM_PACKAGES)
# Must match gst_rtsp_server.EXIT_MISSING_GI (that module cannot be imported here without gi).
_EXIT_MISSING_GI = 3
# Camera ids become mount paths: keep them to characters that need no escaping in a URL.
_CAMERA_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_COMMAND_TIMEOUT_S = 5.0


def check_gstreamer(python: Path = SYSTEM_PYTHON) -> None:
    """Raise :class:`StreamError` naming the Debian packages when ``python`` cannot run the server."""
    probe = (
        "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); "
        "from gi.repository import Gst, GstRtspServer"
    )
    try:
        proc = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StreamError(f"cannot run {python} for the RTSP replay server ({exc}); {_INSTALL_HINT}") from exc
    if proc.returncode != 0:
        last = proc.stderr.strip().splitlines()[-1:] or ["unknown error"]
        raise StreamError(
            f"{python} cannot load GStreamer's RTSP server ({last[0]}); install it with: {_INSTALL_HINT}"
        )


def sample_files(sample_dir: Path) -> dict[str, Path]:
    """Camera id → clip of a sample set written by ``sightline samples make`` (from ground_truth.json)."""
    sample_dir = Path(sample_dir)
    gt = load_ground_truth(sample_dir)
    return {clip.camera_id: (sample_dir / clip.file).resolve() for clip in gt.clips}


def from_sample_dir(
    sample_dir: Path,
    port: int | None = None,
    speed: float = 1.0,
    credentials: tuple[str, str] | None = None,
    host: str = "127.0.0.1",
) -> RtspReplayServer:
    """A server (not yet started) with one camera per clip of the sample set in ``sample_dir``."""
    return RtspReplayServer(
        sample_files(sample_dir), port=port, speed=speed, credentials=credentials, host=host
    )


class RtspReplayServer:
    """Clips served as looping live RTSP cameras at ``rtsp://[user:pass@]host:port/CAMERA_ID``.

    ``port=None`` lets the server pick a free port at the first start; ``restart`` keeps it, so
    clients reconnect to the same URL. ``speed`` > 1 plays faster than real time (more frames per
    second reach the client). ``credentials`` turn on basic authentication: wrong ones get 401.
    """

    def __init__(
        self,
        files: Mapping[str, Path],
        port: int | None = None,
        speed: float = 1.0,
        credentials: tuple[str, str] | None = None,
        host: str = "127.0.0.1",
        python: Path = SYSTEM_PYTHON,
        start_timeout_s: float = 20.0,
    ) -> None:
        if not files:
            raise InputError("no clips to replay")
        for camera_id, path in files.items():
            if not _CAMERA_ID.match(camera_id):
                raise InputError(f"camera id {camera_id!r} must match {_CAMERA_ID.pattern}")
            if not Path(path).is_file():
                raise NotFound(f"clip for camera {camera_id} not found: {path}")
        if not speed > 0:
            raise InputError(f"speed must be positive, got {speed}")
        if credentials is not None and (not credentials[0] or ":" in credentials[0]):
            raise InputError("the user name must be non-empty and contain no ':'")
        if port is not None and not 0 < port < 65536:
            raise InputError(f"port {port} out of range")
        self.files = {cid: Path(p).resolve() for cid, p in files.items()}
        self.speed = speed
        self.credentials = credentials
        self.host = host
        self.python = python
        self.start_timeout_s = start_timeout_s
        self._port = port
        self._proc: subprocess.Popen[str] | None = None
        self._replies: queue.Queue[str] = queue.Queue()
        self._ready: queue.Queue[int | None] = queue.Queue()
        self._stderr_tail: deque[str] = deque(maxlen=20)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise StreamError("the replay server has no port until it has started")
        return self._port

    @property
    def pid(self) -> int | None:
        """The launcher's process id while it runs (for memory measurements)."""
        return self._proc.pid if self.running and self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Spawn the launcher and return once it answers an RTSP OPTIONS request."""
        if self.running:
            return
        if not self.python.is_file():
            raise StreamError(f"{self.python} not found; the RTSP replay server needs: {_INSTALL_HINT}")
        config = {
            "host": self.host,
            "port": self._port or 0,
            "speed": self.speed,
            "credentials": list(self.credentials) if self.credentials else None,
            "cameras": {cid: str(p) for cid, p in self.files.items()},
        }
        self._replies = queue.Queue()
        self._ready = queue.Queue()
        self._stderr_tail.clear()
        t0 = time.monotonic()
        try:
            # Own session: Ctrl-C in a terminal reaches us, and we stop the server in order.
            proc = subprocess.Popen(
                [str(self.python), str(LAUNCHER)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                bufsize=1,
                start_new_session=True,
                env=self._launcher_env(),
            )
        except OSError as exc:
            raise StreamError(f"cannot start the RTSP replay server: {exc}") from exc
        self._proc = proc
        assert proc.stdout is not None and proc.stderr is not None
        self._threads = [
            threading.Thread(target=self._read_stdout, args=(proc.stdout,), daemon=True, name="replay-out"),
            threading.Thread(target=self._read_stderr, args=(proc.stderr,), daemon=True, name="replay-err"),
        ]
        for t in self._threads:
            t.start()
        # After the readers start, so a large configuration cannot deadlock against a full stderr
        # pipe. A launcher that exits at once (no GStreamer) closes stdin: its exit status says why.
        with contextlib.suppress(OSError, ValueError):
            self._send(json.dumps(config))
        try:
            port = self._ready.get(timeout=self.start_timeout_s)
        except queue.Empty:
            port = None
        if port is None:
            self._terminate(kill_after_s=2.0)
            error = self._start_error(proc)
            self._reap()
            raise error
        self._port = port
        self._wait_rtsp(deadline=t0 + self.start_timeout_s)
        log.info(
            "RTSP replay of %d camera(s) on %s:%d ready in %.2f s",
            len(self.files),
            self.host,
            port,
            time.monotonic() - t0,
        )

    @staticmethod
    def _launcher_env() -> dict[str, str]:
        """Our environment, less our warning filters (gi warns on import under Python 3.11)."""
        env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _start_error(self, proc: subprocess.Popen[str]) -> StreamError:
        rc = proc.poll()
        # Give the stderr reader a moment to collect the launcher's last words.
        for t in self._threads:
            t.join(timeout=1.0)
        tail = " | ".join(self._stderr_tail) or "no output"
        if rc == _EXIT_MISSING_GI:
            return StreamError(f"GStreamer's RTSP server is not usable ({tail}); install: {_INSTALL_HINT}")
        return StreamError(f"the RTSP replay server did not start (exit status {rc}): {tail}")

    def _wait_rtsp(self, deadline: float) -> None:
        request = f"OPTIONS rtsp://{self.host}:{self.port}/ RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode()
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=2.0) as sock:
                    sock.sendall(request)
                    answer = sock.recv(1024)
                if answer.startswith(b"RTSP/1.0 200"):
                    return
                last = StreamError(f"unexpected answer {answer[:40]!r}")
            except OSError as exc:
                last = exc
            time.sleep(0.05)
        self._terminate(kill_after_s=2.0)
        self._reap()
        raise StreamError(f"the RTSP replay server on port {self._port} never answered: {last}")

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask the launcher to quit; terminate it, then kill it, if it does not within ``timeout_s``."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                self._send("quit")
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("RTSP replay server did not quit in %.1f s; terminating", timeout_s)
                self._terminate(kill_after_s=timeout_s)
        self._reap()

    def kill(self) -> None:
        """SIGKILL the server: every connection drops at once, as when a camera's server crashes."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        self._reap()

    def restart(self) -> None:
        """Stop (if running) and start again on the same port."""
        self.stop()
        self.start()

    def _terminate(self, kill_after_s: float) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=kill_after_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def _reap(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        for t in self._threads:
            t.join(timeout=2.0)
        self._threads = []

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- cameras -----------------------------------------------------------------------------------

    def url(self, camera_id: str, with_credentials: bool = True) -> str:
        """``rtsp://[user:pass@]host:port/camera_id``; the password appears only when asked for."""
        if camera_id not in self.files:
            raise NotFound(f"no replayed camera {camera_id!r}; known: {', '.join(sorted(self.files))}")
        auth = ""
        if self.credentials is not None and with_credentials:
            auth = f"{quote(self.credentials[0], safe='')}:{quote(self.credentials[1], safe='')}@"
        return f"rtsp://{auth}{self.host}:{self.port}/{camera_id}"

    def pause(self, camera_id: str) -> None:
        """Stall the camera: sessions and TCP connections stay up, but no more packets flow."""
        self._command("pause", camera_id)

    def resume(self, camera_id: str) -> None:
        """End a stall; packets flow again from the camera's next keyframe."""
        self._command("resume", camera_id)

    def switch(self, camera_id: str, clip: Path) -> None:
        """Carry on from ``clip`` in the camera's live sessions (a camera reconfigured on the fly:
        new resolution or encoder settings mid-stream, no reconnect). A restart keeps ``clip``.
        """
        clip = Path(clip).resolve()
        if not clip.is_file():
            raise NotFound(f"no clip {clip}")
        self._command("switch", camera_id, str(clip))
        self.files[camera_id] = clip

    def _command(self, verb: str, camera_id: str, *args: str) -> None:
        if camera_id not in self.files:
            raise NotFound(f"no replayed camera {camera_id!r}; known: {', '.join(sorted(self.files))}")
        if not self.running:
            raise StreamError("the RTSP replay server is not running")
        with self._lock:
            try:
                self._send(" ".join([verb, camera_id, *args]))
                reply = self._replies.get(timeout=_COMMAND_TIMEOUT_S)
            except (OSError, ValueError) as exc:
                raise StreamError(f"cannot reach the RTSP replay server: {exc}") from exc
            except queue.Empty as exc:
                raise StreamError(f"the RTSP replay server did not answer {verb!r}") from exc
        if not reply.startswith("ok"):
            raise StreamError(f"the RTSP replay server refused {verb} {camera_id}: {reply}")

    def _send(self, line: str) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise ValueError("no server process")
        proc.stdin.write(line + "\n")
        proc.stdin.flush()

    # -- launcher output ---------------------------------------------------------------------------

    def _read_stdout(self, stream: IO[str]) -> None:
        try:
            for line in stream:
                words = line.split()
                if words[:1] == ["ready"] and len(words) == 2 and words[1].isdigit():
                    self._ready.put(int(words[1]))
                elif words:
                    self._replies.put(line.strip())
        except (OSError, ValueError):
            pass
        self._ready.put(None)

    def _read_stderr(self, stream: IO[str]) -> None:
        try:
            for line in stream:
                text = line.rstrip()
                if not text:
                    continue
                self._stderr_tail.append(text)
                level = (
                    logging.WARNING if text.startswith(("ERROR", "WARNING", "CRITICAL")) else logging.DEBUG
                )
                log.log(level, "rtsp server: %s", text)
        except (OSError, ValueError):
            pass

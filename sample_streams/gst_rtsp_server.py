"""Serve recorded clips as live RTSP cameras with GStreamer's RTSP server (``gst-rtsp-server``).

Run by :class:`sample_streams.replay.RtspReplayServer` under Debian's ``/usr/bin/python3`` (the one
that can import ``gi``); it does not import Sightline. The RTSP protocol is GStreamer's: this
script only configures mount points, authentication, looping and the stall switch.

Design: every camera has a *reader* pipeline that plays its MP4 for ever at real-time pace
(``filesrc ! qtdemux ! h264parse ! appsink sync=true``), looping with non-flushing segment seeks on
``SEGMENT_DONE``, so the file's end joins its start without a flush. Each mount's shared media is
``appsrc ! rtph264pay``; the reader pushes its access units into the media's ``appsrc`` stamped
with the media pipeline's running time, exactly as a live camera would. RTP timestamps therefore
grow monotonically across loops, late joiners see the same live stream, and a stall is simply the
reader not pushing (the RTSP session and its TCP connection stay up). After a new client attaches
or a stall ends, pushing resumes at the next keyframe so decoders never start mid-GOP.

Usage: ``python3 gst_rtsp_server.py``, then CONFIG_JSON as the first line on stdin:
``{"host": "127.0.0.1", "port": 0, "speed": 1.0, "credentials": ["user", "pw"] | null,
"cameras": {"cam-01": "/abs/cam-01.mp4", ...}}`` (on stdin, not in argv, where ``ps`` would show the
password to every local user). Prints ``ready PORT`` on stdout once serving.
Then reads commands on stdin, one per line: ``pause CAM``, ``resume CAM``, ``switch CAM PATH`` (carry on
from another clip in the same sessions, e.g. at another resolution), ``quit``; answers each with
``ok ...`` or ``error ...``.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from typing import Any

__all__ = ["EXIT_MISSING_GI", "main"]

# Exit status when GStreamer's Python bindings or the RTSP server typelib are missing.
EXIT_MISSING_GI = 3

log = logging.getLogger("gst_rtsp_server")

Gst: Any = None
GLib: Any = None
GstApp: Any = None
GstRtspServer: Any = None
GstRtsp: Any = None


def _import_gi() -> None:
    global Gst, GLib, GstApp, GstRtsp, GstRtspServer
    import gi  # type: ignore[import-not-found]

    gi.require_version("Gst", "1.0")
    gi.require_version("GstApp", "1.0")
    gi.require_version("GstRtsp", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib as _glib  # type: ignore[import-not-found]
    from gi.repository import Gst as _gst
    from gi.repository import GstApp as _gstapp
    from gi.repository import GstRtsp as _gstrtsp
    from gi.repository import GstRtspServer as _rtsp

    Gst, GLib, GstApp, GstRtsp, GstRtspServer = _gst, _glib, _gstapp, _gstrtsp, _rtsp


# Elements the pipelines use, with the Debian package that ships each.
_ELEMENTS = {
    "filesrc": "libgstreamer1.0-0",
    "appsrc": "gstreamer1.0-plugins-base",
    "appsink": "gstreamer1.0-plugins-base",
    "qtdemux": "gstreamer1.0-plugins-good",
    "rtph264pay": "gstreamer1.0-plugins-good",
    "h264parse": "gstreamer1.0-plugins-bad",
}


def _missing_elements() -> list[str]:
    return [f"{name} ({pkg})" for name, pkg in _ELEMENTS.items() if Gst.ElementFactory.find(name) is None]


def _reply(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Camera:
    """One looping reader pipeline feeding whichever media currently serves the camera's mount."""

    def __init__(self, camera_id: str, path: str, speed: float) -> None:
        self.camera_id = camera_id
        self.speed = speed
        self._lock = threading.Lock()
        self._appsrc: Any = None
        self._caps: Any = None
        self._need_key = True
        self.paused = False
        self.loops = 0
        self.pipeline: Any = self._reader(path)

    def _reader(self, path: str) -> Any:
        pipeline = Gst.parse_launch(
            "filesrc name=file ! qtdemux ! h264parse config-interval=-1 ! "
            "video/x-h264,stream-format=byte-stream,alignment=au ! "
            "appsink name=sink sync=true emit-signals=true max-buffers=8 drop=false"
        )
        pipeline.get_by_name("file").set_property("location", path)
        pipeline.get_by_name("sink").connect("new-sample", self._on_sample)
        bus = pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect("message", self._on_message)
        return pipeline

    def start(self) -> None:
        """Preroll, then play from the start as one segment so that its end posts SEGMENT_DONE."""
        self._preroll(self.pipeline)
        self._play()

    def _preroll(self, pipeline: Any) -> None:
        pipeline.set_state(Gst.State.PAUSED)
        ret, _, _ = pipeline.get_state(10 * Gst.SECOND)
        if ret == Gst.StateChangeReturn.FAILURE:
            pipeline.set_state(Gst.State.NULL)
            raise RuntimeError(f"camera {self.camera_id}: cannot open its clip")

    def _play(self) -> None:
        self._seek(Gst.SeekFlags.FLUSH | Gst.SeekFlags.SEGMENT | Gst.SeekFlags.KEY_UNIT)
        self.pipeline.set_state(Gst.State.PLAYING)

    def stop(self) -> None:
        self.pipeline.set_state(Gst.State.NULL)

    def switch(self, path: str) -> None:
        """Carry on from another clip within the same live sessions, as a camera reconfigured on
        the fly does: the next keyframe comes with the new clip's caps (new SPS/PPS, possibly a new
        resolution), and timestamps continue on the media's clock. Clients do not reconnect. A clip
        that cannot be opened is refused and the current one keeps playing.
        """
        new = self._reader(path)
        self._preroll(new)
        with self._lock:
            old, self.pipeline = self.pipeline, new
            self._caps = None  # the new clip's first sample sets its caps on the media
            self._need_key = True
        old.set_state(Gst.State.NULL)
        self._play()

    def _seek(self, flags: Any) -> None:
        ok = self.pipeline.seek(
            self.speed, Gst.Format.TIME, flags, Gst.SeekType.SET, 0, Gst.SeekType.NONE, -1
        )
        if not ok:
            log.error("camera %s: seek to start refused", self.camera_id)

    def _on_message(self, _bus: Any, message: Any) -> None:
        if message.type == Gst.MessageType.SEGMENT_DONE:
            # Non-flushing: running time, and so the pushed timestamps, carry on across the loop.
            self.loops += 1
            self._seek(Gst.SeekFlags.SEGMENT)
        elif message.type == Gst.MessageType.EOS:
            log.warning("camera %s: unexpected EOS, restarting with a flushing seek", self.camera_id)
            self._seek(Gst.SeekFlags.FLUSH | Gst.SeekFlags.SEGMENT | Gst.SeekFlags.KEY_UNIT)
        elif message.type == Gst.MessageType.ERROR:
            err, debug = message.parse_error()
            log.error("camera %s: %s (%s)", self.camera_id, err.message, debug)

    def attach(self, appsrc: Any) -> None:
        with self._lock:
            if self._caps is not None:
                appsrc.set_property("caps", self._caps)
            self._appsrc = appsrc
            self._need_key = True

    def detach(self, appsrc: Any) -> None:
        with self._lock:
            if self._appsrc is appsrc:
                self._appsrc = None

    def set_paused(self, paused: bool) -> None:
        with self._lock:
            self.paused = paused
            self._need_key = True

    def _on_sample(self, sink: Any) -> Any:
        sample = sink.emit("pull-sample")
        if sample is None:
            return Gst.FlowReturn.EOS
        buf = sample.get_buffer()
        with self._lock:
            if sink is not self.pipeline.get_by_name("sink"):
                return Gst.FlowReturn.FLUSHING  # a reader being replaced by switch()
            if self._caps is None:
                self._caps = sample.get_caps()
                if self._appsrc is not None:
                    self._appsrc.set_property("caps", self._caps)
            appsrc = self._appsrc
            if appsrc is None or self.paused:
                return Gst.FlowReturn.OK
            if self._need_key:
                if buf.has_flags(Gst.BufferFlags.DELTA_UNIT):
                    return Gst.FlowReturn.OK
                self._need_key = False
        clock = appsrc.get_clock()
        if clock is None:
            # The media is not playing yet; its first keyframe will come with the next GOP.
            with self._lock:
                self._need_key = True
            return Gst.FlowReturn.OK
        now = clock.get_time() - appsrc.get_base_time()
        out = buf.copy()
        out.pts = now
        out.dts = now
        out.duration = Gst.CLOCK_TIME_NONE
        appsrc.emit("push-buffer", out)
        return Gst.FlowReturn.OK


def _make_factory(camera: Camera, auth: bool) -> Any:
    factory = GstRtspServer.RTSPMediaFactory()
    # leaky-type=downstream: a media that stops consuming drops old units instead of growing.
    factory.set_launch(
        "( appsrc name=src is-live=true format=time do-timestamp=false leaky-type=downstream "
        "max-bytes=4000000 ! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )
    factory.set_shared(True)
    factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP | GstRtsp.RTSPLowerTrans.UDP)
    if auth:
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role("viewer", "media.factory.access", True)
        permissions.add_permission_for_role("viewer", "media.factory.construct", True)
        factory.set_permissions(permissions)

    def on_configure(_factory: Any, media: Any) -> None:
        appsrc = media.get_element().get_child_by_name("src")
        camera.attach(appsrc)
        media.connect("unprepared", lambda _m: camera.detach(appsrc))

    factory.connect("media-configure", on_configure)
    return factory


def _handle_command(line: str, cameras: dict[str, Camera], loop: Any) -> None:
    words = line.split()
    if not words:
        return
    if words[0] == "quit":
        _reply("ok quit")
        loop.quit()
    elif words[0] in ("pause", "resume") and len(words) == 2:
        camera = cameras.get(words[1])
        if camera is None:
            _reply(f"error unknown camera {words[1]}")
            return
        camera.set_paused(words[0] == "pause")
        _reply(f"ok {words[0]} {words[1]}")
    elif words[0] == "switch" and len(words) >= 3:
        _, cid, path = line.strip().split(maxsplit=2)
        camera = cameras.get(cid)
        if camera is None:
            _reply(f"error unknown camera {cid}")
            return
        try:
            camera.switch(path)
        except RuntimeError as exc:
            _reply(f"error {exc}")
            return
        _reply(f"ok switch {cid}")
    else:
        _reply(f"error unknown command {line.strip()!r}")


def _once(func: Any, *args: Any) -> bool:
    """Run ``func`` on the main loop once (an idle source that returns False is removed)."""
    func(*args)
    return False


def _watch_stdin(cameras: dict[str, Camera], loop: Any) -> None:
    """Read commands on a thread and run them on the main loop; EOF (parent gone) stops the server."""

    def reader() -> None:
        for line in sys.stdin:
            GLib.idle_add(_once, _handle_command, line, cameras, loop)
        GLib.idle_add(_once, lambda: loop.quit())

    threading.Thread(target=reader, name="stdin", daemon=True).start()


def serve(config: dict[str, Any]) -> int:
    Gst.init(None)
    missing = _missing_elements()
    if missing:
        log.error("GStreamer elements missing: %s", ", ".join(missing))
        return EXIT_MISSING_GI
    speed = float(config.get("speed", 1.0))
    cameras = {cid: Camera(cid, path, speed) for cid, path in config["cameras"].items()}
    server = GstRtspServer.RTSPServer()
    # The default pool serves new connections one at a time (~1.2 s each): many cameras reconnecting
    # at once after a restart would time out. 64 threads measured 100 simultaneous opens succeeding.
    server.get_thread_pool().set_max_threads(64)
    server.set_address(config.get("host", "127.0.0.1"))
    server.set_service(str(config.get("port", 0)))
    credentials = config.get("credentials")
    if credentials:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "viewer")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(credentials[0], credentials[1]), token)
        server.set_auth(auth)
    mounts = server.get_mount_points()
    for cid, camera in cameras.items():
        mounts.add_factory(f"/{cid}", _make_factory(camera, bool(credentials)))
    for camera in cameras.values():
        camera.start()
    if server.attach(None) == 0:
        log.error("cannot listen on %s:%s", config.get("host"), config.get("port"))
        return 1
    loop = GLib.MainLoop()
    _watch_stdin(cameras, loop)
    _reply(f"ready {server.get_bound_port()}")
    try:
        loop.run()
    finally:
        for camera in cameras.values():
            camera.stop()
    return 0


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    if len(argv) != 1:
        log.error("usage: gst_rtsp_server.py, with CONFIG_JSON as the first line on stdin")
        return 2
    try:
        _import_gi()
    except (ImportError, ValueError) as exc:
        log.error("GStreamer RTSP server bindings unavailable: %s", exc)
        return EXIT_MISSING_GI
    try:
        config = json.loads(sys.stdin.readline())
    except ValueError as exc:
        log.error("the first line on stdin must be the configuration as JSON: %s", exc)
        return 2
    try:
        return serve(config)
    except RuntimeError as exc:
        log.error("%s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))

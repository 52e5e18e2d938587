"""Regression tests for the security review's findings, one test (or table) per finding, named after it.

Requests go through the real app (real recognition backends, a real store on a temporary directory)
with httpx's ASGI transport, as the other API tests do. These tests are about what goes in and what
comes out, not about who may ask: each request carries a real token for a user with the role the
route needs (admins manage cameras, investigators search); who may ask what is tested in
``tests/test_auth.py``.
The replay test starts GStreamer's RTSP server from Debian, as
``tests/test_replay.py`` does. The table-driven redaction tests are in ``tests/test_api_errors.py``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import cv2
import httpx
import numpy as np
import pytest
from auth_helpers import grant
from fastapi import FastAPI
from realdeps import missing

from api.app import Services, create_app
from api.uploads import DecodeSlots
from ingest.sources import RtspSource
from ingest.status import CameraState, CameraStatus
from recognition.types import Box
from recognition.vehicle_descriptor import ColorLayoutEmbedder
from recognition.vehicle_front import crop_box
from sample_streams.replay import SYSTEM_PYTHON, RtspReplayServer
from search.camera_import import parse_camera_csv
from search.identity import Role
from search.records import Camera
from search.services import SearchService
from sightline.cli import main
from sightline.errors import ConfigError, InputError, Overloaded, StreamError
from sightline.limits import SIGHTING_ID_MAX
from sightline.settings import Settings

SECRET = "s3cretPW"
AUDIT = {"case_ref": "C-SEC-1", "reason": "security regression test"}
T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def call(app: FastAPI, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request on a fresh event loop; a crash comes back as the app's 500, as a client sees it."""

    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://sightline.test") as c:
            return await c.request(method, url, **kwargs)

    return asyncio.run(run())


def login(app: FastAPI, role: Role) -> dict[str, str]:
    """Headers with a real token for a user of ``role`` with every camera in scope."""
    return grant(app, role)


class FakeSupervisor:
    """In-memory live ingest implementing ``CameraSupervisor``: the statuses a worker would report."""

    def __init__(self) -> None:
        self._statuses: dict[str, CameraStatus] = {}

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def add_camera(self, camera: Camera) -> None:
        self._statuses[camera.id] = CameraStatus(camera.id, CameraState.STARTING, T0)

    def remove_camera(self, camera_id: str) -> None:
        self._statuses.pop(camera_id, None)

    def status(self, camera_id: str) -> CameraStatus:
        return self._statuses[camera_id]

    def statuses(self) -> list[CameraStatus]:
        return [self._statuses[k] for k in sorted(self._statuses)]

    def report(self, camera_id: str, **changes: Any) -> None:
        self._statuses[camera_id] = replace(self._statuses[camera_id], **changes)


def _app(settings: Settings, service: SearchService, backends: tuple[Any, Any, Any], **api: Any) -> FastAPI:
    data = settings.model_dump()
    data["api"] = {**data["api"], **api}
    return create_app(Settings(**data), Services(service, *backends))


@pytest.fixture()
def app(settings: Settings, service: SearchService, backends: tuple[Any, Any, Any]) -> FastAPI:
    return _app(settings, service, backends)


def _png(width: int, height: int) -> bytes:
    ok, buf = cv2.imencode(".png", np.full((height, width, 3), 128, np.uint8))
    assert ok
    return buf.tobytes()


def _vehicle_search(app: FastAPI, headers: dict[str, str], photo: bytes, **form: str) -> httpx.Response:
    return call(
        app,
        "POST",
        "/api/search/vehicle",
        files={"image": ("q.png", photo, "image/png")},
        data={**AUDIT, **form},
        headers=headers,
    )


def _plate_search(app: FastAPI, headers: dict[str, str], **params: str) -> httpx.Response:
    query = {**AUDIT, "pattern": "川A*", **params}
    return call(app, "GET", "/api/search/plate", params=query, headers=headers)


# --- 1. since=0001-01-01T00:00:00+14:00 answered 503 with the SQL statement ---------------------


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"since": "0001-01-01T00:00:00+14:00"}, "since 0001-01-01T00:00:00+14:00 is outside the supported"),
        ({"until": "9999-12-31T23:00:00-05:00"}, "until 9999-12-31T23:00:00-05:00 is outside the supported"),
        ({"since": "1969-12-31T23:59:59Z"}, "is outside the supported range 1970-01-01T00:00:00Z"),
        ({"since": "2024-05-01T08:00:00"}, "since must be timezone-aware"),  # naive: refused, as before
    ],
)
def test_finding_1_dates_out_of_range_are_422_not_sql(
    app: FastAPI, params: dict[str, str], detail: str
) -> None:
    r = _plate_search(app, login(app, Role.INVESTIGATOR), **params)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "InputError" and detail in r.json()["detail"]
    assert "SQL" not in r.text and "SELECT" not in r.text


def test_finding_1_store_errors_answer_without_sql_or_paths(
    app: FastAPI, service: SearchService, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """A real store failure (a table gone) is 503 with a generic body; the log has it, escaped."""
    headers = login(app, Role.INVESTIGATOR)
    with service.store.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE sightings RENAME TO sightings_moved")
    caplog.set_level(logging.ERROR, logger="api.errors")
    r = _plate_search(app, headers, since="2024-05-01T08:00:00Z")
    assert r.status_code == 503, r.text
    assert r.json() == {
        "error": "StoreError",
        "detail": "the store or the index failed; retrying may help (details in the server log)",
    }
    for leak in ("SQL", "SELECT", "sightings", str(settings.search.data_dir)):
        assert leak not in r.text
    (logged,) = [rec.getMessage() for rec in caplog.records if rec.name == "api.errors"]
    assert "no such table: sightings" in logged and "[SQL:" in logged
    assert "\n" not in logged  # the statement's newlines are escaped: one log call, one log line


# --- 2. GET /api/sightings/9223372036854775808 answered 500 ---------------------------------------


@pytest.mark.parametrize(
    ("sighting_id", "status"),
    [
        (str(SIGHTING_ID_MAX + 1), 422),
        ("99999999999999999999999999", 422),
        ("0", 422),
        ("-1", 422),
        ("1.5", 422),
        (str(SIGHTING_ID_MAX), 404),
        ("1", 404),
    ],
)
@pytest.mark.parametrize("suffix", ["", "/crop"])
def test_finding_2_sighting_ids_outside_64_bits_are_422(
    app: FastAPI, sighting_id: str, status: int, suffix: str
) -> None:
    r = call(app, "GET", f"/api/sightings/{sighting_id}{suffix}", headers=login(app, Role.INVESTIGATOR))
    assert r.status_code == status, r.text
    if status == 422:
        assert r.json()["error"] == "InputError" and "sighting_id" in r.json()["detail"]


# --- 3. box=0,0,1,1 or a 1×1 photo answered 500 ----------------------------------------------------


@pytest.mark.parametrize(
    ("size", "box", "detail"),
    [
        ((200, 150), "0,0,1,1", "box (0.0, 0.0, 1.0, 1.0) covers 1x1 pixels of the 200x150 image"),
        ((200, 150), "10,10,10,60", "is empty: x2 must be greater than x1"),
        ((200, 150), "300,200,400,300", "lies outside the 200x150 image"),
        ((200, 150), "190,140,400,300", "covers 10x10 pixels"),
        ((200, 150), "0,0,inf,inf", "coordinates must be finite numbers"),
        ((200, 150), "nan,0,10,10", "expected 'x1,y1,x2,y2'"),
        ((200, 150), "60,10,10,60", "expected 'x1,y1,x2,y2'"),
        ((200, 150), "1,2,3", "expected 'x1,y1,x2,y2'"),
        ((1, 1), None, "the photo is 1x1 pixels; a vehicle photo must be at least 16x16"),
        ((1, 1), "0,0,1,1", "the photo is 1x1 pixels"),
        ((300, 8), None, "the photo is 300x8 pixels"),
    ],
)
def test_finding_3_degenerate_vehicle_boxes_and_tiny_photos_are_422(
    app: FastAPI, size: tuple[int, int], box: str | None, detail: str
) -> None:
    form = {"box": box} if box is not None else {}
    r = _vehicle_search(app, login(app, Role.INVESTIGATOR), _png(*size), **form)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "InputError" and detail in r.json()["detail"]


def test_finding_3_the_vehicle_library_raises_input_error_not_value_error(app: FastAPI) -> None:
    tiny = np.zeros((1, 1, 3), np.uint8)
    with pytest.raises(InputError, match="less than 2×2 pixels of a 1×1 image"):
        crop_box(tiny, Box(0, 0, 1, 1))
    with pytest.raises(InputError, match="less than 2×2"):
        ColorLayoutEmbedder().embed(tiny, [Box(0, 0, 1, 1)])
    # A face search of a 1×1 photo was already a clean 422.
    r = call(
        app,
        "POST",
        "/api/search/face",
        files={"image": ("q.png", _png(1, 1), "image/png")},
        data=AUDIT,
        headers=login(app, Role.INVESTIGATOR),
    )
    assert r.status_code == 422 and r.json()["error"] == "NoFaceFound"


# --- 4. 8.8 MB of camera tags accepted; a 619 KB cameras filter wrote an 889 KB audit row ---------

_CAMERA = {"id": "gate-1", "name": "Gate", "url": "rtsp://10.0.0.5/s", "tags": ["gate"]}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"tags": ["x" * 1000] * 8800}, "tags: List should have at most 32 items"),  # the 8.8 MB body
        ({"tags": [f"t{i}" for i in range(33)]}, "tags: List should have at most 32 items"),
        ({"tags": ["x" * 65]}, "tags.0: String should have at most 64 characters"),
        ({"tags": [""]}, "tags.0: String should have at least 1 character"),
        ({"name": "n" * 201}, "name: String should have at most 200 characters"),
        ({"id": "c" * 65}, "id: String should have at most 64 characters"),
        ({"url": "rtsp://10.0.0.5/" + "p" * 2048}, "url: String should have at most 2048 characters"),
    ],
)
def test_finding_4_camera_fields_are_bounded(
    app: FastAPI, service: SearchService, changes: dict[str, Any], field: str
) -> None:
    headers = login(app, Role.ADMIN)
    r = call(app, "POST", "/api/cameras", json={**_CAMERA, **changes}, headers=headers)
    assert r.status_code == 422, r.text[:300]
    assert r.json()["error"] == "InputError" and field in r.json()["detail"]
    assert service.cameras() == []
    # The same limits on PUT (all fields but the id), and on camera ids in paths.
    assert call(app, "POST", "/api/cameras", json=_CAMERA, headers=headers).status_code == 201
    if "id" not in changes:
        body = {k: v for k, v in {**_CAMERA, **changes}.items() if k != "id"}
        r = call(app, "PUT", "/api/cameras/gate-1", json=body, headers=headers)
        assert r.status_code == 422 and field in r.json()["detail"]
    r = call(app, "GET", "/api/cameras/" + "c" * 65, headers=headers)
    assert r.status_code == 422 and "camera_id: String should have at most 64" in r.json()["detail"]


@pytest.mark.parametrize(
    ("route", "params", "detail"),
    [
        # The review's 619 KB filter (40,000 ids of ~15 characters), as a form field: too long for a URL.
        (
            "vehicle",
            {"cameras": ",".join(f"camera-{i:08d}" for i in range(40_000))},
            "cameras lists 40000 camera ids",
        ),
        ("plate", {"cameras": ",".join(f"c{i}" for i in range(501))}, "over the limit of 500"),
        ("vehicle", {"cameras": "a," + "c" * 65}, "cameras holds an id of 65 characters"),
        ("plate", {"pattern": "川A" + "?" * 31}, "pattern: String should have at most 32 characters"),
        ("plate", {"case_ref": "C" * 65}, "case_ref"),
        ("vehicle", {"reason": "r" * 1001}, "reason"),
    ],
)
def test_finding_4_search_fields_are_bounded_before_the_audit(
    app: FastAPI, service: SearchService, route: str, params: dict[str, str], detail: str
) -> None:
    headers = login(app, Role.INVESTIGATOR)
    if route == "plate":
        r = _plate_search(app, headers, **params)
    else:
        r = _vehicle_search(app, headers, _png(200, 150), **params)
    assert r.status_code == 422, r.text[:300]
    assert r.json()["error"] == "InputError" and detail in r.json()["detail"]
    assert service.audit_entries(case_ref=params.get("case_ref", AUDIT["case_ref"])) == []
    # The largest filter allowed is searched and audited.
    ok = _plate_search(app, headers, cameras=",".join("c" * 64 for _ in range(500)))
    assert ok.status_code == 200, ok.text[:300]
    assert len(service.audit_entries(case_ref=AUDIT["case_ref"])) == 1


def test_finding_4_the_box_form_field_is_bounded(app: FastAPI) -> None:
    r = _vehicle_search(app, login(app, Role.INVESTIGATOR), _png(200, 150), box="1," * 60 + "1")
    assert r.status_code == 422 and "box: String should have at most 100 characters" in r.json()["detail"]


# --- 5. image decodes were unbounded -------------------------------------------------------------


def test_finding_5_concurrent_decodes_are_bounded(
    settings: Settings, service: SearchService, backends: tuple[Any, Any, Any]
) -> None:
    photo = _png(200, 150)
    # Refused at once when every slot is busy and no wait is allowed.
    slots = DecodeSlots(1, wait_s=0.0)
    with slots.slot(), pytest.raises(Overloaded, match="decoding 1 uploaded photos already"):
        slots.decode(photo, 1_000_000)
    assert slots.decode(photo, 1_000_000).shape == (150, 200, 3)  # the slot was released
    # Queued while a slot may still free within the wait: the decode waits, then runs.
    slots = DecodeSlots(1, wait_s=30.0)
    done: list[tuple[int, ...]] = []
    with slots.slot():
        waiter = threading.Thread(target=lambda: done.append(slots.decode(photo, 1_000_000).shape))
        waiter.start()
        waiter.join(timeout=0.3)
        assert waiter.is_alive() and not done  # cannot finish while the only slot is held
    waiter.join(timeout=10)
    assert done == [(150, 200, 3)]
    # Through the app: 503 Overloaded with Retry-After while the slot is held, 200 after.
    app = _app(settings, service, backends, max_concurrent_decodes=1, decode_wait_s=0.0)
    headers = login(app, Role.INVESTIGATOR)
    with app.state.decode_slots.slot():
        r = _vehicle_search(app, headers, photo)
    assert r.status_code == 503 and r.json()["error"] == "Overloaded"
    assert "api.max_concurrent_decodes" in r.json()["detail"] and r.headers["retry-after"] == "1"
    assert _vehicle_search(app, headers, photo).status_code == 200
    # The setting is validated like every other.
    with pytest.raises((ConfigError, ValueError)):
        Settings(
            **{**settings.model_dump(), "api": {**settings.api.model_dump(), "max_concurrent_decodes": 0}},
        )


# --- 6. query and path credentials were not redacted --------------------------------------------

_CREDENTIAL_URLS = [
    f"rtsp://10.0.0.5:554/s?api_key={SECRET}&access_token={SECRET}&pw={SECRET}&channel=1",
    f"rtsp://10.0.0.5:554/user=admin_password={SECRET}_channel=1_stream=0.sdp",
    f"rtsp://10.0.0.5:554/user=admin&password={SECRET}/live",
    f"rtsp://10.0.0.5:554/live;user=admin;password={SECRET}",
    f"rtsp://admin:{SECRET}@10.0.0.5:554/live?Signature={SECRET}",
]


@pytest.mark.parametrize("url", _CREDENTIAL_URLS)
def test_finding_6_credentials_in_queries_and_paths_never_leave(
    app: FastAPI,
    url: str,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    headers = login(app, Role.ADMIN)
    r = call(app, "POST", "/api/cameras", json={**_CAMERA, "url": url}, headers=headers)
    assert r.status_code == 201, r.text
    shown = r.json()["url"]
    assert SECRET not in shown and "10.0.0.5:554" in shown and "***" in shown
    listed = call(app, "GET", "/api/cameras", headers=headers)
    assert SECRET not in listed.text and shown in listed.text
    assert not any(SECRET in rec.getMessage() for rec in caplog.records)
    # The CLI's listing of the same store.
    monkeypatch.setenv("SIGHTLINE_SEARCH__DATA_DIR", str(settings.search.data_dir))
    assert main(["cameras", "list"]) == 0
    out = capsys.readouterr().out
    assert SECRET not in out and "10.0.0.5:554" in out


# --- 7. the CSV import report printed a password when columns were swapped -----------------------


def test_finding_7_camera_import_never_echoes_a_swapped_url(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    swapped = (
        "id,name,url,lat,lon,tags\n"
        f"gate-n,rtsp://admin:{SECRET}@10.0.0.5:554/s1,North gate,30.5,104.0,gate\n"  # name <-> url
        # url <-> lat:
        f"gate-s,South gate,30.4,rtsp://10.0.0.6/user=admin_password={SECRET}_channel=1,104.0,\n"
        f"rtsp://admin:{SECRET}@10.0.0.7/s,Gate,rtsp://h/s,1,2,\n"  # id <-> url
        "gate-ok,Good gate,rtsp://10.0.0.8/s,1,2,\n"
    )
    parsed = parse_camera_csv(swapped)
    assert [c.id for c in parsed.cameras] == ["gate-ok"]
    messages = {e.line: e.message for e in parsed.errors}
    assert "are the name and url columns swapped?" in messages[2] and "rtsp://***@10.0.0.5" in messages[2]
    assert "lat 'rtsp://10.0.0.6/user=***_password=***_channel=1' is not a number" in messages[3]
    assert "id 'rtsp://***@10.0.0.7/s' must be" in messages[4]
    assert SECRET not in repr(parsed)

    path = tmp_path / "cameras.csv"
    path.write_text(swapped, encoding="utf-8")
    monkeypatch.setenv("SIGHTLINE_SEARCH__DATA_DIR", str(settings.search.data_dir))
    for extra in ([], ["--json"]):
        assert main(["cameras", "import", str(path), *extra]) == 1
        out = capsys.readouterr()
        assert SECRET not in out.out and SECRET not in out.err
        assert "swapped" in out.out
    assert main(["cameras", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [c["id"] for c in listed["cameras"]] == ["gate-ok"]


# --- 8. the replay server had the RTSP password on its command line -------------------------------


def _gi_importable() -> bool:
    if not SYSTEM_PYTHON.is_file():
        return False
    return subprocess.run([str(SYSTEM_PYTHON), "-c", "import gi"], capture_output=True).returncode == 0


def _clip(path: Path, frames: int = 20) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"g": "10", "bf": "0"}
        for i in range(frames):
            img = np.full((48, 64, 3), 40 + 5 * i, np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="bgr24")))
        out.mux(stream.encode(None))
    return path


def _describe(port: int, camera: str, credentials: tuple[str, str] | None) -> bytes:
    """The status line of an RTSP DESCRIBE, with basic authentication when given."""
    auth = ""
    if credentials is not None:
        token = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
        auth = f"Authorization: Basic {token}\r\n"
    request = f"DESCRIBE rtsp://127.0.0.1:{port}/{camera} RTSP/1.0\r\nCSeq: 2\r\n{auth}\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=5.0) as sock:
        sock.sendall(request.encode())
        return sock.recv(4096).split(b"\r\n", 1)[0]


def test_finding_8_replay_credentials_stay_off_the_command_line(tmp_path: Path) -> None:
    if not _gi_importable():
        missing(f"{SYSTEM_PYTHON} cannot import gi (Debian's GStreamer RTSP server packages)")
    credentials = ("viewer", SECRET)
    with RtspReplayServer({"cam-01": _clip(tmp_path / "cam-01.mp4")}, credentials=credentials) as server:
        assert server.pid is not None
        proc = Path("/proc") / str(server.pid)
        argv = (proc / "cmdline").read_bytes().split(b"\0")
        assert argv[1:2] and not any(SECRET.encode() in arg for arg in argv), argv
        assert SECRET.encode() not in (proc / "environ").read_bytes()
        # The credentials still reached the server (through its stdin): they are enforced.
        assert _describe(server.port, "cam-01", None) == b"RTSP/1.0 401 Unauthorized"
        assert _describe(server.port, "cam-01", ("viewer", "wrong")) == b"RTSP/1.0 401 Unauthorized"
        assert _describe(server.port, "cam-01", credentials) == b"RTSP/1.0 200 OK"


# --- 9. camera status errors revealed connection details ------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def live_app(
    settings: Settings, service: SearchService, backends: tuple[Any, Any, Any]
) -> Iterator[tuple[FastAPI, FakeSupervisor]]:
    supervisor = FakeSupervisor()
    yield create_app(settings, Services(service, *backends, supervisor=supervisor)), supervisor


def test_finding_9_camera_status_errors_are_redacted(live_app: tuple[FastAPI, FakeSupervisor]) -> None:
    app, supervisor = live_app
    headers = login(app, Role.ADMIN)
    # A real stream error: what ingest stores as last_error is already redacted.
    url = f"rtsp://127.0.0.1:{_closed_port()}/user=admin_password={SECRET}_channel=1?token={SECRET}"
    with pytest.raises(StreamError) as err:
        RtspSource(url, open_timeout_s=2).open()
    assert SECRET not in str(err.value) and "password=***" in str(err.value)
    # Whatever a worker reports, the status routes redact it again.
    r = call(
        app,
        "POST",
        "/api/cameras",
        json={**_CAMERA, "url": f"rtsp://10.0.0.5/s?pw={SECRET}"},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    supervisor.report(
        "gate-1",
        state=CameraState.RECONNECTING,
        last_error=f"cannot open {url}: Connection refused; user=admin password={SECRET}",
        extra={"source": f"rtsp://admin:{SECRET}@10.0.0.5/s"},
    )
    for path in ("/api/cameras/status", "/api/cameras/gate-1/status"):
        r = call(app, "GET", path, headers=headers)
        assert r.status_code == 200, r.text
        assert SECRET not in r.text and "Connection refused" in r.text

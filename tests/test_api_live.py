"""Live cameras through the API: status routes, camera changes reaching the supervisor, URL rules.

The supervisor is ``FakeSupervisor``, an in-memory class implementing the ``CameraSupervisor``
protocol (and start/stop, as the app's lifespan needs): it keeps the statuses a worker would report
and records every call, so the tests can check that a refused request never reaches it. The store
and the recognition backends are real.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from asgi_call import call
from auth_helpers import with_token
from fastapi import FastAPI

from api.app import Services, create_app
from ingest.status import CameraState, CameraStatus, CameraSupervisor
from search.records import Camera
from search.services import SearchService
from sightline.errors import InputError, NotFound, StreamError
from sightline.settings import Settings

SECRET = "s3cret"
URL = f"rtsp://admin:{SECRET}@10.0.0.5:554/stream1?token=tok{SECRET}"
T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


class FakeSupervisor:
    """In-memory live ingest: cameras in and out, the statuses workers would report, a call log."""

    def __init__(self) -> None:
        self.cameras: dict[str, Camera] = {}
        self._statuses: dict[str, CameraStatus] = {}
        self.calls: list[tuple[str, str]] = []
        self.refuse: set[str] = set()
        self.running = False
        self.stopped = False

    def start(self) -> None:
        self.running = True

    def stop(self) -> None:
        self.running, self.stopped = False, True

    def add_camera(self, camera: Camera) -> None:
        if camera.id in self.refuse:
            raise StreamError(f"camera {camera.id!r}: no worker can take it")
        if camera.id in self.cameras:
            raise InputError(f"camera {camera.id!r} is already ingested")
        self.calls.append(("add", camera.id))
        self.cameras[camera.id] = camera
        self._statuses[camera.id] = CameraStatus(camera.id, CameraState.STARTING, T0)

    def remove_camera(self, camera_id: str) -> None:
        if camera_id not in self.cameras:
            raise NotFound(f"camera {camera_id!r} is not ingested")
        self.calls.append(("remove", camera_id))
        del self.cameras[camera_id], self._statuses[camera_id]

    def status(self, camera_id: str) -> CameraStatus:
        if camera_id not in self._statuses:
            raise NotFound(f"camera {camera_id!r} is not ingested")
        return self._statuses[camera_id]

    def statuses(self) -> list[CameraStatus]:
        return [self._statuses[k] for k in sorted(self._statuses)]

    def report(self, camera_id: str, **changes: Any) -> None:
        """What a worker's status message does: replace the camera's snapshot."""
        self._statuses[camera_id] = replace(self._statuses[camera_id], **changes)


@pytest.fixture()
def fake() -> FakeSupervisor:
    return FakeSupervisor()


@pytest.fixture()
def app(
    settings: Settings, service: SearchService, backends: tuple[Any, Any, Any], fake: FakeSupervisor
) -> FastAPI:
    return create_app(settings, Services(service, *backends, supervisor=fake))


@pytest.fixture()
def api_only(settings: Settings, service: SearchService, backends: tuple[Any, Any, Any]) -> FastAPI:
    return create_app(settings, Services(service, *backends))


def _post(app: FastAPI, cam_id: str, url: str | None = URL) -> httpx.Response:
    return call(app, "POST", "/api/cameras", json={"id": cam_id, "name": cam_id.title(), "url": url})


def test_fake_implements_the_protocol(fake: FakeSupervisor) -> None:
    assert isinstance(fake, CameraSupervisor)


def test_camera_status_and_summary(app: FastAPI, fake: FakeSupervisor) -> None:
    for cam in ("gate-n", "gate-s", "lobby"):
        assert _post(app, cam).status_code == 201
    assert _post(app, "archive", url=None).status_code == 201  # no stream: not ingested
    assert [c for _, c in fake.calls] == ["gate-n", "gate-s", "lobby"]
    fake.report("gate-n", state=CameraState.STREAMING, input_fps=25.0, analysed_fps=2.0, frames_dropped=3)
    fake.report("gate-s", state=CameraState.STREAMING, input_fps=12.5, analysed_fps=2.0, reconnects=1)
    fake.report(
        "lobby",
        state=CameraState.RECONNECTING,
        reconnects=4,
        last_error=f"cannot open {URL}: Connection refused",
    )

    r = call(app, "GET", "/api/cameras/gate-n/status")
    assert r.status_code == 200
    body = r.json()
    assert body["state"] == "streaming" and body["input_fps"] == 25.0 and body["frames_dropped"] == 3

    summary = call(app, "GET", "/api/cameras/status").json()
    assert summary["cameras"] == 3
    assert summary["states"]["streaming"] == 2 and summary["states"]["reconnecting"] == 1
    assert summary["states"]["down"] == 0, "every state is listed"
    assert summary["input_fps"] == pytest.approx(37.5) and summary["analysed_fps"] == pytest.approx(4.0)
    assert summary["frames_dropped"] == 3 and summary["reconnects"] == 5
    assert [c["camera_id"] for c in summary["not_streaming"]] == ["lobby"]
    error = summary["not_streaming"][0]["last_error"]
    assert error.startswith("cannot open rtsp://***@10.0.0.5:554/stream1") and "Connection refused" in error
    lobby = call(app, "GET", "/api/cameras/lobby/status").text
    assert SECRET not in lobby and SECRET not in str(summary)

    unknown = call(app, "GET", "/api/cameras/nope/status")
    assert unknown.status_code == 404 and "not found" in unknown.json()["detail"]
    not_live = call(app, "GET", "/api/cameras/archive/status")
    assert not_live.status_code == 404 and "no RTSP stream" in not_live.json()["detail"]


def test_status_without_live_ingest_is_503(api_only: FastAPI) -> None:
    assert _post(api_only, "gate-n").status_code == 201, "cameras can be registered without workers"
    for path in ("/api/cameras/status", "/api/cameras/gate-n/status"):
        r = call(api_only, "GET", path)
        assert r.status_code == 503
        assert r.json()["error"] == "ServiceUnavailable"
        assert "live ingest is not running" in r.json()["detail"]


def test_post_delete_and_put_reach_the_supervisor(app: FastAPI, fake: FakeSupervisor) -> None:
    assert _post(app, "gate-n").status_code == 201
    assert fake.cameras["gate-n"].url == URL, "the supervisor gets the real URL, credentials included"

    # The redacted URL GET returns, sent back by PUT, keeps the stored one: no restart.
    shown = call(app, "GET", "/api/cameras/gate-n").json()
    r = call(app, "PUT", "/api/cameras/gate-n", json={"name": "North", "url": shown["url"]})
    assert r.status_code == 200 and r.json()["name"] == "North"
    assert fake.calls == [("add", "gate-n")]

    new_url = f"rtsps://viewer:{SECRET}@10.0.0.9/main"
    r = call(app, "PUT", "/api/cameras/gate-n", json={"name": "North", "url": new_url})
    assert r.status_code == 200 and r.json()["url"] == "rtsps://***@10.0.0.9/main"
    assert fake.calls[1:] == [("remove", "gate-n"), ("add", "gate-n")], "a new URL restarts the stream"
    assert fake.cameras["gate-n"].url == new_url

    assert call(app, "PUT", "/api/cameras/gate-n", json={"name": "North"}).status_code == 200
    assert fake.calls[-1] == ("remove", "gate-n") and "gate-n" not in fake.cameras, "URL cleared: stopped"
    call(app, "PUT", "/api/cameras/gate-n", json={"name": "North", "url": URL})
    assert fake.calls[-1] == ("add", "gate-n")

    assert call(app, "DELETE", "/api/cameras/gate-n").status_code == 204
    assert fake.calls[-1] == ("remove", "gate-n") and fake.cameras == {}
    assert call(app, "DELETE", "/api/cameras/gate-n").status_code == 404


@pytest.mark.parametrize(
    ("url", "detail"),
    [
        ("file:///var/clips/gate.mp4", "file sources (file:// or a path) are for the CLI and replay only"),
        ("/var/clips/gate.mp4", "file sources (file:// or a path) are for the CLI and replay only"),
        ("http://10.0.0.5/mjpeg", "not an RTSP URL"),
        (f"https://admin:{SECRET}@10.0.0.5/live", "not an RTSP URL"),
        ("rtmp://10.0.0.5/live", "unsupported URL scheme 'rtmp://'"),
        ("rtsp:///stream", "has no host"),
    ],
)
def test_non_rtsp_urls_are_422_and_leave_everything_running(
    app: FastAPI, fake: FakeSupervisor, service: SearchService, url: str, detail: str
) -> None:
    assert _post(app, "gate-n").status_code == 201
    before = list(fake.calls)

    r = _post(app, "gate-x", url)
    assert r.status_code == 422 and detail in r.json()["detail"], r.text
    assert SECRET not in r.text
    r = call(app, "PUT", "/api/cameras/gate-n", json={"name": "x", "url": url})
    assert r.status_code == 422 and detail in r.json()["detail"]

    assert fake.calls == before, "a refused request never reaches the supervisor"
    assert [c.id for c in service.cameras()] == ["gate-n"]
    assert (
        service.store.get_camera("gate-n").url == URL and service.store.get_camera("gate-n").name == "Gate-N"
    )


def test_store_refusals_do_not_reach_the_supervisor(app: FastAPI, fake: FakeSupervisor) -> None:
    assert _post(app, "gate-n").status_code == 201
    assert _post(app, "gate-n").status_code == 422, "id in use"
    assert _post(app, "status").status_code == 422, "reserved id"
    assert call(app, "PUT", "/api/cameras/nope", json={"name": "x", "url": URL}).status_code == 404
    assert fake.calls == [("add", "gate-n")]


def test_a_camera_the_supervisor_refuses_is_not_registered(
    app: FastAPI, fake: FakeSupervisor, service: SearchService
) -> None:
    fake.refuse.add("gate-x")
    assert _post(app, "gate-x").status_code == 500
    assert service.cameras() == [], "the store write is undone"


def test_credentials_never_in_responses_or_logs(
    app: FastAPI, fake: FakeSupervisor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    texts = [
        _post(app, "gate-n").text,
        _post(app, "gate-n").text,
        _post(app, "bad", "ftp://u:" + SECRET + "@h/x").text,
    ]
    texts.append(call(app, "PUT", "/api/cameras/gate-n", json={"name": "n", "url": URL + "2"}).text)
    fake.report("gate-n", state=CameraState.DOWN, last_error=f"401 for {URL}", extra={"source": URL})
    texts += [
        call(app, "GET", p).text for p in ("/api/cameras", "/api/cameras/gate-n", "/api/cameras/status")
    ]
    texts.append(call(app, "GET", "/api/cameras/gate-n/status").text)
    texts.append(call(app, "DELETE", "/api/cameras/gate-n").text)
    assert any("rtsp://***@10.0.0.5" in t for t in texts)
    assert caplog.records, "the routes log what they do"
    for text in [*texts, caplog.text]:
        assert SECRET not in text


def test_lifespan_starts_and_stops_the_supervisor_it_builds(settings: Settings) -> None:
    with SearchService.open(settings.search) as svc:
        svc.store.add_camera(Camera("live-1", "Live", url=URL))
        svc.store.add_camera(Camera("clip", "Clip", url="/var/clips/a.mp4"))
        svc.store.add_camera(Camera("none", "No stream"))
    fake = FakeSupervisor()
    app = create_app(settings, supervisor_factory=lambda s, svc: fake)

    async def run() -> tuple[int, dict[str, Any]]:
        async with app.router.lifespan_context(app):
            assert fake.running and list(fake.cameras) == ["live-1"], "only RTSP cameras stream"
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://sightline.test") as c:
                headers = with_token(app, "GET", "/api/cameras/status", None)
                r = await c.get("/api/cameras/status", headers=headers)
                return r.status_code, r.json()

    status, body = asyncio.run(run())
    assert status == 200 and body["cameras"] == 1 and body["states"]["starting"] == 1
    assert fake.stopped and not fake.running


def test_services_and_factory_together_are_refused(app: FastAPI, settings: Settings) -> None:
    services = app.state.services
    with pytest.raises(ValueError, match="not both"):
        create_app(settings, services, supervisor_factory=lambda s, svc: FakeSupervisor())


def test_sync_starts_cameras_registered_elsewhere_and_stops_removed_ones(fake: FakeSupervisor) -> None:
    """api.live.sync_cameras: what `sightline cameras import` did while the server ran takes effect."""
    from api.live import sync_cameras

    fake.add_camera(Camera("gone", "Gone", url="rtsp://10.0.0.9/stream"))
    fake.add_camera(Camera("kept", "Kept", url="rtsp://10.0.0.8/stream"))
    registered = [
        Camera("kept", "Kept", url="rtsp://10.0.0.8/stream"),
        Camera("new", "New", url="rtsp://user:pw@10.0.0.7/stream"),
        Camera("archive", "Archive", url="file:///data/a.mp4"),
    ]
    assert sync_cameras(fake, registered) == (["new"], ["gone"])
    assert set(fake.cameras) == {"kept", "new"}, "file cameras are not streamed live"
    assert sync_cameras(fake, registered) == ([], []), "a second sync changes nothing"


def test_sync_keeps_going_when_a_camera_cannot_start(fake: FakeSupervisor) -> None:
    from api.live import sync_cameras

    fake.refuse.add("bad")
    registered = [
        Camera("bad", "Bad", url="rtsp://10.0.0.6/stream"),
        Camera("good", "Good", url="rtsp://10.0.0.5/stream"),
    ]
    assert sync_cameras(fake, registered) == (["good"], [])

"""Prometheus ``/metrics``: camera series read from the supervisor at scrape time, API counters.

``StatusBoard`` is a small in-memory implementation of the ``CameraSupervisor`` protocol holding the
snapshots a worker would report; the store and recognition backends are real.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from asgi_call import call
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from api.app import Services, create_app
from ingest.status import CameraState, CameraStatus
from search.records import Camera
from search.services import SearchService
from sightline.errors import NotFound
from sightline.settings import Settings

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
AUDIT = {"case_ref": "C-1", "reason": "metrics test"}


class StatusBoard:
    """CameraSupervisor in memory: cameras added get a STARTING snapshot; ``report`` replaces one."""

    def __init__(self) -> None:
        self.board: dict[str, CameraStatus] = {}

    def add_camera(self, camera: Camera) -> None:
        self.board[camera.id] = CameraStatus(camera.id, CameraState.STARTING, T0)

    def remove_camera(self, camera_id: str) -> None:
        if self.board.pop(camera_id, None) is None:
            raise NotFound(f"camera {camera_id!r} is not ingested")

    def status(self, camera_id: str) -> CameraStatus:
        if camera_id not in self.board:
            raise NotFound(f"camera {camera_id!r} is not ingested")
        return self.board[camera_id]

    def statuses(self) -> list[CameraStatus]:
        return [self.board[k] for k in sorted(self.board)]

    def report(self, camera_id: str, **changes: Any) -> None:
        self.board[camera_id] = replace(self.board[camera_id], **changes)


def scrape(app: FastAPI) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics``, parsed by prometheus_client's own parser, by (name, labels)."""
    r = call(app, "GET", "/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def cam(name: str, camera: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return (name, tuple(sorted({"camera": camera, **labels}.items())))


@pytest.fixture()
def board() -> StatusBoard:
    return StatusBoard()


@pytest.fixture()
def app(
    settings: Settings, service: SearchService, backends: tuple[Any, Any, Any], board: StatusBoard
) -> FastAPI:
    return create_app(settings, Services(service, *backends, supervisor=board))


def test_camera_series_are_read_at_scrape_time(app: FastAPI, board: StatusBoard) -> None:
    for cam_id in ("gate-n", "gate-s"):
        body = {"id": cam_id, "name": cam_id, "url": f"rtsp://u:p@{cam_id}.local/s"}
        assert call(app, "POST", "/api/cameras", json=body).status_code == 201
    first = scrape(app)
    assert first[("sightline_live_ingest_up", ())] == 1.0
    assert first[cam("sightline_camera_up", "gate-n")] == 0.0
    assert first[cam("sightline_camera_state", "gate-n", state="starting")] == 1.0
    assert first[cam("sightline_camera_state", "gate-n", state="streaming")] == 0.0

    board.report(
        "gate-n",
        state=CameraState.STREAMING,
        input_fps=25.0,
        analysed_fps=2.0,
        lag_s=0.5,
        frames_decoded=1000,
        frames_dropped=7,
        frames_skipped_motion=300,
        sightings=4,
        reconnects=2,
    )
    second = scrape(app)
    assert second[cam("sightline_camera_up", "gate-n")] == 1.0
    assert second[cam("sightline_camera_state", "gate-n", state="streaming")] == 1.0
    assert second[cam("sightline_camera_state", "gate-n", state="starting")] == 0.0
    assert second[cam("sightline_camera_input_fps", "gate-n")] == 25.0
    assert second[cam("sightline_camera_analysed_fps", "gate-n")] == 2.0
    assert second[cam("sightline_camera_lag_seconds", "gate-n")] == 0.5
    assert second[cam("sightline_camera_reconnects_total", "gate-n")] == 2.0
    assert second[cam("sightline_camera_frames_decoded_total", "gate-n")] == 1000.0
    assert second[cam("sightline_camera_frames_dropped_total", "gate-n")] == 7.0
    assert second[cam("sightline_camera_frames_motion_skipped_total", "gate-n")] == 300.0
    assert second[cam("sightline_camera_sightings_total", "gate-n")] == 4.0
    assert second[cam("sightline_camera_up", "gate-s")] == 0.0

    assert call(app, "DELETE", "/api/cameras/gate-s").status_code == 204
    third = scrape(app)
    assert not any(dict(labels).get("camera") == "gate-s" for _, labels in third), "removed: no series"


def test_api_counters_count_searches_and_errors(app: FastAPI) -> None:
    before = scrape(app)
    assert ("sightline_api_searches_total", (("kind", "plate"),)) not in before
    for _ in range(2):
        r = call(app, "GET", "/api/search/plate", params={"pattern": "川A*", **AUDIT})
        assert r.status_code == 200
    assert call(app, "GET", "/api/search/plate", params={"pattern": "川A*"}).status_code == 422
    assert call(app, "GET", "/api/sightings/999").status_code == 404
    assert call(app, "GET", "/api/no-such-route").status_code == 404
    after = scrape(app)
    assert after[("sightline_api_searches_total", (("kind", "plate"),))] == 2.0, (
        "refused searches are not counted"
    )
    assert after[("sightline_api_http_errors_total", (("status", "404"),))] == 2.0
    assert after[("sightline_api_http_errors_total", (("status", "422"),))] == 1.0


def test_without_live_ingest_only_the_up_gauge(
    settings: Settings, service: SearchService, backends: tuple[Any, Any, Any]
) -> None:
    app = create_app(settings, Services(service, *backends))
    samples = scrape(app)
    assert samples[("sightline_live_ingest_up", ())] == 0.0
    assert not any(name.startswith("sightline_camera_") for name, _ in samples)


def test_each_app_has_its_own_registry(
    app: FastAPI, settings: Settings, service: SearchService, backends: tuple[Any, Any, Any]
) -> None:
    other = create_app(settings, Services(service, *backends, supervisor=StatusBoard()))
    call(app, "GET", "/api/no-such-route")
    assert scrape(app)[("sightline_api_http_errors_total", (("status", "404"),))] == 1.0
    assert ("sightline_api_http_errors_total", (("status", "404"),)) not in scrape(other)

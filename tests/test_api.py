"""HTTP API round trips on real parts: real MTCNN + FaceNet + vehicle descriptor, a real store on a
temporary data directory, requests through FastAPI's TestClient.

Stored face sightings are FaceNet embeddings of public-domain portraits (skimage's astronaut, Eileen
Collins; matplotlib's Grace Hopper; skimage's cameraman); the query photo is a smaller, recompressed
astronaut that the stored sightings never saw.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from auth_helpers import grant
from fastapi import FastAPI
from matplotlib import cbook
from numpy.typing import NDArray
from skimage import data as skdata

from api.app import Services, create_app
from recognition.base import FaceDetector, FaceEmbedder, Image, VehicleEmbedder
from recognition.types import Box, PlateRead
from search.identity import Role
from search.records import NewSighting, SightingKind
from search.services import SearchService
from sightline.settings import Settings

pytestmark = pytest.mark.slow

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
AUDIT = {"case_ref": "CASE-2024-017", "reason": "missing person report"}
SECRET_URL = "rtsp://admin:s3cret@10.0.0.5:554/stream1?token=abc"


class TestClient:
    """Synchronous calls through httpx's ASGI transport, each on a fresh event loop.

    Starlette's own TestClient warns about httpx (an error here); injected services need no lifespan.
    Each request carries a real token: an administrator's for camera changes (the only role that may
    make them), the investigator ``det.inspector.li``'s for everything else, unless the call passes
    its own ``headers``. Who may do what is tested in tests/test_auth.py.
    """

    __test__ = False

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.admin = grant(app, Role.ADMIN)
        self.investigator = grant(app, Role.INVESTIGATOR, name="det.inspector.li")

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        if "headers" not in kwargs:
            managing = url.startswith("/api/cameras") and method in {"POST", "PUT", "DELETE"}
            kwargs["headers"] = self.admin if managing else self.investigator

        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://sightline.test") as c:
                return await c.request(method, url, **kwargs)

        return asyncio.run(call())

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)


@dataclass(frozen=True)
class Backends:
    face_detector: FaceDetector
    face_embedder: FaceEmbedder
    vehicle_embedder: VehicleEmbedder


def _bgr(rgb: NDArray[np.uint8]) -> Image:
    return np.ascontiguousarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def _jpeg(image: Image, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def _skimage(name: str) -> NDArray[np.uint8]:
    """A skimage sample picture (RGB, or grey for ``camera``)."""
    return np.asarray(getattr(skdata, name)(), np.uint8)


def _grace_hopper() -> Image:
    path = Path(str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    decoded = cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None
    return np.ascontiguousarray(decoded)


def _car_front(body_bgr: tuple[int, int, int], shift: int = 0, size: tuple[int, int] = (320, 240)) -> Image:
    """A drawn vehicle front: body colour, dark windscreen, grille, lights; ``shift`` moves it a little."""
    w, h = size
    img = np.full((h, w, 3), 200, np.uint8)
    cv2.rectangle(img, (20 + shift, 40), (w - 20 + shift, h - 20), body_bgr, -1)
    cv2.rectangle(img, (50 + shift, 55), (w - 50 + shift, 110), (40, 40, 40), -1)
    cv2.rectangle(img, (110 + shift, 150), (w - 110 + shift, 185), (20, 20, 20), -1)
    for x in (45, w - 75):
        cv2.rectangle(img, (x + shift, 140), (x + 30 + shift, 160), (230, 240, 250), -1)
    return img


@pytest.fixture(scope="module")
def backends(base_settings: Settings) -> Backends:
    """The real recognition backends, built once for the module (loading FaceNet takes ~2 s)."""
    from recognition.registry import build_face_detector, build_face_embedder, build_vehicle_embedder

    return Backends(
        build_face_detector(base_settings),
        build_face_embedder(base_settings),
        build_vehicle_embedder(base_settings),
    )


@pytest.fixture(scope="module")
def faces(backends: Backends) -> dict[str, tuple[NDArray[np.float32], bytes]]:
    """Embedding and crop JPEG of each stored face sighting, by name."""
    astronaut = _bgr(_skimage("astronaut"))
    images: dict[str, Image] = {
        "astronaut": astronaut,
        "astronaut_flipped": np.ascontiguousarray(cv2.flip(astronaut, 1)),
        "astronaut_bright": np.asarray(cv2.convertScaleAbs(astronaut, alpha=0.8, beta=20), np.uint8),
        "hopper": _grace_hopper(),
        "cameraman": np.ascontiguousarray(cv2.cvtColor(_skimage("camera"), cv2.COLOR_GRAY2BGR)),
    }
    out = {}
    for name, img in images.items():
        found = backends.face_detector.detect(img)
        assert found, f"no face in {name}"
        face = max(found, key=lambda f: f.box.width * f.box.height)
        vec = backends.face_embedder.embed(img, [face]).vectors[0]
        b = face.box.clipped(img.shape[1], img.shape[0])
        crop = img[int(b.y1) : int(b.y2), int(b.x1) : int(b.x2)]
        out[name] = (vec, _jpeg(np.ascontiguousarray(crop)))
    return out


@pytest.fixture()
def service(settings: Settings, backends: Backends) -> Iterator[SearchService]:
    with SearchService.open(settings.search, vehicle_dim=backends.vehicle_embedder.dim) as svc:
        yield svc


@pytest.fixture()
def client(settings: Settings, service: SearchService, backends: Backends) -> Iterator[TestClient]:
    services = Services(service, backends.face_detector, backends.face_embedder, backends.vehicle_embedder)
    yield TestClient(create_app(settings, services))


def _add_camera(client: TestClient, cam_id: str, name: str, lat: float, lon: float) -> None:
    r = client.post(
        "/api/cameras", json={"id": cam_id, "name": name, "lat": lat, "lon": lon, "url": SECRET_URL}
    )
    assert r.status_code == 201, r.text


def _face(camera: str, minutes: int, vec: NDArray[np.float32], crop: bytes) -> NewSighting:
    start = T0 + timedelta(minutes=minutes)
    return NewSighting(
        kind=SightingKind.FACE,
        camera_id=camera,
        first_seen=start,
        last_seen=start + timedelta(seconds=8),
        box=Box(100, 50, 200, 170),
        quality=0.9,
        crop_jpeg=crop,
        embedding=vec,
    )


@pytest.fixture()
def seeded(
    client: TestClient, service: SearchService, faces: dict[str, tuple[NDArray[np.float32], bytes]]
) -> dict[str, int]:
    """Two cameras; the astronaut three times (b at 08:00, a at 08:10, a at 08:30), two other people."""
    _add_camera(client, "cam-a", "North gate", 30.57, 104.06)
    _add_camera(client, "cam-b", "Station square", 30.60, 104.10)
    plan = [
        ("ast_a_10", "cam-a", 10, "astronaut"),
        ("ast_b_00", "cam-b", 0, "astronaut_flipped"),
        ("ast_a_30", "cam-a", 30, "astronaut_bright"),
        ("hopper_b_05", "cam-b", 5, "hopper"),
        ("cameraman_a_20", "cam-a", 20, "cameraman"),
    ]
    return {key: service.add_sighting(_face(cam, minute, *faces[who])) for key, cam, minute, who in plan}


def _query_photo() -> bytes:
    """The astronaut at 75% size, JPEG quality 70: not one of the stored images."""
    return _jpeg(np.asarray(cv2.resize(_bgr(_skimage("astronaut")), (384, 384)), np.uint8), quality=70)


def _face_search(client: TestClient, photo: bytes, **fields: str) -> dict[str, Any]:
    r = client.post(
        "/api/search/face",
        files={"image": ("query.jpg", photo, "image/jpeg")},
        data={**AUDIT, **fields},
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_face_search_returns_the_person_in_time_order(
    client: TestClient, service: SearchService, seeded: dict[str, int]
) -> None:
    body = _face_search(client, _query_photo())
    points = body["points"]
    assert isinstance(points, list)
    ids = [p["sighting_id"] for p in points]
    assert ids == [seeded["ast_b_00"], seeded["ast_a_10"], seeded["ast_a_30"]]  # time order, others absent
    best = max(points, key=lambda p: p["score"])
    assert best["sighting_id"] in ids and best["score"] > 0.8
    assert body["cameras"] == ["cam-b", "cam-a"]
    assert points[0]["camera_name"] == "Station square" and points[0]["lat"] == pytest.approx(30.60)
    assert points[0]["crop_url"] == f"/api/sightings/{seeded['ast_b_00']}/crop"

    (entry,) = service.audit_entries(case_ref=AUDIT["case_ref"])
    assert entry.actor == "det.inspector.li"
    assert entry.reason == AUDIT["reason"]
    assert entry.action == "search.face"
    assert list(entry.result_ids) == ids


def test_face_search_camera_and_time_filters(client: TestClient, seeded: dict[str, int]) -> None:
    only_a = _face_search(client, _query_photo(), cameras="cam-a")
    assert [p["sighting_id"] for p in only_a["points"]] == [seeded["ast_a_10"], seeded["ast_a_30"]]
    later = _face_search(client, _query_photo(), since=(T0 + timedelta(minutes=15)).isoformat())
    assert [p["sighting_id"] for p in later["points"]] == [seeded["ast_a_30"]]
    window = _face_search(
        client, _query_photo(), since=T0.isoformat(), until=(T0 + timedelta(minutes=12)).isoformat(), k="1"
    )
    assert window["count"] == 1


def test_face_search_actor_is_the_logged_in_user_and_no_face(
    client: TestClient, service: SearchService, seeded: dict[str, int]
) -> None:
    headers = {**client.investigator, "X-Sightline-User": "system"}  # the old header names nobody now
    r = client.post(
        "/api/search/face",
        files={"image": ("q.jpg", _query_photo(), "image/jpeg")},
        data=AUDIT,
        headers=headers,
    )
    assert r.status_code == 200
    assert service.audit_entries()[0].actor == "det.inspector.li"

    gradient = np.tile(np.linspace(0, 255, 320, dtype=np.uint8), (240, 1))
    blank = _jpeg(np.ascontiguousarray(cv2.cvtColor(gradient, cv2.COLOR_GRAY2BGR)))
    r = client.post("/api/search/face", files={"image": ("wall.jpg", blank, "image/jpeg")}, data=AUDIT)
    assert r.status_code == 422
    assert r.json()["error"] == "NoFaceFound"
    # The failed attempt is in the audit too, with its error class.
    assert (service.audit_entries()[0].action, service.audit_entries()[0].outcome) == (
        "search.face",
        "error:NoFaceFound",
    )
    assert "no face found in the 320x240 photo" in r.json()["detail"]


def test_vehicle_search_ranks_the_same_vehicle_first(
    client: TestClient, service: SearchService, backends: Backends
) -> None:
    _add_camera(client, "cam-a", "North gate", 30.57, 104.06)
    red, blue = (30, 30, 200), (200, 60, 20)
    ids = {}
    for name, colour, minute in (("red", red, 3), ("blue", blue, 1)):
        img = _car_front(colour)
        box = Box(0, 0, img.shape[1], img.shape[0])
        start = T0 + timedelta(minutes=minute)
        ids[name] = service.add_sighting(
            NewSighting(
                kind=SightingKind.VEHICLE,
                camera_id="cam-a",
                first_seen=start,
                last_seen=start,
                box=box,
                quality=0.8,
                crop_jpeg=_jpeg(img),
                embedding=backends.vehicle_embedder.embed(img, [box]).vectors[0],
            )
        )
    # The query: the red car shifted, inside a larger photo, pointed at with a box.
    photo = np.full((400, 600, 3), 120, np.uint8)
    photo[100:340, 150:470] = _car_front(red, shift=6)
    r = client.post(
        "/api/search/vehicle",
        files={"image": ("car.png", cv2.imencode(".png", photo)[1].tobytes(), "image/png")},
        data={**AUDIT, "box": "150,100,470,340", "min_similarity": "-1"},
    )
    assert r.status_code == 200, r.text
    points = r.json()["points"]
    scores = {p["sighting_id"]: p["score"] for p in points}
    assert set(scores) == {ids["red"], ids["blue"]}
    assert scores[ids["red"]] > scores[ids["blue"]]
    assert [p["sighting_id"] for p in points] == [ids["blue"], ids["red"]]  # still in time order

    r = client.post(
        "/api/search/vehicle",
        files={"image": ("car.png", cv2.imencode(".png", photo)[1].tobytes(), "image/png")},
        data={**AUDIT, "box": "700,500,800,600"},
    )
    assert r.status_code == 422 and "outside the 600x400 image" in r.json()["detail"]


def _plate_sighting(camera: str, minute: int, text: str, crop: bytes) -> NewSighting:
    start = T0 + timedelta(minutes=minute)
    read = PlateRead(text=text, char_confidences=tuple(0.99 for _ in text), candidates=(text,))
    return NewSighting(
        kind=SightingKind.VEHICLE,
        camera_id=camera,
        first_seen=start,
        last_seen=start + timedelta(seconds=4),
        box=Box(10, 10, 300, 200),
        quality=0.7,
        crop_jpeg=crop,
        plate=read,
    )


def test_plate_search_with_wildcards_and_filters(client: TestClient, service: SearchService) -> None:
    _add_camera(client, "cam-a", "North gate", 30.57, 104.06)
    _add_camera(client, "cam-b", "Station square", 30.60, 104.10)
    crop = _jpeg(_car_front((30, 30, 200)))
    ids = {
        "a40": service.add_sighting(_plate_sighting("cam-a", 40, "川A12345", crop)),
        "b05": service.add_sighting(_plate_sighting("cam-b", 5, "川A12345", crop)),
        "other": service.add_sighting(_plate_sighting("cam-a", 7, "渝B77777", crop)),
    }
    params = {**AUDIT, "pattern": "川A12*"}
    r = client.get("/api/search/plate", params=params)
    assert r.status_code == 200, r.text
    points = r.json()["points"]
    assert [p["sighting_id"] for p in points] == [ids["b05"], ids["a40"]]
    assert {p["plate_text"] for p in points} == {"川A12345"}

    r = client.get("/api/search/plate", params={**params, "cameras": "cam-a"})
    assert [p["sighting_id"] for p in r.json()["points"]] == [ids["a40"]]
    r = client.get("/api/search/plate", params={**params, "until": (T0 + timedelta(minutes=10)).isoformat()})
    assert [p["sighting_id"] for p in r.json()["points"]] == [ids["b05"]]
    (entry, *_) = service.audit_entries(case_ref=AUDIT["case_ref"])
    assert entry.action == "search.plate" and list(entry.result_ids) == [ids["b05"]]


def test_malformed_plate_pattern_is_400_naming_the_problem(client: TestClient) -> None:
    r = client.get("/api/search/plate", params={**AUDIT, "pattern": "川A12%45"})
    assert r.status_code == 400
    assert r.json()["error"] == "PatternError"
    assert "'%' at position 5" in r.json()["detail"]


@pytest.mark.parametrize(
    ("params", "missing"),
    [
        ({"pattern": "川A*", "reason": "x"}, "case_ref"),
        ({"pattern": "川A*", "case_ref": "C-1"}, "reason"),
        ({"pattern": "川A*", "case_ref": "  ", "reason": "x"}, "case_ref"),
        ({"pattern": "川A*", "case_ref": "C-1", "reason": ""}, "reason"),
    ],
)
def test_plate_search_requires_case_and_reason(
    client: TestClient, params: dict[str, str], missing: str
) -> None:
    r = client.get("/api/search/plate", params=params)
    assert r.status_code == 422
    assert r.json()["error"] == "InputError"
    assert missing in r.json()["detail"]


def test_face_search_requires_case_ref(client: TestClient, service: SearchService) -> None:
    r = client.post(
        "/api/search/face",
        files={"image": ("q.jpg", _query_photo(), "image/jpeg")},
        data={"reason": "x"},
    )
    assert r.status_code == 422 and "case_ref" in r.json()["detail"]
    assert service.audit_entries() == []


def test_sighting_detail_crop_and_404(client: TestClient, seeded: dict[str, int]) -> None:
    sid = seeded["hopper_b_05"]
    r = client.get(f"/api/sightings/{sid}")
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == sid and body["kind"] == "face" and body["camera_id"] == "cam-b"
    assert body["box"] == {"x1": 100.0, "y1": 50.0, "x2": 200.0, "y2": 170.0}
    assert datetime.fromisoformat(body["first_seen"]) == T0 + timedelta(minutes=5)

    r = client.get(body["crop_url"])
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    crop = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
    assert crop is not None and crop.shape[0] > 50

    for path in ("/api/sightings/999999", "/api/sightings/999999/crop"):
        r = client.get(path)
        assert r.status_code == 404
        assert r.json() == {"error": "NotFound", "detail": "sighting 999999 not found"}


def test_camera_crud_never_returns_credentials(client: TestClient, service: SearchService) -> None:
    body = {"id": "gate-1", "name": "Gate", "lat": 30.1, "lon": 104.2, "url": SECRET_URL, "tags": ["gate"]}
    r = client.post("/api/cameras", json=body)
    assert r.status_code == 201
    assert r.json()["url"] == "rtsp://***@10.0.0.5:554/stream1?token=***"
    assert client.post("/api/cameras", json=body).status_code == 422  # id in use

    listed = client.get("/api/cameras").json()
    assert [c["id"] for c in listed] == ["gate-1"]
    assert "s3cret" not in client.get("/api/cameras").text
    assert "s3cret" not in client.get("/api/cameras/gate-1").text
    assert service.store.get_camera("gate-1").url == SECRET_URL  # stored intact, only the API redacts

    r = client.put("/api/cameras/gate-1", json={"name": "Gate (east)", "url": "rtsp://u:p@cam.local/s"})
    assert r.status_code == 200
    assert r.json()["name"] == "Gate (east)" and r.json()["url"] == "rtsp://***@cam.local/s"
    assert r.json()["lat"] is None and r.json()["tags"] == []  # PUT replaces every field
    assert client.put("/api/cameras/nope", json={"name": "x"}).status_code == 404

    assert client.delete("/api/cameras/gate-1").status_code == 204
    assert client.get("/api/cameras/gate-1").status_code == 404
    assert client.delete("/api/cameras/gate-1").status_code == 404


def test_camera_with_sightings_cannot_be_deleted(client: TestClient, seeded: dict[str, int]) -> None:
    r = client.delete("/api/cameras/cam-a")
    assert r.status_code == 422
    assert "still has 3 sightings" in r.json()["detail"]


def test_health_counts_and_models(client: TestClient, seeded: dict[str, int]) -> None:
    r = client.get("/api/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["counts"] == {"cameras": 2, "face": 5, "vehicle": 0}
    assert set(body["models"]) == {"face_detector", "face_embedder", "vehicle_embedder"}


def test_openapi_documents_every_route(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    want = {
        ("/api/search/face", "post"),
        ("/api/search/vehicle", "post"),
        ("/api/search/plate", "get"),
        ("/api/sightings/{sighting_id}", "get"),
        ("/api/sightings/{sighting_id}/crop", "get"),
        ("/api/cameras", "get"),
        ("/api/cameras", "post"),
        ("/api/cameras/{camera_id}", "get"),
        ("/api/cameras/{camera_id}", "put"),
        ("/api/cameras/{camera_id}", "delete"),
        ("/api/health", "get"),
    }
    got = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert want <= got
    for path, method in want:
        assert spec["paths"][path][method].get("summary"), (path, method)
    face = spec["paths"]["/api/search/face"]["post"]
    assert "422" in face["responses"] and "413" in face["responses"]
    assert spec["components"]["schemas"]["CameraOut"]["examples"][0]["url"].startswith("rtsp://***@")


def test_app_builds_and_closes_its_own_services(settings: Settings) -> None:
    """Without injected services the lifespan builds them from the settings and closes them after."""
    app = create_app(settings)

    async def run() -> tuple[int, dict[str, Any]]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://sightline.test") as c:
                r = await c.get("/api/health")
            assert isinstance(app.state.services, Services)
        return r.status_code, r.json()

    status, body = asyncio.run(run())
    assert status == 200
    assert body["counts"] == {"cameras": 0, "face": 0, "vehicle": 0}
    assert body["models"]["face_embedder"] == "FaceNetEmbedder"
    assert not hasattr(app.state, "services")
    assert (settings.search.data_dir / "sightline.db").is_file()


def test_serve_command_answers_on_loopback(settings: Settings) -> None:
    """``sightline serve`` in a subprocess: health answers, SIGINT shuts it down cleanly."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "SIGHTLINE_SEARCH__DATA_DIR": str(settings.search.data_dir)}
    cmd = [sys.executable, "-m", "sightline.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.communicate()[0].decode()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        assert r.status_code == 200 and r.json()["status"] == "ok"
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out.decode()

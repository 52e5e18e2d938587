"""The smoke subset: one fast end-to-end check per stage, with the real prepared models.

``bash dev.sh canary`` installs the newest releases ``pyproject.toml`` allows and runs these tests
(``pytest -m smoke``) to see whether an upstream release breaks us: models load, a real face is
found and embedded, a rendered plate is found and read, and a sighting is found again by face and by
plate through the search service. Each test takes a second or two, so the canary can rerun them
once per suspect package. The portraits are the public-domain ones shipped with scikit-image and
matplotlib (``sample_streams.scenes.load_portrait``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from models import model_path
from models.manifest import default_manifest
from recognition.query import QueryFaceEmbedder
from recognition.registry import build_plate_locator
from recognition.runtime import make_session
from recognition.types import Box, PlateRead
from sample_streams.render import find_cjk_font, render_plate, render_vehicle
from sample_streams.scenes import load_portrait
from search.records import Camera, NewSighting, SearchRequest, SightingKind
from sightline.cli import main
from sightline.settings import Settings

pytestmark = pytest.mark.smoke

ASTRONAUT = "skimage.data.astronaut"
HOPPER = "matplotlib.sample_data.grace_hopper"
PLATE = "渝A12345"
T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
REQ = SearchRequest(case_ref="SMOKE-1", reason="canary smoke test", actor="canary")
#: Cosine between two views of one face and between two people. FaceNet on LFW: best accuracy at
#: ≈ 0.37, search floor 0.40 (README); the same photo rescaled stays far above, strangers far below.
SAME_FACE_MIN = 0.8
OTHER_FACE_MAX = 0.4


def _bgr(rgb: NDArray[np.uint8]) -> NDArray[np.uint8]:
    return np.ascontiguousarray(rgb[:, :, ::-1])


def _street_with_vehicle(settings: Settings, text: str) -> NDArray[np.uint8]:
    """A 640×480 BGR frame: a plain road and a vehicle front carrying a blue plate ``text``, at the
    half size the sample streams use (plate ≈ 110 px wide)."""
    plate = render_plate(text, "blue", find_cjk_font(settings.models))
    sprite = render_vehicle(plate, (178, 34, 34))
    rgba = cv2.resize(sprite.rgba, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    frame = np.full((480, 640, 3), (96, 104, 110), np.float32)
    h, w = rgba.shape[:2]
    y, x = 480 - h - 20, (640 - w) // 2
    alpha = rgba[:, :, 3:4].astype(np.float32) / 255.0
    region = frame[y : y + h, x : x + w]
    frame[y : y + h, x : x + w] = region * (1 - alpha) + rgba[:, :, :3].astype(np.float32) * alpha
    return _bgr(np.clip(frame, 0, 255).astype(np.uint8))


def test_every_model_opens_and_verifies(base_settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    """Every ONNX model in the manifest opens in this onnxruntime with the declared input, and
    ``sightline models verify`` finds every prepared file matching its sha256."""
    for entry in default_manifest().models.values():
        if entry.kind != "onnx":
            continue
        assert entry.input is not None
        session = make_session(model_path(base_settings.models, entry.key), base_settings.recognition.runtime)
        assert [i.name for i in session.get_inputs()] == [entry.input.name], entry.key
        assert [o.name for o in session.get_outputs()] == [o.name for o in entry.outputs], entry.key
    assert main(["models", "verify", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True
    assert {m["status"] for m in report["models"]} == {"ok"}


def test_face_is_detected_and_embedded(backends: tuple[Any, Any, Any]) -> None:
    """The astronaut's one face is found, embedded to a unit 512-d vector, recognised in a smaller
    copy of the photo and told apart from Grace Hopper."""
    detector, embedder, _ = backends
    query = QueryFaceEmbedder(detector, embedder, min_face_px=40)
    astronaut = _bgr(load_portrait(ASTRONAUT))
    faces = detector.detect(astronaut)
    assert len(faces) == 1 and faces[0].score > 0.9
    embedding = embedder.embed(astronaut, faces)
    assert embedding.vectors.shape == (1, 512)
    small = cv2.resize(astronaut, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
    again = query.embed(np.asarray(small, np.uint8))
    other = query.embed(_bgr(load_portrait(HOPPER)))
    assert float(embedding.vectors[0] @ again) > SAME_FACE_MIN
    assert float(embedding.vectors[0] @ other) < OTHER_FACE_MAX


def test_plate_is_found_and_read(base_settings: Settings) -> None:
    """A rendered blue plate on a vehicle front is located in the frame and read exactly."""
    locator = build_plate_locator(base_settings)
    found = locator.find(_street_with_vehicle(base_settings, PLATE))
    assert [p.read.text for p in found] == [PLATE]
    assert found[0].read.valid and found[0].read.confidence > 0.5


def test_sightings_are_found_by_face_and_by_plate(
    service: Any, backends: tuple[Any, Any, Any], base_settings: Settings
) -> None:
    """A face sighting embedded by the real models and a vehicle sighting carrying the plate the
    real reader read are written to the store and index, and found again by photo and by pattern."""
    detector, embedder, _ = backends
    query = QueryFaceEmbedder(detector, embedder, min_face_px=40)
    service.store.add_camera(Camera("gate", "Main gate", 29.56, 106.55))
    astronaut = _bgr(load_portrait(ASTRONAUT))
    ok, jpeg = cv2.imencode(".jpg", astronaut)
    assert ok
    face_id = service.add_sighting(
        NewSighting(
            SightingKind.FACE,
            "gate",
            T0,
            T0 + timedelta(seconds=4),
            Box(160, 30, 300, 190),
            0.9,
            jpeg.tobytes(),
            query.embed(astronaut),
        )
    )
    (plate,) = build_plate_locator(base_settings).find(_street_with_vehicle(base_settings, PLATE))
    read: PlateRead = plate.read
    vehicle_id = service.add_sighting(
        NewSighting(
            SightingKind.VEHICLE,
            "gate",
            T0 + timedelta(minutes=1),
            T0 + timedelta(minutes=1, seconds=3),
            plate.box,
            0.8,
            jpeg.tobytes(),
            None,
            read,
        )
    )
    photo = cv2.resize(astronaut, None, fx=0.7, fy=0.7, interpolation=cv2.INTER_AREA)
    by_face = service.search_face(REQ, query.embed(np.asarray(photo, np.uint8)))
    assert by_face.sighting_ids == [face_id]
    assert by_face.points[0].camera_name == "Main gate"
    assert service.search_plate(REQ, "渝A*45").sighting_ids == [vehicle_id]
    assert service.search_plate(REQ, "川*").sighting_ids == []
    assert len(service.audit_entries(case_ref="SMOKE-1")) == 3

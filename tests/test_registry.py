"""The explicit backend registry: unknown keys, and every backend built through it from settings.

The vehicle detector and re-id backends are built on TINY GENERATED ONNX GRAPHS with the real
signatures (from tests/test_vehicle_onnx.py); the face and plate backends use the real prepared
models.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_vehicle_onnx import CANDIDATES, _detector_graph, _reid_graph

from recognition import registry
from recognition.base import (
    FaceDetector,
    FaceEmbedder,
    PlateLocator,
    PlateReader,
    VehicleDetector,
    VehicleEmbedder,
)
from sightline.errors import ConfigError, ModelError
from sightline.settings import Settings, load_settings


def _with(settings: Settings, section: str, **values: Any) -> Settings:
    data = settings.model_dump()
    data["recognition"][section].update(values)
    return Settings(**data)


@pytest.mark.parametrize(
    ("section", "field", "build", "known"),
    [
        ("face", "detector", registry.build_face_detector, "mtcnn"),
        ("face", "embedder", registry.build_face_embedder, "facenet_casia"),
        ("plate", "reader", registry.build_plate_reader, "ppocr_v4"),
        ("plate", "reader", registry.build_plate_locator, "ppocr_v4"),
        ("vehicle", "embedder", registry.build_vehicle_embedder, "color_layout, onnx_reid"),
        ("vehicle", "detector", registry.build_vehicle_detector, "onnx_yolo"),
    ],
)
def test_unknown_key_lists_the_known_ones(
    base_settings: Settings, section: str, field: str, build: Any, known: str
) -> None:
    settings = _with(base_settings, section, **{field: "nope"})
    with pytest.raises(ModelError, match=f"'nope'; known: {known}$"):
        build(settings)


def test_registry_import_is_cheap() -> None:
    import subprocess
    import sys

    code = "import sys, recognition.registry; print([m for m in ('onnxruntime', 'cv2') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_default_vehicle_backends(base_settings: Settings) -> None:
    from recognition.vehicle_descriptor import ColorLayoutEmbedder

    emb = registry.build_vehicle_embedder(base_settings)
    assert isinstance(emb, ColorLayoutEmbedder) and isinstance(emb, VehicleEmbedder)
    assert registry.build_vehicle_detector(base_settings) is None


def _user_models(tmp_path: Path) -> list[dict[str, Any]]:
    det, reid = tmp_path / "det.onnx", tmp_path / "reid.onnx"
    det_sha = _detector_graph(det, CANDIDATES, "anchors_first")
    reid_sha = _reid_graph(reid, None)
    assert det_sha == hashlib.sha256(det.read_bytes()).hexdigest()
    return [
        {
            "key": "yolo",
            "kind": "vehicle_detector",
            "path": det,
            "sha256": det_sha,
            "input_size": (64, 64),
            "class_names": ["person", "car", "truck"],
            "vehicle_classes": ["car", "truck"],
        },
        {"key": "reid", "kind": "vehicle_reid", "path": reid, "sha256": reid_sha, "input_size": (16, 8)},
    ]


def test_user_models_through_the_registry(base_settings: Settings, tmp_path: Path) -> None:
    from recognition.onnx_reid import OnnxReidEmbedder
    from recognition.yolo_detector import OnnxYoloDetector

    settings = _with(
        base_settings,
        "vehicle",
        detector="onnx_yolo",
        detector_model="yolo",
        embedder="onnx_reid",
        reid_model="reid",
        user_models=_user_models(tmp_path),
    )
    det = registry.build_vehicle_detector(settings)
    assert isinstance(det, OnnxYoloDetector) and isinstance(det, VehicleDetector)
    assert [d.label for d in det.detect(np.zeros((64, 128, 3), dtype=np.uint8))] == ["car", "truck", "car"]
    emb = registry.build_vehicle_embedder(settings)
    assert isinstance(emb, OnnxReidEmbedder) and emb.dim == 4


def test_settings_reject_dangling_or_mistyped_model_keys(tmp_path: Path) -> None:
    models = _user_models(tmp_path)
    with pytest.raises(
        ConfigError, match=r"detector_model 'reid' is not a vehicle_detector.*known: \['yolo'\]"
    ):
        load_settings(
            recognition={
                "vehicle": {"detector": "onnx_yolo", "detector_model": "reid", "user_models": models}
            }
        )
    with pytest.raises(ConfigError, match="duplicate keys"):
        load_settings(recognition={"vehicle": {"user_models": [models[0], models[0]]}})


def _require(module: str) -> None:
    if not (Path(__file__).resolve().parent.parent / "recognition" / f"{module}.py").is_file():
        pytest.skip(f"recognition/{module}.py not present")


@pytest.mark.slow
def test_face_and_plate_backends_through_the_registry(base_settings: Settings) -> None:
    """The other engineers' backends, built with the real prepared models."""
    for module in ("mtcnn", "facenet", "ppocr_rec", "plate_locate"):
        _require(module)
    assert isinstance(registry.build_face_detector(base_settings), FaceDetector)
    assert isinstance(registry.build_face_embedder(base_settings), FaceEmbedder)
    assert isinstance(registry.build_plate_reader(base_settings), PlateReader)
    assert isinstance(registry.build_plate_locator(base_settings), PlateLocator)


@pytest.mark.parametrize(
    ("vehicle", "message"),
    [
        ({"detector": "onnx_yolo"}, "detector 'onnx_yolo' runs a user model: set detector_model"),
        ({"embedder": "onnx_reid"}, "embedder 'onnx_reid' runs a user model: set reid_model"),
    ],
)
def test_a_model_backend_without_its_model_fails_validation(vehicle: dict[str, str], message: str) -> None:
    """Caught by `sightline config validate`, not only when a worker builds its models."""
    with pytest.raises(ConfigError, match=message):
        load_settings(recognition={"vehicle": vehicle})

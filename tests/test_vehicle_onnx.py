"""User-supplied vehicle models: the YOLO-style detector and the re-id embedder.

These tests build TINY GENERATED ONNX GRAPHS with the real I/O signatures (onnx.helper), not real
detectors: the detector graph outputs a constant tensor encoding known candidate boxes (plus
0 × max(input), so the input is consumed), which checks decoding, both output layouts, letterbox
mapping, the vehicle-class filter, the score threshold and class-aware NMS exactly. The re-id graph
is a global average pool and a fixed matrix, so colour order, normalisation and batching are
checked against numpy.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

from recognition.onnx_reid import OnnxReidEmbedder
from recognition.settings import RuntimeSettings
from recognition.types import Box
from recognition.user_models import UserModelSpec
from recognition.yolo_detector import OnnxYoloDetector, letterbox, nms
from sightline.errors import ChecksumMismatch, ModelError

RUNTIME = RuntimeSettings()
CLASSES = ("person", "car", "truck")

# cx, cy, w, h (input pixels of a 64×64 input), person, car, truck
CANDIDATES = np.array(
    [
        [20, 30, 16, 8, 0.0, 0.9, 0.0],  # car: kept
        [21, 30, 16, 8, 0.0, 0.8, 0.0],  # same car, 1 px over: IoU 0.88, suppressed
        [20, 30, 16, 8, 0.0, 0.0, 0.7],  # truck on the same box: kept (class-aware NMS)
        [40, 20, 8, 8, 0.95, 0.4, 0.0],  # most likely a person: not a vehicle
        [40, 40, 8, 8, 0.0, 0.2, 0.0],  # car below the score threshold
        [50, 40, 8, 8, 0.0, 0.5, 0.0],  # second car: kept
    ],
    dtype=np.float32,
)
# A 128×64 frame letterboxed into 64×64: scale 0.5, 16 px of padding above and below.
EXPECTED = [
    ("car", 0.9, (24.0, 20.0, 56.0, 36.0)),
    ("truck", 0.7, (24.0, 20.0, 56.0, 36.0)),
    ("car", 0.5, (92.0, 40.0, 108.0, 56.0)),
]


def _save(model: onnx.ModelProto, path: Path) -> str:
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _detector_graph(
    path: Path, candidates: NDArray[np.float32], layout: str, input_name: str = "images"
) -> str:
    """Input [1,3,64,64]; output0 = constant candidates (+ 0 × max(input)) in the given layout."""
    table = candidates[None] if layout == "anchors_first" else candidates.T[None]
    nodes = [
        helper.make_node("ReduceMax", [input_name], ["mx"], keepdims=0),
        helper.make_node("Mul", ["mx", "zero"], ["nothing"]),
        helper.make_node("Add", ["table", "nothing"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_yolo",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(table.shape))],
        initializer=[
            numpy_helper.from_array(np.ascontiguousarray(table), "table"),
            numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"),
        ],
    )
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)


def _detector_spec(path: Path, sha: str, **kw: Any) -> UserModelSpec:
    fields: dict[str, Any] = {
        "key": "tiny_yolo",
        "kind": "vehicle_detector",
        "path": path,
        "sha256": sha,
        "input_size": (64, 64),
        "class_names": CLASSES,
        "vehicle_classes": ("car", "truck"),
        "score_threshold": 0.35,
        "nms_iou": 0.5,
    }
    fields.update(kw)
    return UserModelSpec(**fields)


def _as_tuples(dets: list[Any]) -> list[tuple[str, float, tuple[float, ...]]]:
    return [(d.label, round(d.score, 5), tuple(round(v, 3) for v in d.box.as_tuple())) for d in dets]


@pytest.mark.parametrize("layout", ["anchors_first", "channels_first"])
def test_detector_decodes_maps_thresholds_and_suppresses_exactly(tmp_path: Path, layout: str) -> None:
    path = tmp_path / "yolo.onnx"
    sha = _detector_graph(path, CANDIDATES, layout)
    det = OnnxYoloDetector.from_spec(_detector_spec(path, sha, output_layout=layout), RUNTIME)
    frame = np.zeros((64, 128, 3), dtype=np.uint8)
    assert _as_tuples(det.detect(frame)) == EXPECTED


def test_detector_objectness_multiplies_class_scores(tmp_path: Path) -> None:
    # Insert an objectness column of 0.5: scores halve, and 0.5 × 0.5 = 0.25 falls below 0.35.
    table = np.insert(CANDIDATES, 4, 0.5, axis=1)
    path = tmp_path / "yolo5.onnx"
    sha = _detector_graph(path, table, "anchors_first")
    det = OnnxYoloDetector.from_spec(_detector_spec(path, sha, has_objectness=True), RUNTIME)
    got = _as_tuples(det.detect(np.zeros((64, 128, 3), dtype=np.uint8)))
    assert got == [("car", 0.45, EXPECTED[0][2]), ("truck", 0.35, EXPECTED[1][2])]


def test_letterbox_and_nms_helpers() -> None:
    canvas, lb = letterbox(np.full((50, 200, 3), 7, dtype=np.uint8), 64, 64)
    assert canvas.shape == (64, 64, 3) and (lb.scale, lb.pad_x, lb.pad_y) == (0.32, 0.0, 24.0)
    assert canvas[0, 0, 0] == 114 and canvas[32, 32, 0] == 7
    back = lb.to_frame(np.array([[0, 24, 64, 40]], dtype=np.float32))
    np.testing.assert_allclose(back, [[0, 0, 200, 50]])
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30]], dtype=np.float32)
    assert nms(boxes, np.array([0.5, 0.9, 0.1], dtype=np.float32), 0.5) == [1, 2]
    assert nms(boxes, np.array([0.5, 0.9, 0.1], dtype=np.float32), 0.9) == [1, 0, 2]


@pytest.mark.parametrize(
    ("graph_kw", "spec_kw", "message"),
    [
        ({"input_name": "x"}, {}, "one input named 'images'"),
        ({}, {"input_size": (32, 32)}, "input images [1, 3, 32, 32]"),
        ({}, {"class_names": ("car", "truck"), "vehicle_classes": ("car",)}, "4+nc = 6"),
        ({}, {"output_name": "boxes"}, "an output named 'boxes'"),
    ],
)
def test_detector_wrong_signature_is_a_model_error(
    tmp_path: Path, graph_kw: dict[str, Any], spec_kw: dict[str, Any], message: str
) -> None:
    path = tmp_path / "yolo.onnx"
    sha = _detector_graph(path, CANDIDATES, "anchors_first", **graph_kw)
    with pytest.raises(
        ModelError, match="expected .*" + message.replace("[", r"\[").replace("+", r"\+")
    ) as err:
        OnnxYoloDetector.from_spec(_detector_spec(path, sha, **spec_kw), RUNTIME)
    assert "actual inputs:" in str(err.value)


def test_detector_checksum_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "yolo.onnx"
    _detector_graph(path, CANDIDATES, "anchors_first")
    with pytest.raises(ChecksumMismatch, match="manifest says 0000"):
        OnnxYoloDetector.from_spec(_detector_spec(path, "0" * 64), RUNTIME)
    with pytest.raises(ModelError, match="file not found"):
        OnnxYoloDetector.from_spec(_detector_spec(tmp_path / "nope.onnx", "0" * 64), RUNTIME)


def test_spec_validation_needs_consistent_classes() -> None:
    with pytest.raises(ValueError, match="not in class_names"):
        _detector_spec(Path("m.onnx"), "a" * 64, vehicle_classes=("bus",))
    with pytest.raises(ValueError, match="64 hex"):
        _detector_spec(Path("m.onnx"), "xyz")


REID_W = np.array([[1.0, 0.0, 2.0, -1.0], [0.0, 1.0, 1.0, 0.0], [0.5, 0.0, -1.0, 3.0]], dtype=np.float32)
MEAN, STD = (0.4, 0.5, 0.6), (0.2, 0.25, 0.5)


def _reid_graph(path: Path, batch: int | None, out_rank2: bool = True) -> str:
    """Input [N,3,16,8]; output0 = Flatten(GlobalAveragePool(input)) @ REID_W, [N, 4]."""
    n: int | str = "N" if batch is None else batch
    nodes = [
        helper.make_node("GlobalAveragePool", ["images"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "w"], ["output0" if out_rank2 else "emb"]),
    ]
    out_shape: list[int | str] = [n, 4]
    if not out_rank2:
        nodes.append(helper.make_node("Unsqueeze", ["emb", "axes"], ["output0"]))
        out_shape = [n, 1, 4]
    graph = helper.make_graph(
        nodes,
        "tiny_reid",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [n, 3, 16, 8])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, out_shape)],
        initializer=[numpy_helper.from_array(REID_W, "w"), numpy_helper.from_array(np.array([1]), "axes")],
    )
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)


def _reid_spec(path: Path, sha: str, **kw: Any) -> UserModelSpec:
    fields: dict[str, Any] = {
        "key": "tiny_reid",
        "kind": "vehicle_reid",
        "path": path,
        "sha256": sha,
        "input_size": (16, 8),
        "mean": MEAN,
        "std": STD,
        "batch_size": 2,
    }
    fields.update(kw)
    return UserModelSpec(**fields)


COLOURS_BGR = [(10, 200, 30), (250, 0, 0), (0, 0, 250), (90, 90, 90), (30, 160, 220)]


def _patches_frame() -> tuple[NDArray[np.uint8], list[Box]]:
    frame = np.zeros((40, 200, 3), dtype=np.uint8)
    boxes = []
    for i, bgr in enumerate(COLOURS_BGR):
        frame[5:35, i * 40 + 5 : i * 40 + 35] = bgr
        boxes.append(Box(i * 40 + 5, 5, i * 40 + 35, 35))
    return frame, boxes


def _expected(order: str) -> NDArray[np.float32]:
    px = np.array(COLOURS_BGR, dtype=np.float32)
    if order == "RGB":
        px = px[:, ::-1]
    raw = ((px / 255 - np.array(MEAN)) / np.array(STD)) @ REID_W
    return np.asarray(raw / np.linalg.norm(raw, axis=1, keepdims=True), dtype=np.float32)


@pytest.mark.parametrize(("batch", "order"), [(None, "RGB"), (None, "BGR"), (2, "RGB"), (1, "BGR")])
def test_reid_normalises_orders_colours_and_batches(tmp_path: Path, batch: int | None, order: str) -> None:
    path = tmp_path / "reid.onnx"
    sha = _reid_graph(path, batch)
    emb = OnnxReidEmbedder.from_spec(_reid_spec(path, sha, color_order=order, embedding_dim=4), RUNTIME)
    assert emb.dim == 4
    frame, boxes = _patches_frame()
    got = emb.embed(frame, boxes)
    np.testing.assert_allclose(got.vectors, _expected(order), atol=1e-5)
    assert len(emb.embed(frame, [])) == 0


def test_reid_wrong_signature_is_a_model_error(tmp_path: Path) -> None:
    path = tmp_path / "reid.onnx"
    sha = _reid_graph(path, None, out_rank2=False)
    with pytest.raises(ModelError, match=r"expected output output0 \[N, N\]"):
        OnnxReidEmbedder.from_spec(_reid_spec(path, sha), RUNTIME)
    sha = _reid_graph(path, None)
    with pytest.raises(ModelError, match=r"expected input images \[N, 3, 32, 8\]"):
        OnnxReidEmbedder.from_spec(_reid_spec(path, sha, input_size=(32, 8)), RUNTIME)
    with pytest.raises(ModelError, match="output0 \\[N, 128\\]"):
        OnnxReidEmbedder.from_spec(_reid_spec(path, sha, embedding_dim=128), RUNTIME)
    with pytest.raises(ModelError, match="not a vehicle_reid"):
        OnnxReidEmbedder.from_spec(
            _reid_spec(path, sha, kind="vehicle_detector", class_names=("car",), vehicle_classes=("car",)),
            RUNTIME,
        )

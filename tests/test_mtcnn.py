"""MTCNN detector on real portraits and faceless images, with the real prepared models."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import matplotlib.cbook
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper
from skimage import data

from recognition import mtcnn
from recognition.area_resample import AreaResampler, PerCallResampler
from recognition.base import FaceDetector, Image
from recognition.mtcnn import MtcnnDetector, nms
from recognition.runtime import check_session
from recognition.types import FaceDetection
from sightline.errors import InputError, ModelError
from sightline.evaluation.bench_faces import bench_frame
from sightline.settings import Settings


def _skimage(name: str) -> Image:
    loader: Callable[[], Any] = getattr(data, name)
    img = np.asarray(loader())
    if img.ndim == 2:
        return np.asarray(cv2.cvtColor(img, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
    return np.asarray(cv2.cvtColor(img, cv2.COLOR_RGB2BGR), dtype=np.uint8)


def grace_hopper() -> Image:
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as fh:
        raw = np.frombuffer(fh.read(), np.uint8)
    return np.asarray(cv2.imdecode(raw, cv2.IMREAD_COLOR), dtype=np.uint8)


@pytest.fixture(scope="module")
def detector(base_settings: Settings) -> MtcnnDetector:
    return MtcnnDetector.from_settings(base_settings)


def _check_face(face: FaceDetection) -> None:
    pts = face.landmarks
    assert pts.shape == (5, 2) and pts.dtype == np.float32
    b = face.box
    assert np.all((pts[:, 0] > b.x1) & (pts[:, 0] < b.x2) & (pts[:, 1] > b.y1) & (pts[:, 1] < b.y2))
    left_eye, right_eye, nose, mouth_l, mouth_r = pts
    assert left_eye[0] < nose[0] < right_eye[0]
    assert mouth_l[0] < mouth_r[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_l[1], mouth_r[1])


def test_implements_protocol(detector: MtcnnDetector) -> None:
    assert isinstance(detector, FaceDetector)


def test_astronaut_one_face(detector: MtcnnDetector) -> None:
    faces = detector.detect(_skimage("astronaut"))
    assert len(faces) == 1
    assert faces[0].score > 0.99
    # Her face spans roughly x 180-270, y 60-175 in the 512x512 image.
    cx, cy = faces[0].box.center
    assert 200 < cx < 250 and 90 < cy < 150
    _check_face(faces[0])


def test_grace_hopper_one_face(detector: MtcnnDetector) -> None:
    faces = detector.detect(grace_hopper())
    assert len(faces) == 1
    assert faces[0].score > 0.99
    _check_face(faces[0])


def test_generated_frame_one_centred_face(detector: MtcnnDetector) -> None:
    frame = bench_frame()
    faces = detector.detect(frame)
    assert len(faces) == 1
    cx, cy = faces[0].box.center
    assert abs(cx - 320) < 40 and abs(cy - 240) < 60


def test_face_at_frame_edge_found(detector: MtcnnDetector) -> None:
    """Crops overlapping the border take the zero-padding path."""
    edge = np.ascontiguousarray(_skimage("astronaut")[:, 165:])
    faces = detector.detect(edge)
    assert len(faces) == 1
    assert faces[0].box.x1 >= 0


@pytest.mark.parametrize(
    "image",
    [
        pytest.param(_skimage("coffee"), id="coffee"),
        pytest.param(_skimage("rocket"), id="rocket"),
        pytest.param(
            np.repeat(np.linspace(0, 255, 640, dtype=np.uint8)[None, :, None], 480, 0).repeat(3, 2),
            id="gradient",
        ),
        pytest.param(np.zeros((480, 640, 3), np.uint8), id="black"),
        pytest.param(np.zeros((8, 8, 3), np.uint8), id="too-small"),
    ],
)
def test_no_face(detector: MtcnnDetector, image: Image) -> None:
    assert detector.detect(np.ascontiguousarray(image)) == []


def test_detect_batch_matches_detect(detector: MtcnnDetector) -> None:
    images = [_skimage("astronaut"), _skimage("coffee"), grace_hopper()]
    batch = detector.detect_batch(images)
    assert [len(b) for b in batch] == [1, 0, 1]
    assert batch[0][0].box == detector.detect(images[0])[0].box


@pytest.mark.parametrize(
    "image",
    [np.zeros((64, 64), np.uint8), np.zeros((64, 64, 3), np.float32), np.zeros((64, 64, 4), np.uint8)],
    ids=["grey", "float", "bgra"],
)
def test_rejects_non_bgr_input(detector: MtcnnDetector, image: Any) -> None:
    with pytest.raises(InputError):
        detector.detect(image)


def test_nms_union_and_min() -> None:
    boxes = np.array([[0, 0, 99, 99], [5, 5, 104, 104], [200, 200, 260, 260], [20, 20, 59, 59]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.95], np.float32)
    # Union: the nested small box overlaps the big one by IoU 0.16, so it survives.
    assert sorted(nms(boxes, scores, 0.5).tolist()) == [0, 2, 3]
    # Min: the nested box is entirely inside box 0 and suppresses it.
    assert sorted(nms(boxes, scores, 0.5, mode="min").tolist()) == [2, 3]
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.5).size == 0


def _tiny_graph(
    tmp_path: Path, in_name: str, in_shape: list[Any], outs: list[tuple[str, list[Any]]]
) -> ort.InferenceSession:
    """A tiny generated ONNX graph (not a model): each output is the input's channel mean times a
    zero matrix, so inputs and outputs carry exactly the chosen names and shapes ([N, d] outputs).
    """
    nodes = [helper.make_node("ReduceMean", [in_name], ["pooled"], axes=[1, 2], keepdims=0)]
    outputs, weights = [], []
    for name, shape in outs:
        w = helper.make_tensor(
            f"w_{name}", TensorProto.FLOAT, [in_shape[-1], shape[-1]], [0.0] * (in_shape[-1] * shape[-1])
        )
        weights.append(w)
        nodes.append(helper.make_node("MatMul", ["pooled", f"w_{name}"], [name]))
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info(in_name, TensorProto.FLOAT, in_shape)],
        outputs,
        initializer=weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    path = tmp_path / "tiny.onnx"
    onnx.save(model, str(path))
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize(
    ("in_name", "in_shape", "outs"),
    [
        pytest.param(
            "x", ["N", 24, 24, 3], [("dense_2", ["N", 4]), ("softmax_1", ["N", 2])], id="input-name"
        ),
        pytest.param(
            "input_2", ["N", 32, 32, 3], [("dense_2", ["N", 4]), ("softmax_1", ["N", 2])], id="input-size"
        ),
        pytest.param("input_2", ["N", 24, 24, 3], [("dense_2", ["N", 4])], id="missing-output"),
        pytest.param(
            "input_2", ["N", 24, 24, 3], [("prob", ["N", 2]), ("dense_2", ["N", 4])], id="output-names"
        ),
    ],
)
def test_signature_check_rejects_tiny_graph(
    detector: MtcnnDetector,
    tmp_path: Path,
    in_name: str,
    in_shape: list[Any],
    outs: list[tuple[str, list[Any]]],
) -> None:
    """A tiny generated ONNX graph with a wrong R-Net signature is refused at load with ModelError."""
    wrong = _tiny_graph(tmp_path, in_name, in_shape, outs)
    with pytest.raises(ModelError, match="R-Net"):
        MtcnnDetector(detector._pnet, wrong, detector._onet)


def test_signature_check_accepts_tiny_graph_with_right_signature(tmp_path: Path) -> None:
    """The same tiny generated graph with R-Net's real signature passes the check."""
    right = _tiny_graph(
        tmp_path, "input_2", ["N", 24, 24, 3], [("dense_2", ["N", 4]), ("softmax_1", ["N", 2])]
    )
    check_session(right, "R-Net", *MtcnnDetector.RNET)


def _cascade(detector: MtcnnDetector, frame: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    boxes = detector._stage_p(frame)
    boxes = detector._stage_r(frame, boxes) if len(boxes) else boxes
    if not len(boxes):
        return boxes, np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32)
    return detector._stage_o(frame, boxes)


@pytest.mark.parametrize("which", ["astronaut", "grace_hopper", "bench_frame", "coffee"])
def test_summed_area_cascade_matches_the_published_resampling(detector: MtcnnDetector, which: str) -> None:
    """Every stage, fed by AreaResampler or by per-call cv2.INTER_AREA, ends with the same faces."""
    image = {"grace_hopper": grace_hopper, "bench_frame": bench_frame}.get(which, lambda: _skimage(which))()
    image_t = np.asarray(cv2.transpose(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)))
    ours = _cascade(detector, AreaResampler(image_t))
    published = _cascade(detector, PerCallResampler(image_t))
    assert len(ours[0]) == len(published[0])
    per_call = detector.with_resampler(PerCallResampler)
    assert [f.box for f in per_call.detect(image)] == [
        mtcnn.Box(*b).clipped(image.shape[1], image.shape[0]) for b in published[0].tolist()
    ]
    np.testing.assert_allclose(ours[0], published[0], atol=1.0)  # boxes, pixels
    np.testing.assert_allclose(ours[1], published[1], atol=1e-3)  # scores
    np.testing.assert_allclose(ours[2], published[2], atol=1.0)  # landmarks, pixels


def test_nms_matrix_and_row_paths_keep_the_same_boxes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Up to _NMS_MATRIX_MAX boxes all overlaps are computed at once; beyond, row by row."""
    rng = np.random.default_rng(7)
    corner = rng.uniform(0, 500, (400, 2))
    boxes = np.fix(np.hstack([corner, corner + rng.uniform(12, 120, (400, 2))])).astype(np.float32)
    scores = rng.choice([0.6, 0.8, 0.95, 1.0], 400).astype(np.float32)  # ties, as saturated P-Net gives
    cases = [(t, mode) for t in (0.3, 0.5, 0.7) for mode in ("union", "min")]
    matrix = [nms(boxes, scores, t, mode) for t, mode in cases]
    monkeypatch.setattr(mtcnn, "_NMS_MATRIX_MAX", 0)
    rows = [nms(boxes, scores, t, mode) for t, mode in cases]
    for (t, mode), a, b in zip(cases, matrix, rows, strict=True):
        assert a.tolist() == b.tolist(), (t, mode)
        assert 0 < len(a) < len(boxes)

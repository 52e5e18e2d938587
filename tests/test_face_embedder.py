"""Face crops (margin and 5-point alignment) and the FaceNet embedder with the real prepared model."""

from __future__ import annotations

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

from recognition.base import FaceEmbedder, Image
from recognition.face_crop import ARCFACE_TEMPLATE_112, align_5point, margin_crop
from recognition.facenet import FaceNetEmbedder
from recognition.mtcnn import MtcnnDetector
from recognition.types import Box, FaceDetection
from sightline.errors import InputError, ModelError
from sightline.settings import Settings


def _astronaut() -> Image:
    return np.asarray(cv2.cvtColor(np.asarray(data.astronaut()), cv2.COLOR_RGB2BGR), dtype=np.uint8)


def _grace_hopper() -> Image:
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as fh:
        raw = np.frombuffer(fh.read(), np.uint8)
    return np.asarray(cv2.imdecode(raw, cv2.IMREAD_COLOR), dtype=np.uint8)


def _coordinate_image(width: int = 250, height: int = 200) -> Image:
    """Channel 0 holds x, channel 1 holds y: a crop's edges read off its corner pixels."""
    img = np.zeros((height, width, 3), np.uint8)
    img[:, :, 0] = np.arange(width, dtype=np.uint8)[None, :]
    img[:, :, 1] = np.arange(height, dtype=np.uint8)[:, None]
    return img


# --- margin crop -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("box", "margin", "x_range", "y_range"),
    [
        ((100, 50, 180, 150), 32, (84, 195), (34, 165)),  # box + 16 px per side
        ((100, 50, 180, 150), 0, (100, 179), (50, 149)),
        ((5, 10, 60, 70), 32, (0, 75), (0, 85)),  # clipped at the top-left corner
        ((200, 150, 250, 200), 32, (184, 249), (134, 199)),  # clipped at the bottom-right corner
    ],
)
def test_margin_crop_geometry(
    box: tuple[float, float, float, float], margin: int, x_range: tuple[int, int], y_range: tuple[int, int]
) -> None:
    img = _coordinate_image()
    crop = margin_crop(img, Box(*box), margin=margin, size=64)
    assert crop.shape == (64, 64, 3)
    # Corner pixels carry the source coordinates (within resampling blur of a pixel or two).
    assert abs(int(crop[0, 0, 0]) - x_range[0]) <= 2 and abs(int(crop[0, -1, 0]) - x_range[1]) <= 2
    assert abs(int(crop[0, 0, 1]) - y_range[0]) <= 2 and abs(int(crop[-1, 0, 1]) - y_range[1]) <= 2


def test_margin_crop_outside_image() -> None:
    with pytest.raises(InputError):
        margin_crop(_coordinate_image(), Box(400, 400, 450, 450), margin=32)


# --- 5-point alignment ---------------------------------------------------------------------------

_COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255)]


def test_align_5point_lands_on_template() -> None:
    """Landmarks moved by a known similarity (scale 2.3, 25 degrees, shift) come back to the template."""
    angle = np.radians(25)
    rot = 2.3 * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    landmarks = (ARCFACE_TEMPLATE_112 @ rot.T + np.array([180, 90])).astype(np.float32)
    img = np.zeros((480, 480, 3), np.uint8)
    for (x, y), colour in zip(landmarks, _COLOURS, strict=True):
        cv2.circle(img, (round(x), round(y)), 5, colour, -1)
    aligned = align_5point(img, landmarks, size=112)
    assert aligned.shape == (112, 112, 3)
    for target, colour in zip(ARCFACE_TEMPLATE_112, _COLOURS, strict=True):
        mask = np.all(aligned == colour, axis=2)
        assert mask.sum() > 5
        ys, xs = np.nonzero(mask)
        assert np.hypot(xs.mean() - target[0], ys.mean() - target[1]) < 1.5


def test_align_5point_scales_template() -> None:
    aligned = align_5point(_astronaut(), ARCFACE_TEMPLATE_112 * 2, size=224)
    assert aligned.shape == (224, 224, 3)
    with pytest.raises(ValueError, match=r"\[5, 2\]"):
        align_5point(_astronaut(), ARCFACE_TEMPLATE_112[:4])


# --- FaceNet ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def detector(base_settings: Settings) -> MtcnnDetector:
    return MtcnnDetector.from_settings(base_settings)


@pytest.fixture(scope="module")
def embedder(base_settings: Settings) -> FaceNetEmbedder:
    return FaceNetEmbedder.from_settings(base_settings)


def _embed_one(detector: MtcnnDetector, embedder: FaceNetEmbedder, image: Image) -> np.ndarray[Any, Any]:
    faces = detector.detect(image)
    assert len(faces) == 1
    emb = embedder.embed(image, faces)
    assert emb.vectors.shape == (1, 512)
    return emb.vectors[0]


def test_implements_protocol(embedder: FaceNetEmbedder) -> None:
    assert isinstance(embedder, FaceEmbedder)
    assert embedder.dim == 512


def test_same_person_above_different_person(detector: MtcnnDetector, embedder: FaceNetEmbedder) -> None:
    ast = _astronaut()
    ref = _embed_one(detector, embedder, ast)
    variants = {
        "flipped": np.ascontiguousarray(cv2.flip(ast, 1)),
        "rescaled": cv2.resize(ast, (300, 300), interpolation=cv2.INTER_AREA),
        "brighter": cv2.convertScaleAbs(ast, alpha=1.1, beta=35),
    }
    same = {k: float(ref @ _embed_one(detector, embedder, v)) for k, v in variants.items()}
    other = float(ref @ _embed_one(detector, embedder, _grace_hopper()))
    # LFW: the best-accuracy threshold is ~0.37 (models/README.md); these sit far on either side of it.
    assert min(same.values()) > 0.8, same
    assert other < 0.4
    assert min(same.values()) - other > 0.4


def test_batching_does_not_change_embeddings(base_settings: Settings, detector: MtcnnDetector) -> None:
    small_batches = FaceNetEmbedder.from_settings(base_settings)
    small_batches.batch_size = 2
    ast, gh = _astronaut(), _grace_hopper()
    fa, fg = detector.detect(ast)[0], detector.detect(gh)[0]
    many = small_batches.embed_many([(ast, fa), (gh, fg), (ast, fa)])
    assert many.vectors.shape == (3, 512)
    np.testing.assert_allclose(many.vectors[0], many.vectors[2], atol=1e-5)
    single = small_batches.embed(gh, [fg])
    np.testing.assert_allclose(many.vectors[1], single.vectors[0], atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(many.vectors, axis=1), 1.0, atol=1e-5)


def test_no_faces_gives_empty_embeddings(embedder: FaceNetEmbedder) -> None:
    assert embedder.embed(_astronaut(), []).vectors.shape == (0, 512)


def test_face_at_corner_still_embeds(embedder: FaceNetEmbedder) -> None:
    face = FaceDetection(Box(0, 0, 30, 40), 0.95, np.zeros((5, 2), np.float32))
    assert len(embedder.embed(_astronaut(), [face])) == 1


def _tiny_embedder_graph(
    tmp_path: Path, in_name: str, size: int, out_name: str, dim: int
) -> ort.InferenceSession:
    """A tiny generated ONNX graph (not a model): channel mean times a zero matrix.

    Maps [N, size, size, 3] to [N, dim]; only its signature matters.
    """
    w = helper.make_tensor("w", TensorProto.FLOAT, [3, dim], [0.0] * (3 * dim))
    nodes = [
        helper.make_node("ReduceMean", [in_name], ["pooled"], axes=[1, 2], keepdims=0),
        helper.make_node("MatMul", ["pooled", "w"], [out_name]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info(in_name, TensorProto.FLOAT, ["N", size, size, 3])],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, ["N", dim])],
        initializer=[w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / "tiny.onnx"
    onnx.save(model, str(path))
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize(
    ("in_name", "size", "out_name", "dim"),
    [
        pytest.param("data", 160, "embeddings", 512, id="input-name"),
        pytest.param("input", 112, "embeddings", 512, id="arcface-size"),
        pytest.param("input", 160, "embeddings", 128, id="dim-128"),
        pytest.param("input", 160, "fc1", 512, id="output-name"),
    ],
)
def test_signature_check_rejects_tiny_graph(
    tmp_path: Path, in_name: str, size: int, out_name: str, dim: int
) -> None:
    """Tiny generated ONNX graphs with a wrong signature are refused at load with ModelError."""
    with pytest.raises(ModelError, match="FaceNet"):
        FaceNetEmbedder(_tiny_embedder_graph(tmp_path, in_name, size, out_name, dim))


def test_signature_check_accepts_tiny_graph_with_right_signature(tmp_path: Path) -> None:
    """The same tiny generated graph with FaceNet's signature loads (and its warm-up runs)."""
    FaceNetEmbedder(_tiny_embedder_graph(tmp_path, "input", 160, "embeddings", 512))


# -- manifest-declared embedders: crop method, layout and colour come from the entry -----------------


def _channel_mean_graph(input_name: str, output_name: str, size: int) -> ort.InferenceSession:
    """A tiny generated ONNX graph with an ArcFace-like signature (NCHW [N, 3, size, size] → [N, 3]):
    its output is the mean of each input channel, so the test can see which colour order and which
    normalisation reached the model. Not a face model: it tests the loading and preprocessing code."""
    x = helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", 3, size, size])
    y = helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["N", 3])
    nodes = [
        helper.make_node("GlobalAveragePool", [input_name], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], [output_name], axis=1),
    ]
    graph = helper.make_graph(nodes, "channel_mean", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _entry(method: str, colour: str = "BGR") -> Any:
    from models.manifest import FaceCropSpec, InputSpec, ManifestEntry, TensorSpec

    return ManifestEntry(
        key="arcface_test",
        kind="onnx",
        package="example-package",
        package_version="1.0",
        distribution="example_package-1.0-py3-none-any.whl",
        distribution_sha256="0" * 64,
        member="m.onnx",
        target="test/m.onnx",
        sha256="0" * 64,
        conversion="none",
        licence="test",
        input=InputSpec(
            name="data", shape=("N", 3, 112, 112), layout="NCHW", colour=colour, mean=0.0, scale=1 / 255
        ),
        outputs=(TensorSpec(name="fc1", shape=("N", 3), meaning="test"),),
        face_crop=FaceCropSpec(method=method, size=112),
    )


def test_align5_entry_aligns_landmarks_onto_the_template() -> None:
    from recognition.facenet import OnnxFaceEmbedder

    embedder = OnnxFaceEmbedder.from_entry(_channel_mean_graph("data", "fc1", 112), _entry("align5"))
    image = np.full((240, 320, 3), 30, np.uint8)
    # Landmarks of a face rotated by ~15 degrees and twice the template's scale, offset in the frame.
    angle = np.deg2rad(15.0)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], np.float32)
    landmarks = (ARCFACE_TEMPLATE_112 - 56.0) @ rot.T * 2.0 + np.array([160.0, 120.0], np.float32)
    for x, y in landmarks:
        cv2.circle(image, (round(float(x)), round(float(y))), 3, (255, 255, 255), -1)
    face = FaceDetection(Box(60, 20, 260, 220), 0.99, landmarks.astype(np.float32))
    crop = embedder.crop(image, face)
    assert crop.shape == (112, 112, 3)
    for tx, ty in ARCFACE_TEMPLATE_112:
        assert crop[round(float(ty)), round(float(tx))].min() > 200, "landmark dots land on the template"


def test_entry_colour_order_and_normalisation_reach_the_model() -> None:
    from recognition.facenet import OnnxFaceEmbedder

    session = _channel_mean_graph("data", "fc1", 112)
    image = np.zeros((200, 200, 3), np.uint8)
    image[:] = (200, 50, 10)  # BGR
    face = FaceDetection(Box(40, 40, 160, 160), 0.99, np.zeros((5, 2), np.float32))
    bgr = OnnxFaceEmbedder.from_entry(session, _entry("margin", "BGR")).embed(image, [face]).vectors[0]
    rgb = OnnxFaceEmbedder.from_entry(session, _entry("margin", "RGB")).embed(image, [face]).vectors[0]
    expected = np.array([200, 50, 10], np.float32) / np.linalg.norm([200, 50, 10])
    np.testing.assert_allclose(bgr, expected, atol=1e-3)
    np.testing.assert_allclose(rgb, expected[::-1], atol=1e-3)


def test_entry_without_a_face_crop_is_refused() -> None:
    from recognition.facenet import OnnxFaceEmbedder

    entry = _entry("margin").model_copy(update={"face_crop": None})
    with pytest.raises(ModelError, match="face_crop"):
        OnnxFaceEmbedder.from_entry(_channel_mean_graph("data", "fc1", 112), entry)


def test_facenet_crop_comes_from_the_manifest(base_settings: Settings) -> None:
    from models.manifest import default_manifest

    spec = default_manifest().entry("facenet_casia").face_crop
    assert spec is not None and (spec.method, spec.size, spec.margin_px) == ("margin", 160, 32)
    assert FaceNetEmbedder.from_settings(base_settings).crop_spec == spec

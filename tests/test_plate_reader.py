"""The PP-OCRv4 plate reader: real model on plates rendered here, CTC decoding, the load-time checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from PIL import Image, ImageDraw, ImageFont

from models.paths import model_path
from recognition.base import PlateReader
from recognition.ppocr_rec import PpocrPlateReader, ctc_decode, preprocess_lines
from recognition.runtime import make_session
from sightline.errors import InputError, ModelError
from sightline.evaluation.plates import evaluate_plate_crops
from sightline.settings import Settings

BLUE = ((0, 60, 170), (255, 255, 255))  # RGB background, ink
YELLOW = ((240, 190, 20), (0, 0, 0))


def render_plate(text: str, font_path: Path, colours: tuple[tuple[int, int, int], ...] = BLUE) -> np.ndarray:
    """A plate drawn with PIL in the GA 36 layout (mm at 1 px): 440×140 for seven characters,
    480×140 for eight (new-energy: black on a pale-to-green gradient). Returns BGR uint8."""
    eight = len(text) == 8
    width, height = (480, 140) if eight else (440, 140)
    if eight:
        top, bottom = np.array([235, 250, 235.0]), np.array([60, 190, 100.0])
        ramp = np.linspace(0, 1, height)[:, None, None]
        rgb = (top * (1 - ramp) + bottom * ramp).repeat(width, axis=1).astype(np.uint8)
        plate = Image.fromarray(rgb)
        ink: tuple[int, int, int] = (0, 0, 0)
    else:
        plate = Image.new("RGB", (width, height), colours[0])
        ink = colours[1]
    draw = ImageDraw.Draw(plate)
    draw.rounded_rectangle((4, 4, width - 5, height - 5), radius=10, outline=ink, width=3)
    cell_w, gap, dot_gap = (43, 9, 49) if eight else (45, 12, 34)
    font = ImageFont.truetype(str(font_path), 200)
    x = 15.5
    for i, char in enumerate(text):
        glyph = Image.new("L", (260, 260), 0)
        ImageDraw.Draw(glyph).text((30, 0), char, font=font, fill=255)
        bbox = glyph.getbbox()
        assert bbox is not None
        glyph = glyph.crop(bbox).resize((cell_w, 90))
        plate.paste(Image.new("RGB", glyph.size, ink), (round(x), 25), glyph)
        if i == 1:
            draw.ellipse((x + cell_w + dot_gap / 2 - 5, 65, x + cell_w + dot_gap / 2 + 5, 75), fill=ink)
            x += cell_w + dot_gap
        else:
            x += cell_w + gap
    return np.ascontiguousarray(np.asarray(plate)[:, :, ::-1])


@pytest.fixture(scope="module")
def reader(base_settings: Settings) -> PpocrPlateReader:
    return PpocrPlateReader.from_settings(base_settings)


@pytest.fixture(scope="module")
def font_path(base_settings: Settings) -> Path:
    return model_path(base_settings.models, "cjk_font")


def test_reader_implements_protocol(reader: PpocrPlateReader) -> None:
    assert isinstance(reader, PlateReader)
    assert reader.charset[0] == "" and reader.charset[-1] == " "
    assert len(reader.charset) == 6625


@pytest.mark.parametrize(
    ("text", "colours", "scale"),
    [
        ("京A12345", BLUE, 1.0),
        ("渝B8C6D7", BLUE, 0.4),
        ("川AF3M09", YELLOW, 0.5),
        ("皖AD11166", BLUE, 0.5),  # eight characters: rendered as a green new-energy plate
        ("粤BF02468", BLUE, 1.0),
    ],
)
def test_reads_rendered_plates(
    reader: PpocrPlateReader,
    font_path: Path,
    text: str,
    colours: tuple[tuple[int, int, int], ...],
    scale: float,
) -> None:
    import cv2

    plate = render_plate(text, font_path, colours)
    plate = cv2.resize(plate, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    (read,) = reader.read([plate])
    assert read.text == text
    assert read.valid
    assert read.confidence > 0.5
    assert read.candidates[0] == text
    assert len(read.alternatives) == len(text)


def test_batch_keeps_order(reader: PpocrPlateReader, font_path: Path) -> None:
    texts = ["京A12345", "皖AD11166", "沪C21F13"]
    reads = reader.read([render_plate(t, font_path) for t in texts])
    assert [r.text for r in reads] == texts


def test_ctc_decode_hand_made() -> None:
    """Blank / repeat collapsing, peak-frame alternatives renormalised without the blank."""
    charset = ["", "A", "B", "8", " "]
    p = np.array(
        [
            [0.9, 0.05, 0.02, 0.02, 0.01],  # blank
            [0.1, 0.2, 0.5, 0.2, 0.0],  # B (peak of its run: 0.6 below)
            [0.0, 0.1, 0.6, 0.3, 0.0],  # B repeated: collapsed
            [0.8, 0.1, 0.05, 0.05, 0.0],  # blank separates
            [0.0, 0.1, 0.7, 0.2, 0.0],  # B again: a second character
            [0.0, 0.9, 0.0, 0.1, 0.0],  # A
        ],
        dtype=np.float32,
    )
    text, alts = ctc_decode(p, charset, top_k=2)
    assert text == "BBA"
    assert alts[0] == [("B", pytest.approx(0.6)), ("8", pytest.approx(0.3))]
    assert alts[1][0] == ("B", pytest.approx(0.7))
    assert alts[2][0] == ("A", pytest.approx(0.9))
    with pytest.raises(ValueError):
        ctc_decode(p[:, :4], charset)


def test_preprocess_pads_to_min_width() -> None:
    crops = [np.full((24, 94, 3), 255, np.uint8), np.zeros((30, 300, 3), np.uint8)]
    batch = preprocess_lines(crops)
    assert batch.shape == (2, 3, 48, 480)
    assert batch[0, :, :, :188].min() == pytest.approx(1.0)
    assert np.all(batch[0, :, :, 188:] == 0)
    with pytest.raises(InputError):
        preprocess_lines([np.zeros((24, 94), np.uint8)])


def _tiny_rec_graph(path: Path, height: int, classes: int, character: str | None) -> Path:
    """A tiny generated ONNX graph (not a model) with a rec-like signature: x [N,3,H,W] → [N,W,C].
    It averages rows and repeats channels; only its I/O signature and metadata matter here."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, height, "W"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", "W", classes])
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["m"], axes=[2], keepdims=0),
        helper.make_node("Transpose", ["m"], ["t"], perm=[0, 2, 1]),
        helper.make_node("Tile", ["t", "reps"], ["y"]),
    ]
    reps = helper.make_tensor("reps", TensorProto.INT64, [3], [1, 1, max(1, classes // 3)])
    graph = helper.make_graph(nodes, "tiny_rec", [x], [y], initializer=[reps])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    if character is not None:
        helper.set_model_props(model, {"character": character})
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize(
    ("height", "classes", "character", "message"),
    [
        (48, 3, "a\nb\nc", "output"),  # 3 classes for a dictionary of 3 (+ blank + space = 5)
        (48, 6, None, "dictionary"),
        (32, 6, "a\nb\nc\nd", "input"),
    ],
)
def test_signature_mismatch_is_model_error(
    tmp_path: Path, base_settings: Settings, height: int, classes: int, character: str | None, message: str
) -> None:
    """Uses a tiny generated ONNX graph with a wrong signature, not the real model."""
    path = _tiny_rec_graph(tmp_path / "tiny.onnx", height, classes, character)
    session = make_session(path, base_settings.recognition.runtime)
    with pytest.raises(ModelError, match=message):
        PpocrPlateReader(session)


def test_tiny_graph_with_right_signature_loads(tmp_path: Path, base_settings: Settings) -> None:
    """A tiny generated ONNX graph (6 classes = blank + 4 characters + space) passes the checks and
    decodes to something, so the mismatch cases above fail for the reason they name."""
    path = _tiny_rec_graph(tmp_path / "tiny.onnx", 48, 6, "a\nb\nc\nd")
    reader = PpocrPlateReader(make_session(path, base_settings.recognition.runtime))
    assert reader.charset == ("", "a", "b", "c", "d", " ")
    (read,) = reader.read([np.zeros((48, 144, 3), np.uint8)])
    assert not read.valid


@pytest.mark.data
def test_lprnet_crops_subset(base_settings: Settings, shared_data: Path) -> None:
    result = evaluate_plate_crops(base_settings, shared_data / "plates_lprnet", limit=50)
    assert result["n"] == 50
    assert result["exact"] >= 0.95
    assert result["char_accuracy"] >= 0.98

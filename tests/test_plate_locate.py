"""The plate locator: rendered plates in generated street-like frames, and the CCPD scenes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from test_plate_reader import YELLOW, render_plate

from models.paths import model_path
from recognition.base import PlateLocator as PlateLocatorProtocol
from recognition.plate_locate import PlateLocator, candidate_regions, rectify
from recognition.ppocr_det import db_boxes, order_corners, unclip_rect
from sightline.errors import InputError
from sightline.evaluation.plates import evaluate_plate_scenes
from sightline.settings import Settings


def street_frame(rng: np.random.Generator, width: int = 1280, height: int = 720) -> np.ndarray:
    """Sky, buildings with windows, a road with lane marks and a car body: clutter with edges."""
    frame = np.zeros((height, width, 3), np.uint8)
    frame[: height // 3] = (200, 170, 140)  # BGR sky
    frame[height // 3 :] = (90, 90, 95)  # road
    for x in range(0, width, 160):
        top = int(rng.integers(40, height // 3))
        colour = tuple(int(c) for c in rng.integers(60, 200, 3))
        cv2.rectangle(frame, (x, top), (x + 150, height // 2), colour, -1)
        for wy in range(top + 10, height // 2 - 20, 30):
            for wx in range(x + 10, x + 140, 35):
                cv2.rectangle(frame, (wx, wy), (wx + 20, wy + 18), (40, 40, 40), -1)
    for x in range(0, width, 120):
        cv2.rectangle(frame, (x, height - 60), (x + 60, height - 52), (230, 230, 230), -1)
    cv2.rectangle(frame, (380, 330), (900, 640), (30, 30, 160), -1)  # car body
    cv2.rectangle(frame, (430, 350), (850, 450), (70, 60, 50), -1)  # windscreen
    cv2.rectangle(frame, (380, 560), (900, 640), (60, 60, 60), -1)  # bumper
    noise = rng.normal(0, 4, frame.shape)
    return np.clip(frame + noise, 0, 255).astype(np.uint8)


def paste_plate(frame: np.ndarray, plate: np.ndarray, corners: np.ndarray) -> None:
    """Warp ``plate`` onto ``corners`` (clockwise from top-left) of ``frame``, in place."""
    h, w = plate.shape[:2]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    matrix = cv2.getPerspectiveTransform(src, corners.astype(np.float32))
    warped = cv2.warpPerspective(plate, matrix, (frame.shape[1], frame.shape[0]))
    mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), matrix, (frame.shape[1], frame.shape[0]))
    frame[mask > 0] = warped[mask > 0]


@pytest.fixture(scope="module")
def locator(base_settings: Settings) -> PlateLocator:
    return PlateLocator.from_settings(base_settings)


@pytest.fixture(scope="module")
def font_path(base_settings: Settings) -> Path:
    return model_path(base_settings.models, "cjk_font")


def test_locator_implements_protocol(locator: PlateLocator) -> None:
    assert isinstance(locator, PlateLocatorProtocol)


@pytest.mark.parametrize(
    ("text", "colours", "corners"),
    [
        ("渝B8C6D7", None, [[540, 575], [740, 570], [741, 633], [541, 638]]),
        ("皖AD11166", None, [[520, 480], [760, 490], [758, 556], [518, 546]]),
        ("川AF3M09", YELLOW, [[560, 580], [760, 580], [760, 642], [560, 642]]),
    ],
)
def test_finds_rendered_plate_in_street_frame(
    locator: PlateLocator,
    font_path: Path,
    text: str,
    colours: tuple[tuple[int, int, int], ...] | None,
    corners: list[list[int]],
) -> None:
    rng = np.random.default_rng(7)
    frame = street_frame(rng)
    plate = render_plate(text, font_path) if colours is None else render_plate(text, font_path, colours)
    truth = np.array(corners, np.float32)
    paste_plate(frame, plate, truth)
    found = locator.find(frame)
    assert [d.read.text for d in found] == [text]
    det = found[0]
    plate_height = float(np.linalg.norm(truth[3] - truth[0]))
    assert det.corners.shape == (4, 2)
    assert np.abs(det.corners - truth).max() < 0.3 * plate_height
    cx, cy = det.box.center
    assert truth[:, 0].min() < cx < truth[:, 0].max() and truth[:, 1].min() < cy < truth[:, 1].max()


def test_no_plate_in_plain_street(locator: PlateLocator) -> None:
    assert locator.find(street_frame(np.random.default_rng(3))) == []


def test_rejects_non_bgr(locator: PlateLocator) -> None:
    with pytest.raises(InputError):
        locator.find(np.zeros((100, 100), np.uint8))


def test_candidate_regions_cover_blue_plate(font_path: Path) -> None:
    frame = np.full((720, 1280, 3), 120, np.uint8)
    paste_plate(
        frame, render_plate("京A12345", font_path), np.array([[600, 400], [820, 400], [820, 470], [600, 470]])
    )
    regions = candidate_regions(frame, 6)
    assert regions
    best = regions[0].box
    assert 560 < best.center[0] < 860 and 390 < best.center[1] < 480


def test_unclip_grows_rectangle_by_db_distance() -> None:
    """d = area × ratio / perimeter: a 100×20 box with ratio 1.6 grows by 100·20·1.6/240 ≈ 13.3 a side."""
    corners = unclip_rect(((60.0, 40.0), (100.0, 20.0), 0.0), 1.6)
    d = 100 * 20 * 1.6 / 240
    assert np.allclose(
        corners, [[10 - d, 30 - d], [110 + d, 30 - d], [110 + d, 50 + d], [10 - d, 50 + d]], atol=1e-3
    )


def test_db_boxes_on_synthetic_map() -> None:
    prob = np.zeros((64, 160), np.float32)
    prob[24:40, 20:140] = 0.9  # one text line
    prob[5:7, 5:9] = 0.9  # too small to keep
    prob[50:60, 100:150] = 0.35  # above thresh but below box thresh
    boxes = db_boxes(prob)
    assert len(boxes) == 1
    tl, _, br, _ = boxes[0].corners
    assert tl[0] < 20 and tl[1] < 24 and br[0] > 139 and br[1] > 39
    assert boxes[0].score == pytest.approx(0.9, abs=1e-3)


def test_order_corners_and_rectify() -> None:
    shuffled = np.array([[90, 40], [10, 10], [10, 40], [90, 10]], np.float32)
    assert order_corners(shuffled).tolist() == [[10, 10], [90, 10], [90, 40], [10, 40]]
    image = np.zeros((60, 120, 3), np.uint8)
    image[10:40, 10:90] = 255
    line = rectify(image, order_corners(shuffled))
    assert line.shape == (48, 128, 3)
    assert line.mean() > 240


@pytest.mark.data
def test_ccpd_scenes(base_settings: Settings, shared_data: Path) -> None:
    result = evaluate_plate_scenes(base_settings, shared_data / "plates_ccpd")
    assert result["n"] == 11
    assert result["found"] * result["n"] >= 9
    assert result["exact"] * result["n"] >= 9

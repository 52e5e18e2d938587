"""Vehicle front geometry, body colour names and the colour + layout descriptor on rendered car fronts.

The renderer draws a car front the way a plate-anchored crop sees it: road, body paint with a
vertical shading gradient and noise, a dark windscreen, headlamps, a grille and a blue plate.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from recognition.types import Box
from recognition.vehicle_color import VEHICLE_COLORS, vehicle_color_name
from recognition.vehicle_descriptor import ColorLayoutEmbedder
from recognition.vehicle_front import crop_box, front_box_from_plate
from sightline.errors import InputError

FRAME_W, FRAME_H = 640, 480
PLATE = Box(280, 330, 360, 356)  # 80 px wide, about 440 × 140 mm in proportion


def render_front(
    body_bgr: tuple[int, int, int], dx: int = 0, dy: int = 0, gain: float = 1.0, seed: int = 0
) -> NDArray[np.uint8]:
    """A 640×480 frame with a car front whose plate is ``PLATE`` shifted by (dx, dy)."""
    rng = np.random.default_rng(seed)
    img = np.zeros((FRAME_H, FRAME_W, 3), dtype=np.float32)
    img[:] = (95, 100, 100)  # asphalt
    px1, py1, px2, py2 = (int(v) for v in PLATE.as_tuple())
    px1, px2, py1, py2 = px1 + dx, px2 + dx, py1 + dy, py2 + dy
    pw = px2 - px1
    cx = (px1 + px2) // 2
    x1, x2 = cx - 2 * pw + 6, cx + 2 * pw - 6
    top, bottom = py1 - int(2.1 * pw), py2 + int(0.5 * pw)
    shade = np.linspace(1.1, 0.85, bottom - top, dtype=np.float32)[:, None, None]
    img[top:bottom, x1:x2] = np.array(body_bgr, np.float32) * shade
    screen_bottom = top + int(0.75 * pw)
    img[top:screen_bottom, x1 + 20 : x2 - 20] = (45, 40, 38)  # windscreen
    for lx in (x1 + 12, x2 - 12 - 50):
        cv2.ellipse(img, (lx + 25, py1 - 40), (25, 12), 0, 0, 360, (225, 225, 225), -1)
    img[py1 - 35 : py1 - 8, cx - 60 : cx + 60] = (30, 30, 30)  # grille
    img[py1:py2, px1:px2] = (160, 60, 10)  # blue plate
    for k in range(7):  # white characters
        img[py1 + 5 : py2 - 5, px1 + 5 + k * 10 : px1 + 11 + k * 10] = (255, 255, 255)
    noisy = img * gain + rng.normal(0, 4, img.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def test_front_box_geometry() -> None:
    box = front_box_from_plate(PLATE, FRAME_W, FRAME_H)
    assert box.as_tuple() == pytest.approx((160.0, 330 - 176.0, 480.0, 356 + 48.0))
    assert box.center[0] == pytest.approx(PLATE.center[0])


def test_front_box_is_clipped_to_the_frame() -> None:
    box = front_box_from_plate(Box(10, 20, 90, 46), 300, 70)
    assert box.as_tuple() == (0.0, 0.0, 210.0, 70.0)
    with pytest.raises(ValueError, match="positive"):
        front_box_from_plate(PLATE, 0, 10)


def test_crop_box_rounds_outward_and_rejects_empty() -> None:
    img = np.zeros((10, 10, 3), dtype=np.uint8)
    assert crop_box(img, Box(1.5, 2.5, 4.2, 6.0)).shape == (4, 4, 3)
    with pytest.raises(InputError, match="2×2"):
        crop_box(img, Box(20, 20, 30, 30))


BODY = {
    "white": (235, 235, 232),
    "black": (28, 28, 30),
    "gray": (128, 126, 124),
    "red": (30, 30, 200),
    "orange": (20, 120, 235),
    "yellow": (30, 210, 230),
    "green": (50, 150, 40),
    "blue": (170, 70, 20),
    "brown": (30, 60, 100),
    "pink": (190, 160, 245),
    "purple": (140, 40, 110),
}


@pytest.mark.parametrize("name", sorted(BODY))
def test_colour_names_of_rendered_fronts(name: str) -> None:
    frame = render_front(BODY[name], seed=sorted(BODY).index(name))
    crop = crop_box(frame, front_box_from_plate(PLATE, FRAME_W, FRAME_H))
    got, confidence = vehicle_color_name(crop)
    assert got == name
    assert got in VEHICLE_COLORS and 0.5 <= confidence <= 1.0


def test_colour_ignores_the_plate() -> None:
    """A white car with a large blue plate stays white: the plate region is excluded."""
    frame = render_front(BODY["white"])
    crop = crop_box(frame, front_box_from_plate(PLATE, FRAME_W, FRAME_H))
    assert vehicle_color_name(crop)[0] == "white"


def test_colour_rejects_a_non_image() -> None:
    with pytest.raises(ValueError, match="BGR image"):
        vehicle_color_name(np.zeros((10, 10), dtype=np.uint8))


def _embed_front(
    emb: ColorLayoutEmbedder, frame: NDArray[np.uint8], dx: int = 0, dy: int = 0
) -> NDArray[np.float32]:
    plate = Box(PLATE.x1 + dx, PLATE.y1 + dy, PLATE.x2 + dx, PLATE.y2 + dy)
    vectors: NDArray[np.float32] = emb.embed(frame, [front_box_from_plate(plate, FRAME_W, FRAME_H)]).vectors
    return np.asarray(vectors[0], dtype=np.float32)


def test_descriptor_shape_and_normalisation() -> None:
    emb = ColorLayoutEmbedder()
    frame = render_front(BODY["red"])
    out = emb.embed(frame, [front_box_from_plate(PLATE, FRAME_W, FRAME_H), Box(0, 0, 50, 40)])
    assert out.vectors.shape == (2, emb.dim) and emb.dim == emb.color_dim + 1260
    np.testing.assert_allclose(np.linalg.norm(out.vectors, axis=1), 1.0, atol=1e-5)
    assert len(emb.embed(frame, [])) == 0


@pytest.mark.parametrize(("dx", "dy", "gain"), [(3, 0, 1.0), (-4, 2, 1.0), (0, 0, 0.85), (2, -3, 1.15)])
def test_same_car_shifted_or_relit_is_closer_than_another_colour(dx: int, dy: int, gain: float) -> None:
    emb = ColorLayoutEmbedder()
    ref = _embed_front(emb, render_front(BODY["red"], seed=1))
    same = _embed_front(emb, render_front(BODY["red"], dx=dx, dy=dy, gain=gain, seed=2))
    for other in ("blue", "white", "green"):
        different = _embed_front(emb, render_front(BODY[other], dx=dx, dy=dy, gain=gain, seed=2))
        assert float(ref @ same) > float(ref @ different) + 0.05, other


def test_descriptor_separates_layout_at_equal_colour() -> None:
    """Same paint, different front layout (no grille, no lamps) scores lower than the same layout."""
    emb = ColorLayoutEmbedder()
    ref_frame = render_front(BODY["gray"], seed=1)
    same = _embed_front(emb, render_front(BODY["gray"], dx=2, seed=3))
    plain = ref_frame.copy()
    box = front_box_from_plate(PLATE, FRAME_W, FRAME_H)
    plain[int(box.y1) + 80 : int(box.y2) - 10, int(box.x1) + 6 : int(box.x2) - 6] = BODY["gray"]
    other = _embed_front(emb, plain)
    ref = _embed_front(emb, ref_frame)
    assert float(ref @ same) > float(ref @ other)


@pytest.mark.slow
@pytest.mark.data
def test_colour_accuracy_on_real_photos(shared_data: Path) -> None:
    """Guards the rules against regressions on real photos (measured 0.71 over 9 colours)."""
    from sightline.evaluation.vehicles import evaluate_vehicle_colors

    data = shared_data / "vehicle_color"
    if not data.is_dir():
        pytest.skip("vehicle_color set absent")
    report = evaluate_vehicle_colors(data)
    assert report["images"] == 540
    assert report["accuracy"] >= 0.65

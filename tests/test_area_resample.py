"""AreaResampler against OpenCV's own INTER_AREA on a real photograph and on generated noise."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from recognition import area_resample
from recognition.area_resample import AreaResampler, PerCallResampler


def _photo() -> np.ndarray:
    return np.ascontiguousarray(np.asarray(data.astronaut(), dtype=np.uint8))


def _noise(rows: int = 211, cols: int = 157) -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, (rows, cols, 3), dtype=np.uint8)


def _close(a: np.ndarray, b: np.ndarray) -> None:
    """At most one grey level apart (the final rounding), and on very few pixels."""
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    assert a.shape == b.shape
    assert diff.max() <= 1
    assert (diff > 0).mean() < 0.2


def _published_crop(image: np.ndarray, box: tuple[int, int, int, int], size: int) -> np.ndarray:
    """Zero-padded crop, then cv2.INTER_AREA, by hand: what the MTCNN reference does per candidate."""
    r1, c1, r2, c2 = box
    patch = np.zeros((r2 - r1 + 1, c2 - c1 + 1, image.shape[2]), np.uint8)
    sr1, sc1, sr2, sc2 = max(r1, 0), max(c1, 0), min(r2 + 1, image.shape[0]), min(c2 + 1, image.shape[1])
    if sr2 > sr1 and sc2 > sc1:
        patch[sr1 - r1 : sr2 - r1, sc1 - c1 : sc2 - c1] = image[sr1:sr2, sc1:sc2]
    return np.asarray(cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA))


def test_per_call_resampler_is_the_hand_written_reference() -> None:
    image = _photo()
    boxes = [(100, 120, 259, 279), (-30, -10, 69, 99), (600, 600, 640, 640)]
    per_call = PerCallResampler(image)
    for crop, box in zip(per_call.crops(np.array(boxes, np.float32), 24), boxes, strict=True):
        assert np.array_equal(crop, _published_crop(image, box, 24))
    assert np.array_equal(
        per_call.resize(100, 80), cv2.resize(image, (80, 100), interpolation=cv2.INTER_AREA)
    )


@pytest.mark.parametrize("image", [_photo(), _noise()], ids=["photo", "noise"])
def test_pyramid_levels_match_inter_area(image: np.ndarray) -> None:
    resampler = AreaResampler(image)
    rows, cols = image.shape[:2]
    for scale in (1.0, 0.5, 0.3, 0.3 * 0.709, 0.3 * 0.709**4, 0.05):
        r, c = max(1, int(np.ceil(rows * scale))), max(1, int(np.ceil(cols * scale)))
        _close(resampler.resize(r, c), cv2.resize(image, (c, r), interpolation=cv2.INTER_AREA))
    _close(resampler.resize(1, 1), cv2.resize(image, (1, 1), interpolation=cv2.INTER_AREA))


def test_crops_match_inter_area_inside_overhanging_and_enlarged() -> None:
    image = _photo()
    resampler = AreaResampler(image)
    boxes = [
        (100, 120, 259, 279),  # inside, shrunk to 24 and 48
        (-30, -10, 69, 99),  # overhangs the top-left corner: zeros outside
        (480, 470, 530, 540),  # overhangs bottom-right
        (200, 200, 219, 219),  # 20 px: enlarged to 24 and 48
        (300, 10, 300, 10),  # a single pixel
        (600, 600, 640, 640),  # wholly outside: all zeros
    ]
    for size in (24, 48):
        ours = resampler.crops(np.array(boxes, np.float32), size)
        assert ours.shape == (len(boxes), size, size, 3) and ours.dtype == np.uint8
        for crop, box in zip(ours, boxes, strict=True):
            _close(crop, _published_crop(image, box, size))
    assert not resampler.crops(np.array([boxes[-1]]), 24).any()
    assert resampler.crops(np.zeros((0, 4), np.float32), 24).shape == (0, 24, 24, 3)


def test_large_images_use_a_wider_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """Above int32's exact range (a frame over ~8.4 Mpx) the table is float64; results are the same."""
    image = _noise()
    narrow = AreaResampler(image)
    monkeypatch.setattr(area_resample, "_INT32_MAX_PIXELS", 0)
    wide = AreaResampler(image)
    assert narrow._table.dtype == np.int32 and wide._table.dtype == np.float64
    assert np.array_equal(narrow.resize(50, 40), wide.resize(50, 40))
    boxes = np.array([[3, 5, 90, 70], [-4, 100, 30, 170]], np.float32)
    assert np.array_equal(narrow.crops(boxes, 24), wide.crops(boxes, 24))


def test_bad_arguments_are_refused() -> None:
    resampler = AreaResampler(_noise())
    with pytest.raises(ValueError, match="shrinks only"):
        resampler.resize(400, 100)
    with pytest.raises(ValueError, match="shrinks only"):
        resampler.resize(0, 10)
    with pytest.raises(ValueError, match="non-empty"):
        resampler.crops(np.array([[10, 10, 5, 20]], np.float32), 24)
    with pytest.raises(ValueError, match="uint8"):
        AreaResampler(np.zeros((10, 10, 3), np.float32))  # type: ignore[arg-type]

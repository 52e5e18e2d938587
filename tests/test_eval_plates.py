"""Plate evaluation functions on sets generated here in the shared data's layout."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_plate_locate import paste_plate, street_frame
from test_plate_reader import render_plate

from models.paths import model_path
from sightline.errors import InputError
from sightline.evaluation.plates import evaluate_plate_crops, evaluate_plate_scenes, load_labels
from sightline.settings import Settings


def _write(path: Path, image: np.ndarray) -> None:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    path.parent.mkdir(parents=True, exist_ok=True)
    data.tofile(str(path))


def test_crops_exact_and_char_accuracy(tmp_path: Path, base_settings: Settings) -> None:
    """Three crops labelled right and one labelled with a different last character: the scores
    must count the mislabelled one as one wrong plate and one wrong character."""
    font = model_path(base_settings.models, "cjk_font")
    plates = {
        "京A12345": "京A12345",
        "沪C21F13": "沪C21F13",
        "皖AD11166": "皖AD11166",
        "苏E7K2M8": "苏E7K2M9",
    }
    rows = []
    for shown, label in plates.items():
        crop = cv2.resize(
            render_plate(shown, font), (94 if len(shown) == 7 else 103, 24), interpolation=cv2.INTER_AREA
        )
        name = f"test/{shown}.jpg"
        _write(tmp_path / name, crop)
        rows.append({"filename": name, "plate": label})
    with (tmp_path / "labels.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["filename", "plate"])
        writer.writeheader()
        writer.writerows(rows)
    result = evaluate_plate_crops(base_settings, tmp_path)
    assert result["n"] == 4
    assert result["exact"] == pytest.approx(0.75)
    assert result["char_accuracy"] == pytest.approx(28 / 29)
    assert len(load_labels(tmp_path, limit=2)) == 2


def test_scenes_found_and_exact(tmp_path: Path, base_settings: Settings) -> None:
    font = model_path(base_settings.models, "cjk_font")
    fields = ["filename", "plate", "bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2"]
    rows = []
    for i, text in enumerate(["渝B8C6D7", "皖AD11166"]):
        frame = street_frame(np.random.default_rng(i))
        corners = np.array([[540, 575], [760, 575], [760, 645], [540, 645]], np.float32)
        paste_plate(frame, render_plate(text, font), corners)
        name = f"scene{i}.jpg"
        _write(tmp_path / name, frame)
        rows.append(dict(zip(fields, [name, text, 540, 575, 760, 645], strict=True)))
    # A third scene without a plate whose label points at empty road: neither found nor exact.
    _write(tmp_path / "empty.jpg", street_frame(np.random.default_rng(9)))
    rows.append(dict(zip(fields, ["empty.jpg", "京A12345", 540, 575, 760, 645], strict=True)))
    with (tmp_path / "labels.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    result = evaluate_plate_scenes(base_settings, tmp_path)
    assert result["n"] == 3
    assert result["found"] == pytest.approx(2 / 3)
    assert result["exact"] == pytest.approx(2 / 3)
    assert result["ms_per_scene"] > 0


def test_missing_labels_is_input_error(tmp_path: Path, base_settings: Settings) -> None:
    with pytest.raises(InputError):
        load_labels(tmp_path)
    with pytest.raises(InputError):
        evaluate_plate_scenes(base_settings, tmp_path)

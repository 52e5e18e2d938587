"""Plate evaluation on the shared research sets: rec on crops, and the full locator on CCPD scenes.

- ``plates_lprnet``: ``labels.csv`` (``filename,plate``) with 94×24 crops under ``test/``; this
  measures the reader and the grammar only.
- ``plates_ccpd``: ``labels.csv`` with the plate string per whole 720×1160 scene (decoded from the
  CCPD file name); the labelled box is not used: the locator searches the whole frame.
"""

from __future__ import annotations

import csv
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from recognition.base import Image
from sightline.errors import ImageDecodeError, InputError

if TYPE_CHECKING:
    from sightline.settings import Settings

__all__ = ["evaluate_plate_crops", "evaluate_plate_scenes", "load_labels"]

log = logging.getLogger(__name__)


def load_labels(data_dir: Path, limit: int | None = None) -> list[tuple[Path, str]]:
    """(image path, plate string) pairs from ``data_dir/labels.csv``, in file order."""
    labels = data_dir / "labels.csv"
    if not labels.is_file():
        raise InputError(f"no labels.csv in {data_dir}")
    with labels.open(encoding="utf-8", newline="") as fh:
        rows = [(data_dir / row["filename"], row["plate"]) for row in csv.DictReader(fh)]
    return rows[:limit] if limit is not None else rows


def _imread(path: Path) -> Image:
    # cv2.imread cannot open non-ASCII paths on every platform: decode the bytes instead.
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise ImageDecodeError(f"cannot decode {path}")
    return np.asarray(image, dtype=np.uint8)


def evaluate_plate_crops(settings: Settings, crops_dir: Path, limit: int | None = None) -> dict[str, float]:
    """Exact-plate and per-character accuracy of the reader on labelled plate crops.

    Per-character accuracy compares position by position over the longer of truth and read, so a
    lost or extra character counts against every position it shifts.
    """
    from recognition.ppocr_rec import PpocrPlateReader

    reader = PpocrPlateReader.from_settings(settings)
    items = load_labels(crops_dir, limit)
    exact = 0
    chars_right = 0
    chars_total = 0
    started = time.perf_counter()
    for path, truth in items:
        read = reader.read([_imread(path)])[0]
        exact += read.text == truth
        chars_right += sum(a == b for a, b in zip(read.text, truth, strict=False))
        chars_total += max(len(truth), len(read.text))
        if read.text != truth:
            log.debug("crop %s read as %r", truth, read.text)
    elapsed = time.perf_counter() - started
    n = len(items)
    return {
        "n": n,
        "exact": exact / n if n else 0.0,
        "char_accuracy": chars_right / chars_total if chars_total else 0.0,
        "ms_per_crop": 1000.0 * elapsed / n if n else 0.0,
    }


def evaluate_plate_scenes(settings: Settings, scenes_dir: Path, limit: int | None = None) -> dict[str, float]:
    """How often the full locator finds and exactly reads the labelled plate in whole scenes.

    ``found``: a reported plate's centre lies inside the labelled box (located, perhaps misread;
    the box is used for scoring only); ``exact``: one read equals the truth.
    ``ms_per_scene`` is wall time of ``find`` alone; ``cpu_ms_per_scene`` its process CPU time,
    which is steadier on a shared machine.
    """
    from recognition.plate_locate import PlateLocator

    locator = PlateLocator.from_settings(settings)
    items = _load_scene_labels(scenes_dir, limit)
    found = 0
    exact = 0
    wall = 0.0
    cpu = 0.0
    for path, truth, (bx1, by1, bx2, by2) in items:
        image = _imread(path)
        w0, c0 = time.perf_counter(), time.process_time()
        detections = locator.find(image)
        wall += time.perf_counter() - w0
        cpu += time.process_time() - c0
        texts = [d.read.text for d in detections]
        exact += truth in texts
        centres = [d.box.center for d in detections]
        found += any(bx1 <= x <= bx2 and by1 <= y <= by2 for x, y in centres)
        log.debug("scene %s: %s", truth, texts)
    n = len(items)
    return {
        "n": n,
        "found": found / n if n else 0.0,
        "exact": exact / n if n else 0.0,
        "ms_per_scene": 1000.0 * wall / n if n else 0.0,
        "cpu_ms_per_scene": 1000.0 * cpu / n if n else 0.0,
    }


def _load_scene_labels(
    scenes_dir: Path, limit: int | None
) -> list[tuple[Path, str, tuple[float, float, float, float]]]:
    labels = scenes_dir / "labels.csv"
    if not labels.is_file():
        raise InputError(f"no labels.csv in {scenes_dir}")
    with labels.open(encoding="utf-8", newline="") as fh:
        rows = [
            (
                scenes_dir / row["filename"],
                row["plate"],
                (float(row["bbox_x1"]), float(row["bbox_y1"]), float(row["bbox_x2"]), float(row["bbox_y2"])),
            )
            for row in csv.DictReader(fh)
        ]
    return rows[:limit] if limit is not None else rows

"""Measurements of the vehicle parts on real photos: colour naming and appearance retrieval.

Both sets are web photos (see their SOURCE.md), not surveillance crops: the numbers say how the
rules and the descriptor behave on real cars, not what a deployment will see.
"""

from __future__ import annotations

import csv
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from recognition.base import Image
from recognition.types import Box
from sightline.errors import ImageDecodeError, InputError

__all__ = ["evaluate_vehicle_colors", "evaluate_vehicle_retrieval", "retrieval_scores"]

log = logging.getLogger(__name__)

_LABEL_TO_NAME = {"silver": "gray", "grey": "gray"}
"""Dataset labels that our colour names spell differently."""


def _read_image(path: Path) -> Image:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ImageDecodeError(f"cannot decode image {path}")
    return np.asarray(image, dtype=np.uint8)


def _read_labels(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise InputError(f"labels file not found: {path}")
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def evaluate_vehicle_colors(data_dir: Path) -> dict[str, Any]:
    """Accuracy of :func:`vehicle_color_name` on ``data_dir`` (``labels.csv``: path,color,source_split).

    Returns overall and per-colour accuracy, the most frequent confusions and the colour each
    true colour is most often called. Labels are mapped to our names (silver → gray).
    """
    from recognition.vehicle_color import vehicle_color_name

    rows = _read_labels(data_dir / "labels.csv")
    confusion: Counter[tuple[str, str]] = Counter()
    for row in rows:
        truth = _LABEL_TO_NAME.get(row["color"], row["color"])
        name, _ = vehicle_color_name(_read_image(data_dir / row["path"]))
        confusion[(truth, name)] += 1
    truths = sorted({t for t, _ in confusion})
    per_colour: dict[str, float] = {}
    called: dict[str, dict[str, int]] = {}
    for t in truths:
        n = sum(c for (tt, _), c in confusion.items() if tt == t)
        per_colour[t] = round(confusion[(t, t)] / n, 4)
        called[t] = dict(sorted(((p, c) for (tt, p), c in confusion.items() if tt == t), key=lambda x: -x[1]))
    correct = sum(c for (t, p), c in confusion.items() if t == p)
    errors = [(f"{t}->{p}", c) for (t, p), c in confusion.most_common() if t != p]
    return {
        "images": len(rows),
        "accuracy": round(correct / max(len(rows), 1), 4),
        "balanced_accuracy": round(float(np.mean(list(per_colour.values()))), 4) if per_colour else 0.0,
        "per_colour": per_colour,
        "called_as": called,
        "top_confusions": dict(errors[:10]),
    }


def retrieval_scores(vectors: NDArray[np.float32], labels: NDArray[np.int64]) -> dict[str, float]:
    """Leave-one-out retrieval: each vector queries all others, ranked by cosine (exact).

    mAP averages precision over the ranks of every same-label item; top-1 counts queries whose
    nearest neighbour has their label. Chance levels are what a random ranking gives: top-1 chance
    is the mean share of same-label items among the others, and so is chance mAP (to within a
    small correction for classes of a few dozen).
    """
    n = len(labels)
    if n < 2:
        raise InputError("retrieval needs at least two items")
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    order = np.argsort(-sims, axis=1)[:, : n - 1]
    hits = labels[order] == labels[:, None]
    positives = hits.sum(axis=1)
    valid = positives > 0
    ranks = np.arange(1, n, dtype=np.float64)
    precision_at_hit = np.cumsum(hits, axis=1) / ranks
    ap = (precision_at_hit * hits).sum(axis=1)[valid] / positives[valid]
    share = positives / (n - 1)
    return {
        "mAP": round(float(ap.mean()), 4),
        "top1": round(float(hits[:, 0][valid].mean()), 4),
        "chance_top1": round(float(share[valid].mean()), 4),
        "chance_mAP": round(float(share[valid].mean()), 4),
    }


def evaluate_vehicle_retrieval(data_dir: Path, limit: int | None = None) -> dict[str, Any]:
    """Same-class retrieval with :class:`ColorLayoutEmbedder` on Stanford Cars box crops.

    ``labels.csv``: filename,class_id,class_name,bbox_x1..bbox_y2 with images in ``cars_train/``.
    In our copy every image is already cut to its box (its size is exactly the box's: 1029 of
    1029), so an image whose size equals its box's is used whole; otherwise the box is cropped.
    A class is make + model + year, so this asks whether the descriptor ranks cars of the same
    model first, across colours and viewpoints: far harder than re-finding one vehicle seen by one
    camera, and the descriptor is not meant to win it. Also reported: the colour part and the
    layout (HOG) part alone, and the chance level.
    """
    from recognition.vehicle_descriptor import ColorLayoutEmbedder

    rows = _read_labels(data_dir / "labels.csv")
    if limit is not None:
        rows = rows[:limit]
    embedder = ColorLayoutEmbedder()
    vectors: list[NDArray[np.float32]] = []
    labels: list[int] = []
    for i, row in enumerate(rows):
        image = _read_image(data_dir / "cars_train" / row["filename"])
        h, w = image.shape[:2]
        box = Box(*(float(row[k]) for k in ("bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2")))
        box = Box(0, 0, w, h) if (box.width, box.height) == (w, h) else box.clipped(w, h)
        vectors.append(embedder.embed(image, [box]).vectors[0])
        labels.append(int(row["class_id"]))
        if (i + 1) % 200 == 0:
            log.info("embedded %d / %d", i + 1, len(rows))
    mat = np.stack(vectors)
    lab = np.asarray(labels, dtype=np.int64)
    colour_dim = embedder.color_dim
    parts: dict[str, dict[str, float]] = {}
    for name, sl in (("color_only", slice(0, colour_dim)), ("layout_only", slice(colour_dim, None))):
        part = mat[:, sl]
        part = part / np.maximum(np.linalg.norm(part, axis=1, keepdims=True), 1e-12)
        parts[name] = retrieval_scores(part.astype(np.float32), lab)
    return {
        "images": len(rows),
        "classes": len(set(labels)),
        "dim": embedder.dim,
        **retrieval_scores(mat, lab),
        **parts,
    }

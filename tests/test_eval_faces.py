"""LFW protocol pieces on synthetic scores with known answers, pair parsing, and a small real subset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recognition.types import Box, FaceDetection
from sightline.evaluation.bench_faces import bench_faces
from sightline.evaluation.faces import (
    auc,
    cross_validated_accuracy,
    evaluate_lfw,
    pick_face,
    read_pairs,
    tar_at_far,
)
from sightline.settings import Settings


def _face(x1: float, y1: float, x2: float, y2: float) -> FaceDetection:
    return FaceDetection(Box(x1, y1, x2, y2), 0.99, np.zeros((5, 2), np.float32))


@pytest.mark.parametrize(
    ("pos", "neg", "expected"),
    [
        ([0.9, 0.8, 0.7], [0.1, 0.2, 0.3], 1.0),
        ([0.1, 0.2], [0.8, 0.9], 0.0),
        ([0.5, 0.5], [0.5, 0.5], 0.5),
        ([0.9, 0.4], [0.5, 0.1], 0.75),
    ],
)
def test_auc(pos: list[float], neg: list[float], expected: float) -> None:
    scores = np.array(pos + neg)
    same = np.array([True] * len(pos) + [False] * len(neg))
    assert auc(scores, same) == pytest.approx(expected)


def test_tar_at_far_allows_the_given_share_of_false_accepts() -> None:
    neg = np.linspace(0.0, 0.5, 1000)  # strongest different pair scores 0.5
    pos = np.array([0.2, 0.499, 0.4995, 0.6, 0.9])
    scores = np.concatenate([pos, neg])
    same = np.concatenate([np.ones(len(pos), bool), np.zeros(len(neg), bool)])
    tar, threshold = tar_at_far(scores, same, 1e-3)  # one false accept allowed: the top negative
    assert threshold == pytest.approx(neg[-2])
    assert tar == pytest.approx(3 / 5)
    tar0, threshold0 = tar_at_far(scores, same, 1e-4)  # none allowed
    assert threshold0 == pytest.approx(0.5) and tar0 == pytest.approx(2 / 5)


def test_cross_validation_uses_other_folds() -> None:
    """Fold 1's scores are shifted so its own best threshold differs; CV must not see it."""
    rng = np.random.default_rng(0)
    scores, same, folds = [], [], []
    for k, shift in enumerate([0.0, 0.0, 0.3]):
        s = np.concatenate([rng.uniform(0.5, 1.0, 50), rng.uniform(0.0, 0.45, 50)]) + shift
        scores.append(s)
        same.append(np.r_[np.ones(50, bool), np.zeros(50, bool)])
        folds.append(np.full(100, k))
    acc, std, _ = cross_validated_accuracy(
        np.concatenate(scores), np.concatenate(same), np.concatenate(folds)
    )
    # Every fold is separable by its own threshold (so fitting on the fold itself would give 1.0),
    # but fold 2 is shifted by 0.3: thresholds learned on the other folds misclassify pairs.
    assert acc < 0.95
    assert std > 0
    perfect = np.concatenate(folds[:2])
    acc2, std2, thr2 = cross_validated_accuracy(np.concatenate(scores[:2]), np.concatenate(same[:2]), perfect)
    assert acc2 == 1.0 and std2 == 0.0 and 0.45 <= thr2 <= 0.5


def test_pick_face_prefers_large_central_faces() -> None:
    central = _face(100, 100, 150, 150)
    corner_big = _face(0, 0, 60, 60)
    assert pick_face([corner_big, central], 250, 250) is central
    big = _face(80, 80, 170, 170)
    assert pick_face([_face(110, 110, 140, 140), big], 250, 250) is big
    assert pick_face([], 250, 250) is None


@pytest.mark.data
def test_read_pairs(shared_data: Path) -> None:
    folds = read_pairs(shared_data / "lfw")
    assert len(folds) == 5 and all(len(f) == 600 for f in folds)
    assert all(p.same for p in folds[0][:300]) and not any(p.same for p in folds[0][300:])
    assert folds[0][0].a.is_file() and folds[0][0].b.is_file()
    short = read_pairs(shared_data / "lfw", pairs_per_fold=10)
    assert [p.same for p in short[1]] == [True] * 5 + [False] * 5


@pytest.mark.data
@pytest.mark.slow
def test_lfw_subset_accuracy(settings: Settings, shared_data: Path) -> None:
    """15 same and 15 different pairs from each of the first two folds, threshold cross-validated."""
    result = evaluate_lfw(settings, shared_data / "lfw", limit_folds=2, pairs_per_fold=30, progress=False)
    assert result["pairs"] == 60
    assert result["accuracy"] >= 0.9
    assert result["auc"] >= 0.95
    assert result["no_face"] <= 2


@pytest.mark.slow
def test_bench_faces_reports_all_timings(settings: Settings) -> None:
    result = bench_faces(settings, repeats=1)
    for key in ("detect_ms", "detect_per_call_resampling_ms", "embed_ms", "embed_batch8_ms_per_face"):
        assert result[key] > 0

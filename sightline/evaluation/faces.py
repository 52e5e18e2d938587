"""Face verification on LFW with the standard protocol: cross-validated threshold, mean accuracy.

The pipeline measured is the one ingest runs: MTCNN detection, FaceNet margin crop and embedding,
cosine similarity. ``pairs.txt`` (View 2) holds k folds of n same-person then n different-person
pairs; for each fold the threshold that maximises accuracy on the *other* folds is applied to it,
so the reported accuracy never sees its own threshold. TAR at FAR 1e-3 and the AUC are computed over
all pairs at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import cv2
import numpy as np
from numpy.typing import NDArray

from recognition.types import Box, FaceDetection
from sightline.errors import InputError

if TYPE_CHECKING:
    from recognition.base import Image
    from recognition.facenet import FaceNetEmbedder
    from recognition.mtcnn import MtcnnDetector
    from sightline.settings import Settings

__all__ = [
    "LfwPair",
    "auc",
    "cross_validated_accuracy",
    "evaluate_lfw",
    "pick_face",
    "read_pairs",
    "tar_at_far",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LfwPair:
    """Two LFW images and whether they show the same person."""

    a: Path
    b: Path
    same: bool


def _image_path(lfw_dir: Path, name: str, index: str) -> Path:
    return lfw_dir / "lfw-deepfunneled" / name / f"{name}_{int(index):04d}.jpg"


def read_pairs(lfw_dir: Path, pairs_per_fold: int | None = None) -> list[list[LfwPair]]:
    """Folds of pairs from ``pairs.txt``. ``pairs_per_fold`` keeps that many, half same, half different."""
    path = lfw_dir / "pairs.txt"
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise InputError(f"cannot read LFW pairs {path}: {exc}") from exc
    n_folds, n_each = (int(v) for v in lines[0].split())
    rows = [line.split() for line in lines[1:] if line.strip()]
    if len(rows) != n_folds * n_each * 2:
        raise InputError(f"{path}: header says {n_folds}x2x{n_each} pairs, found {len(rows)}")
    folds: list[list[LfwPair]] = []
    for k in range(n_folds):
        fold: list[LfwPair] = []
        for r in rows[k * 2 * n_each : (k + 1) * 2 * n_each]:
            if len(r) == 3:
                fold.append(LfwPair(_image_path(lfw_dir, r[0], r[1]), _image_path(lfw_dir, r[0], r[2]), True))
            elif len(r) == 4:
                fold.append(
                    LfwPair(_image_path(lfw_dir, r[0], r[1]), _image_path(lfw_dir, r[2], r[3]), False)
                )
            else:
                raise InputError(f"{path}: malformed pair line {' '.join(r)!r}")
        if pairs_per_fold is not None:
            half = pairs_per_fold // 2
            fold = fold[:half] + fold[n_each : n_each + half]
        folds.append(fold)
    return folds


def pick_face(faces: Sequence[FaceDetection], width: int, height: int) -> FaceDetection | None:
    """The largest, most central face: box area minus twice the squared centre offset.

    The same rule FaceNet's dataset alignment used, so LFW's background faces are not picked.
    """
    if not faces:
        return None
    cx, cy = width / 2, height / 2

    def merit(f: FaceDetection) -> float:
        fx, fy = f.box.center
        return f.box.width * f.box.height - 2.0 * ((fx - cx) ** 2 + (fy - cy) ** 2)

    return max(faces, key=merit)


def _centre_face(width: int, height: int) -> FaceDetection:
    """A stand-in face for images where detection failed: LFW faces sit in the central ~45%."""
    side = 0.45 * min(width, height)
    box = Box((width - side) / 2, (height - side) / 2, (width + side) / 2, (height + side) / 2)
    return FaceDetection(box=box, score=0.0, landmarks=np.zeros((5, 2), np.float32))


def _best_threshold(scores: NDArray[np.float64], same: NDArray[np.bool_]) -> float:
    """The threshold maximising accuracy of ``score > t`` on these pairs (midpoints between scores)."""
    s = np.sort(np.unique(scores))
    candidates = np.concatenate([[s[0] - 1e-6], (s[:-1] + s[1:]) / 2, [s[-1] + 1e-6]])
    acc = ((scores[None, :] > candidates[:, None]) == same[None, :]).mean(axis=1)
    return float(candidates[int(np.argmax(acc))])


def cross_validated_accuracy(
    scores: NDArray[np.float64], same: NDArray[np.bool_], fold_of: NDArray[np.intp]
) -> tuple[float, float, float]:
    """Mean and std of per-fold accuracy with thresholds fitted on the other folds; mean threshold.

    With a single fold there are no other folds: its threshold is fitted on itself (optimistic).
    """
    folds = np.unique(fold_of)
    accs, thresholds = [], []
    for k in folds:
        test = fold_of == k
        train = ~test if len(folds) > 1 else test
        t = _best_threshold(scores[train], same[train])
        thresholds.append(t)
        accs.append(float(((scores[test] > t) == same[test]).mean()))
    return float(np.mean(accs)), float(np.std(accs)), float(np.mean(thresholds))


def auc(scores: NDArray[np.float64], same: NDArray[np.bool_]) -> float:
    """Area under the ROC curve: the chance a same pair outscores a different pair (ties count half)."""
    neg = np.sort(scores[~same])
    pos = scores[same]
    if not len(neg) or not len(pos):
        return float("nan")
    below = np.searchsorted(neg, pos, side="left")
    ties = np.searchsorted(neg, pos, side="right") - below
    return float((below + 0.5 * ties).sum() / (len(pos) * len(neg)))


def tar_at_far(scores: NDArray[np.float64], same: NDArray[np.bool_], far: float) -> tuple[float, float]:
    """True-accept rate at the strictest threshold letting at most ``far`` of different pairs through.

    Returns (TAR, threshold). With 1,500 different pairs, FAR 1e-3 allows one false accept.
    """
    neg = np.sort(scores[~same])[::-1]
    allowed = int(np.floor(far * len(neg)))
    threshold = float(neg[allowed]) if allowed < len(neg) else float("-inf")
    return float((scores[same] > threshold).mean()), threshold


class _Encoder:
    """Embeds LFW images once each within a run and counts images where no face was found."""

    def __init__(self, detector: MtcnnDetector, embedder: FaceNetEmbedder, mirror: bool) -> None:
        self._detector = detector
        self._embedder = embedder
        self._mirror = mirror
        self._cache: dict[Path, NDArray[np.float32]] = {}
        self.no_face = 0

    @property
    def images(self) -> int:
        return len(self._cache)

    def __call__(self, path: Path) -> NDArray[np.float32]:
        if path not in self._cache:
            image = cast("Image | None", cv2.imread(str(path), cv2.IMREAD_COLOR))
            if image is None:
                raise InputError(f"cannot read LFW image {path}")
            h, w = image.shape[:2]
            face = pick_face(self._detector.detect(image), w, h)
            if face is None:
                self.no_face += 1
                log.debug("no face in %s; using the centre crop", path)
                face = _centre_face(w, h)
            crop = self._embedder.crop(image, face)
            crops = [crop, np.ascontiguousarray(crop[:, ::-1])] if self._mirror else [crop]
            mean = self._embedder.embed_crops(crops).vectors.sum(axis=0)
            self._cache[path] = (mean / np.linalg.norm(mean)).astype(np.float32)
        return self._cache[path]


def evaluate_lfw(
    settings: Settings,
    lfw_dir: Path,
    limit_folds: int | None = None,
    progress: bool = True,
    pairs_per_fold: int | None = None,
    mirror: bool = False,
) -> dict[str, Any]:
    """Run the LFW verification protocol; returns pairs, accuracy (mean ± std over folds), AUC,
    TAR at FAR 1e-3, the mean cross-validated threshold, images without a detected face and time.

    ``limit_folds`` and ``pairs_per_fold`` shorten the run for tests; the reported numbers then
    describe that subset only. ``mirror`` averages each face's embedding with its mirror image's
    (twice the embedding cost; measured +0.001 accuracy).
    """
    from recognition.facenet import FaceNetEmbedder
    from recognition.mtcnn import MtcnnDetector

    folds = read_pairs(lfw_dir, pairs_per_fold)
    if limit_folds is not None:
        folds = folds[:limit_folds]
    pairs = [p for fold in folds for p in fold]
    fold_of = np.concatenate([np.full(len(f), k, dtype=np.intp) for k, f in enumerate(folds)])
    encode = _Encoder(MtcnnDetector.from_settings(settings), FaceNetEmbedder.from_settings(settings), mirror)

    started = time.perf_counter()
    scores = np.empty(len(pairs), dtype=np.float64)
    step = max(1, len(pairs) // 20)
    for i, p in enumerate(pairs):
        scores[i] = float(encode(p.a) @ encode(p.b))
        if progress and (i + 1) % step == 0:
            log.info("LFW: %d/%d pairs, %.0f s", i + 1, len(pairs), time.perf_counter() - started)
    same = np.array([p.same for p in pairs], dtype=np.bool_)

    accuracy, accuracy_std, threshold = cross_validated_accuracy(scores, same, fold_of)
    tar, far_threshold = tar_at_far(scores, same, 1e-3)
    result: dict[str, Any] = {
        "pairs": len(pairs),
        "folds": len(folds),
        "mirror": mirror,
        "accuracy": round(accuracy, 4),
        "accuracy_std": round(accuracy_std, 4),
        "auc": round(auc(scores, same), 4),
        "tar_at_far_1e-3": round(tar, 4),
        "threshold": round(threshold, 4),
        "far_1e-3_threshold": round(far_threshold, 4),
        "no_face": encode.no_face,
        "images": encode.images,
        "seconds": round(time.perf_counter() - started, 1),
    }
    log.info("LFW: %s", result)
    return result

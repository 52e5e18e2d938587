"""Motion gating: skip recognition on sampled frames in which nothing changed.

Most city cameras watch empty scenes most of the time. A frame is reduced to a 160 px wide grey
thumbnail (blurred against sensor noise) and compared with a running background; pixels differing
by more than :data:`PIXEL_DELTA` grey levels count as changed, and the frame is analysed when the
changed fraction reaches the threshold. The comparison costs ~0.1 ms, against ~100 ms of detection.

What it trades: a subject standing perfectly still stops being analysed (its track ends after the
tracker's gap and a new one starts when it moves), and the background adapts over a few seconds so
a parked car stops being re-analysed. Global changes (lights, exposure, camera moved) pass the gate.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = ["PIXEL_DELTA", "THUMB_WIDTH", "MotionGate"]

#: Width of the comparison thumbnail; 160 px keeps a 50 px 1080p face as ~4x5 pixels.
THUMB_WIDTH = 160
#: Grey-level change that counts a thumbnail pixel as changed; compression noise stays under ~10.
PIXEL_DELTA = 20
#: Weight of each new frame in the running background: it absorbs a lasting change in ~1/alpha frames.
_ALPHA = 0.2


class MotionGate:
    """Per-camera motion detector; call :meth:`moved` on each sampled frame in order.

    A frame size change resets the background (the first frame after it always passes).
    """

    def __init__(self, threshold: float = 0.001) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"MotionGate: threshold must be in [0, 1], got {threshold}")
        self.threshold = threshold
        self._background: NDArray[np.float32] | None = None
        self._size: tuple[int, int] | None = None
        self.last_fraction = 1.0

    def reset(self) -> None:
        self._background = None
        self._size = None

    def moved(self, image: NDArray[np.uint8]) -> bool:
        """Whether ``image`` (BGR) differs enough from the background to be analysed."""
        h, w = image.shape[:2]
        if self._size != (w, h):
            self.reset()
            self._size = (w, h)
        tw = min(THUMB_WIDTH, w)
        th = max(1, round(h * tw / w))
        small = cv2.resize(image, (tw, th), interpolation=cv2.INTER_AREA)
        grey = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), (3, 3), 0).astype(np.float32)
        if self._background is None:
            self._background = grey
            self.last_fraction = 1.0
            return True
        changed = np.abs(grey - self._background) > PIXEL_DELTA
        self.last_fraction = float(np.count_nonzero(changed)) / changed.size
        cv2.accumulateWeighted(grey, self._background, _ALPHA)
        return self.last_fraction >= self.threshold

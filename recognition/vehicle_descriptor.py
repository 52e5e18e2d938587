"""An appearance descriptor for vehicle crops: colour histogram plus gradient layout (HOG).

What it is: it finds vehicles of similar colour and similar front layout (grille, lamps,
bonnet lines) seen at similar angles. What it is not: an identity. It does NOT tell one vehicle
from another of the same model and colour; plates do that. It is the fallback for "a white van
like this one" queries and for vehicles whose plate was not read, until a user supplies a real
re-identification model (``recognition.onnx_reid``).

Construction, per box: crop, resize to 128×96 (W×H, the aspect of a plate-anchored front), then

- colour: an 8×4×4 histogram over H, S, V in each cell of a 2×2 grid (512 values). Hue is
  undefined for grey pixels, so each pixel votes its hue bin with weight S and spreads the rest
  (1 − S) evenly over all hue bins: grey cars do not get noisy hue spikes.
- layout: HOG (Dalal–Triggs: unsigned gradients, 9 orientation bins with linear vote between
  neighbours, 16-px cells, 2×2-cell blocks at a one-cell stride, L2-Hys block normalisation;
  7×5 blocks × 36 = 1260 values). Coarse cells tolerate the few-pixel shifts of a tracker box.
  Computed here in numpy because OpenCV 5 dropped ``cv2.HOGDescriptor`` from the main modules.

Each part is L1-normalised, square-rooted (Hellinger: the dot product of the results is the
Bhattacharyya coefficient, which does not let a few large bins dominate) and scaled by 1/√2, so
each part contributes half of the cosine similarity and the whole is L2-normalised.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np
from numpy.typing import NDArray

from recognition.base import Image
from recognition.types import Box, Embeddings
from recognition.vehicle_front import crop_box

if TYPE_CHECKING:
    from sightline.settings import Settings

__all__ = ["ColorLayoutEmbedder"]

_W, _H = 128, 96
_H_BINS, _S_BINS, _V_BINS = 8, 4, 4
_GRID = 2
_CELL = 16
_ORIENTATIONS = 9
_HYS_CLIP = 0.2


class ColorLayoutEmbedder:
    """Colour + HOG layout descriptor of vehicle crops (see the module docstring for its limits)."""

    def __init__(self) -> None:
        self._hog_dim = (_W // _CELL - 1) * (_H // _CELL - 1) * 4 * _ORIENTATIONS
        self._color_dim = _H_BINS * _S_BINS * _V_BINS * _GRID * _GRID

    @classmethod
    def from_settings(cls, settings: Settings) -> ColorLayoutEmbedder:
        """The descriptor has no settings; the signature matches the other backends'."""
        del settings
        return cls()

    @property
    def dim(self) -> int:
        return self._color_dim + self._hog_dim

    @property
    def color_dim(self) -> int:
        """The first ``color_dim`` values are the colour part, the rest the HOG part."""
        return self._color_dim

    def embed(self, image: Image, boxes: Sequence[Box]) -> Embeddings:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"ColorLayoutEmbedder: expected a uint8 BGR image [H, W, 3], got {image.shape}")
        out = np.empty((len(boxes), self.dim), dtype=np.float32)
        for i, box in enumerate(boxes):
            patch = np.asarray(
                cv2.resize(crop_box(image, box), (_W, _H), interpolation=cv2.INTER_AREA), np.uint8
            )
            out[i] = self._describe(patch)
        return Embeddings.normalised(out) if len(boxes) else Embeddings(out)

    def _describe(self, patch: Image) -> NDArray[np.float32]:
        colour = _hellinger(self._colour(patch))
        gray = np.asarray(cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY), np.uint8)
        hog = _hellinger(_hog(gray))
        half = np.float32(1 / math.sqrt(2))
        return np.concatenate([colour * half, hog * half])

    def _colour(self, patch: Image) -> NDArray[np.float32]:
        hsv = cv2.cvtColor(patch, cv2.COLOR_BGR2HSV)
        hue_bin = (hsv[..., 0].astype(np.int32) * _H_BINS) // 180
        sat_bin = (hsv[..., 1].astype(np.int32) * _S_BINS) // 256
        val_bin = (hsv[..., 2].astype(np.int32) * _V_BINS) // 256
        sat = hsv[..., 1].astype(np.float32) / 255.0
        sv_bin = sat_bin * _V_BINS + val_bin
        cells: list[NDArray[np.float32]] = []
        gh, gw = _H // _GRID, _W // _GRID
        for gy in range(_GRID):
            for gx in range(_GRID):
                sl = (slice(gy * gh, (gy + 1) * gh), slice(gx * gw, (gx + 1) * gw))
                hb, sv, s = hue_bin[sl].ravel(), sv_bin[sl].ravel(), sat[sl].ravel()
                n_sv = _S_BINS * _V_BINS
                voted = np.bincount(hb * n_sv + sv, weights=s, minlength=_H_BINS * n_sv)
                spread = np.bincount(sv, weights=1.0 - s, minlength=n_sv) / _H_BINS
                cells.append((voted.reshape(_H_BINS, n_sv) + spread[None, :]).ravel().astype(np.float32))
        return np.concatenate(cells)


def _hog(gray: Image) -> NDArray[np.float32]:
    """Dalal–Triggs HOG of a [_H, _W] grey patch (see the module docstring)."""
    img = gray.astype(np.float32)
    gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=1)
    gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=1)
    mag, ang = cv2.cartToPolar(gx, gy, angleInDegrees=True)
    pos = (ang % 180.0) / (180.0 / _ORIENTATIONS) - 0.5
    lo = np.floor(pos)
    frac = pos - lo
    lo_bin = lo.astype(np.int32) % _ORIENTATIONS
    hi_bin = (lo_bin + 1) % _ORIENTATIONS
    ch, cw = _H // _CELL, _W // _CELL
    cell_index = (np.arange(_H)[:, None] // _CELL) * cw + (np.arange(_W)[None, :] // _CELL)
    n = ch * cw * _ORIENTATIONS
    hist = np.bincount((cell_index * _ORIENTATIONS + lo_bin).ravel(), (mag * (1 - frac)).ravel(), n)
    hist += np.bincount((cell_index * _ORIENTATIONS + hi_bin).ravel(), (mag * frac).ravel(), n)
    cells = hist.reshape(ch, cw, _ORIENTATIONS)
    blocks = np.concatenate([cells[:-1, :-1], cells[:-1, 1:], cells[1:, :-1], cells[1:, 1:]], axis=2).reshape(
        -1, 4 * _ORIENTATIONS
    )
    blocks = blocks / np.sqrt((blocks**2).sum(axis=1, keepdims=True) + 1e-6)
    blocks = np.minimum(blocks, _HYS_CLIP)
    blocks = blocks / np.sqrt((blocks**2).sum(axis=1, keepdims=True) + 1e-6)
    return np.asarray(blocks, dtype=np.float32).ravel()


def _hellinger(x: NDArray[np.float32]) -> NDArray[np.float32]:
    """L1-normalise then square-root, so the result has unit L2 norm."""
    total = float(np.abs(x).sum())
    if total <= 0:
        return np.full(x.shape, 1 / math.sqrt(len(x)), dtype=np.float32)
    return np.asarray(np.sqrt(np.abs(x) / total), dtype=np.float32)

"""Exact area-average resampling of one image to many sizes and crops, from its summed-area table.

The published MTCNN cascade area-resamples every pyramid level from the full frame and then every
R-Net and O-Net candidate crop from the frame again (``cv2.INTER_AREA``). Each pyramid call walks the
whole frame (a 640x480 frame pays ~12 ms for eight levels, single-threaded), and each crop is one
more call (~0.14 ms each, about 40 per frame).

Here the frame's summed-area table is built once (about 0.3 ms). The table of a piecewise-constant
image is bilinear inside every pixel cell, so interpolating it between integer corners gives the
*exact* sum over any axis-aligned region, and each output pixel is that sum divided by its area: the
area average ``INTER_AREA`` computes, up to the final rounding to uint8 (at most one grey level apart,
and rarely that). A level then costs about what its output costs, not what the frame costs, and all
crops of a stage are read out in one vectorised pass.
"""

from __future__ import annotations

from typing import Any, Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = ["AreaResampler", "PerCallResampler", "Resampler"]

U8 = NDArray[np.uint8]
F32 = NDArray[np.float32]

_INT32_MAX_PIXELS = 2**31 // 255  # an int32 table holds exact sums up to here (8.4 Mpx, about 4K)


def _edges(positions: NDArray[np.float64], source: int) -> tuple[NDArray[np.intp], F32]:
    """The table cell each position falls in and the fraction into it, clamped to ``[0, source]``."""
    clamped = np.clip(positions, 0.0, float(source))
    base = np.minimum(np.floor(clamped).astype(np.intp), source - 1)
    return base, (clamped - base).astype(np.float32)


def _corners(count: int, source: int) -> tuple[NDArray[np.intp], F32]:
    """For the edges of ``count`` equal output cells across ``source`` input cells."""
    return _edges(np.arange(count + 1, dtype=np.float64) * (source / count), source)


class Resampler(Protocol):
    """Area-average resizes and crops of one image, as the MTCNN cascade needs them."""

    rows: int
    cols: int

    def resize(self, rows: int, cols: int) -> U8: ...

    def crops(self, boxes: NDArray[np.floating] | NDArray[np.integer], size: int) -> U8: ...


class AreaResampler:
    """Area-average resizes of one uint8 ``[rows, cols, channels]`` image."""

    def __init__(self, image: U8) -> None:
        if image.ndim != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected uint8 [rows, cols, channels], got {image.dtype} {image.shape}")
        self.rows, self.cols, self.channels = image.shape
        # int32 keeps the table small (it is read once per level); float64 is exact beyond int32.
        depth = cv2.CV_32S if self.rows * self.cols <= _INT32_MAX_PIXELS else cv2.CV_64F
        table = np.asarray(cv2.integral(image, sdepth=depth))
        # [rows+1, (cols+1)*channels]: row operations then broadcast over long contiguous rows.
        self._table = table.reshape(self.rows + 1, (self.cols + 1) * self.channels)

    def resize(self, rows: int, cols: int) -> U8:
        """The whole image shrunk to ``rows x cols``: what ``cv2.resize(..., INTER_AREA)`` gives.

        (Only shrinking: when one axis grows and the other shrinks, cv2 no longer area-averages.)
        """
        if not (1 <= rows <= self.rows and 1 <= cols <= self.cols):
            raise ValueError(f"resize shrinks only: {self.rows}x{self.cols} cannot become {rows}x{cols}")
        ch = self.channels
        # Rows: the sum over each output row's band of source rows, still cumulative along columns.
        # Integer table differences are exact; only the two partial edge rows carry fractions, and
        # their values (one source row, cumulative) stay small enough for float32.
        r0, rf = _corners(rows, self.rows)
        whole = self._table[r0]
        partial = (self._table[r0 + 1] - whole).astype(np.float32) * rf[:, None]
        band = np.diff(whole, axis=0).astype(np.float32)
        band += partial[1:]
        band -= partial[:-1]
        # Columns: the same along the band's cumulative column axis.
        band3 = band.reshape(rows, self.cols + 1, ch)
        c0, cf = _corners(cols, self.cols)
        left = np.take(band3, c0, axis=1)
        right = np.take(band3, c0 + 1, axis=1)
        edges = (left + (right - left) * np.repeat(cf, ch).reshape(1, cols + 1, ch)).reshape(rows, -1)
        sums = (edges[:, ch:] - edges[:, :-ch]).reshape(rows, cols, ch)
        sums *= np.float32(rows * cols / (self.rows * self.cols))
        return _to_u8(sums)

    def crops(self, boxes: NDArray[np.floating] | NDArray[np.integer], size: int) -> U8:
        """``[N, size, size, channels]`` area-resampled crops of inclusive integer boxes.

        A box is ``[r1, c1, r2, c2]`` and covers rows ``r1..r2`` and columns ``c1..c2``. It may
        overhang the image; the part outside reads as zeros (the cascade's zero padding), because
        the table is constant beyond its edges. Shrinking and enlarging are both exact area averages.
        """
        ib = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        ch, stride = self.channels, self.cols + 1
        if not len(ib):
            return np.zeros((0, size, size, ch), np.uint8)
        heights, widths = ib[:, 2] - ib[:, 0] + 1, ib[:, 3] - ib[:, 1] + 1
        if (heights <= 0).any() or (widths <= 0).any():
            raise ValueError("crop boxes must be non-empty")
        steps = np.arange(size + 1, dtype=np.float64) / size
        r0, rf = _edges(ib[:, 0:1] + heights[:, None] * steps, self.rows)  # [N, size+1]
        c0, cf = _edges(ib[:, 1:2] + widths[:, None] * steps, self.cols)
        flat = self._table.reshape(-1, ch)
        index = r0[:, :, None] * stride + c0[:, None, :]  # [N, size+1, size+1]
        n, k = len(ib), size + 1

        def corner(offset: int) -> NDArray[Any]:
            return np.asarray(np.take(flat, index + offset, axis=0).reshape(n, k, k * ch))

        # The table bilinear in each cell: t00 + dr*fr + dc*fc + pixel*fr*fc. The large t00 terms
        # are box-differenced in integers (exact); the fractional rest in float64, because an
        # enlarged crop's sums are small differences of one row's or column's cumulative sums.
        t00, t01, t10, t11 = corner(0), corner(1), corner(stride), corner(stride + 1)
        dr, dc = (t10 - t00).astype(np.float64), (t01 - t00).astype(np.float64)
        pixel = t11 - t10 - t01 + t00
        wr = rf[:, :, None].astype(np.float64)
        wc = np.repeat(cf, ch, axis=1)[:, None, :].astype(np.float64)
        frac = dr * wr + dc * wc + pixel * (wr * wc)
        sums = _box_sums(t00, n, k, ch) + _box_sums(frac, n, k, ch)
        sums *= (size * size / (heights * widths))[:, None, None, None]
        return _to_u8(sums)


def _to_u8(sums: NDArray[np.floating]) -> U8:
    return np.asarray(np.clip(np.rint(sums), 0, 255), dtype=np.uint8)


def _box_sums(edges: NDArray[Any], n: int, k: int, ch: int) -> NDArray[Any]:
    """Region sums from cumulative values at the cell corners: ``[N, k, k*ch]`` -> ``[N, k-1, k-1, ch]``."""
    e = edges.reshape(n, k, k, ch)
    return np.asarray(e[:, 1:, 1:] - e[:, :-1, 1:] - e[:, 1:, :-1] + e[:, :-1, :-1])


class PerCallResampler:
    """The published cascade's way: one ``cv2.resize(..., INTER_AREA)`` per level and per crop.

    The reference that :class:`AreaResampler` is tested and benchmarked against.
    """

    def __init__(self, image: U8) -> None:
        self.image = image
        self.rows, self.cols = image.shape[:2]

    def resize(self, rows: int, cols: int) -> U8:
        return np.asarray(cv2.resize(self.image, (cols, rows), interpolation=cv2.INTER_AREA), dtype=np.uint8)

    def crops(self, boxes: NDArray[np.floating] | NDArray[np.integer], size: int) -> U8:
        out = np.zeros((len(boxes), size, size, self.image.shape[2]), np.uint8)
        for k, (r1, c1, r2, c2) in enumerate(np.asarray(boxes).astype(np.int64).tolist()):
            patch = np.zeros((r2 - r1 + 1, c2 - c1 + 1, self.image.shape[2]), np.uint8)
            sr1, sc1, sr2, sc2 = max(r1, 0), max(c1, 0), min(r2 + 1, self.rows), min(c2 + 1, self.cols)
            if sr2 > sr1 and sc2 > sc1:
                patch[sr1 - r1 : sr2 - r1, sc1 - c1 : sc2 - c1] = self.image[sr1:sr2, sc1:sc2]
            out[k] = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
        return out

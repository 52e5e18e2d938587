"""The body colour of a vehicle crop, named from HSV statistics by simple physical rules.

No colour classifier is shipped in any package we may use, and a learned one would be trained on
web photos unlike our cameras. Colour names are perceptual categories over hue, chroma and
lightness, so a few documented rules get most of the way and fail in ways one can explain.

What is measured: a vehicle-centred crop (``front_box_from_plate`` gives one) is resized to
128×96 and only its body region counts: the top 30 % (windscreen, roof, sky) is dropped, as are
the outer 10 % on each side (background, neighbouring lanes), the bottom 5 % (road) and a plate-sized
rectangle in the lower centre (the plate is blue, yellow or green and would vote for its own
colour). Pixels are weighted by a centred Gaussian, because the middle of the box is most surely
the vehicle.

The rules, in order:

1. Dark pixels (V < 60 of 255, i.e. below ~5 % relative luminance) are shadows, tyres, grille
   openings or black paint. If they hold at least half of the body weight the vehicle is black;
   otherwise they are dropped as shadows.
2. Chroma C = max(R,G,B) − min(R,G,B). Pixels with C < 40 (~16 % of full scale, beyond what white
   balance casts and sky reflections give to grey paint) are achromatic. If less than 35 % of the
   remaining weight is chromatic (paint reflects the sky and the road, so even a red car is partly
   grey) the vehicle is white when its achromatic weighted median V ≥ 170, otherwise gray
   ("gray/silver": metallic silver photographs as mid-grey).
3. Otherwise the chromatic pixels vote by hue: red < 16° or ≥ 330°, orange 16–40°, yellow 40–70°,
   green 70–170°, blue 170–260°, purple 260–300°, pink 300–330°. Brown is dark orange or red
   (V < 140); pink is also a light, desaturated red (S < 110 and V ≥ 170).

Raising the chromatic share (35 %) calls more pale cars white or gray; lowering it lets coloured
backgrounds and reflections colour grey cars. The confidence is the winning share of the votes.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from recognition.base import Image

__all__ = ["VEHICLE_COLORS", "body_weights", "vehicle_color_name"]

VEHICLE_COLORS: tuple[str, ...] = (
    "white",
    "black",
    "gray",
    "red",
    "orange",
    "yellow",
    "green",
    "blue",
    "purple",
    "pink",
    "brown",
)
"""Every name :func:`vehicle_color_name` may return."""

_W, _H = 128, 96
DARK_V = 60
"""V below which a pixel is shadow, tyre, grille or black paint."""
BLACK_SHARE = 0.5
"""Share of dark body weight that makes a vehicle black."""
CHROMA_MIN = 40
"""RGB chroma (max − min) below which a pixel has no reliable hue."""
CHROMATIC_SHARE = 0.35
"""Share of chromatic weight, among non-dark pixels, above which the vehicle is coloured."""
WHITE_V = 170
"""Weighted median V of achromatic pixels at or above which a vehicle is white rather than gray."""
BROWN_V = 140
"""Orange or red pixels darker than this are brown."""
PINK_S, PINK_V = 110, 170
"""Red pixels with S below PINK_S and V at least PINK_V are pink."""

# Hue boundaries in OpenCV units (degrees / 2), upper bound exclusive, red wrapping around.
_HUE_NAMES: tuple[tuple[int, str], ...] = (
    (8, "red"),
    (20, "orange"),
    (35, "yellow"),
    (85, "green"),
    (130, "blue"),
    (150, "purple"),
    (165, "pink"),
    (181, "red"),
)


def body_weights(height: int = _H, width: int = _W) -> NDArray[np.float32]:
    """Per-pixel weights of the body region of a vehicle-centred crop (see the module docstring)."""
    ys = (np.arange(height, dtype=np.float32) + 0.5) / height
    xs = (np.arange(width, dtype=np.float32) + 0.5) / width
    gy = np.exp(-0.5 * ((ys - 0.6) / 0.3) ** 2)
    gx = np.exp(-0.5 * ((xs - 0.5) / 0.3) ** 2)
    w = np.outer(gy, gx).astype(np.float32)
    w[ys < 0.30, :] = 0
    w[ys >= 0.95, :] = 0
    w[:, (xs < 0.10) | (xs >= 0.90)] = 0
    plate_rows = (ys >= 0.65) & (ys < 0.87)
    plate_cols = (xs >= 0.33) & (xs < 0.67)
    w[np.ix_(plate_rows, plate_cols)] = 0
    return w


_WEIGHTS = body_weights()


def _hue_names(hue: NDArray[np.uint8]) -> NDArray[np.str_]:
    bounds = np.array([b for b, _ in _HUE_NAMES])
    names = np.array([n for _, n in _HUE_NAMES])
    return names[np.searchsorted(bounds, hue, side="right")]


def _weighted_median(values: NDArray[np.floating], weights: NDArray[np.floating]) -> float:
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, cum[-1] / 2)])


def vehicle_color_name(crop_bgr: Image) -> tuple[str, float]:
    """Name the body colour of a vehicle-centred BGR crop; returns (name, confidence in [0, 1])."""
    if crop_bgr.ndim != 3 or crop_bgr.shape[2] != 3 or crop_bgr.shape[0] < 2 or crop_bgr.shape[1] < 2:
        raise ValueError(
            f"vehicle_color_name: expected a BGR image [H>=2, W>=2, 3], got {list(crop_bgr.shape)}"
        )
    small = cv2.resize(crop_bgr, (_W, _H), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    h, s, v = hsv[..., 0], hsv[..., 1].astype(np.int32), hsv[..., 2].astype(np.int32)
    chroma = small.max(axis=2).astype(np.int32) - small.min(axis=2).astype(np.int32)
    w = _WEIGHTS
    total = float(w.sum())

    dark = v < DARK_V
    dark_share = float(w[dark].sum()) / total
    if dark_share >= BLACK_SHARE:
        return "black", dark_share

    lit = ~dark
    lit_total = float(w[lit].sum())
    chromatic = lit & (chroma >= CHROMA_MIN)
    chroma_share = float(w[chromatic].sum()) / lit_total
    if chroma_share < CHROMATIC_SHARE:
        achromatic = lit & ~chromatic
        median_v = _weighted_median(v[achromatic].astype(np.float32), w[achromatic])
        name = "white" if median_v >= WHITE_V else "gray"
        return name, 1.0 - chroma_share

    names = _hue_names(h[chromatic])
    sv, vv = s[chromatic], v[chromatic]
    warm = (names == "red") | (names == "orange")
    names = np.where(warm & (vv < BROWN_V), "brown", names)
    names = np.where((names == "red") & (sv < PINK_S) & (vv >= PINK_V), "pink", names)
    wc = w[chromatic]
    votes = {name: float(wc[names == name].sum()) for name in np.unique(names)}
    best = max(votes, key=lambda k: votes[k])
    return str(best), votes[best] / float(wc.sum())

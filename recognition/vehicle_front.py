"""The vehicle front ("车脸") estimated from its licence plate, and the pixels of a vehicle box.

We ship no vehicle detector (no pretrained one is distributed in a PyPI package), but plates are
found reliably and have a fixed physical size, so the plate is a ruler for the front around it.

Geometry, in plate widths ``pw`` (a Chinese plate is 440 mm wide, 140 mm tall):

- width: 4 pw ≈ 1.76 m, centred on the plate. Passenger cars are 1.7–1.85 m wide and the plate is
  mounted on the centre line; 4 pw keeps the headlamps and little of the next lane.
- above the plate: 2.2 pw ≈ 0.97 m. Plates sit 0.4–0.6 m above the road, the bonnet's leading
  edge about 0.8–1.0 m and the windscreen's base 1.0–1.1 m, so the box holds grille, headlamps,
  bonnet and the lower windscreen from a typical 10–30° camera elevation (which also makes the
  windscreen appear shorter).
- below the plate: 0.6 pw ≈ 0.26 m, the bumper's lower edge and air dam, down to the road.

For an off-centre plate (some SUVs and trucks) the box is off-centre by the same amount; a
perspective view shrinks the far side, so the box then holds some background on that side.
Raising the ratios gains context at the price of more background and neighbouring vehicles.
"""

from __future__ import annotations

import math

from recognition.base import Image
from recognition.types import Box

__all__ = ["FRONT_ABOVE_PW", "FRONT_BELOW_PW", "FRONT_WIDTH_PW", "crop_box", "front_box_from_plate"]

FRONT_WIDTH_PW = 4.0
"""Front width in plate widths (1.76 m / 0.44 m)."""

FRONT_ABOVE_PW = 2.2
"""Extent above the plate's top edge, in plate widths."""

FRONT_BELOW_PW = 0.6
"""Extent below the plate's bottom edge, in plate widths."""


def front_box_from_plate(plate_box: Box, frame_w: int, frame_h: int) -> Box:
    """The vehicle-front box around ``plate_box``, clipped to a ``frame_w`` × ``frame_h`` frame.

    The plate's width is the ruler because its height is foreshortened by the camera's elevation
    while its width is not (cameras look along the road, not across it).
    """
    if frame_w <= 0 or frame_h <= 0:
        raise ValueError(f"front_box_from_plate: frame size must be positive, got {frame_w}x{frame_h}")
    pw = plate_box.width
    cx = (plate_box.x1 + plate_box.x2) / 2
    half = FRONT_WIDTH_PW * pw / 2
    raw = Box(cx - half, plate_box.y1 - FRONT_ABOVE_PW * pw, cx + half, plate_box.y2 + FRONT_BELOW_PW * pw)
    return raw.clipped(frame_w, frame_h)


def crop_box(image: Image, box: Box) -> Image:
    """The pixels of ``box`` (clipped to the image, outward-rounded) as a view into ``image``."""
    fh, fw = image.shape[:2]
    b = box.clipped(fw, fh)
    x1, y1, x2, y2 = math.floor(b.x1), math.floor(b.y1), math.ceil(b.x2), math.ceil(b.y2)
    if x2 - x1 < 2 or y2 - y1 < 2:
        raise ValueError(f"vehicle box {box} holds less than 2×2 pixels of a {fw}×{fh} image")
    return image[y1:y2, x1:x2]

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
from sightline.errors import InputError

__all__ = [
    "FRONT_ABOVE_PW",
    "FRONT_BELOW_PW",
    "FRONT_WIDTH_PW",
    "MIN_QUERY_SIDE_PX",
    "crop_box",
    "front_box_from_plate",
    "query_box",
]

FRONT_WIDTH_PW = 4.0
"""Front width in plate widths (1.76 m / 0.44 m)."""

FRONT_ABOVE_PW = 2.2
"""Extent above the plate's top edge, in plate widths."""

FRONT_BELOW_PW = 0.6
"""Extent below the plate's bottom edge, in plate widths."""

MIN_QUERY_SIDE_PX = 16
"""Smallest width and height, in pixels, of the vehicle region of a search photo.

The appearance descriptor resizes every crop to 128×96 and bins gradients in 16-pixel cells: a
region narrower than one cell is all interpolation, and its vector matches blur rather than a
vehicle. Raising it refuses vehicles that are small in the photo; lowering it lets such blur through.
"""


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
    """The pixels of ``box`` (clipped to the image, outward-rounded) as a view into ``image``.

    InputError when fewer than 2×2 pixels remain: no descriptor can describe them, and a caller
    that passed them (a query box, a 1×1 photo) can fix its input.
    """
    fh, fw = image.shape[:2]
    b = box.clipped(fw, fh)
    x1, y1, x2, y2 = math.floor(b.x1), math.floor(b.y1), math.ceil(b.x2), math.ceil(b.y2)
    if x2 - x1 < 2 or y2 - y1 < 2:
        raise InputError(f"vehicle box {box.as_tuple()} holds less than 2×2 pixels of a {fw}×{fh} image")
    return image[y1:y2, x1:x2]


def query_box(width: int, height: int, box: Box | None = None) -> Box:
    """The region of a ``width`` × ``height`` search photo to describe: ``box`` clipped, or the whole
    photo; InputError saying what is wrong when it is empty, outside the photo, or smaller than
    :data:`MIN_QUERY_SIDE_PX` on a side. The API and the CLI both take their region from here.
    """
    least = MIN_QUERY_SIDE_PX
    if width < least or height < least:
        raise InputError(
            f"the photo is {width}x{height} pixels; a vehicle photo must be at least {least}x{least}"
        )
    if box is None:
        return Box(0.0, 0.0, float(width), float(height))
    coords = box.as_tuple()
    if not all(math.isfinite(v) for v in coords):
        raise InputError(f"box {coords}: coordinates must be finite numbers")
    if box.width <= 0 or box.height <= 0:
        raise InputError(f"box {coords} is empty: x2 must be greater than x1 and y2 greater than y1")
    clipped = box.clipped(width, height)
    if clipped.width <= 0 or clipped.height <= 0:
        raise InputError(f"box {coords} lies outside the {width}x{height} image")
    if clipped.width < least or clipped.height < least:
        raise InputError(
            f"box {coords} covers {clipped.width:g}x{clipped.height:g} pixels of the {width}x{height} "
            f"image; at least {least}x{least} are needed to describe a vehicle"
        )
    return clipped

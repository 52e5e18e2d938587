"""Which box each vehicle of a frame is tracked by: a detector's box with its plate, or the plate's front.

Without a vehicle detector every vehicle is found from its plate, and its box is the front
estimated around the plate (``recognition.vehicle_front``). With one (``recognition.vehicle.detector``)
a vehicle is whatever the detector reports, plate or not, so vehicles whose plate is unreadable (too
far, dirty, seen from the side) still become sightings that appearance search can find. The two
sources are merged here, per frame:

- a plate whose centre lies inside a detected vehicle box is that vehicle's plate: the vehicle keeps
  the plate read (so the tracker's plate gate and the plate vote still work) and the detector's box,
  which frames the whole vehicle better than a front guessed from the plate;
- a detected vehicle without such a plate is a vehicle without a read;
- a plate inside no detected box (the detector missed the vehicle, or it is cut by the frame edge)
  is tracked by its plate-anchored front, exactly as without a detector.

Only the detector decides what is a vehicle: ``OnnxYoloDetector`` already keeps just the classes its
user model lists in ``vehicle_classes`` (a person is never a vehicle), and nothing here re-filters
labels. Its NMS is class-aware, though, so one vehicle scored both "car" and "truck" comes back twice;
:func:`distinct_vehicles` keeps the better of such twins so one vehicle makes one track.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from recognition.types import Box, PlateDetection, PlateRead, VehicleDetection
from recognition.vehicle_front import front_box_from_plate

__all__ = [
    "FULL_VEHICLE_PX",
    "MIN_VEHICLE_PX",
    "SAME_VEHICLE_IOU",
    "VehicleCandidate",
    "attach_plates",
    "distinct_vehicles",
    "vehicle_candidates",
]

SAME_VEHICLE_IOU = 0.7
"""Boxes of different classes overlapping this much are one vehicle. Class-aware NMS leaves such twins
at IoU near 1 (the same candidate scored for two classes); two real vehicles overlap this much only when
one hides the other, and then the hidden one has no crop worth a sighting. Lowering it merges vehicles
queued bumper to bumper; raising it lets car/truck twins make two tracks of one vehicle."""

MIN_VEHICLE_PX = 24
"""Detected boxes with a shorter side below this are dropped: a 24-px vehicle has no colour or layout
worth searching (the descriptor works at 128×96) and no readable plate, so it would only add a track."""

FULL_VEHICLE_PX = 200
"""Shorter side (px) at which a detected box's size stops raising its quality: the descriptor (128×96)
and typical re-id inputs (≤ 256 px) gain nothing from more pixels, so beyond it sharper or better-read
observations should win the track's best crop rather than merely larger ones."""

_PLATE_FULL_WIDTH_PX = 100.0
"""Plate width at which OCR stops gaining accuracy; the plate-anchored quality saturates there."""


@dataclass(frozen=True, slots=True)
class VehicleCandidate:
    """One vehicle of one frame before it is described: the box to track and crop, its plate read if
    one is attached, its quality in [0, 1] and whether the box came from the detector."""

    box: Box
    plate: PlateRead | None
    quality: float
    detected: bool


def distinct_vehicles(detections: Sequence[VehicleDetection]) -> list[VehicleDetection]:
    """Big enough detections, best score first, without the lower-scored twin of any pair of boxes
    overlapping by :data:`SAME_VEHICLE_IOU` or more (whatever their classes)."""
    kept: list[VehicleDetection] = []
    for det in sorted(detections, key=lambda d: -d.score):
        if min(det.box.width, det.box.height) < MIN_VEHICLE_PX:
            continue
        if all(det.box.iou(k.box) < SAME_VEHICLE_IOU for k in kept):
            kept.append(det)
    return kept


def _contains(box: Box, point: tuple[float, float]) -> bool:
    x, y = point
    return box.x1 <= x <= box.x2 and box.y1 <= y <= box.y2


def attach_plates(plates: Sequence[PlateDetection], vehicles: Sequence[VehicleDetection]) -> list[int | None]:
    """For each plate, the index of the vehicle it belongs to, or None; each vehicle takes one plate.

    A plate belongs to a vehicle whose box holds the plate's centre. Where boxes overlap (a queue seen
    from behind or ahead), the plate goes to the vehicle whose box reaches lowest in the frame: cameras
    look down on the road, so that is the nearer vehicle, the one in front whose plate is not hidden.
    Plates are assigned best read first, so a second plate inside a taken box (a car half hidden by a
    lorry's box) keeps its own plate-anchored front instead of being lost.
    """
    owner: list[int | None] = [None] * len(plates)
    taken: set[int] = set()
    for pi in sorted(range(len(plates)), key=lambda i: -plates[i].read.confidence):
        centre = plates[pi].box.center
        inside = [vi for vi, v in enumerate(vehicles) if vi not in taken and _contains(v.box, centre)]
        if inside:
            best = max(inside, key=lambda vi: vehicles[vi].box.y2)
            owner[pi] = best
            taken.add(best)
    return owner


def _plate_quality(plate: PlateDetection) -> float:
    """A sharp, confident read of a large plate is the best picture of the vehicle front."""
    return plate.read.confidence * min(1.0, plate.box.width / _PLATE_FULL_WIDTH_PX)


def _detected_quality(det: VehicleDetection, plate: PlateDetection | None) -> float:
    """Detector score × size (saturating at :data:`FULL_VEHICLE_PX`), halved without a readable plate.

    The half keeps a track's best crop on a frame where the plate could be read, as investigators
    confirm a vehicle by its plate; a much larger or surer view without one can still win.
    """
    size = min(1.0, min(det.box.width, det.box.height) / FULL_VEHICLE_PX)
    readable = 0.5 + 0.5 * plate.read.confidence if plate is not None else 0.5
    return max(0.0, min(1.0, det.score)) * size * readable


def vehicle_candidates(
    frame_w: int,
    frame_h: int,
    plates: Sequence[PlateDetection],
    detections: Sequence[VehicleDetection] | None,
) -> list[VehicleCandidate]:
    """The frame's vehicles: detected ones first (with their plates), then plates no detection holds.

    ``detections`` is None when no detector is configured: then every plate becomes a plate-anchored
    front, in plate order, with the same quality as before detectors existed.
    """
    vehicles = distinct_vehicles(detections) if detections else []
    owner = attach_plates(plates, vehicles)
    plate_of = {vi: plates[pi] for pi, vi in enumerate(owner) if vi is not None}
    out = [
        VehicleCandidate(
            box=v.box,
            plate=plate_of[vi].read if vi in plate_of else None,
            quality=_detected_quality(v, plate_of.get(vi)),
            detected=True,
        )
        for vi, v in enumerate(vehicles)
    ]
    out.extend(
        VehicleCandidate(
            box=front_box_from_plate(p.box, frame_w, frame_h),
            plate=p.read,
            quality=_plate_quality(p),
            detected=False,
        )
        for p, vi in zip(plates, owner, strict=True)
        if vi is None
    )
    return out

"""Finding and reading plates in whole frames: cheap candidate regions, det on each, then rec.

Text detection on a whole 720×1160 frame costs about 2 s (models/README.md), so the frame is first
searched cheaply at reduced scale for regions that look like plates: saturated plate colours (blue,
yellow, green in HSV) and dense vertical strokes (characters), which also catches washed-out or
unusually lit plates the colour masks miss. Only the best few regions, with a margin so that no
character is clipped (clipped text misreads, 渝 → 榆), go to the DB detector at ≤ 256 px; its text
line is perspective-rectified and read, and the plate grammar decides what is a plate.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np
from numpy.typing import NDArray

from recognition.base import Image, PlateReader
from recognition.ppocr_det import PpocrTextDetector, TextBox, order_corners
from recognition.ppocr_rec import REC_HEIGHT
from recognition.types import Box, PlateDetection
from sightline.errors import InputError

if TYPE_CHECKING:
    from sightline.settings import Settings

__all__ = ["PlateLocator", "Region", "candidate_regions", "rectify"]

log = logging.getLogger(__name__)

FloatArray = NDArray[np.float32]

#: Candidates are searched with the frame's long side at this size: CCPD plates (100–390 px wide
#: in 1160 px frames) stay 40+ px wide, and the masks and morphology cost a few milliseconds.
_SEARCH_SIDE = 480
#: HSV ranges (OpenCV hue 0–180) of plate backgrounds; saturation floors keep grey paint out.
_COLOUR_RANGES: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "blue": ((98, 90, 50), (128, 255, 255)),
    "yellow": ((15, 90, 90), (35, 255, 255)),
    "green": ((35, 60, 90), (85, 255, 255)),
}
#: Plates are 440×140 (3.1:1) or 480×140 (3.4:1); the range admits tilt and a loose mask.
_MIN_ASPECT = 1.6
_MAX_ASPECT = 7.0
_MIN_PLATE_WIDTH = 20  # in search pixels: smaller plates cannot be read anyway (< ~40 px at full scale)
#: Margin around a candidate before det, as a share of its width and height: det needs the plate's
#: surroundings to see where the text stops, and a tight crop clips the outer characters.
_MARGIN_X = 0.15
_MARGIN_Y = 0.6
#: Width over height of a plate (440×140 blue, 480×140 new-energy).
_PLATE_ASPECT = 3.2
#: Candidates are scaled so that their height is this many pixels before det (never more than
#: _DET_MAX_ZOOM up): DB finds plate text reliably at 20–40 px character height.
_DET_PLATE_HEIGHT = 40
_DET_MAX_ZOOM = 2.0
#: A plate's text line (7–8 characters, padded) is 3:1 to 6:1 once rectified; lines outside this
#: range are signs or fragments and are not worth a rec call.
_MIN_LINE_ASPECT = 2.2
_MAX_LINE_ASPECT = 8.0
#: Extra width added to the rectified text line on each side, as a share of its height.
_LINE_PAD = 0.15
_PLATE_TO_TEXT_HEIGHT = 140 / 90


@dataclass(frozen=True, slots=True)
class Region:
    """A candidate plate region in frame pixels, with the evidence that ranked it."""

    box: Box
    score: float
    source: str
    corners: FloatArray


def _rect_regions(
    mask: NDArray[np.uint8], scale: float, source: str, edges: NDArray[np.uint8]
) -> list[Region]:
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    regions: list[Region] = []
    for contour in contours:
        rect = cv2.minAreaRect(contour)
        (_, _), (rw, rh), _ = rect
        long_side, short_side = max(rw, rh), min(rw, rh)
        if long_side < _MIN_PLATE_WIDTH or short_side < 6:
            continue
        aspect = long_side / short_side
        if not _MIN_ASPECT <= aspect <= _MAX_ASPECT:
            continue
        fill = cv2.contourArea(contour) / max(rw * rh, 1.0)
        if fill < 0.45:
            continue
        x, y, w, h = cv2.boundingRect(contour)
        if w < h:
            continue
        # Characters make dense vertical strokes: a plate-coloured car door or sky has none.
        density = float(edges[y : y + h, x : x + w].mean()) / 255.0
        if density < 0.05:
            continue
        score = density * fill
        box = Box(x / scale, y / scale, (x + w) / scale, (y + h) / scale)
        corners = order_corners(np.asarray(cv2.boxPoints(rect), dtype=np.float32)) / scale
        regions.append(Region(box, score, source, corners))
    return regions


def candidate_regions(image: Image, max_regions: int) -> list[Region]:
    """Plate-like regions of a frame, best first, without any neural network (a few ms)."""
    h, w = image.shape[:2]
    scale = min(1.0, _SEARCH_SIDE / max(h, w))
    small = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    grad = cv2.convertScaleAbs(cv2.Sobel(gray, cv2.CV_16S, 1, 0, ksize=3))
    _, edges = cv2.threshold(grad, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    edges_u8: NDArray[np.uint8] = np.asarray(edges, dtype=np.uint8)
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    close = cv2.getStructuringElement(cv2.MORPH_RECT, (9, 3))
    opening = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))
    regions: list[Region] = []
    for name, (lo, hi) in _COLOUR_RANGES.items():
        mask = cv2.inRange(hsv, np.array(lo, np.uint8), np.array(hi, np.uint8))
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, close)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, opening)
        for r in _rect_regions(np.asarray(mask, np.uint8), scale, name, edges_u8):
            regions.append(Region(r.box, r.score * 2.0, name, r.corners))
    # Stroke regions: character edges closed into a line, then opened to drop thin clutter.
    strokes = cv2.morphologyEx(edges, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (15, 5)))
    strokes = cv2.morphologyEx(strokes, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (9, 5)))
    regions += _rect_regions(np.asarray(strokes, np.uint8), scale, "strokes", edges_u8)
    regions.sort(key=lambda r: -r.score)
    kept: list[Region] = []
    for region in regions:
        if all(region.box.iou(k.box) < 0.4 for k in kept):
            kept.append(region)
        if len(kept) == max_regions:
            break
    return kept


def rectify(image: Image, corners: FloatArray, height: int = REC_HEIGHT) -> Image:
    """Warp a quadrilateral (clockwise from top-left) to an upright line of the given height."""
    tl, tr, br, bl = corners.astype(np.float32)
    width_px = max(float(np.linalg.norm(tr - tl)), float(np.linalg.norm(br - bl)))
    height_px = max(float(np.linalg.norm(bl - tl)), float(np.linalg.norm(br - tr)), 1.0)
    out_w = max(8, round(height * width_px / height_px))
    dst = np.array([[0, 0], [out_w - 1, 0], [out_w - 1, height - 1], [0, height - 1]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(corners.astype(np.float32), dst)
    warped = cv2.warpPerspective(
        image, matrix, (out_w, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return np.asarray(warped, dtype=np.uint8)


def _text_line(boxes: Sequence[TextBox]) -> FloatArray | None:
    """The plate's text line: the largest box merged with boxes on the same line (DB often splits
    a plate at its "·" separator), padded a little at both ends."""
    if not boxes:
        return None

    def area(b: TextBox) -> float:
        return float(cv2.contourArea(b.corners))

    main = max(boxes, key=area)
    tl, _, _, bl = main.corners
    line_h = float(np.linalg.norm(bl - tl))
    cy = float(main.corners[:, 1].mean())
    points = [main.corners]
    for other in boxes:
        if other is main:
            continue
        oh = float(np.linalg.norm(other.corners[3] - other.corners[0]))
        if abs(float(other.corners[:, 1].mean()) - cy) < 0.35 * line_h and 0.6 < oh / max(line_h, 1.0) < 1.6:
            points.append(other.corners)
    rect = cv2.minAreaRect(np.concatenate(points).astype(np.float32))
    (cx, cyy), (rw, rh), angle = rect
    if rw < rh:  # keep the long side as width
        rw, rh, angle = rh, rw, angle - 90.0
    pad = _LINE_PAD * rh
    quad = cv2.boxPoints(((cx, cyy), (rw + 2 * pad, rh), angle))
    return order_corners(np.asarray(quad, dtype=np.float32))


def _unpad(line: FloatArray) -> FloatArray:
    """The text line without the end padding ``_text_line`` added."""
    tl, tr, br, bl = line
    height = max(float(np.linalg.norm(bl - tl)), 1.0)
    along = (tr - tl) / max(float(np.linalg.norm(tr - tl)), 1.0)
    delta = along * _LINE_PAD * height
    return np.stack([tl + delta, tr - delta, br - delta, bl + delta]).astype(np.float32)


def _plate_outline(line: FloatArray) -> FloatArray:
    """The plate around its padded text line: characters are 90 of the plate's 140 mm height (GA 36),
    and the padded line already spans about the plate's width."""
    tl, tr, br, bl = line
    down = ((bl - tl) + (br - tr)) / 2 * (_PLATE_TO_TEXT_HEIGHT - 1.0) / 2
    out = np.stack([tl - down, tr - down, br + down, bl + down]).astype(np.float32)
    return out


class PlateLocator:
    """Finds plates in a frame: candidate regions → DB text line → rectified crop → grammar-checked read."""

    def __init__(
        self,
        detector: PpocrTextDetector,
        reader: PlateReader,
        *,
        min_confidence: float = 0.5,
        max_candidates: int = 6,
    ) -> None:
        self._detector = detector
        self._reader = reader
        self._min_confidence = min_confidence
        self._max_candidates = max_candidates

    @classmethod
    def from_settings(cls, settings: Settings, reader: PlateReader | None = None) -> PlateLocator:
        """The locator with the prepared det model and (unless given) the PP-OCRv4 reader."""
        from recognition.ppocr_rec import PpocrPlateReader

        plate = settings.recognition.plate
        return cls(
            PpocrTextDetector.from_settings(settings),
            reader if reader is not None else PpocrPlateReader.from_settings(settings),
            min_confidence=plate.min_confidence,
            max_candidates=plate.max_candidates,
        )

    def _text_quad(self, image: Image, region: Region) -> FloatArray | None:
        """The text line in a candidate region (frame pixels), or None when it holds no plate-like line."""
        h, w = image.shape[:2]
        b = region.box
        # A mask often holds only part of a plate (a glare, the saturated half of a new-energy
        # plate's gradient), so det sees a plate-shaped window around it: at least as wide as
        # _PLATE_ASPECT times its height, with margins, so that no character is clipped.
        plate_w = max(b.width, _PLATE_ASPECT * b.height)
        plate_h = plate_w / _PLATE_ASPECT
        cx, cy = b.center
        half_w, half_h = plate_w * (0.5 + _MARGIN_X), max(plate_h * (0.5 + _MARGIN_Y), b.height / 2)
        x1, y1 = max(0, int(cx - half_w)), max(0, int(cy - half_h))
        x2, y2 = min(w, int(np.ceil(cx + half_w))), min(h, int(np.ceil(cy + half_h)))
        if x2 - x1 < 8 or y2 - y1 < 8:
            return None
        crop = image[y1:y2, x1:x2]
        # Det sees the candidate at a fixed plate height: enough for DB, and its cost is
        # proportional to pixels, so large near plates cost no more than small ones.
        zoom = min(_DET_MAX_ZOOM, _DET_PLATE_HEIGHT / max(plate_h, 1.0))
        size = (max(8, round(crop.shape[1] * zoom)), max(8, round(crop.shape[0] * zoom)))
        small = np.asarray(cv2.resize(crop, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
        line = _text_line(self._detector.detect(small))
        if line is None:
            return None
        tl, tr, _, bl = line
        aspect = float(np.linalg.norm(tr - tl) / max(float(np.linalg.norm(bl - tl)), 1.0))
        if not _MIN_LINE_ASPECT <= aspect <= _MAX_LINE_ASPECT:
            return None
        scale = np.array([crop.shape[1] / small.shape[1], crop.shape[0] / small.shape[0]], dtype=np.float32)
        quad: FloatArray = line * scale + np.array([x1, y1], dtype=np.float32)
        return quad

    def find(self, image: Image) -> list[PlateDetection]:
        """Plates in a BGR frame, most confident first; corners [4, 2] clockwise from top-left."""
        if image.ndim != 3 or image.shape[2] != 3:
            raise InputError(f"frame must be a BGR image [H, W, 3], got shape {list(image.shape)}")
        quads: list[FloatArray] = []
        outlines: list[FloatArray] = []
        scores: list[float] = []
        from_det: list[bool] = []
        for region in candidate_regions(image, self._max_candidates):
            quad = self._text_quad(image, region)
            if quad is not None:
                quads.append(quad)
                outlines.append(_plate_outline(quad))
            elif region.source != "strokes":
                # A plate-coloured region is the plate itself: read it whole when det sees no text
                # (blurred or overexposed plates); the grammar drops its border as strays.
                quads.append(region.corners)
                outlines.append(region.corners)
            else:
                continue
            scores.append(region.score)
            from_det.append(quad is not None)
        if not quads:
            return []
        h, w = image.shape[:2]
        reads = self._reader.read([rectify(image, q) for q in quads])
        # Near misses (plate-like characters but no grammatical plate) are read once more without
        # the end padding: a border bar that close can merge with the first character (川 → "[I").
        retry = [
            i
            for i, r in enumerate(reads)
            if from_det[i] and not r.valid and sum(c.isascii() and c.isalnum() for c in r.text) >= 4
        ]
        if retry:
            second = self._reader.read([rectify(image, _unpad(quads[i])) for i in retry])
            for i, read in zip(retry, second, strict=True):
                if read.valid:
                    reads[i] = read
        found: list[PlateDetection] = []
        for quad, read, score in zip(outlines, reads, scores, strict=True):
            if not read.valid or read.confidence < self._min_confidence:
                log.debug(
                    "rejected plate read %r (valid=%s, confidence %.2f)",
                    read.text,
                    read.valid,
                    read.confidence,
                )
                continue
            box = Box(
                float(quad[:, 0].min()),
                float(quad[:, 1].min()),
                float(quad[:, 0].max()),
                float(quad[:, 1].max()),
            ).clipped(w, h)
            found.append(PlateDetection(box=box, corners=quad, read=read, score=score))
        found.sort(key=lambda d: -d.read.confidence)
        deduped: list[PlateDetection] = []
        for det in found:
            if all(det.box.iou(k.box) < 0.3 for k in deduped):
                deduped.append(det)
        return deduped

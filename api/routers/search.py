"""``/api/search``: by face photo, by vehicle photo, by plate pattern. Every search is audited.

Each search names a case reference and a reason (the audit context, see ``api/deps.py``); the
search service writes the audit row with the actor, the query and the sighting ids returned.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query

from api.deps import (
    FaceDetectorDep,
    FaceEmbedderDep,
    FormSearchRequest,
    MetricsDep,
    QuerySearchRequest,
    SearchServiceDep,
    SettingsDep,
    VehicleEmbedderDep,
    allowed,
)
from api.schemas import ErrorOut, TrajectoryOut
from api.uploads import BoundedUpload
from recognition.base import Image
from recognition.query import QueryFaceEmbedder
from recognition.types import Box
from recognition.vehicle_front import MIN_QUERY_SIDE_PX, query_box
from search.identity import Action, Principal
from sightline.errors import InputError
from sightline.limits import BOX_MAX_CHARS, PLATE_PATTERN_MAX_CHARS

__all__ = ["parse_box", "router"]

router = APIRouter(prefix="/search", tags=["search"])

Searcher = Annotated[Principal, Depends(allowed(Action.SEARCH))]
"""Investigators only; the service confines the search to their camera scope."""

_K = "Most sightings to return (default: api.default_k)."
_MIN_SIM = "Cosine similarity floor; default from the search settings. Lower finds more, and more strangers."
_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorOut, "description": "The photo is over api.max_upload_bytes."},
    422: {"model": ErrorOut, "description": "Missing case_ref/reason, bad filters, or an unusable photo."},
    503: {
        "model": ErrorOut,
        "description": "The store, the index or a model is unavailable, or every photo decode slot is "
        "busy (Overloaded, with Retry-After).",
    },
}


def parse_box(text: str | None, image: Image) -> Box:
    """``"x1,y1,x2,y2"`` in pixels → a Box clipped to the image (None: the whole photo); InputError
    when malformed, empty, outside the image, or too small to describe (``query_box``'s rules).
    """
    height, width = image.shape[:2]
    if text is None:
        return query_box(width, height)
    try:
        x1, y1, x2, y2 = (float(v) for v in text.split(","))
        box = Box(x1, y1, x2, y2)
    except ValueError as exc:
        raise InputError(f"box {text!r}: expected 'x1,y1,x2,y2' in pixels with x2 > x1 and y2 > y1") from exc
    return query_box(width, height, box)


@router.post(
    "/face",
    summary="Search by face photo",
    description="Finds the largest face in the uploaded photo, embeds it with the face model and returns "
    "the matching face sightings as a trajectory ordered by time. A photo without a detectable face "
    "answers 422 (NoFaceFound).",
    response_model=TrajectoryOut,
    responses=_ERRORS,
)
def search_face(
    searcher: Searcher,
    request: FormSearchRequest,  # before the photo: a bad filter is refused before it is decoded
    image: BoundedUpload,
    service: SearchServiceDep,
    detector: FaceDetectorDep,
    embedder: FaceEmbedderDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    k: Annotated[int | None, Form(ge=1, le=1000, description=_K)] = None,
    min_similarity: Annotated[float | None, Form(ge=-1, le=1, description=_MIN_SIM)] = None,
) -> TrajectoryOut:
    with service.failures_audited(request, "search.face"):
        vector = QueryFaceEmbedder(detector, embedder, settings.recognition.face.min_face_px).embed(image)
        trajectory = service.search_face(
            request, vector, k=k or settings.api.default_k, min_similarity=min_similarity, principal=searcher
        )
    metrics.searches.labels(kind="face").inc()
    return TrajectoryOut.from_record(trajectory)


@router.post(
    "/vehicle",
    summary="Search by vehicle photo",
    description="Describes the vehicle in the uploaded photo (inside `box` when given, else the whole "
    "photo taken as the vehicle front) and returns similar-looking vehicle sightings in time order.",
    response_model=TrajectoryOut,
    responses=_ERRORS,
)
def search_vehicle(
    searcher: Searcher,
    request: FormSearchRequest,  # before the photo: a bad filter is refused before it is decoded
    image: BoundedUpload,
    service: SearchServiceDep,
    embedder: VehicleEmbedderDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    box: Annotated[
        str | None,
        Form(
            max_length=BOX_MAX_CHARS,
            description="Vehicle box 'x1,y1,x2,y2' in pixels; default the whole photo. At least "
            f"{MIN_QUERY_SIDE_PX}x{MIN_QUERY_SIDE_PX} pixels of it must lie inside the photo.",
        ),
    ] = None,
    k: Annotated[int | None, Form(ge=1, le=1000, description=_K)] = None,
    min_similarity: Annotated[float | None, Form(ge=-1, le=1, description=_MIN_SIM)] = None,
) -> TrajectoryOut:
    with service.failures_audited(request, "search.vehicle"):
        region = parse_box(box or None, image)
        vector = embedder.embed(image, [region]).vectors[0]
        trajectory = service.search_vehicle(
            request, vector, k=k or settings.api.default_k, min_similarity=min_similarity, principal=searcher
        )
    metrics.searches.labels(kind="vehicle").inc()
    return TrajectoryOut.from_record(trajectory)


@router.get(
    "/plate",
    summary="Search by plate pattern",
    description="Plate pattern with `*` (any run) and `?` (one character), e.g. `川A*23*5`; tolerates OCR "
    "look-alikes. A malformed pattern answers 400 naming the offending character.",
    response_model=TrajectoryOut,
    responses={400: {"model": ErrorOut, "description": "Malformed plate pattern."}, **_ERRORS},
)
def search_plate(
    searcher: Searcher,
    pattern: Annotated[
        str, Query(min_length=1, max_length=PLATE_PATTERN_MAX_CHARS, description="Plate pattern.")
    ],
    request: QuerySearchRequest,
    service: SearchServiceDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    k: Annotated[int | None, Query(ge=1, le=1000, description=_K)] = None,
) -> TrajectoryOut:
    with service.failures_audited(request, "search.plate", {"pattern": pattern}):
        trajectory = service.search_plate(
            request, pattern, limit=k or settings.api.default_k, principal=searcher
        )
    metrics.searches.labels(kind="plate").inc()
    return TrajectoryOut.from_record(trajectory)

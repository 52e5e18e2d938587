"""``/api/search``: by face photo, by vehicle photo, by plate pattern. Every search is audited.

Each search names a case reference and a reason (the audit context, see ``api/deps.py``); the
search service writes the audit row with the actor, the query and the sighting ids returned.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query

from api.deps import (
    FaceDetectorDep,
    FaceEmbedderDep,
    FormSearchRequest,
    MetricsDep,
    QuerySearchRequest,
    SearchServiceDep,
    SettingsDep,
    UploadedImage,
    VehicleEmbedderDep,
)
from api.schemas import ErrorOut, TrajectoryOut
from recognition.base import Image
from recognition.query import QueryFaceEmbedder
from recognition.types import Box
from sightline.errors import InputError

__all__ = ["parse_box", "router"]

router = APIRouter(prefix="/search", tags=["search"])

_K = "Most sightings to return (default: api.default_k)."
_MIN_SIM = "Cosine similarity floor; default from the search settings. Lower finds more, and more strangers."
_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorOut, "description": "The photo is over api.max_upload_bytes."},
    422: {"model": ErrorOut, "description": "Missing case_ref/reason, bad filters, or an unusable photo."},
    503: {"model": ErrorOut, "description": "The store, the index or a model is unavailable."},
}


def parse_box(text: str, image: Image) -> Box:
    """``"x1,y1,x2,y2"`` in pixels → a Box clipped to the image; InputError when malformed or empty."""
    try:
        x1, y1, x2, y2 = (float(v) for v in text.split(","))
        box = Box(x1, y1, x2, y2)
    except ValueError as exc:
        raise InputError(
            f"box {text!r}: expected 'x1,y1,x2,y2' in pixels with x2 >= x1 and y2 >= y1"
        ) from exc
    height, width = image.shape[:2]
    clipped = box.clipped(width, height)
    if clipped.width < 1 or clipped.height < 1:
        raise InputError(f"box {text!r} lies outside the {width}x{height} image")
    return clipped


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
    image: UploadedImage,
    request: FormSearchRequest,
    service: SearchServiceDep,
    detector: FaceDetectorDep,
    embedder: FaceEmbedderDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    k: Annotated[int | None, Form(ge=1, le=1000, description=_K)] = None,
    min_similarity: Annotated[float | None, Form(ge=-1, le=1, description=_MIN_SIM)] = None,
) -> TrajectoryOut:
    vector = QueryFaceEmbedder(detector, embedder, settings.recognition.face.min_face_px).embed(image)
    trajectory = service.search_face(
        request, vector, k=k or settings.api.default_k, min_similarity=min_similarity
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
    image: UploadedImage,
    request: FormSearchRequest,
    service: SearchServiceDep,
    embedder: VehicleEmbedderDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    box: Annotated[
        str | None, Form(description="Vehicle box 'x1,y1,x2,y2' in pixels; default the whole photo.")
    ] = None,
    k: Annotated[int | None, Form(ge=1, le=1000, description=_K)] = None,
    min_similarity: Annotated[float | None, Form(ge=-1, le=1, description=_MIN_SIM)] = None,
) -> TrajectoryOut:
    height, width = image.shape[:2]
    region = parse_box(box, image) if box else Box(0.0, 0.0, float(width), float(height))
    vector = embedder.embed(image, [region]).vectors[0]
    trajectory = service.search_vehicle(
        request, vector, k=k or settings.api.default_k, min_similarity=min_similarity
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
    pattern: Annotated[str, Query(min_length=1, max_length=64, description="Plate pattern.")],
    request: QuerySearchRequest,
    service: SearchServiceDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    k: Annotated[int | None, Query(ge=1, le=1000, description=_K)] = None,
) -> TrajectoryOut:
    trajectory = service.search_plate(request, pattern, limit=k or settings.api.default_k)
    metrics.searches.labels(kind="plate").inc()
    return TrajectoryOut.from_record(trajectory)

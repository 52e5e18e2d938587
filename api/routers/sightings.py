"""``/api/sightings/{id}``: one sighting's record and its crop."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import FileResponse

from api.deps import SearchServiceDep
from api.schemas import ErrorOut, SightingOut

__all__ = ["router"]

router = APIRouter(prefix="/sightings", tags=["sightings"])

SightingId = Annotated[int, Path(ge=1, description="Sighting id, as search results give it.")]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such sighting (or it expired)."}
}


@router.get(
    "/{sighting_id}",
    summary="Read a sighting",
    description="Camera, time span, box, quality and plate read of one sighting.",
    response_model=SightingOut,
    responses=_NOT_FOUND,
)
def get_sighting(sighting_id: SightingId, service: SearchServiceDep) -> SightingOut:
    return SightingOut.from_record(service.sighting(sighting_id))


@router.get(
    "/{sighting_id}/crop",
    summary="A sighting's crop",
    description="The best crop of the sighting's track as JPEG.",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}}, "description": "The crop."}, **_NOT_FOUND},
)
def get_sighting_crop(sighting_id: SightingId, service: SearchServiceDep) -> FileResponse:
    path = service.crop_path(sighting_id)
    return FileResponse(
        path,
        media_type="image/jpeg",
        filename=f"sighting-{sighting_id}.jpg",
        content_disposition_type="inline",
    )

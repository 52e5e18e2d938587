"""``/api/sightings/{id}``: one sighting's record and its crop."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import FileResponse

from api.deps import SearchServiceDep, allowed
from api.schemas import ErrorOut, SightingOut
from search.identity import Action, Principal
from sightline.limits import SIGHTING_ID_MAX

__all__ = ["router"]

router = APIRouter(prefix="/sightings", tags=["sightings"])

Reader = Annotated[Principal, Depends(allowed(Action.READ_SIGHTING))]

# Bounded above as well: an id past SQLite's signed 64-bit INTEGER made the driver raise (500).
SightingId = Annotated[
    int, Path(ge=1, le=SIGHTING_ID_MAX, description="Sighting id, as search results give it.")
]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such sighting (or it expired)."}
}


@router.get(
    "/{sighting_id}",
    summary="Read a sighting",
    description="Camera, time span, box, quality and plate read of one sighting (investigators, within "
    "their camera scope; every read is audited).",
    response_model=SightingOut,
    responses=_NOT_FOUND,
)
def get_sighting(reader: Reader, sighting_id: SightingId, service: SearchServiceDep) -> SightingOut:
    return SightingOut.from_record(service.sighting(sighting_id, principal=reader))


@router.get(
    "/{sighting_id}/crop",
    summary="A sighting's crop",
    description="The best crop of the sighting's track as JPEG (investigators, within their camera "
    "scope; every read is audited).",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}}, "description": "The crop."}, **_NOT_FOUND},
)
def get_sighting_crop(reader: Reader, sighting_id: SightingId, service: SearchServiceDep) -> FileResponse:
    path = service.crop_path(sighting_id, principal=reader)
    return FileResponse(
        path,
        media_type="image/jpeg",
        filename=f"sighting-{sighting_id}.jpg",
        content_disposition_type="inline",
    )

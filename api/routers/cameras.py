"""``/api/cameras``: register, list, read, replace and delete cameras. URLs come back redacted."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response, status

from api.deps import SearchServiceDep
from api.schemas import CameraIn, CameraOut, CameraUpdate, ErrorOut

__all__ = ["router"]

router = APIRouter(prefix="/cameras", tags=["cameras"])

CameraId = Annotated[str, Path(min_length=1, max_length=128, description="Camera id.")]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No camera with this id."}
}


@router.get(
    "",
    summary="List cameras",
    description="All registered cameras ordered by id; stream credentials are redacted.",
    response_model=list[CameraOut],
)
def list_cameras(service: SearchServiceDep) -> list[CameraOut]:
    return [CameraOut.from_record(c) for c in service.cameras()]


@router.post(
    "",
    summary="Register a camera",
    description="Adds a camera; sightings name it by id. An id already in use answers 422.",
    response_model=CameraOut,
    status_code=status.HTTP_201_CREATED,
    responses={422: {"model": ErrorOut, "description": "Invalid fields or id already in use."}},
)
def create_camera(body: CameraIn, service: SearchServiceDep) -> CameraOut:
    return CameraOut.from_record(service.store.add_camera(body.to_record()))


@router.get(
    "/{camera_id}",
    summary="Read a camera",
    response_model=CameraOut,
    responses=_NOT_FOUND,
)
def get_camera(camera_id: CameraId, service: SearchServiceDep) -> CameraOut:
    return CameraOut.from_record(service.store.get_camera(camera_id))


@router.put(
    "/{camera_id}",
    summary="Replace a camera's fields",
    description="Replaces name, position, URL and tags; the id cannot change.",
    response_model=CameraOut,
    responses=_NOT_FOUND,
)
def update_camera(camera_id: CameraId, body: CameraUpdate, service: SearchServiceDep) -> CameraOut:
    updated = service.store.update_camera(
        camera_id, name=body.name, lat=body.lat, lon=body.lon, url=body.url, tags=tuple(body.tags)
    )
    return CameraOut.from_record(updated)


@router.delete(
    "/{camera_id}",
    summary="Delete a camera",
    description="Deletes a camera without sightings; one that still has sightings answers 422 "
    "(they expire with retention).",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={**_NOT_FOUND, 422: {"model": ErrorOut, "description": "The camera still has sightings."}},
)
def delete_camera(camera_id: CameraId, service: SearchServiceDep) -> Response:
    service.store.delete_camera(camera_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

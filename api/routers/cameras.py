"""``/api/cameras``: register, list, read, replace and delete cameras. URLs come back redacted.

Changes reach live ingest while it runs: a registered RTSP camera starts streaming, a deleted one
stops, and a changed URL restarts the stream. A request the store refuses never touches running
streams. Cameras registered here stream over rtsp:// or rtsps:// only; file sources are for the CLI.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response, status

from api.deps import OptionalSupervisorDep, SearchServiceDep, allowed
from api.live import check_api_stream_url, is_live, restart_if_url_changed, stop_stream
from api.schemas import CameraIn, CameraOut, CameraUpdate, ErrorOut
from search.identity import Action, Principal
from search.records import Camera
from sightline.limits import CAMERA_ID_MAX_CHARS
from sightline.redact import redact_url

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter(prefix="/cameras", tags=["cameras"])

CameraId = Annotated[str, Path(min_length=1, max_length=CAMERA_ID_MAX_CHARS, description="Camera id.")]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No camera with this id."}
}
_BAD_URL = "A URL that is not rtsp:// or rtsps:// (file sources are for the CLI and replay only)."

Viewer = Annotated[Principal, Depends(allowed(Action.LIST_CAMERAS))]
"""Who may see cameras (within their scope; camera managers see all)."""
Manager = Annotated[Principal, Depends(allowed(Action.MANAGE_CAMERAS))]
"""Who may register, change and delete cameras."""


def _audited(camera: Camera) -> dict[str, object]:
    """What the audit keeps of a camera change: never the URL's credentials."""
    return {"id": camera.id, "name": camera.name, "url": redact_url(camera.url), "tags": list(camera.tags)}


@router.get(
    "",
    summary="List cameras",
    description="All registered cameras ordered by id; stream credentials are redacted.",
    response_model=list[CameraOut],
)
def list_cameras(viewer: Viewer, service: SearchServiceDep) -> list[CameraOut]:
    return [CameraOut.from_record(c) for c in service.cameras(principal=viewer)]


@router.post(
    "",
    summary="Register a camera",
    description="Adds a camera; sightings name it by id. With live ingest running, a camera with an "
    "RTSP URL starts streaming. An id already in use, or a URL that is not rtsp(s)://, answers 422.",
    response_model=CameraOut,
    status_code=status.HTTP_201_CREATED,
    responses={422: {"model": ErrorOut, "description": f"Invalid fields, id already in use. {_BAD_URL}"}},
)
def create_camera(
    admin: Manager, body: CameraIn, service: SearchServiceDep, supervisor: OptionalSupervisorDep
) -> CameraOut:
    check_api_stream_url(body.url)
    camera = service.store.add_camera(body.to_record())
    if supervisor is not None and is_live(camera):
        try:
            supervisor.add_camera(camera)
        except Exception:
            # Keep the registry and the running set the same: undo the store write, then report.
            service.store.delete_camera(camera.id)
            raise
    log.info("camera %s registered (%s)", camera.id, redact_url(camera.url))
    service.audit_event("cameras.create", actor=admin.name, outcome="ok", detail=_audited(camera))
    return CameraOut.from_record(camera)


@router.get(
    "/{camera_id}",
    summary="Read a camera",
    response_model=CameraOut,
    responses=_NOT_FOUND,
)
def get_camera(viewer: Viewer, camera_id: CameraId, service: SearchServiceDep) -> CameraOut:
    return CameraOut.from_record(service.camera(camera_id, principal=viewer))


@router.put(
    "/{camera_id}",
    summary="Replace a camera's fields",
    description="Replaces name, position, URL and tags; the id cannot change. A new URL must be "
    "rtsp(s):// and restarts the camera's stream; sending back the redacted URL that GET returned "
    "keeps the stored one, credentials included.",
    response_model=CameraOut,
    responses={**_NOT_FOUND, 422: {"model": ErrorOut, "description": f"Invalid fields. {_BAD_URL}"}},
)
def update_camera(
    admin: Manager,
    camera_id: CameraId,
    body: CameraUpdate,
    service: SearchServiceDep,
    supervisor: OptionalSupervisorDep,
) -> CameraOut:
    before = service.store.get_camera(camera_id)
    url = body.url
    if url is not None and before.url is not None and url in (before.url, redact_url(before.url)):
        url = before.url  # unchanged: a GET-edit-PUT round trip must not store the redacted form
    else:
        check_api_stream_url(url)
    after = service.store.update_camera(
        camera_id, name=body.name, lat=body.lat, lon=body.lon, url=url, tags=tuple(body.tags)
    )
    if supervisor is not None:
        restart_if_url_changed(supervisor, before, after)
    service.audit_event("cameras.update", actor=admin.name, outcome="ok", detail=_audited(after))
    return CameraOut.from_record(after)


@router.delete(
    "/{camera_id}",
    summary="Delete a camera",
    description="Deletes a camera without sightings and stops its live stream; one that still has "
    "sightings answers 422 (they expire with retention) and keeps streaming.",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={**_NOT_FOUND, 422: {"model": ErrorOut, "description": "The camera still has sightings."}},
)
def delete_camera(
    admin: Manager, camera_id: CameraId, service: SearchServiceDep, supervisor: OptionalSupervisorDep
) -> Response:
    camera = service.store.get_camera(camera_id)
    service.store.delete_camera(camera_id)
    if supervisor is not None and is_live(camera):
        stop_stream(supervisor, camera_id)
    log.info("camera %s deleted", camera_id)
    service.audit_event("cameras.delete", actor=admin.name, outcome="ok", detail={"id": camera_id})
    return Response(status_code=status.HTTP_204_NO_CONTENT)

"""``/api/cameras/status`` and ``/api/cameras/{id}/status``: what live ingest reports per camera.

Both answer 503 in a process that runs no camera workers (``sightline serve --no-workers``, an
API-only app): the status lives in the supervisor, not in the store.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from api.deps import LiveSupervisorDep, SearchServiceDep, allowed
from api.live import is_live
from api.schemas import CameraStatusOut, CameraStatusSummaryOut, ErrorOut
from search.identity import Action, Principal
from sightline.errors import NotFound
from sightline.limits import CAMERA_ID_MAX_CHARS

__all__ = ["router"]

router = APIRouter(prefix="/cameras", tags=["cameras"])

Watcher = Annotated[Principal, Depends(allowed(Action.CAMERA_STATUS))]
"""Who may watch live ingest (within their camera scope)."""

CameraId = Annotated[str, Path(min_length=1, max_length=CAMERA_ID_MAX_CHARS, description="Camera id.")]
_OFF: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorOut, "description": "Live ingest is not running in this process."}
}


@router.get(
    "/status",
    summary="Live ingest summary",
    description="Cameras per state, total input and analysed frame rates, dropped frames and "
    "reconnects, and the cameras not streaming with their last error (URLs redacted).",
    response_model=CameraStatusSummaryOut,
    responses=_OFF,
)
def get_status_summary(
    watcher: Watcher, supervisor: LiveSupervisorDep, service: SearchServiceDep
) -> CameraStatusSummaryOut:
    visible = {c.id for c in service.cameras(principal=watcher)}
    return CameraStatusSummaryOut.from_statuses([s for s in supervisor.statuses() if s.camera_id in visible])


@router.get(
    "/{camera_id}/status",
    summary="A camera's live status",
    description="State, frame rates, lag, reconnects and frame counters of one camera. 404 when the "
    "camera is not registered, or is registered without an RTSP stream (so not ingested live).",
    response_model=CameraStatusOut,
    responses={404: {"model": ErrorOut, "description": "Unknown or not a live camera."}, **_OFF},
)
def get_camera_status(
    watcher: Watcher, camera_id: CameraId, supervisor: LiveSupervisorDep, service: SearchServiceDep
) -> CameraStatusOut:
    camera = service.camera(camera_id, principal=watcher)  # NotFound (404): unknown or out of scope
    if not is_live(camera):
        raise NotFound(f"camera {camera_id!r} has no RTSP stream, so it is not ingested live")
    return CameraStatusOut.from_status(supervisor.status(camera_id))

"""``/api/cameras/status`` and ``/api/cameras/{id}/status``: what live ingest reports per camera.

Both answer 503 in a process that runs no camera workers (``sightline serve --no-workers``, an
API-only app): the status lives in the supervisor, not in the store.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from api.deps import LiveSupervisorDep, SearchServiceDep
from api.live import is_live
from api.schemas import CameraStatusOut, CameraStatusSummaryOut, ErrorOut
from sightline.errors import NotFound

__all__ = ["router"]

router = APIRouter(prefix="/cameras", tags=["cameras"])

CameraId = Annotated[str, Path(min_length=1, max_length=128, description="Camera id.")]
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
def get_status_summary(supervisor: LiveSupervisorDep) -> CameraStatusSummaryOut:
    return CameraStatusSummaryOut.from_statuses(supervisor.statuses())


@router.get(
    "/{camera_id}/status",
    summary="A camera's live status",
    description="State, frame rates, lag, reconnects and frame counters of one camera. 404 when the "
    "camera is not registered, or is registered without an RTSP stream (so not ingested live).",
    response_model=CameraStatusOut,
    responses={404: {"model": ErrorOut, "description": "Unknown or not a live camera."}, **_OFF},
)
def get_camera_status(
    camera_id: CameraId, supervisor: LiveSupervisorDep, service: SearchServiceDep
) -> CameraStatusOut:
    camera = service.store.get_camera(camera_id)  # NotFound (404) for an unknown camera
    if not is_live(camera):
        raise NotFound(f"camera {camera_id!r} has no RTSP stream, so it is not ingested live")
    return CameraStatusOut.from_status(supervisor.status(camera_id))

"""Typed dependencies: the services, who is asking and why (the audit context), the uploaded image.

Access control belongs in :func:`current_actor`: today it trusts the ``X-Sightline-User`` header
(set by a proxy in front of the API); swapping it for a token check changes every search at once,
because both audit-context dependencies take the actor from it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, File, Form, Header, Query, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from api.metrics import ApiMetrics
from api.services import Services
from api.uploads import decode_image, read_upload
from ingest.status import CameraSupervisor
from recognition.base import FaceDetector, FaceEmbedder, Image, VehicleEmbedder
from search.records import SearchRequest
from search.services import SearchService
from sightline.errors import ServiceUnavailable
from sightline.settings import Settings

__all__ = [
    "ActorDep",
    "FaceDetectorDep",
    "FaceEmbedderDep",
    "FormSearchRequest",
    "LiveSupervisorDep",
    "MetricsDep",
    "OptionalSupervisorDep",
    "QuerySearchRequest",
    "SearchServiceDep",
    "ServicesDep",
    "SettingsDep",
    "UploadedImage",
    "VehicleEmbedderDep",
    "current_actor",
    "get_metrics",
    "get_services",
    "get_settings",
    "parse_cameras",
    "search_request_from_form",
    "search_request_from_query",
    "uploaded_image",
]

ANONYMOUS = "anonymous"


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_services(request: Request) -> Services:
    services: Services | None = getattr(request.app.state, "services", None)
    if services is None:
        raise RuntimeError("services are not started: run the app inside its lifespan")
    return services


SettingsDep = Annotated[Settings, Depends(get_settings)]
ServicesDep = Annotated[Services, Depends(get_services)]


def _search(services: ServicesDep) -> SearchService:
    return services.search


def _face_detector(services: ServicesDep) -> FaceDetector:
    return services.face_detector


def _face_embedder(services: ServicesDep) -> FaceEmbedder:
    return services.face_embedder


def _vehicle_embedder(services: ServicesDep) -> VehicleEmbedder:
    return services.vehicle_embedder


def get_metrics(request: Request) -> ApiMetrics:
    metrics: ApiMetrics = request.app.state.metrics
    return metrics


def _optional_supervisor(services: ServicesDep) -> CameraSupervisor | None:
    return services.supervisor


LIVE_INGEST_OFF = (
    "live ingest is not running in this process (started with --no-workers, or an API-only app): "
    "camera status is unavailable"
)


def _live_supervisor(services: ServicesDep) -> CameraSupervisor:
    """The supervisor, or 503: status cannot be answered by a process that runs no camera workers."""
    if services.supervisor is None:
        raise ServiceUnavailable(LIVE_INGEST_OFF)
    return services.supervisor


SearchServiceDep = Annotated[SearchService, Depends(_search)]
MetricsDep = Annotated[ApiMetrics, Depends(get_metrics)]
OptionalSupervisorDep = Annotated[CameraSupervisor | None, Depends(_optional_supervisor)]
LiveSupervisorDep = Annotated[CameraSupervisor, Depends(_live_supervisor)]
FaceDetectorDep = Annotated[FaceDetector, Depends(_face_detector)]
FaceEmbedderDep = Annotated[FaceEmbedder, Depends(_face_embedder)]
VehicleEmbedderDep = Annotated[VehicleEmbedder, Depends(_vehicle_embedder)]


def current_actor(
    x_sightline_user: Annotated[
        str | None,
        Header(description="Who runs the search; recorded in the audit log. Default 'anonymous'."),
    ] = None,
) -> str:
    """The person behind a request: the one place to add authentication."""
    actor = (x_sightline_user or "").strip()
    return actor or ANONYMOUS


ActorDep = Annotated[str, Depends(current_actor)]


def parse_cameras(cameras: str | None) -> tuple[str, ...]:
    """``"gate-north, gate-south"`` → ("gate-north", "gate-south"); empty items are dropped."""
    if not cameras:
        return ()
    return tuple(c.strip() for c in cameras.split(",") if c.strip())


def _search_request(
    actor: str,
    case_ref: str,
    reason: str,
    since: datetime | None,
    until: datetime | None,
    cameras: str | None,
) -> SearchRequest:
    return SearchRequest(
        case_ref=case_ref.strip(),
        reason=reason.strip(),
        actor=actor,
        since=since,
        until=until,
        camera_ids=parse_cameras(cameras),
    )


_CASE_REF = "Case reference the search is made for (required, non-empty)."
_REASON = "Why the search is made (required, non-empty)."
_SINCE = "Only sightings last seen at or after this ISO 8601 time with zone, e.g. 2024-05-01T08:00:00Z."
_UNTIL = "Only sightings first seen at or before this ISO 8601 time with zone."
_CAMERAS = "Comma-separated camera ids to search; empty searches all cameras."


def search_request_from_query(
    actor: ActorDep,
    case_ref: Annotated[str, Query(min_length=1, max_length=256, description=_CASE_REF)],
    reason: Annotated[str, Query(min_length=1, max_length=2000, description=_REASON)],
    since: Annotated[datetime | None, Query(description=_SINCE)] = None,
    until: Annotated[datetime | None, Query(description=_UNTIL)] = None,
    cameras: Annotated[str | None, Query(description=_CAMERAS)] = None,
) -> SearchRequest:
    """The audit context and filters of a GET search."""
    return _search_request(actor, case_ref, reason, since, until, cameras)


def search_request_from_form(
    actor: ActorDep,
    case_ref: Annotated[str, Form(min_length=1, max_length=256, description=_CASE_REF)],
    reason: Annotated[str, Form(min_length=1, max_length=2000, description=_REASON)],
    since: Annotated[datetime | None, Form(description=_SINCE)] = None,
    until: Annotated[datetime | None, Form(description=_UNTIL)] = None,
    cameras: Annotated[str | None, Form(description=_CAMERAS)] = None,
) -> SearchRequest:
    """The audit context and filters of a multipart (photo) search."""
    return _search_request(actor, case_ref, reason, since, until, cameras)


QuerySearchRequest = Annotated[SearchRequest, Depends(search_request_from_query)]
FormSearchRequest = Annotated[SearchRequest, Depends(search_request_from_form)]


async def uploaded_image(
    settings: SettingsDep,
    image: Annotated[UploadFile, File(description="The query photo (JPEG, PNG, ...).")],
) -> Image:
    """The uploaded photo, size-checked while read and decoded off the event loop."""
    data = await read_upload(image, settings.api.max_upload_bytes)
    return await run_in_threadpool(decode_image, data, settings.api.max_upload_pixels)


UploadedImage = Annotated[Image, Depends(uploaded_image)]

"""Typed dependencies: the services, who is asking and why (the audit context), the uploaded image.

Who is asking comes from one place, :func:`current_principal`: the bearer token issued by
``POST /api/auth/token``, checked against the user's current state on every request. Routes declare
what they need with :func:`allowed`, which checks the same role table the services check
(``search/identity.py``); the camera scope is applied by the services themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Form, Query, Request
from fastapi.security import OAuth2PasswordBearer

from api.access import Access
from api.metrics import ApiMetrics
from api.services import Services
from ingest.status import CameraSupervisor
from recognition.base import FaceDetector, FaceEmbedder, VehicleEmbedder
from search.audit_text import CASE_REF_MAX, REASON_MAX
from search.identity import Action, Principal
from search.records import SearchRequest
from search.services import SearchService
from sightline.errors import ServiceUnavailable, Unauthenticated
from sightline.settings import Settings

__all__ = [
    "AccessDep",
    "ActorDep",
    "FaceDetectorDep",
    "FaceEmbedderDep",
    "FormSearchRequest",
    "LiveSupervisorDep",
    "MetricsDep",
    "OptionalSupervisorDep",
    "PrincipalDep",
    "QuerySearchRequest",
    "SearchServiceDep",
    "ServicesDep",
    "SettingsDep",
    "VehicleEmbedderDep",
    "allowed",
    "current_actor",
    "current_principal",
    "get_access",
    "get_metrics",
    "get_services",
    "get_settings",
    "metrics_reader",
    "parse_cameras",
    "search_request_from_form",
    "search_request_from_query",
]


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


def get_access(request: Request) -> Access:
    access: Access | None = getattr(request.app.state, "access", None)
    if access is None:
        raise RuntimeError("access is not started: run the app inside its lifespan")
    return access


AccessDep = Annotated[Access, Depends(get_access)]

_bearer = OAuth2PasswordBearer(
    tokenUrl="/api/auth/token",
    auto_error=False,
    description="A token from POST /api/auth/token (user name and password).",
)


def current_principal(access: AccessDep, token: Annotated[str | None, Depends(_bearer)]) -> Principal:
    """The user behind the request's bearer token; 401 without a valid one."""
    if not token:
        raise Unauthenticated("log in first: send 'Authorization: Bearer <token>' from POST /api/auth/token")
    return access.principal(token)


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def allowed(action: Action) -> Callable[[Principal], Principal]:
    """A dependency: the principal, if their role may do ``action`` (403 otherwise)."""

    def check(principal: PrincipalDep) -> Principal:
        principal.require(action)
        return principal

    check.__name__ = f"allowed_{action.value}"
    return check


def metrics_reader(
    settings: SettingsDep, access: AccessDep, token: Annotated[str | None, Depends(_bearer)]
) -> None:
    """Anyone when ``api.open_metrics`` (a scraper on a trusted network); else a token whose role
    may read metrics."""
    if not settings.api.open_metrics:
        current_principal(access, token).require(Action.READ_METRICS)


def current_actor(principal: Annotated[Principal, Depends(allowed(Action.SEARCH))]) -> str:
    """The name the audit records for a search: the authenticated investigator's."""
    return principal.name


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
    case_ref: Annotated[str, Query(min_length=1, max_length=CASE_REF_MAX, description=_CASE_REF)],
    reason: Annotated[str, Query(min_length=1, max_length=REASON_MAX, description=_REASON)],
    since: Annotated[datetime | None, Query(description=_SINCE)] = None,
    until: Annotated[datetime | None, Query(description=_UNTIL)] = None,
    cameras: Annotated[str | None, Query(description=_CAMERAS)] = None,
) -> SearchRequest:
    """The audit context and filters of a GET search."""
    return _search_request(actor, case_ref, reason, since, until, cameras)


def search_request_from_form(
    actor: ActorDep,
    case_ref: Annotated[str, Form(min_length=1, max_length=CASE_REF_MAX, description=_CASE_REF)],
    reason: Annotated[str, Form(min_length=1, max_length=REASON_MAX, description=_REASON)],
    since: Annotated[datetime | None, Form(description=_SINCE)] = None,
    until: Annotated[datetime | None, Form(description=_UNTIL)] = None,
    cameras: Annotated[str | None, Form(description=_CAMERAS)] = None,
) -> SearchRequest:
    """The audit context and filters of a multipart (photo) search."""
    return _search_request(actor, case_ref, reason, since, until, cameras)


QuerySearchRequest = Annotated[SearchRequest, Depends(search_request_from_query)]
FormSearchRequest = Annotated[SearchRequest, Depends(search_request_from_form)]

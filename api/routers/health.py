"""``GET /api/health``: liveness, counts and loaded models."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ServicesDep
from api.schemas import HealthOut
from api.version import package_version
from search.records import SightingKind

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    summary="Service health",
    description="Answers 200 while the store answers; counts cameras and sightings per kind and names "
    "the recognition backends in use. A store failure answers 503.",
    response_model=HealthOut,
)
def get_health(services: ServicesDep) -> HealthOut:
    store = services.search.store
    counts = {"cameras": len(store.list_cameras())}
    for kind in SightingKind:
        counts[kind.value] = store.count_sightings(kind)
    return HealthOut(status="ok", version=package_version(), counts=counts, models=services.model_names())

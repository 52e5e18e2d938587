"""``GET /metrics``: Prometheus text exposition of the app's own registry."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import MetricsDep, metrics_reader

__all__ = ["router"]

router = APIRouter(tags=["metrics"], dependencies=[Depends(metrics_reader)])


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    description="Per-camera live-ingest series read from the workers' latest status at scrape time, "
    "plus API counters (searches by kind, error responses by status).",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Text exposition format."}},
)
def get_metrics(metrics: MetricsDep) -> Response:
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

"""Prometheus metrics of one app, on the app's own registry (no global registry, no globals).

Camera series are not stored here: :class:`LiveIngestCollector` reads the supervisor's status
snapshots at scrape time, so a scrape shows what the workers last reported and a removed camera
disappears from the next scrape. API-side counters are incremented where the event happens (the
search routes, the error-response middleware).

Camera series (label ``camera``):
    sightline_live_ingest_up                       1 while live ingest runs in this process
    sightline_camera_up                            1 while the camera is streaming
    sightline_camera_state{state}                  1 for the camera's current state, 0 for the others
    sightline_camera_input_fps / _analysed_fps     frame rates over the worker's recent window
    sightline_camera_lag_seconds                   how far analysis is behind the stream
    sightline_camera_reconnects_total
    sightline_camera_frames_decoded_total / _analysed_total / _dropped_total / _motion_skipped_total
    sightline_camera_sightings_total
API series:
    sightline_api_searches_total{kind}             searches answered, by kind (face, vehicle, plate)
    sightline_api_http_errors_total{status}        error responses sent, by HTTP status
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ingest.status import CameraState, CameraStatus, CameraSupervisor

__all__ = ["ApiMetrics", "HttpErrorCounter", "LiveIngestCollector"]

log = logging.getLogger(__name__)

_CAMERA = ["camera"]


class LiveIngestCollector(Collector):
    """Turns the supervisor's status snapshots into camera series at each scrape."""

    def __init__(self, supervisor: Callable[[], CameraSupervisor | None]) -> None:
        # A callable because the supervisor may be built after the app (inside its lifespan).
        self._supervisor = supervisor

    def describe(self) -> Iterable[Metric]:
        # Nothing to describe up front: the series depend on the cameras present at scrape time.
        return []

    def collect(self) -> Iterable[Metric]:
        supervisor = self._supervisor()
        up = GaugeMetricFamily(
            "sightline_live_ingest_up", "1 while live ingest runs in this process, else 0."
        )
        up.add_metric([], 1.0 if supervisor is not None else 0.0)
        yield up
        if supervisor is None:
            return
        try:
            statuses = supervisor.statuses()
        except Exception:
            # A scrape must not fail the whole exposition; the API and metrics carry on.
            log.exception("reading camera statuses for /metrics failed")
            return
        yield from _camera_metrics(statuses)


def _gauge(
    name: str, doc: str, statuses: list[CameraStatus], value: Callable[[CameraStatus], float]
) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=_CAMERA)
    for s in statuses:
        family.add_metric([s.camera_id], value(s))
    return family


def _counter(
    name: str, doc: str, statuses: list[CameraStatus], value: Callable[[CameraStatus], int]
) -> Metric:
    family = CounterMetricFamily(name, doc, labels=_CAMERA)
    for s in statuses:
        family.add_metric([s.camera_id], float(value(s)))
    return family


def _camera_metrics(statuses: list[CameraStatus]) -> Iterable[Metric]:
    yield _gauge(
        "sightline_camera_up",
        "1 while the camera is streaming, else 0.",
        statuses,
        lambda s: 1.0 if s.state is CameraState.STREAMING else 0.0,
    )
    state = GaugeMetricFamily(
        "sightline_camera_state",
        "1 for the camera's current state, 0 for the others.",
        labels=["camera", "state"],
    )
    for s in statuses:
        for candidate in CameraState:
            state.add_metric([s.camera_id, candidate.value], 1.0 if s.state is candidate else 0.0)
    yield state
    yield _gauge(
        "sightline_camera_input_fps",
        "Frames per second read from the stream.",
        statuses,
        lambda s: s.input_fps,
    )
    yield _gauge(
        "sightline_camera_analysed_fps",
        "Frames per second analysed by recognition.",
        statuses,
        lambda s: s.analysed_fps,
    )
    yield _gauge(
        "sightline_camera_lag_seconds", "How far analysis is behind the stream.", statuses, lambda s: s.lag_s
    )
    yield _counter(
        "sightline_camera_reconnects",
        "Reconnections since the camera was added.",
        statuses,
        lambda s: s.reconnects,
    )
    yield _counter(
        "sightline_camera_frames_decoded",
        "Frames decoded from the stream.",
        statuses,
        lambda s: s.frames_decoded,
    )
    yield _counter(
        "sightline_camera_frames_analysed",
        "Frames run through recognition.",
        statuses,
        lambda s: s.frames_analysed,
    )
    yield _counter(
        "sightline_camera_frames_dropped",
        "Frames dropped because analysis was behind (bounded queues drop rather than block).",
        statuses,
        lambda s: s.frames_dropped,
    )
    yield _counter(
        "sightline_camera_frames_motion_skipped",
        "Frames skipped by the motion gate.",
        statuses,
        lambda s: s.frames_skipped_motion,
    )
    yield _counter(
        "sightline_camera_sightings", "Sightings written from this camera.", statuses, lambda s: s.sightings
    )


@dataclass(frozen=True, slots=True)
class ApiMetrics:
    """One app's registry and the counters its routes increment."""

    registry: CollectorRegistry
    searches: Counter
    http_errors: Counter

    @classmethod
    def create(cls, supervisor: Callable[[], CameraSupervisor | None]) -> ApiMetrics:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(LiveIngestCollector(supervisor))
        searches = Counter(
            "sightline_api_searches", "Searches answered, by kind.", ["kind"], registry=registry
        )
        http_errors = Counter(
            "sightline_api_http_errors",
            "Error responses sent, by HTTP status.",
            ["status"],
            registry=registry,
        )
        return cls(registry, searches, http_errors)


class HttpErrorCounter:
    """ASGI middleware counting every response with a status of 400 or more.

    Counting at the response rather than in each handler also catches errors no handler sees: an
    unknown route, a body refused by the size limit.
    """

    def __init__(self, app: ASGIApp, counter: Counter) -> None:
        self.app = app
        self.counter = counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] >= 400:
                self.counter.labels(status=str(message["status"])).inc()
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        except Exception:
            # An unexpected error becomes a 500 in Starlette's outermost middleware, beyond this one.
            self.counter.labels(status="500").inc()
            raise

"""Request and response models of the HTTP API, with the examples shown in its OpenAPI page.

Responses are built from the search package's record types at this edge (``from_record``); camera
URLs leave the API with their credentials redacted. Every string and list a client sends is bounded
by the limits in ``sightline/limits.py``; over a limit is 422 naming the field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

from ingest.status import CameraState, CameraStatus
from recognition.types import Box
from search.identity import Principal
from search.records import Camera, Sighting, Trajectory, TrajectoryPoint
from sightline.limits import (
    CAMERA_ID_MAX_CHARS,
    CAMERA_ID_PATTERN,
    NAME_MAX_CHARS,
    TAG_MAX_CHARS,
    TAGS_MAX,
    URL_MAX_CHARS,
)
from sightline.redact import redact_text, redact_url

__all__ = [
    "RESERVED_CAMERA_IDS",
    "BoxOut",
    "CameraIn",
    "CameraOut",
    "CameraStatusOut",
    "CameraStatusSummaryOut",
    "CameraUpdate",
    "ErrorOut",
    "HealthOut",
    "NotStreamingOut",
    "PrincipalOut",
    "SightingOut",
    "TokenOut",
    "TrajectoryOut",
    "TrajectoryPointOut",
]

RESERVED_CAMERA_IDS = frozenset({"status"})
"""Ids that name a route under /api/cameras rather than a camera."""


class ErrorOut(BaseModel):
    """The body of every error response."""

    error: str = Field(description="Class name of the error in Sightline's error tree.")
    detail: str = Field(description="What is wrong, in words a user can act on.")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"error": "PatternError", "detail": "plate pattern '川A*?' ..."}]}
    )


class BoxOut(BaseModel):
    """A box in pixels of the frame the sighting came from (x2, y2 exclusive)."""

    x1: float
    y1: float
    x2: float
    y2: float

    @classmethod
    def from_box(cls, box: Box) -> BoxOut:
        return cls(x1=box.x1, y1=box.y1, x2=box.x2, y2=box.y2)


_CAMERA_EXAMPLE: JsonDict = {
    "id": "gate-north",
    "name": "North gate, entrance lane",
    "lat": 30.5728,
    "lon": 104.0668,
    "url": "rtsp://admin:secret@10.0.0.5:554/stream1",
    "tags": ["gate", "entrance"],
}


_Tag = Annotated[str, StringConstraints(min_length=1, max_length=TAG_MAX_CHARS)]
"""One camera tag."""


class CameraUpdate(BaseModel):
    """A camera's editable fields; PUT replaces all of them."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{k: v for k, v in _CAMERA_EXAMPLE.items() if k != "id"}]},
    )

    name: str = Field(min_length=1, max_length=NAME_MAX_CHARS)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    url: str | None = Field(
        default=None,
        max_length=URL_MAX_CHARS,
        description="Stream URL; may hold credentials, never returned.",
    )
    tags: list[_Tag] = Field(default_factory=list, max_length=TAGS_MAX)

    def to_camera(self, camera_id: str) -> Camera:
        return Camera(
            id=camera_id, name=self.name, lat=self.lat, lon=self.lon, url=self.url, tags=tuple(self.tags)
        )


class CameraIn(CameraUpdate):
    """A camera to register."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_CAMERA_EXAMPLE]})

    id: str = Field(min_length=1, max_length=CAMERA_ID_MAX_CHARS, pattern=CAMERA_ID_PATTERN)

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        # /api/cameras/status is the live-ingest summary; a camera of that id could not be read.
        if value in RESERVED_CAMERA_IDS:
            raise PydanticCustomError("reserved_id", "camera id {id!r} is reserved", {"id": value})
        return value

    def to_record(self) -> Camera:
        return self.to_camera(self.id)


class CameraOut(BaseModel):
    """A registered camera; ``url`` has its credentials redacted."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_CAMERA_EXAMPLE,
                    "url": "rtsp://***@10.0.0.5:554/stream1",
                    "created": "2024-05-01T08:00:00Z",
                }
            ]
        }
    )

    id: str
    name: str
    lat: float | None
    lon: float | None
    url: str | None = Field(description="Stream URL with user:password replaced by ***.")
    tags: list[str]
    created: datetime | None

    @classmethod
    def from_record(cls, camera: Camera) -> CameraOut:
        return cls(
            id=camera.id,
            name=camera.name,
            lat=camera.lat,
            lon=camera.lon,
            url=redact_url(camera.url),
            tags=list(camera.tags),
            created=camera.created,
        )


class SightingOut(BaseModel):
    """One stored sighting: a track's best crop, where and when it was seen."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 4711,
                    "kind": "vehicle",
                    "camera_id": "gate-north",
                    "first_seen": "2024-05-01T08:15:02Z",
                    "last_seen": "2024-05-01T08:15:09Z",
                    "box": {"x1": 412.0, "y1": 220.0, "x2": 860.0, "y2": 610.0},
                    "quality": 0.82,
                    "crop_url": "/api/sightings/4711/crop",
                    "plate_text": "川A12345",
                    "plate_confidence": 0.97,
                    "plate_candidates": ["川A12345", "川A1Z345"],
                    "color": "white",
                    "source": "gate-north.mp4",
                }
            ]
        }
    )

    id: int
    kind: Literal["face", "vehicle"]
    camera_id: str
    first_seen: datetime
    last_seen: datetime
    box: BoxOut
    quality: float
    crop_url: str | None = Field(description="Where the crop JPEG is served; None when none was stored.")
    plate_text: str | None = None
    plate_confidence: float | None = None
    plate_candidates: list[str] = Field(default_factory=list)
    color: str | None = None
    source: str | None = None

    @classmethod
    def from_record(cls, s: Sighting) -> SightingOut:
        return cls(
            id=s.id,
            kind=s.kind.value,
            camera_id=s.camera_id,
            first_seen=s.first_seen,
            last_seen=s.last_seen,
            box=BoxOut.from_box(s.box),
            quality=s.quality,
            crop_url=s.crop_url if s.crop_path else None,
            plate_text=s.plate_text,
            plate_confidence=s.plate_confidence,
            plate_candidates=list(s.plate_candidates),
            color=s.color,
            source=s.source,
        )


class TrajectoryPointOut(BaseModel):
    """One hit of a search, placed at its camera."""

    sighting_id: int
    kind: Literal["face", "vehicle"]
    camera_id: str
    camera_name: str
    lat: float | None
    lon: float | None
    first_seen: datetime
    last_seen: datetime
    score: float = Field(
        description="Cosine similarity (face, vehicle) or plate match score; higher is closer."
    )
    crop_url: str
    plate_text: str | None = None

    @classmethod
    def from_record(cls, p: TrajectoryPoint) -> TrajectoryPointOut:
        return cls(
            sighting_id=p.sighting_id,
            kind=p.kind.value,
            camera_id=p.camera_id,
            camera_name=p.camera_name,
            lat=p.lat,
            lon=p.lon,
            first_seen=p.first_seen,
            last_seen=p.last_seen,
            score=p.score,
            crop_url=p.crop_url,
            plate_text=p.plate_text,
        )


_POINT_EXAMPLE: JsonDict = {
    "sighting_id": 4711,
    "kind": "face",
    "camera_id": "gate-north",
    "camera_name": "North gate, entrance lane",
    "lat": 30.5728,
    "lon": 104.0668,
    "first_seen": "2024-05-01T08:15:02Z",
    "last_seen": "2024-05-01T08:15:09Z",
    "score": 0.71,
    "crop_url": "/api/sightings/4711/crop",
    "plate_text": None,
}


class TrajectoryOut(BaseModel):
    """Search hits in time order: the path of a person, vehicle or plate across cameras."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "count": 1,
                    "points": [_POINT_EXAMPLE],
                    "cameras": ["gate-north"],
                }
            ]
        }
    )

    count: int
    points: list[TrajectoryPointOut] = Field(description="Ordered by first_seen, then sighting id.")
    cameras: list[str] = Field(description="Cameras in the order the trajectory first reaches them.")

    @classmethod
    def from_record(cls, t: Trajectory) -> TrajectoryOut:
        return cls(
            count=len(t),
            points=[TrajectoryPointOut.from_record(p) for p in t.points],
            cameras=list(t.by_camera()),
        )


class HealthOut(BaseModel):
    """Liveness plus what the service holds and which models it loaded."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "ok",
                    "version": "0.1.0",
                    "counts": {"cameras": 12, "face": 10234, "vehicle": 5120},
                    "models": {
                        "face_detector": "MtcnnDetector",
                        "face_embedder": "FacenetEmbedder",
                        "vehicle_embedder": "ColorLayoutEmbedder",
                    },
                }
            ]
        }
    )

    status: Literal["ok"]
    version: str
    counts: dict[str, int] = Field(description="Cameras and stored sightings per kind.")
    models: dict[str, str] = Field(description="Loaded recognition backends by role (class names).")


class CameraStatusOut(BaseModel):
    """Live ingest's latest snapshot of one camera; counters are totals since it was added."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "camera_id": "gate-north",
                    "state": "streaming",
                    "since": "2024-05-01T08:00:03Z",
                    "worker": 0,
                    "input_fps": 25.0,
                    "analysed_fps": 2.0,
                    "lag_s": 0.4,
                    "reconnects": 1,
                    "frames_decoded": 90125,
                    "frames_analysed": 7210,
                    "frames_dropped": 3,
                    "frames_skipped_motion": 5120,
                    "sightings": 42,
                    "width": 1920,
                    "height": 1080,
                    "last_frame_at": "2024-05-01T09:00:03Z",
                    "last_error": None,
                    "extra": {},
                }
            ]
        }
    )

    camera_id: str
    state: CameraState
    since: datetime = Field(description="When the camera entered its current state.")
    worker: int | None = Field(description="Worker process that runs the camera.")
    input_fps: float
    analysed_fps: float
    lag_s: float = Field(description="How far analysis is behind the stream, in seconds.")
    reconnects: int
    frames_decoded: int
    frames_analysed: int
    frames_dropped: int = Field(description="Frames dropped because analysis was behind.")
    frames_skipped_motion: int
    sightings: int
    width: int | None
    height: int | None
    last_frame_at: datetime | None
    last_error: str | None = Field(description="The last failure, URLs redacted.")
    extra: dict[str, str]

    @classmethod
    def from_status(cls, s: CameraStatus) -> CameraStatusOut:
        return cls(
            camera_id=s.camera_id,
            state=s.state,
            since=s.since,
            worker=s.worker,
            input_fps=s.input_fps,
            analysed_fps=s.analysed_fps,
            lag_s=s.lag_s,
            reconnects=s.reconnects,
            frames_decoded=s.frames_decoded,
            frames_analysed=s.frames_analysed,
            frames_dropped=s.frames_dropped,
            frames_skipped_motion=s.frames_skipped_motion,
            sightings=s.sightings,
            width=s.width,
            height=s.height,
            last_frame_at=s.last_frame_at,
            last_error=redact_text(s.last_error),
            extra={k: redact_text(v) or "" for k, v in s.extra.items()},
        )


class NotStreamingOut(BaseModel):
    """A camera that is not streaming, and why."""

    camera_id: str
    state: CameraState
    since: datetime
    last_error: str | None = Field(description="The last failure, URLs redacted.")


class CameraStatusSummaryOut(BaseModel):
    """Live ingest at a glance: cameras per state, total rates, and the cameras that need a look."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "cameras": 3,
                    "states": {"streaming": 2, "reconnecting": 1},
                    "input_fps": 50.0,
                    "analysed_fps": 4.0,
                    "frames_dropped": 12,
                    "reconnects": 7,
                    "not_streaming": [
                        {
                            "camera_id": "gate-south",
                            "state": "reconnecting",
                            "since": "2024-05-01T08:59:40Z",
                            "last_error": "cannot open rtsp://***@10.0.0.6:554/s: timeout",
                        }
                    ],
                }
            ]
        }
    )

    cameras: int
    states: dict[str, int] = Field(description="Cameras per state; every state is listed, zeros included.")
    input_fps: float
    analysed_fps: float
    frames_dropped: int
    reconnects: int
    not_streaming: list[NotStreamingOut] = Field(description="Ordered by camera id.")

    @classmethod
    def from_statuses(cls, statuses: list[CameraStatus]) -> CameraStatusSummaryOut:
        states = {state.value: 0 for state in CameraState}
        for s in statuses:
            states[s.state.value] += 1
        return cls(
            cameras=len(statuses),
            states=states,
            input_fps=sum(s.input_fps for s in statuses),
            analysed_fps=sum(s.analysed_fps for s in statuses),
            frames_dropped=sum(s.frames_dropped for s in statuses),
            reconnects=sum(s.reconnects for s in statuses),
            not_streaming=[
                NotStreamingOut(
                    camera_id=s.camera_id, state=s.state, since=s.since, last_error=redact_text(s.last_error)
                )
                for s in sorted(statuses, key=lambda s: s.camera_id)
                if s.state is not CameraState.STREAMING
            ],
        )


class TokenOut(BaseModel):
    """A bearer token (OAuth2 password flow)."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the token expires.")


class PrincipalOut(BaseModel):
    """The authenticated user as the API sees them."""

    name: str
    role: str
    cameras: list[str] = Field(description="Camera tags in scope; ['*'] is every camera.")

    @classmethod
    def from_principal(cls, principal: Principal) -> PrincipalOut:
        return cls(name=principal.name, role=principal.role.value, cameras=sorted(principal.scope))

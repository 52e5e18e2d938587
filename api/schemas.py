"""Request and response models of the HTTP API, with the examples shown in its OpenAPI page.

Responses are built from the search package's record types at this edge (``from_record``); camera
URLs leave the API with their credentials redacted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from recognition.types import Box
from search.records import Camera, Sighting, Trajectory, TrajectoryPoint

__all__ = [
    "BoxOut",
    "CameraIn",
    "CameraOut",
    "CameraUpdate",
    "ErrorOut",
    "HealthOut",
    "SightingOut",
    "TrajectoryOut",
    "TrajectoryPointOut",
    "redact_url",
]

_SECRET_QUERY_KEYS = frozenset({"password", "passwd", "pass", "pwd", "token", "auth", "key", "secret"})
_REDACTED = "***"


def redact_url(url: str | None) -> str | None:
    """``url`` with its user:password and secret-looking query values replaced by ``***``.

    rtsp://admin:s3cret@10.0.0.5:554/stream?token=x → rtsp://***@10.0.0.5:554/stream?token=***
    """
    if url is None:
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        return _REDACTED  # unparseable: show nothing rather than a secret
    netloc = parts.netloc
    if "@" in netloc:
        host_part = f"[{host}]" if ":" in host else host
        netloc = f"{_REDACTED}@{host_part}{port}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, _REDACTED if k.lower() in _SECRET_QUERY_KEYS else v) for k, v in pairs], safe="*"
        )
    return urlunsplit(SplitResult(parts.scheme, netloc, parts.path, query, parts.fragment))


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


class CameraUpdate(BaseModel):
    """A camera's editable fields; PUT replaces all of them."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{k: v for k, v in _CAMERA_EXAMPLE.items() if k != "id"}]},
    )

    name: str = Field(min_length=1, max_length=256)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    url: str | None = Field(default=None, description="Stream URL; may hold credentials, never returned.")
    tags: list[str] = Field(default_factory=list)

    def to_camera(self, camera_id: str) -> Camera:
        return Camera(
            id=camera_id, name=self.name, lat=self.lat, lon=self.lon, url=self.url, tags=tuple(self.tags)
        )


class CameraIn(CameraUpdate):
    """A camera to register."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_CAMERA_EXAMPLE]})

    id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")

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

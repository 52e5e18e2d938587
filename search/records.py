"""Sightings as they pass from ingest to the store, and as searches return them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from recognition.types import Box, PlateRead
from search.audit_text import check_audit_text
from sightline.errors import InputError
from sightline.limits import CAMERA_FILTER_MAX_IDS, CAMERA_ID_MAX_CHARS, check_time

__all__ = [
    "AuditRecord",
    "Camera",
    "NewSighting",
    "SearchRequest",
    "Sighting",
    "SightingKind",
    "Trajectory",
    "TrajectoryPoint",
    "crop_url",
]


class SightingKind(StrEnum):
    """What a sighting is of. A vehicle sighting carries its plate read when one was made."""

    FACE = "face"
    VEHICLE = "vehicle"


@dataclass(frozen=True, slots=True)
class NewSighting:
    """One track's summary, written once when the track ends: best crop, its embedding, time span.

    ``embedding`` is L2-normalised float32 (face: FaceNet 512-d; vehicle: appearance descriptor),
    or None when no embedding could be made (a plate-only vehicle sighting).
    """

    kind: SightingKind
    camera_id: str
    first_seen: datetime
    last_seen: datetime
    box: Box
    quality: float
    crop_jpeg: bytes
    embedding: NDArray[np.float32] | None = None
    plate: PlateRead | None = None
    color: str | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        if self.first_seen.tzinfo is None or self.last_seen.tzinfo is None:
            raise ValueError("NewSighting: times must be timezone-aware (UTC)")
        if self.last_seen < self.first_seen:
            raise ValueError("NewSighting: last_seen before first_seen")
        if self.embedding is not None and (self.embedding.ndim != 1 or self.embedding.dtype != np.float32):
            raise ValueError(
                "NewSighting: embedding must be 1-d float32, "
                f"got {self.embedding.shape} {self.embedding.dtype}"
            )


@dataclass(frozen=True, slots=True)
class Camera:
    """A registered camera; sightings reference it, trajectories place points at its position."""

    id: str
    name: str
    lat: float | None = None
    lon: float | None = None
    url: str | None = None
    tags: tuple[str, ...] = ()
    created: datetime | None = None

    def __post_init__(self) -> None:
        if not self.id or not self.id.strip():
            raise ValueError("Camera: id must be non-empty")
        if self.lat is not None and not -90.0 <= self.lat <= 90.0:
            raise ValueError(f"Camera: lat must be in [-90, 90], got {self.lat}")
        if self.lon is not None and not -180.0 <= self.lon <= 180.0:
            raise ValueError(f"Camera: lon must be in [-180, 180], got {self.lon}")

    def __repr__(self) -> str:
        # Camera URLs may carry credentials: never show them in logs.
        return f"Camera(id={self.id!r}, name={self.name!r}, lat={self.lat}, lon={self.lon})"


@dataclass(frozen=True, slots=True)
class Sighting:
    """A stored sighting as read back from the store (the embedding stays in the store and the index).

    ``plate_alternatives[i]`` is the OCR's (character, probability) list for position i, best first;
    ``plate_candidates`` are whole-plate readings, best first, the chosen text included.
    """

    id: int
    kind: SightingKind
    camera_id: str
    first_seen: datetime
    last_seen: datetime
    box: Box
    quality: float
    crop_path: str | None
    plate_text: str | None = None
    plate_confidence: float | None = None
    plate_alternatives: tuple[tuple[tuple[str, float], ...], ...] = ()
    plate_candidates: tuple[str, ...] = ()
    color: str | None = None
    embedding_dim: int | None = None
    source: str | None = None
    created: datetime | None = None

    @property
    def crop_url(self) -> str:
        return crop_url(self.id)


def crop_url(sighting_id: int) -> str:
    """The API path that serves a sighting's crop; search results carry it so clients need not guess."""
    return f"/api/sightings/{sighting_id}/crop"


def _check_camera_filter(camera_ids: tuple[str, ...]) -> None:
    """InputError when the ``cameras`` filter is over its limits: it is stored in every audit row."""
    if len(camera_ids) > CAMERA_FILTER_MAX_IDS:
        raise InputError(
            f"search request: cameras lists {len(camera_ids)} camera ids, over the limit of "
            f"{CAMERA_FILTER_MAX_IDS}"
        )
    for camera_id in camera_ids:
        if len(camera_id) > CAMERA_ID_MAX_CHARS:
            raise InputError(
                f"search request: cameras holds an id of {len(camera_id)} characters, over the limit "
                f"of {CAMERA_ID_MAX_CHARS}"
            )


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """Who asks, for which case and why, plus the filters every search accepts.

    ``case_ref`` and ``reason`` are required and non-empty: every search of people's movements must be
    attributable to an investigation. The audit trail records them with the ids returned. Their
    limits (length, no control characters) are :func:`search.audit_text.check_audit_text`'s, the one
    place the audit's text rules live, so a request that validates here can always be audited.
    ``since``/``until`` must be timezone-aware and within :func:`sightline.limits.check_time`'s range,
    and the ``cameras`` filter within its limits, before any of them reaches SQL or the audit row.
    """

    case_ref: str
    reason: str
    actor: str
    since: datetime | None = None
    until: datetime | None = None
    camera_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        try:
            check_audit_text(case_ref=self.case_ref, reason=self.reason, actor=self.actor)
        except InputError as exc:
            raise InputError(f"search request: {exc}") from exc
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise InputError(f"search request: {name} must be timezone-aware")
            if value is not None:
                try:
                    check_time(name, value)
                except InputError as exc:
                    raise InputError(f"search request: {exc}") from exc
        _check_camera_filter(self.camera_ids)
        if self.since is not None and self.until is not None and self.until < self.since:
            raise InputError(f"search request: until ({self.until}) is before since ({self.since})")


@dataclass(frozen=True, slots=True)
class TrajectoryPoint:
    """One sighting on a trajectory: where (camera), when, how well it matched, and its crop."""

    sighting_id: int
    kind: SightingKind
    camera_id: str
    camera_name: str
    lat: float | None
    lon: float | None
    first_seen: datetime
    last_seen: datetime
    score: float
    crop_url: str
    plate_text: str | None = None


@dataclass(frozen=True, slots=True)
class Trajectory:
    """Search hits ordered by first_seen: the path of a face, vehicle or plate across cameras."""

    points: tuple[TrajectoryPoint, ...]

    @classmethod
    def from_points(cls, points: list[TrajectoryPoint]) -> Trajectory:
        return cls(tuple(sorted(points, key=lambda p: (p.first_seen, p.sighting_id))))

    def by_camera(self) -> dict[str, tuple[TrajectoryPoint, ...]]:
        """Points grouped per camera, cameras in order of their first point, points in time order."""
        groups: dict[str, list[TrajectoryPoint]] = {}
        for point in self.points:
            groups.setdefault(point.camera_id, []).append(point)
        return {cam: tuple(pts) for cam, pts in groups.items()}

    @property
    def sighting_ids(self) -> list[int]:
        return [p.sighting_id for p in self.points]

    def __len__(self) -> int:
        return len(self.points)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One append-only audit row: who searched (or purged), for which case and why, and what came back.

    ``action`` is the event (``search.face``, ``retention.purge``; also readable as :attr:`event`),
    ``component`` the part of Sightline that wrote it (``search``, ``retention``, ``cameras``,
    ``api``), ``outcome`` ``ok``, ``denied`` or ``error:<ErrorClass>``. ``prev_hash`` and ``hash`` link
    the record into the tamper-evident chain (``search/audit_chain.py``). The fields added with the
    chain have defaults so that code building records positionally keeps working.
    """

    id: int
    at: datetime
    actor: str
    case_ref: str
    reason: str
    action: str
    query: dict[str, object]
    result_ids: tuple[int, ...]
    component: str = ""
    outcome: str = "ok"
    prev_hash: str = ""
    hash: str = ""

    @property
    def event(self) -> str:
        """What happened, e.g. ``search.plate``: the same as ``action``, under the chain's name for it."""
        return self.action

"""Searches over the store and the indexes, returned as trajectories. Auditing is the service's job.

Embedding searches ask the index for more neighbours than wanted when filters (time, cameras) are
set, doubling until enough pass or the index is exhausted: a strict filter costs more index work but
never silently returns fewer hits than exist. Plate searches prefilter in SQL (GLOB on SQLite, LIKE
elsewhere) and match precisely in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import ColumnElement, or_, select

from search.plate_pattern import PlateMatch, PlatePattern, match_plate
from search.records import Sighting, SightingKind, Trajectory, TrajectoryPoint, crop_url
from search.store import SightingStore
from search.tables import SightingRow
from sightline.errors import InputError

__all__ = ["Filters", "Hit", "search_embedding", "search_plate", "to_trajectory"]

_PLATE_SCAN_LIMIT = 100_000


@dataclass(frozen=True, slots=True)
class Filters:
    """Time range (on first_seen..last_seen overlap) and cameras; empty camera_ids means all."""

    since: datetime | None = None
    until: datetime | None = None
    camera_ids: tuple[str, ...] = ()

    def accepts(self, s: Sighting) -> bool:
        if self.since is not None and s.last_seen < self.since:
            return False
        if self.until is not None and s.first_seen > self.until:
            return False
        return not self.camera_ids or s.camera_id in self.camera_ids

    def sql(self) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        if self.since is not None:
            clauses.append(SightingRow.last_seen >= self.since)
        if self.until is not None:
            clauses.append(SightingRow.first_seen <= self.until)
        if self.camera_ids:
            clauses.append(SightingRow.camera_id.in_(self.camera_ids))
        return clauses


@dataclass(frozen=True, slots=True)
class Hit:
    sighting: Sighting
    score: float
    plate_match: PlateMatch | None = None


def search_embedding(
    store: SightingStore,
    kind: SightingKind,
    vector: NDArray[np.float32],
    *,
    k: int,
    min_score: float,
    filters: Filters = Filters(),
) -> list[Hit]:
    """Up to ``k`` sightings of ``kind`` most similar to ``vector`` (cosine ≥ ``min_score``), best first."""
    if k <= 0:
        raise InputError(f"k must be positive, got {k}")
    dim = store.dim(kind)
    vec = np.asarray(vector, dtype=np.float32).reshape(-1)
    if dim is None:
        return []
    if len(vec) != dim:
        raise InputError(f"{kind.value} query embedding must be {dim}-d, got {len(vec)}-d")
    index = store.index(kind)
    total = len(index)
    fetch = k if not (filters.since or filters.until or filters.camera_ids) else 4 * k
    while True:
        neighbours = index.search(vec, min(fetch, total))
        above = [(i, s) for i, s in neighbours if s >= min_score]
        rows = store.get_sightings([i for i, _ in above])
        hits = [Hit(rows[i], s) for i, s in above if i in rows and filters.accepts(rows[i])]
        exhausted = len(neighbours) < fetch or len(above) < len(neighbours) or fetch >= total
        if len(hits) >= k or exhausted:
            return hits[:k]
        fetch *= 2


def search_plate(
    store: SightingStore,
    pattern: PlatePattern,
    *,
    fuzzy: bool = True,
    limit: int = 200,
    filters: Filters = Filters(),
) -> list[Hit]:
    """Sightings whose plate matches ``pattern``, best score first, then newest first."""
    if limit <= 0:
        raise InputError(f"limit must be positive, got {limit}")
    variants = [pattern, *pattern.relaxed()] if fuzzy else [pattern]
    sqlite = store.engine.dialect.name == "sqlite"
    text_clauses: list[ColumnElement[bool]] = []
    for v in variants:
        if sqlite:
            g = v.glob(lookalikes=fuzzy)
            text_clauses.append(SightingRow.plate_text.op("GLOB")(g))
            text_clauses.append(SightingRow.plate_candidates.op("GLOB")(f'*"{g}"*'))
        else:
            like = v.like(lookalikes=fuzzy)
            text_clauses.append(SightingRow.plate_text.like(like))
            text_clauses.append(SightingRow.plate_candidates.like(f'%"{like}"%'))
    q = (
        select(SightingRow.id)
        .where(SightingRow.plate_text.is_not(None), or_(*text_clauses), *filters.sql())
        .order_by(SightingRow.first_seen.desc())
        .limit(_PLATE_SCAN_LIMIT)
    )
    with store.session() as s:
        ids = list(s.scalars(q))
    low = store.settings.plate_low_confidence
    hits: list[Hit] = []
    for sighting in store.get_sightings(ids).values():
        m = match_plate(
            pattern,
            sighting.plate_text,
            candidates=sighting.plate_candidates,
            alternatives=sighting.plate_alternatives,
            plate_confidence=sighting.plate_confidence,
            fuzzy=fuzzy,
            low_confidence=low,
        )
        if m is not None:
            hits.append(Hit(sighting, m.score, m))
    hits.sort(key=lambda h: (-h.score, -h.sighting.first_seen.timestamp(), h.sighting.id))
    return hits[:limit]


def to_trajectory(store: SightingStore, hits: Sequence[Hit]) -> Trajectory:
    """Hits as a trajectory: points in time order, each placed at its camera."""
    cameras = {c.id: c for c in store.list_cameras()}
    points = []
    for h in hits:
        s = h.sighting
        cam = cameras.get(s.camera_id)
        points.append(
            TrajectoryPoint(
                sighting_id=s.id,
                kind=s.kind,
                camera_id=s.camera_id,
                camera_name=cam.name if cam else s.camera_id,
                lat=cam.lat if cam else None,
                lon=cam.lon if cam else None,
                first_seen=s.first_seen,
                last_seen=s.last_seen,
                score=round(h.score, 6),
                crop_url=crop_url(s.id),
                plate_text=s.plate_text,
            )
        )
    return Trajectory.from_points(points)

"""``SearchService``: the one façade the API and the CLI use for searching, browsing and retention.

Every search takes a :class:`SearchRequest` (case reference, reason and actor are required) and
writes an audit row with what was asked and which sighting ids came back before returning them.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from search.audit import AuditLog
from search.index import IndexStats
from search.plate_pattern import parse_pattern
from search.queries import Filters, Hit, search_embedding, search_plate, to_trajectory
from search.records import AuditRecord, Camera, NewSighting, SearchRequest, Sighting, SightingKind, Trajectory
from search.retention import RetentionReport, purge_expired
from search.settings import SearchSettings
from search.store import SightingStore

__all__ = ["SearchService", "open_service"]

log = logging.getLogger(__name__)


def _filters(request: SearchRequest) -> Filters:
    return Filters(request.since, request.until, tuple(request.camera_ids))


def _query_common(request: SearchRequest) -> dict[str, Any]:
    return {
        "since": request.since.isoformat() if request.since else None,
        "until": request.until.isoformat() if request.until else None,
        "camera_ids": list(request.camera_ids),
    }


def _fingerprint(vector: NDArray[np.float32]) -> str:
    """The audit keeps a hash of a query embedding, not the biometric vector itself."""
    return hashlib.sha256(np.ascontiguousarray(vector, dtype=np.float32).tobytes()).hexdigest()


class SearchService:
    """Searches with auditing, sightings and crops, cameras, index maintenance and retention."""

    def __init__(self, store: SightingStore) -> None:
        self.store = store
        self.audit = AuditLog(store)
        self.settings: SearchSettings = store.settings

    @classmethod
    def open(cls, settings: SearchSettings, *, vehicle_dim: int | None = None) -> SearchService:
        return cls(SightingStore.open(settings, vehicle_dim=vehicle_dim))

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> SearchService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- searches (audited) ----------------------------------------------------------------------

    def search_face(
        self,
        request: SearchRequest,
        embedding: NDArray[np.float32],
        *,
        k: int = 100,
        min_similarity: float | None = None,
    ) -> Trajectory:
        """Sightings of the face whose embedding is given, as a trajectory."""
        floor = self.settings.face_min_similarity if min_similarity is None else min_similarity
        return self._search_vector(request, SightingKind.FACE, embedding, k, floor)

    def search_vehicle(
        self,
        request: SearchRequest,
        embedding: NDArray[np.float32],
        *,
        k: int = 100,
        min_similarity: float | None = None,
    ) -> Trajectory:
        """Sightings of vehicles that look like the one whose appearance embedding is given."""
        floor = self.settings.vehicle_min_similarity if min_similarity is None else min_similarity
        return self._search_vector(request, SightingKind.VEHICLE, embedding, k, floor)

    def _search_vector(
        self, request: SearchRequest, kind: SightingKind, embedding: NDArray[np.float32], k: int, floor: float
    ) -> Trajectory:
        hits = search_embedding(self.store, kind, embedding, k=k, min_score=floor, filters=_filters(request))
        query = {
            "kind": kind.value,
            "k": k,
            "min_similarity": floor,
            "embedding_sha256": _fingerprint(embedding),
        }
        return self._audited(request, f"search.{kind.value}", query | _query_common(request), hits)

    def search_plate(
        self, request: SearchRequest, pattern: str, *, fuzzy: bool = True, limit: int = 200
    ) -> Trajectory:
        """Vehicle sightings whose plate matches ``pattern`` (``渝A*23*5``); PatternError if malformed."""
        parsed = parse_pattern(pattern)
        hits = search_plate(self.store, parsed, fuzzy=fuzzy, limit=limit, filters=_filters(request))
        query = {"pattern": pattern, "normalised": parsed.text, "fuzzy": fuzzy, "limit": limit}
        return self._audited(request, "search.plate", query | _query_common(request), hits)

    def _audited(
        self, request: SearchRequest, action: str, query: dict[str, Any], hits: list[Hit]
    ) -> Trajectory:
        trajectory = to_trajectory(self.store, hits)
        self.audit.record(request, action, query, trajectory.sighting_ids)
        return trajectory

    # --- browsing --------------------------------------------------------------------------------

    def sighting(self, sighting_id: int) -> Sighting:
        return self.store.get_sighting(sighting_id)

    def crop_path(self, sighting_id: int) -> Path:
        return self.store.crop_path(sighting_id)

    def cameras(self) -> list[Camera]:
        return self.store.list_cameras()

    def audit_entries(
        self,
        *,
        case_ref: str | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        limit: int = 1000,
    ) -> list[AuditRecord]:
        return self.audit.entries(case_ref=case_ref, actor=actor, since=since, limit=limit)

    # --- writing and maintenance -----------------------------------------------------------------

    def add_sighting(self, new: NewSighting) -> int:
        return self.store.add_sighting(new)

    def rebuild_index(self, kind: SightingKind) -> IndexStats:
        return self.store.rebuild_index(kind).stats

    def index_stats(self) -> dict[SightingKind, IndexStats]:
        out = {}
        for kind in SightingKind:
            if self.store.dim(kind) is not None:
                out[kind] = self.store.index(kind).stats
        return out

    def purge_expired(self, *, now: datetime | None = None) -> RetentionReport:
        return purge_expired(self.store, self.audit, now=now)


@contextmanager
def open_service(settings: SearchSettings, *, vehicle_dim: int | None = None) -> Iterator[SearchService]:
    """A service closed (indexes persisted) on exit."""
    service = SearchService.open(settings, vehicle_dim=vehicle_dim)
    try:
        yield service
    finally:
        service.close()

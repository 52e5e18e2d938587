"""``SearchService``: the one façade the API and the CLI use for searching, browsing and retention.

Every search takes a :class:`SearchRequest` (case reference, reason and actor are required) and
writes an audit row with what was asked and which sighting ids came back before returning them.

Access is enforced here, not only in the API's routes: a call that carries a
:class:`~search.identity.Principal` must be allowed by the principal's role, and sees only the
cameras in the principal's scope; a sighting of another camera does not exist for them (NotFound,
worded as for an id that was never used). A call without a principal is the store's owner working
on the machine (the CLI, ingest, retention) and is not restricted.
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
from search.identity import Action, Principal
from search.index import IndexStats
from search.plate_pattern import parse_pattern
from search.queries import Filters, Hit, search_embedding, search_plate, to_trajectory
from search.records import AuditRecord, Camera, NewSighting, SearchRequest, Sighting, SightingKind, Trajectory
from search.retention import RetentionReport, purge_expired
from search.settings import SearchSettings
from search.store import SightingStore
from sightline.errors import InputError, NotFound, SightlineError

__all__ = ["SearchService", "open_service"]

log = logging.getLogger(__name__)


def _filters(request: SearchRequest, cameras: tuple[str, ...] | None = None) -> Filters:
    return Filters(request.since, request.until, tuple(request.camera_ids) if cameras is None else cameras)


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
        principal: Principal | None = None,
    ) -> Trajectory:
        """Sightings of the face whose embedding is given, as a trajectory."""
        floor = self.settings.face_min_similarity if min_similarity is None else min_similarity
        return self._search_vector(request, SightingKind.FACE, embedding, k, floor, principal)

    def search_vehicle(
        self,
        request: SearchRequest,
        embedding: NDArray[np.float32],
        *,
        k: int = 100,
        min_similarity: float | None = None,
        principal: Principal | None = None,
    ) -> Trajectory:
        """Sightings of vehicles that look like the one whose appearance embedding is given."""
        floor = self.settings.vehicle_min_similarity if min_similarity is None else min_similarity
        return self._search_vector(request, SightingKind.VEHICLE, embedding, k, floor, principal)

    def _search_vector(
        self,
        request: SearchRequest,
        kind: SightingKind,
        embedding: NDArray[np.float32],
        k: int,
        floor: float,
        principal: Principal | None,
    ) -> Trajectory:
        cameras = self._scope_cameras(request, principal)
        hits = (
            search_embedding(
                self.store, kind, embedding, k=k, min_score=floor, filters=_filters(request, cameras)
            )
            if cameras != ()
            else []
        )
        query = {
            "kind": kind.value,
            "k": k,
            "min_similarity": floor,
            "embedding_sha256": _fingerprint(embedding),
        }
        return self._audited(request, f"search.{kind.value}", query | _query_common(request), hits)

    def search_plate(
        self,
        request: SearchRequest,
        pattern: str,
        *,
        fuzzy: bool = True,
        limit: int = 200,
        principal: Principal | None = None,
    ) -> Trajectory:
        """Vehicle sightings whose plate matches ``pattern`` (``渝A*23*5``); PatternError if malformed."""
        parsed = parse_pattern(pattern)
        cameras = self._scope_cameras(request, principal)
        hits = (
            search_plate(self.store, parsed, fuzzy=fuzzy, limit=limit, filters=_filters(request, cameras))
            if cameras != ()
            else []
        )
        query = {"pattern": pattern, "normalised": parsed.text, "fuzzy": fuzzy, "limit": limit}
        return self._audited(request, "search.plate", query | _query_common(request), hits)

    def _audited(
        self, request: SearchRequest, action: str, query: dict[str, Any], hits: list[Hit]
    ) -> Trajectory:
        trajectory = to_trajectory(self.store, hits)
        self.audit.record(request, action, query, trajectory.sighting_ids)
        return trajectory

    @contextmanager
    def failures_audited(
        self, request: SearchRequest, action: str, query: dict[str, Any] | None = None
    ) -> Iterator[None]:
        """Record a search that fails (no face in the photo, a bad pattern, a store error) with its
        error class, then let the error go on: the audit shows attempts, not only answers."""
        try:
            yield
        except SightlineError as exc:
            self.audit.record_failure(request, action, (query or {}) | _query_common(request), exc)
            raise

    def _scope_cameras(self, request: SearchRequest, principal: Principal | None) -> tuple[str, ...] | None:
        """The camera filter a search may use: None for no filter, () for nothing at all.

        A principal's search is confined to the cameras in their scope: the cameras they asked for
        that they may see, or all they may see. Cameras they may not see are dropped silently, as
        if they did not exist.
        """
        if principal is None:
            return None
        principal.require(Action.SEARCH)
        if principal.name != request.actor:
            raise InputError("search request: the actor must be the authenticated user")
        if principal.all_cameras:
            return None
        visible = {c.id for c in self.store.list_cameras() if principal.sees_camera(c.tags)}
        wanted = [c for c in request.camera_ids if c in visible] if request.camera_ids else sorted(visible)
        return tuple(wanted)

    # --- browsing --------------------------------------------------------------------------------

    def _visible_sighting(self, sighting_id: int, principal: Principal | None) -> Sighting:
        sighting = self.store.get_sighting(sighting_id)
        if principal is None:
            return sighting
        principal.require(Action.READ_SIGHTING)
        if not principal.all_cameras:
            camera = next((c for c in self.store.list_cameras() if c.id == sighting.camera_id), None)
            if camera is None or not principal.sees_camera(camera.tags):
                # Worded as the store words a missing id: the caller learns nothing about this id.
                raise NotFound(f"sighting {sighting_id} not found")
        return sighting

    def sighting(self, sighting_id: int, *, principal: Principal | None = None) -> Sighting:
        """One sighting; for a principal, only within scope, and the read is audited."""
        sighting = self._visible_sighting(sighting_id, principal)
        if principal is not None:
            self.audit_event("sighting.read", actor=principal.name, outcome="ok", result_ids=[sighting_id])
        return sighting

    def crop_path(self, sighting_id: int, *, principal: Principal | None = None) -> Path:
        """A sighting's crop file; for a principal, only within scope, and the read is audited."""
        self._visible_sighting(sighting_id, principal)
        path = self.store.crop_path(sighting_id)
        if principal is not None:
            self.audit_event("sighting.crop", actor=principal.name, outcome="ok", result_ids=[sighting_id])
        return path

    def cameras(self, *, principal: Principal | None = None) -> list[Camera]:
        """Registered cameras; for a principal, those in scope (all of them for camera managers)."""
        cameras = self.store.list_cameras()
        if principal is None or principal.may(Action.MANAGE_CAMERAS):
            return cameras
        principal.require(Action.LIST_CAMERAS)
        return [c for c in cameras if principal.sees_camera(c.tags)]

    def camera(self, camera_id: str, *, principal: Principal | None = None) -> Camera:
        """One camera; for a principal outside whose scope it lies, NotFound as for an unknown id."""
        camera = self.store.get_camera(camera_id)
        if principal is not None and not principal.may(Action.MANAGE_CAMERAS):
            principal.require(Action.LIST_CAMERAS)
            if not principal.sees_camera(camera.tags):
                raise NotFound(f"camera {camera_id!r} not found")  # the store's wording for an unknown id
        return camera

    def audit_event(
        self,
        event: str,
        *,
        actor: str,
        outcome: str,
        detail: dict[str, Any] | None = None,
        result_ids: list[int] | None = None,
    ) -> AuditRecord:
        """Record an access that is not a search (a login, a sighting read, a user change)."""
        return self.audit.record_event(event, actor=actor, outcome=outcome, detail=detail or {},
                                       result_ids=result_ids or [])  # fmt: skip

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

"""Search: the metadata store, the vector indexes, plate patterns, trajectories, audit and retention.

Importing ``search`` is cheap (``sightline.settings`` imports ``search.settings`` at start-up); the
heavy parts (SQLAlchemy, faiss) load on first use of a name below.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from search.audit import AuditLog
    from search.index import IndexStats, VectorIndex
    from search.plate_pattern import MatchKind, PlateMatch, PlatePattern, match_plate, parse_pattern
    from search.records import (
        AuditRecord,
        Camera,
        NewSighting,
        SearchRequest,
        Sighting,
        SightingKind,
        Trajectory,
        TrajectoryPoint,
    )
    from search.retention import RetentionReport, purge_expired
    from search.services import SearchService, open_service
    from search.settings import SearchSettings
    from search.store import SightingStore

__all__ = [
    "AuditLog",
    "AuditRecord",
    "Camera",
    "IndexStats",
    "MatchKind",
    "NewSighting",
    "PlateMatch",
    "PlatePattern",
    "RetentionReport",
    "SearchRequest",
    "SearchService",
    "SearchSettings",
    "Sighting",
    "SightingKind",
    "SightingStore",
    "Trajectory",
    "TrajectoryPoint",
    "VectorIndex",
    "match_plate",
    "open_service",
    "parse_pattern",
    "purge_expired",
]

_HOME = {
    "AuditLog": "search.audit",
    "IndexStats": "search.index",
    "VectorIndex": "search.index",
    "MatchKind": "search.plate_pattern",
    "PlateMatch": "search.plate_pattern",
    "PlatePattern": "search.plate_pattern",
    "match_plate": "search.plate_pattern",
    "parse_pattern": "search.plate_pattern",
    "AuditRecord": "search.records",
    "Camera": "search.records",
    "NewSighting": "search.records",
    "SearchRequest": "search.records",
    "Sighting": "search.records",
    "SightingKind": "search.records",
    "Trajectory": "search.records",
    "TrajectoryPoint": "search.records",
    "RetentionReport": "search.retention",
    "purge_expired": "search.retention",
    "SearchService": "search.services",
    "open_service": "search.services",
    "SearchSettings": "search.settings",
    "SightingStore": "search.store",
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'search' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

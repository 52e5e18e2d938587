"""Retention: sightings older than ``retention_days`` go (rows, crops, index entries); the audit stays.

A purge is itself audited as a system action listing the deleted ids, so an investigator can tell
"never seen" from "seen, then expired".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from search.audit import AuditLog
from search.store import SightingStore
from search.tables import SightingRow

__all__ = ["RetentionReport", "purge_expired"]

log = logging.getLogger(__name__)

_BATCH = 1000


@dataclass(frozen=True, slots=True)
class RetentionReport:
    cutoff: datetime
    deleted: int
    crops_removed: int


def purge_expired(
    store: SightingStore,
    audit: AuditLog,
    *,
    retention_days: int | None = None,
    now: datetime | None = None,
) -> RetentionReport:
    """Delete sightings whose last_seen is before ``now - retention_days`` (settings by default)."""
    days = retention_days if retention_days is not None else store.settings.retention_days
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    deleted_ids: list[int] = []
    crops_removed = 0
    while True:
        with store.session() as s:
            ids = list(
                s.scalars(
                    select(SightingRow.id)
                    .where(SightingRow.last_seen < cutoff)
                    .order_by(SightingRow.id)
                    .limit(_BATCH)
                )
            )
        if not ids:
            break
        for crop in store.delete_sightings(ids):
            try:
                crop.unlink()
                crops_removed += 1
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.warning("retention: cannot remove crop %s: %s", crop, exc)
        deleted_ids.extend(ids)
    audit.record_system(
        "retention.purge",
        f"retention of {days} days",
        {"cutoff": cutoff.isoformat(), "retention_days": days},
        deleted_ids,
    )
    log.info("retention: deleted %d sightings last seen before %s", len(deleted_ids), cutoff)
    return RetentionReport(cutoff, len(deleted_ids), crops_removed)

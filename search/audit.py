"""The audit trail: who searched, for which case and why, and which sightings they were shown.

Rows are append-only; the migration installs SQLite triggers that abort any UPDATE or DELETE, so not
even retention or a direct SQL client can rewrite history. A search whose audit row cannot be written
fails: no audit, no results.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from search.records import AuditRecord, SearchRequest
from search.store import SightingStore
from search.tables import AuditRow

__all__ = ["SYSTEM_ACTOR", "AuditLog"]

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"


def _record(row: AuditRow) -> AuditRecord:
    return AuditRecord(
        id=row.id,
        at=row.at,
        actor=row.actor,
        case_ref=row.case_ref,
        reason=row.reason,
        action=row.action,
        query=dict(row.query),
        result_ids=tuple(int(i) for i in row.result_ids),
    )


class AuditLog:
    """Writes and reads audit rows in the store's database."""

    def __init__(self, store: SightingStore) -> None:
        self._store = store

    def record(
        self,
        request: SearchRequest,
        action: str,
        query: Mapping[str, Any],
        result_ids: Sequence[int],
    ) -> AuditRecord:
        """Append one row and commit it before returning."""
        return self._append(request.actor, request.case_ref, request.reason, action, query, result_ids)

    def record_system(
        self, action: str, reason: str, query: Mapping[str, Any], result_ids: Sequence[int]
    ) -> AuditRecord:
        """Append a row for something Sightline did by itself (retention)."""
        return self._append(SYSTEM_ACTOR, SYSTEM_ACTOR, reason, action, query, result_ids)

    def _append(
        self,
        actor: str,
        case_ref: str,
        reason: str,
        action: str,
        query: Mapping[str, Any],
        result_ids: Sequence[int],
    ) -> AuditRecord:
        row = AuditRow(
            at=datetime.now(UTC),
            actor=actor,
            case_ref=case_ref,
            reason=reason,
            action=action,
            query=dict(query),
            result_ids=[int(i) for i in result_ids],
        )
        with self._store.session() as s:
            s.add(row)
            s.flush()
            record = _record(row)
        log.info(
            "audit %d: %s by %s for case %s, %d results", record.id, action, actor, case_ref, len(result_ids)
        )
        return record

    def entries(
        self,
        *,
        case_ref: str | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        limit: int = 1000,
    ) -> list[AuditRecord]:
        """Audit rows, newest first, optionally for one case or actor."""
        q = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
        if case_ref is not None:
            q = q.where(AuditRow.case_ref == case_ref)
        if actor is not None:
            q = q.where(AuditRow.actor == actor)
        if since is not None:
            q = q.where(AuditRow.at >= since)
        with self._store.session() as s:
            return [_record(r) for r in s.scalars(q)]

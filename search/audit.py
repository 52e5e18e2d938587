"""The audit trail: who searched, for which case and why, and which sightings they were shown.

Rows are append-only twice over: the migrations install SQLite triggers that abort any UPDATE or
DELETE, and every row is linked into a hash chain (``search/audit_chain.py``) with signed
checkpoints kept outside the database (``search/audit_checkpoints.py``), so that dropping the
triggers and editing, deleting or rewriting rows still shows (``sightline audit verify``). A search
whose audit row cannot be written fails: no audit, no results.

Appends are serialised across processes (the CLI and the server may both write): each one takes the
database's write lock before reading the chain's tail, so two writers can never chain to the same
predecessor (and a unique index on ``prev_hash`` refuses such a fork outright).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from search.audit_chain import GENESIS_HASH, ChainWalker, component_of, json_value, record_hash
from search.audit_checkpoints import Checkpoint, CheckpointLog
from search.audit_text import check_audit_text, printable
from search.records import AuditRecord, SearchRequest
from search.store import SightingStore
from search.tables import AuditRow
from sightline.errors import StoreError

__all__ = ["AUDIT_GUARDS", "OUTCOME_DENIED", "OUTCOME_OK", "SYSTEM_ACTOR", "AuditLog", "error_outcome"]

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"
OUTCOME_OK = "ok"
OUTCOME_DENIED = "denied"
AUDIT_GUARDS = ("audit_no_update", "audit_no_delete")
"""The SQLite triggers that keep the table append-only."""

_EVENT = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$")
_COMPONENT = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_OUTCOME = re.compile(r"^(ok|denied|error:[A-Za-z_][A-Za-z0-9_]{0,73})$")


def error_outcome(error: BaseException | type[BaseException]) -> str:
    """``error:<ErrorClass>`` for a failed attempt: the class, never the message (which may quote
    user input or a path)."""
    cls = error if isinstance(error, type) else type(error)
    return f"error:{cls.__name__}"


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
        component=row.component,
        outcome=row.outcome,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def _check_codes(event: str, component: str, outcome: str) -> None:
    """Event, component and outcome come from code, not users: a bad one is a bug (ValueError)."""
    if len(event) > 64 or not _EVENT.match(event):
        raise ValueError(f"audit event {event!r}: expected dotted lower-case words such as 'search.face'")
    if not _COMPONENT.match(component):
        raise ValueError(f"audit component {component!r}: expected a lower-case word such as 'search'")
    if not _OUTCOME.match(outcome):
        raise ValueError(f"audit outcome {outcome!r}: expected 'ok', 'denied' or 'error:<ErrorClass>'")


class AuditLog:
    """Appends chained audit records to the store's database, reads them back, and checkpoints them."""

    def __init__(self, store: SightingStore, checkpoints: CheckpointLog | None = None) -> None:
        self._store = store
        self.checkpoints = checkpoints or CheckpointLog.from_settings(store.settings)
        self._checkpoint_every = store.settings.audit_checkpoint_every

    # --- appending -------------------------------------------------------------------------------

    def record(
        self,
        request: SearchRequest,
        action: str,
        query: Mapping[str, Any],
        result_ids: Sequence[int],
        *,
        component: str | None = None,
        outcome: str = OUTCOME_OK,
    ) -> AuditRecord:
        """Append one record for a search request and commit it before returning."""
        return self._append(
            request.actor, request.case_ref, request.reason, action, query, result_ids, component, outcome
        )

    def record_failure(
        self,
        request: SearchRequest,
        action: str,
        query: Mapping[str, Any],
        error: BaseException | type[BaseException],
        *,
        component: str | None = None,
    ) -> AuditRecord:
        """Append a record of an attempt that failed with ``error`` (outcome ``error:<ErrorClass>``):
        the audit shows who tried what, for which case, even when nothing came back."""
        return self._append(
            request.actor,
            request.case_ref,
            request.reason,
            action,
            query,
            (),
            component,
            error_outcome(error),
        )

    def record_system(
        self,
        action: str,
        reason: str,
        query: Mapping[str, Any],
        result_ids: Sequence[int],
        *,
        component: str | None = None,
        outcome: str = OUTCOME_OK,
    ) -> AuditRecord:
        """Append a record for something Sightline did by itself (retention)."""
        return self._append(SYSTEM_ACTOR, SYSTEM_ACTOR, reason, action, query, result_ids, component, outcome)

    def record_event(
        self,
        event: str,
        *,
        actor: str,
        outcome: str = OUTCOME_OK,
        detail: Mapping[str, Any] | None = None,
        result_ids: Sequence[int] = (),
        case_ref: str = "",
        reason: str = "",
        component: str | None = None,
    ) -> AuditRecord:
        """Append a record of an access that is not a search (a login, a sighting read, a user
        change); ``detail`` is kept as the record's query, case and reason may be empty."""
        return self._append(
            actor, case_ref, reason, event, detail or {}, result_ids, component, outcome, required=False
        )

    def _append(
        self,
        actor: str,
        case_ref: str,
        reason: str,
        event: str,
        query: Mapping[str, Any],
        result_ids: Sequence[int],
        component: str | None,
        outcome: str,
        *,
        required: bool = True,
    ) -> AuditRecord:
        # Everything is checked before the transaction: bad input writes nothing.
        check_audit_text(case_ref=case_ref, reason=reason, actor=actor, required=required)
        component = component_of(event) if component is None else component
        _check_codes(event, component, outcome)
        stored_query = json_value(query)
        ids = tuple(int(i) for i in result_ids)
        with self._store.write_session() as s:
            tail = s.execute(select(AuditRow.id, AuditRow.hash).order_by(AuditRow.id.desc()).limit(1)).first()
            prev_hash = tail.hash if tail is not None else GENESIS_HASH
            # The next id as AUTOINCREMENT would give it: never one a deleted record had, so a
            # deletion at the tail stays visible as a gap instead of being papered over.
            next_id = max(tail.id if tail is not None else 0, self._highest_issued_id(s)) + 1
            unsigned = AuditRecord(
                id=next_id,
                at=datetime.now(UTC),
                actor=actor,
                case_ref=case_ref,
                reason=reason,
                action=event,
                query=stored_query,
                result_ids=ids,
                component=component,
                outcome=outcome,
                prev_hash=prev_hash,
            )
            record = replace(unsigned, hash=record_hash(prev_hash, unsigned))
            s.add(
                AuditRow(
                    id=record.id,
                    at=record.at,
                    actor=actor,
                    case_ref=case_ref,
                    reason=reason,
                    action=event,
                    query=stored_query,
                    result_ids=list(ids),
                    component=component,
                    outcome=outcome,
                    prev_hash=record.prev_hash,
                    hash=record.hash,
                )
            )
        # Every user-derived value escaped: one record, one log line, whatever the input holds.
        log.info(
            "audit %d: %s by %s for case %s: %s, %d results",
            record.id,
            printable(event),
            printable(actor),
            printable(case_ref) or "-",
            printable(outcome),
            len(ids),
        )
        if self._checkpoint_every and record.id % self._checkpoint_every == 0:
            self._auto_checkpoint(record)
        return record

    @staticmethod
    def _highest_issued_id(session: Session) -> int:
        """The largest id SQLite's AUTOINCREMENT has handed out for the audit table (0 if none)."""
        if session.get_bind().dialect.name != "sqlite":
            return 0
        seq = session.execute(text("SELECT seq FROM sqlite_sequence WHERE name = 'audit'")).scalar()
        return int(seq or 0)

    def _auto_checkpoint(self, record: AuditRecord) -> None:
        """A checkpoint at ``record``, after its commit. A failure is logged, not raised: the record
        is written, and the search it audits must not fail for want of a signature."""
        try:
            self.checkpoint(upto=record.id)
        except (StoreError, OSError) as exc:
            log.error("audit: no checkpoint at record %d: %s", record.id, printable(str(exc)))

    # --- checkpoints -----------------------------------------------------------------------------

    def checkpoint(self, *, upto: int | None = None) -> Checkpoint | None:
        """Sign and append a checkpoint at record ``upto`` (default: the newest record).

        Before signing, the records since the previous checkpoint are checked to extend it, so a
        checkpoint never endorses a rewritten chain (StoreError instead). Returns None when there is
        nothing to checkpoint: no records, or (for a given ``upto``, the automatic cadence) another
        process's checkpoint already covers it. Without ``upto`` a checkpoint is signed even when the
        newest one names the same record: it attests that nothing was added since.
        """
        refresh = upto is None
        if upto is None:
            tail = self.tail()
            if tail is None:
                return None
            upto = tail[0]
        with self.checkpoints.writer() as writer:
            prev = writer.last
            if prev is not None and (prev.last_id > upto or (prev.last_id == upto and not refresh)):
                return None
            walker = (
                ChainWalker(after_id=prev.last_id, after_hash=prev.last_hash)
                if prev is not None
                else ChainWalker()
            )
            if prev is not None:
                self._check_hash_at(prev)
            for rec in self.iter_chain(after_id=walker.last_id, upto=upto):
                broken = walker.feed(rec)
                if broken is not None:
                    raise StoreError(f"audit chain broken, no checkpoint signed: {broken.reason}")
            if walker.last_id != upto:
                raise StoreError(f"audit chain ends at record {walker.last_id}, not {upto}: no checkpoint")
            count = self.count(upto=upto)
            expected = (prev.count if prev is not None else 0) + walker.count
            if count != expected:
                signed = f"{prev.count} signed up to record {prev.last_id} and " if prev is not None else ""
                raise StoreError(
                    f"the audit holds {count} records up to record {upto}, not the {expected} expected "
                    f"({signed}{walker.count} chained since): records before them were deleted or "
                    "added; no checkpoint signed, run `sightline audit verify`"
                )
            checkpoint = writer.append(upto, walker.last_hash, count)
        log.info("audit: checkpoint %d signed at record %d", checkpoint.seq, checkpoint.last_id)
        return checkpoint

    def _check_hash_at(self, checkpoint: Checkpoint) -> None:
        with self._store.session() as s:
            stored = s.scalar(select(AuditRow.hash).where(AuditRow.id == checkpoint.last_id))
        if stored != checkpoint.last_hash:
            raise StoreError(
                f"record {checkpoint.last_id} no longer has the hash checkpoint {checkpoint.seq} signed: "
                "no checkpoint signed; run `sightline audit verify`"
            )

    # --- reading ---------------------------------------------------------------------------------

    def entries(
        self,
        *,
        case_ref: str | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        limit: int = 1000,
    ) -> list[AuditRecord]:
        """Audit records, newest first, optionally for one case or actor."""
        q = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
        if case_ref is not None:
            q = q.where(AuditRow.case_ref == case_ref)
        if actor is not None:
            q = q.where(AuditRow.actor == actor)
        if since is not None:
            q = q.where(AuditRow.at >= since)
        with self._store.session() as s:
            return [_record(r) for r in s.scalars(q)]

    def iter_chain(
        self, *, after_id: int = 0, upto: int | None = None, batch: int = 1000
    ) -> Iterator[AuditRecord]:
        """Records in id order after ``after_id`` (up to ``upto``), in batches: the chain as stored."""
        last = after_id
        while True:
            q = select(AuditRow).where(AuditRow.id > last).order_by(AuditRow.id).limit(batch)
            if upto is not None:
                q = q.where(AuditRow.id <= upto)
            with self._store.session() as s:
                records = [_record(r) for r in s.scalars(q)]
            if not records:
                return
            yield from records
            last = records[-1].id

    def tail(self) -> tuple[int, str] | None:
        """(id, hash) of the newest record, or None for an empty audit."""
        with self._store.session() as s:
            row = s.execute(select(AuditRow.id, AuditRow.hash).order_by(AuditRow.id.desc()).limit(1)).first()
        return None if row is None else (int(row.id), str(row.hash))

    def count(self, *, upto: int | None = None) -> int:
        """How many records the table holds (with ids up to ``upto``)."""
        q = select(func.count()).select_from(AuditRow)
        if upto is not None:
            q = q.where(AuditRow.id <= upto)
        with self._store.session() as s:
            return int(s.scalar(q) or 0)

    def highest_issued_id(self) -> int:
        """The largest id ever given to a record (SQLite's AUTOINCREMENT counter; 0 elsewhere).

        More than the newest record's id means records were deleted from the end. The counter is an
        ordinary table, so this is a hint for the verifier, not a proof: the checkpoints are that.
        """
        with self._store.session() as s:
            return self._highest_issued_id(s)

    def missing_guards(self) -> list[str]:
        """The append-only triggers that are not installed (SQLite only)."""
        if self._store.engine.dialect.name != "sqlite":
            return []
        with self._store.session() as s:
            present = set(s.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")))
        return [name for name in AUDIT_GUARDS if name not in present]

"""Audit records become a hash chain: component, outcome, prev_hash and hash; existing rows chained.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03

Rows written before this revision get ``component`` from their action's first dotted part
(``search.face`` → ``search``, ``retention.purge`` → ``retention``) and ``outcome`` ``ok`` (a failed
search wrote no row), and are chained in id order from the genesis value with the same encoding new
records use (``search/audit_chain.py``). That encoding is versioned inside each record, so a future
change to it adds a version rather than changing what this migration computed.

The append-only triggers are dropped for the rewrite and re-created at the end, in the same
transaction: nothing else can write the table in between.

After upgrading a large store, run ``sightline audit checkpoint`` once: the first checkpoint checks
the chain from the genesis before signing it, which the automatic cadence would otherwise do inside
whichever search lands on the first multiple of ``search.audit_checkpoint_every``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC

import sqlalchemy as sa
from alembic import op

from search.audit_chain import GENESIS_HASH, component_of, record_hash
from search.records import AuditRecord

__all__ = ["downgrade", "upgrade"]

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The same guards as 0001's: the database refuses changes; the chain shows them if the guards go.
_AUDIT_TRIGGERS = {
    "audit_no_update": "BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END",
    "audit_no_delete": "BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END",
}

_NEW_COLUMNS = (
    sa.Column("component", sa.String(32), nullable=False, server_default=""),
    sa.Column("outcome", sa.String(80), nullable=False, server_default="ok"),
    sa.Column("prev_hash", sa.String(64), nullable=False, server_default=""),
    sa.Column("hash", sa.String(64), nullable=False, server_default=""),
)

_audit = sa.table(
    "audit",
    sa.column("id", sa.Integer()),
    sa.column("at", sa.DateTime()),
    sa.column("actor", sa.String()),
    sa.column("case_ref", sa.String()),
    sa.column("reason", sa.Text()),
    sa.column("action", sa.String()),
    sa.column("query", sa.JSON()),
    sa.column("result_ids", sa.JSON()),
    sa.column("component", sa.String()),
    sa.column("outcome", sa.String()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)


def _set_triggers(install: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name, body in _AUDIT_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}" if install else f"DROP TRIGGER IF EXISTS {name}")


def _chain_existing_rows() -> None:
    bind = op.get_bind()
    prev = GENESIS_HASH
    last_id = 0
    while True:
        # In id order, a batch at a time: an old store may hold millions of searches.
        rows = bind.execute(
            sa.select(_audit).where(_audit.c.id > last_id).order_by(_audit.c.id).limit(1000)
        ).all()
        if not rows:
            return
        for row in rows:
            record = AuditRecord(
                id=row.id,
                at=row.at.replace(tzinfo=UTC),
                actor=row.actor,
                case_ref=row.case_ref,
                reason=row.reason,
                action=row.action,
                query=dict(row.query),
                result_ids=tuple(int(i) for i in row.result_ids),
                component=component_of(row.action),
                outcome="ok",
                prev_hash=prev,
            )
            digest = record_hash(prev, record)
            bind.execute(
                _audit.update()
                .where(_audit.c.id == row.id)
                .values(component=record.component, outcome="ok", prev_hash=prev, hash=digest)
            )
            prev = digest
            last_id = row.id


def upgrade() -> None:
    _set_triggers(install=False)
    for column in _NEW_COLUMNS:
        op.add_column("audit", column)
    _chain_existing_rows()
    op.create_index("ix_audit_actor", "audit", ["actor"])
    op.create_index("ix_audit_prev_hash", "audit", ["prev_hash"], unique=True)
    _set_triggers(install=True)


def downgrade() -> None:
    _set_triggers(install=False)
    op.drop_index("ix_audit_prev_hash", "audit")
    op.drop_index("ix_audit_actor", "audit")
    for column in reversed(_NEW_COLUMNS):
        op.drop_column("audit", column.name)
    _set_triggers(install=True)

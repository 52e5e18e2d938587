"""Initial schema: cameras, sightings, and the append-only audit trail.

Revision ID: 0001
Revises:
Create Date: 2024-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

__all__ = ["downgrade", "upgrade"]

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The audit trail must survive a compromised or careless client: the database itself refuses changes.
_AUDIT_TRIGGERS = {
    "audit_no_update": "BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END",
    "audit_no_delete": "BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END",
}


def upgrade() -> None:
    op.create_table(
        "cameras",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "sightings",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column(
            "camera_id", sa.String(128), sa.ForeignKey("cameras.id", ondelete="RESTRICT"), nullable=False
        ),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("x1", sa.Float(), nullable=False),
        sa.Column("y1", sa.Float(), nullable=False),
        sa.Column("x2", sa.Float(), nullable=False),
        sa.Column("y2", sa.Float(), nullable=False),
        sa.Column("quality", sa.Float(), nullable=False),
        sa.Column("crop_path", sa.Text(), nullable=True),
        sa.Column("plate_text", sa.String(16), nullable=True),
        sa.Column("plate_confidence", sa.Float(), nullable=True),
        sa.Column("plate_alternatives", sa.JSON(), nullable=True),
        sa.Column("plate_candidates", sa.JSON(), nullable=True),
        sa.Column("color", sa.String(32), nullable=True),
        sa.Column("embedding", sa.LargeBinary(), nullable=True),
        sa.Column("embedding_dim", sa.Integer(), nullable=True),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        # Ids key the index and name crop files: never reuse one after a deletion.
        sqlite_autoincrement=True,
    )
    op.create_index("ix_sightings_last_seen", "sightings", ["last_seen"])
    op.create_index("ix_sightings_plate_text", "sightings", ["plate_text"])
    op.create_index("ix_sightings_kind_first_seen", "sightings", ["kind", "first_seen"])
    op.create_index("ix_sightings_camera_first_seen", "sightings", ["camera_id", "first_seen"])
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("case_ref", sa.String(256), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("query", sa.JSON(), nullable=False),
        sa.Column("result_ids", sa.JSON(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_audit_at", "audit", ["at"])
    op.create_index("ix_audit_case_ref", "audit", ["case_ref"])
    if op.get_bind().dialect.name == "sqlite":
        for name, body in _AUDIT_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in _AUDIT_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("audit")
    op.drop_table("sightings")
    op.drop_table("cameras")

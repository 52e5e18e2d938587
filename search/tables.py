"""SQLAlchemy ORM tables of the metadata store. The schema itself is created by the Alembic migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = ["AuditRow", "Base", "CameraRow", "SightingRow", "UTCDateTime", "UserRow", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: SQLite keeps no zone, and mixing zones breaks range queries."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: times in the store must be timezone-aware")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    """Declarative base; every datetime column is a UTCDateTime."""


class CameraRow(Base):
    __tablename__ = "cameras"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    url: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SightingRow(Base):
    __tablename__ = "sightings"
    __table_args__ = (
        Index("ix_sightings_kind_first_seen", "kind", "first_seen"),
        Index("ix_sightings_camera_first_seen", "camera_id", "first_seen"),
        # Ids key the index and name crop files: never reuse one after a deletion.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    camera_id: Mapped[str] = mapped_column(String(128), ForeignKey("cameras.id", ondelete="RESTRICT"))
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    quality: Mapped[float] = mapped_column(Float)
    crop_path: Mapped[str | None] = mapped_column(Text)
    plate_text: Mapped[str | None] = mapped_column(String(16), index=True)
    plate_confidence: Mapped[float | None] = mapped_column(Float)
    plate_alternatives: Mapped[list[list[list[Any]]] | None] = mapped_column(JSON)
    plate_candidates: Mapped[list[str] | None] = mapped_column(JSON)
    color: Mapped[str | None] = mapped_column(String(32))
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)
    embedding_dim: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str | None] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AuditRow(Base):
    """Append-only: the migrations install triggers that abort any UPDATE or DELETE, and every row is
    linked into a hash chain (``prev_hash``, ``hash``; see ``search/audit_chain.py``) so that what
    the triggers cannot stop (someone dropping them) still shows. ``action`` is the record's event.

    A unique ``prev_hash`` makes a fork impossible even for a writer that skipped the write lock:
    two records can never chain to the same predecessor.
    """

    __tablename__ = "audit"
    __table_args__ = (
        Index("ix_audit_actor", "actor"),
        Index("ix_audit_prev_hash", "prev_hash", unique=True),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(256))
    case_ref: Mapped[str] = mapped_column(String(256), index=True)
    reason: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(64))
    query: Mapped[dict[str, Any]] = mapped_column(JSON)
    result_ids: Mapped[list[int]] = mapped_column(JSON)
    component: Mapped[str] = mapped_column(String(32), server_default="")
    outcome: Mapped[str] = mapped_column(String(80), server_default="ok")
    prev_hash: Mapped[str] = mapped_column(String(64), server_default="")
    hash: Mapped[str] = mapped_column(String(64), server_default="")


class UserRow(Base):
    """A person who may log in. Never deleted (the audit names them): disabled instead."""

    __tablename__ = "users"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(32))
    scope: Mapped[list[str]] = mapped_column(JSON)
    password_hash: Mapped[str] = mapped_column(String(256))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    token_version: Mapped[int] = mapped_column(Integer, default=0)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

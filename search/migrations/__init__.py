"""Alembic migrations of the metadata store."""

__all__: list[str] = []

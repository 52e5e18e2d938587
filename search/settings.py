"""Settings for the metadata store and the vector indexes."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["SearchSettings"]


class SearchSettings(BaseModel):
    """Where sightings, crops and indexes are kept, and how long."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Path = Field(default=Path("var"), description="Store, crops and index files.")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; None = SQLite in data_dir.")
    retention_days: int = Field(default=30, ge=1, description="Sightings older than this are deleted.")
    ivf_threshold: int = Field(
        default=50_000,
        ge=1000,
        description="Below this many vectors an exact (flat) index is used; above, IVF with exact re-rank.",
    )
    nprobe: int = Field(default=16, ge=1, description="IVF lists probed: higher recall, slower queries.")

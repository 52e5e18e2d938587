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
    retention_interval_s: float = Field(
        default=3600.0,
        ge=0.0,
        description="How often `sightline serve` applies the retention limit (0: never; then run "
        "`sightline retention purge` from a scheduler). Shorter: expired data goes sooner, more scans.",
    )
    ivf_threshold: int = Field(
        default=50_000,
        ge=1000,
        description="Below this many vectors an exact (flat) index is used; above, IVF with exact re-rank.",
    )
    nprobe: int = Field(default=16, ge=1, description="IVF lists probed: higher recall, slower queries.")
    rerank_factor: int = Field(
        default=4,
        ge=1,
        description="IVF proposes k x this candidates, re-ranked exactly: higher recall, more dot products.",
    )
    index_save_every: int = Field(
        default=500,
        ge=1,
        description=(
            "Persist an index after this many additions. Lower: less catch-up from the store after a "
            "crash; higher: fewer full index writes."
        ),
    )
    face_min_similarity: float = Field(
        default=0.40,
        ge=-1.0,
        le=1.0,
        description=(
            "Default cosine floor for face search. FaceNet CASIA on LFW: best accuracy near 0.36-0.38, "
            "FAR 1e-3 near 0.47-0.52. Lower: more of the person's sightings and more strangers."
        ),
    )
    vehicle_min_similarity: float = Field(
        default=0.50,
        ge=-1.0,
        le=1.0,
        description="Default cosine floor for vehicle appearance search. Lower: more hits, more look-alikes.",
    )
    audit_checkpoint_every: int = Field(
        default=100,
        ge=0,
        description=(
            "Sign a checkpoint of the audit chain after every this many records (0: only on "
            "`sightline audit checkpoint`). Lower: a rewritten or truncated audit is pinned to fewer "
            "records and fewer recent records rely on the unsigned chain alone, for one signature and "
            "one checkpoint line per that many searches; higher: a smaller checkpoint file."
        ),
    )
    audit_checkpoint_dir: Path | None = Field(
        default=None,
        description=(
            "Folder of the signed audit checkpoints (checkpoints.jsonl) and the public key that "
            "verifies them. None: <data_dir>/audit-checkpoints. Elsewhere (another disk, a shipped or "
            "write-once location): someone holding the database cannot also drop the newest lines."
        ),
    )
    audit_key_file: Path | None = Field(
        default=None,
        description=(
            "Ed25519 private key that signs the audit checkpoints, created 0600 on first use. None: "
            "<data_dir>/keys/audit-ed25519.key. Keep it off the database's backups: whoever reads it "
            "can sign a rewritten audit."
        ),
    )
    plate_low_confidence: float = Field(
        default=0.9,
        gt=0.0,
        le=1.0,
        description=(
            "A plate character read below this confidence may be substituted once in fuzzy plate search. "
            "Raising it finds more misread plates and more false matches."
        ),
    )

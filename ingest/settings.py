"""Settings for ingest: sampling, tracking, and live cameras (workers, reconnects, motion gating)."""

from __future__ import annotations

from typing import Literal

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
        "batches help accelerators; on one CPU thread batching saves little (models/README.md) and delays "
        "tracking by up to this many frames.",
    )
    crop_jpeg_quality: int = Field(default=90, ge=1, le=100, description="JPEG quality of stored crops.")
    face_crop_margin: float = Field(
        default=0.25,
        ge=0,
        le=2,
        description="Context kept around a face box in its stored crop, per side, in box sizes.",
    )
    # -- live cameras ---------------------------------------------------------------------------
    workers: int = Field(
        default=1,
        ge=1,
        description="Worker processes for live cameras, each decoding many cameras and running one "
        "recognition loop. More workers use more cores and memory (one model set each); fewer share "
        "one recognition loop between more cameras.",
    )
    queue_size: int = Field(
        default=4,
        ge=1,
        description="Sampled frames held per camera between decode and recognition; when full the oldest "
        "is dropped and counted. Larger rides out recognition hiccups at the cost of lag and memory.",
    )
    rtsp_transport: Literal["tcp", "udp"] = Field(
        default="tcp",
        description="RTSP transport. TCP survives lossy links and NAT without smeared frames; UDP has "
        "less latency but loses packets (grey/smeared frames) under load.",
    )
    open_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Seconds to wait for a camera to answer when connecting. Lower fails dead cameras "
        "faster; higher tolerates slow cameras and congested links.",
    )
    read_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a network read may block. Lower notices silent links sooner; higher "
        "tolerates jitter. Reads also stop at the stall timeout, whichever is lower.",
    )
    stall_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="No decoded frame for this long marks a camera STALLED and reconnects it. Lower "
        "recovers sooner but reconnects cameras that merely hiccup (each reconnect costs a keyframe "
        "wait and may split tracks).",
    )
    reconnect_base_s: float = Field(
        default=1.0,
        gt=0,
        description="First reconnect backoff; doubled per consecutive failure up to reconnect_max_s, "
        "with full jitter (uniform in [0, backoff]) so thousands of cameras do not retry in step.",
    )
    reconnect_max_s: float = Field(
        default=30.0,
        gt=0,
        description="Cap of the reconnect backoff. Lower recovers sooner after long outages; higher "
        "spares cameras and the network from retries.",
    )
    down_after_failures: int = Field(
        default=6,
        ge=1,
        description="Consecutive failed connections after which a camera is DOWN and retried every "
        "down_retry_s only. Lower gives up on broken cameras sooner; higher keeps retrying fast longer.",
    )
    down_retry_s: float = Field(
        default=120.0,
        gt=0,
        description="Mean retry interval of a DOWN camera (jittered in [0.5, 1.5] of it). Lower notices a "
        "repaired camera sooner; higher spares the network from dead cameras.",
    )
    motion_gating: bool = Field(
        default=True,
        description="Skip recognition on sampled frames without change against a running background. "
        "Saves most recognition on quiet cameras; a subject standing perfectly still ends its track "
        "after track_max_gap_s and starts a new one when it moves.",
    )
    motion_threshold: float = Field(
        default=0.001,
        ge=0,
        le=1,
        description="Fraction of pixels (of a 160 px wide grey thumbnail) that must differ from the "
        "background for a frame to be analysed. 0.001 is ~14 px of 14,400: a face of 50 px in a 1080p "
        "frame covers ~20. Raising it skips more frames (noise, rain, flicker) but can miss small "
        "distant subjects; lowering it analyses noise.",
    )
    memory_trim_interval_s: float = Field(
        default=10.0,
        ge=0,
        description="Seconds between returns of freed heap memory to the system in each worker (glibc "
        "malloc_trim; each takes a few milliseconds). Without it resident memory creeps up with "
        "reconnects although nothing leaks. 0 turns it off.",
    )
    status_interval_s: float = Field(
        default=1.0,
        gt=0,
        description="Seconds between per-camera status snapshots sent by workers. Lower gives fresher "
        "status at more inter-process traffic (hundreds of cameras per worker).",
    )
    round_frames: int = Field(
        default=16,
        ge=1,
        description="Most frames one recognition round takes (one per camera, round-robin). Bounds how "
        "long a round lasts, so statuses and track expiry stay timely with hundreds of cameras per "
        "worker; higher batches more faces per embedder call.",
    )

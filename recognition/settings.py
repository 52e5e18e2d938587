"""Settings for recognition: runtime and thresholds."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from recognition.user_models import UserModelSpec

__all__ = ["FaceSettings", "PlateSettings", "RecognitionSettings", "RuntimeSettings", "VehicleSettings"]


class RuntimeSettings(BaseModel):
    """How onnxruntime sessions run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    intra_op_threads: int = Field(
        default=1,
        ge=0,
        description="Threads per session (0 = onnxruntime's choice). With two busy cores one thread per "
        "session beats two (models/README.md).",
    )
    provider: Literal["cpu", "cuda"] = "cpu"


class FaceSettings(BaseModel):
    """Face detection, quality and matching thresholds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    detector: str = "mtcnn"
    embedder: str = "facenet_casia"
    min_face_px: int = Field(
        default=40,
        ge=12,
        description="Smallest face side searched by the detector. Lower finds smaller faces but the P-Net "
        "pyramid grows: 20 px costs about twice 40 px.",
    )
    detect_threshold: float = Field(
        default=0.9,
        ge=0,
        le=1,
        description="O-Net score to keep a face. Raising it trades faint, blurred or turned faces for fewer "
        "false faces.",
    )
    pnet_threshold: float = Field(
        default=0.6,
        ge=0,
        le=1,
        description="P-Net score for a candidate window. Raising it makes R-Net and O-Net cheaper but drops "
        "hard faces before the better stages see them.",
    )
    rnet_threshold: float = Field(
        default=0.7, ge=0, le=1, description="R-Net score for a candidate; same trade as pnet_threshold."
    )
    embed_batch: int = Field(
        default=8,
        ge=1,
        description="Faces per embedder call. Larger batches save little per face on CPU "
        "(models/README.md: 47 vs "
        "43-50 ms) but hold more memory.",
    )
    min_quality: float = Field(
        default=0.3, ge=0, le=1, description="Faces below this quality are not stored as sightings."
    )


class PlateSettings(BaseModel):
    """Plate localisation and reading."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reader: str = "ppocr_v4"
    min_confidence: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Weakest character's confidence to keep a located plate. Raising it drops more "
        "misreads but also blurred or small true plates.",
    )
    det_max_side: int = Field(
        default=256,
        ge=64,
        le=1024,
        description="Long side of a candidate crop fed to the text detector. Det cost grows with pixels "
        "(a 720x1160 frame takes ~2 s); lowering it speeds location but loses small or distant plates.",
    )
    det_box_thresh: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Mean DB probability to keep a text box (PP-OCR's 0.5). Lower admits texture and "
        "logos, higher loses faint plates.",
    )
    max_candidates: int = Field(
        default=6,
        ge=1,
        description="Candidate regions per frame sent to det + rec, best first. Each costs ~30-60 ms; "
        "raising it finds plates in cluttered frames at that cost.",
    )
    rec_batch_size: int = Field(
        default=1,
        ge=1,
        description="Crops per rec call. On one CPU thread a batch costs more per crop (48x320: 36 ms "
        "alone, 52-60 ms each in fours); raise it only for accelerators.",
    )


_NEEDS_USER_MODEL = frozenset({"onnx_yolo", "onnx_reid"})
"""Vehicle backends that run a model from ``user_models`` (the rest need none)."""


class VehicleSettings(BaseModel):
    """Vehicle descriptor and optional user-supplied models (see ``recognition.user_models``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    embedder: str = Field(
        default="color_layout",
        description="Registry key: color_layout (colour + HOG, no model) or onnx_reid (needs reid_model).",
    )
    detector: str | None = Field(
        default=None,
        description="Registry key of a vehicle detector (onnx_yolo, needs detector_model); None finds "
        "vehicles from their plates only.",
    )
    detector_model: str | None = Field(
        default=None, description="Key of a user_models entry for the detector."
    )
    reid_model: str | None = Field(default=None, description="Key of a user_models entry for onnx_reid.")
    user_models: tuple[UserModelSpec, ...] = Field(
        default=(), description="Manifest entries of user-supplied ONNX models."
    )

    @model_validator(mode="after")
    def _models_exist(self) -> VehicleSettings:
        keys = [m.key for m in self.user_models]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"user_models: duplicate keys {dupes}")
        for backend, field in (("detector", "detector_model"), ("embedder", "reid_model")):
            # Backends that run a user model must name one: found here, at `config validate`,
            # rather than when a worker builds its models.
            if getattr(self, backend) in _NEEDS_USER_MODEL and getattr(self, field) is None:
                raise ValueError(
                    f"{backend} {getattr(self, backend)!r} runs a user model: set {field} to the key "
                    "of a user_models entry"
                )
        kinds = {m.key: m.kind for m in self.user_models}
        for field, kind in (("detector_model", "vehicle_detector"), ("reid_model", "vehicle_reid")):
            key = getattr(self, field)
            if key is not None and kinds.get(key) != kind:
                known = sorted(k for k, v in kinds.items() if v == kind)
                raise ValueError(f"{field} {key!r} is not a {kind} in user_models; known: {known}")
        return self


class RecognitionSettings(BaseModel):
    """All recognition settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    runtime: RuntimeSettings = RuntimeSettings()
    face: FaceSettings = FaceSettings()
    plate: PlateSettings = PlateSettings()
    vehicle: VehicleSettings = VehicleSettings()

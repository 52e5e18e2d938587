"""User-supplied ONNX models: their manifest entry (``UserModelSpec``), checksum and signature checks.

We ship no vehicle detector or re-identification model (none is distributed in a PyPI package),
so a deployment may bring its own. Each one is declared in the settings, under
``[[recognition.vehicle.user_models]]``, with everything our code needs to feed it and read it;
nothing is guessed from tensor shapes. Example (TOML)::

    [recognition.vehicle]
    detector = "onnx_yolo"
    detector_model = "yolo_vehicles"

    [[recognition.vehicle.user_models]]
    key = "yolo_vehicles"
    kind = "vehicle_detector"
    path = "/srv/models/yolov8s.onnx"
    sha256 = "9f2c…"                       # 64 hex digits, checked at every load
    input_size = [640, 640]                # H, W
    output_layout = "channels_first"       # YOLOv8 export: [1, 4+nc, N]
    class_names = ["person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck"]
    vehicle_classes = ["car", "bus", "truck"]

Validators here do no I/O: the file and its checksum are checked when a backend loads it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sightline.errors import ChecksumMismatch, ConfigError, ModelError

if TYPE_CHECKING:
    import onnxruntime as ort

__all__ = [
    "UserModelSpec",
    "describe_signature",
    "dims_match",
    "find_user_model",
    "format_dims",
    "tensor_dims",
    "verify_user_model",
]

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class UserModelSpec(BaseModel):
    """The manifest entry of one user-supplied ONNX model.

    Pixels are fed as ``((pixel * scale) - mean) / std`` per channel, in ``color_order``, laid out
    as ``layout``. A detector's input is letterboxed to ``input_size``; its output holds, per
    candidate, ``cx, cy, w, h`` in input pixels, then (if ``has_objectness``) an objectness score,
    then one score per class in ``class_names`` order.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(pattern=r"^[a-z0-9_]+$", description="Name the vehicle settings refer to.")
    kind: Literal["vehicle_detector", "vehicle_reid"]
    path: Path = Field(description="The .onnx file.")
    sha256: str = Field(description="Hex sha256 of the file; a mismatch refuses to load it.")
    input_name: str = Field(default="images", description="Name of the model's image input.")
    output_name: str = Field(default="output0", description="Name of the output we read.")
    input_size: tuple[int, int] = Field(description="Input height and width in pixels.")
    layout: Literal["NCHW", "NHWC"] = "NCHW"
    color_order: Literal["RGB", "BGR"] = "RGB"
    scale: float = Field(default=1 / 255, gt=0, description="Multiplies raw 0–255 pixels first.")
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    output_layout: Literal["anchors_first", "channels_first"] = Field(
        default="anchors_first",
        description="Detector output: anchors_first is [1, N, 4+nc] (YOLOv5 style), channels_first is "
        "[1, 4+nc, N] (YOLOv8 export). Declared, never inferred from shapes.",
    )
    has_objectness: bool = Field(
        default=False, description="Detector output has an objectness column after the box (YOLOv5)."
    )
    class_names: tuple[str, ...] = ()
    vehicle_classes: tuple[str, ...] = Field(default=(), description="Classes reported as vehicles.")
    score_threshold: float = Field(
        default=0.35,
        ge=0,
        le=1,
        description="Detector score to keep a box. Raising it drops distant and occluded vehicles; "
        "lowering it admits more false boxes, which cost an embedding and a crop each.",
    )
    nms_iou: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="IoU above which a lower-scored box of the same class is suppressed. Lowering it "
        "merges vehicles queued bumper to bumper; raising it keeps duplicate boxes.",
    )
    embedding_dim: int | None = Field(default=None, gt=0, description="Re-id output size D, if known.")
    batch_size: int = Field(default=16, ge=1, description="Re-id crops per inference call.")

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: str) -> str:
        value = value.lower()
        if not _HEX64.match(value):
            raise ValueError("sha256 must be 64 hex digits")
        return value

    @field_validator("input_size")
    @classmethod
    def _positive(cls, value: tuple[int, int]) -> tuple[int, int]:
        if min(value) < 8:
            raise ValueError(f"input_size must be at least 8×8, got {value}")
        return value

    @model_validator(mode="after")
    def _kind_fields(self) -> Self:
        if self.kind == "vehicle_detector":
            if not self.class_names:
                raise ValueError(f"{self.key}: a vehicle_detector needs class_names")
            unknown = sorted(set(self.vehicle_classes) - set(self.class_names))
            if unknown:
                raise ValueError(f"{self.key}: vehicle_classes not in class_names: {unknown}")
            if not self.vehicle_classes:
                raise ValueError(f"{self.key}: a vehicle_detector needs vehicle_classes")
        return self


def find_user_model(
    models: Sequence[UserModelSpec], key: str | None, kind: str, setting: str
) -> UserModelSpec:
    """The entry named ``key`` of kind ``kind``; else ConfigError naming ``setting`` and the known keys."""
    for spec in models:
        if spec.key == key and spec.kind == kind:
            return spec
    known = sorted(m.key for m in models if m.kind == kind)
    raise ConfigError(
        f"{setting} = {key!r} names no {kind} in recognition.vehicle.user_models; known: {known}"
    )


def verify_user_model(spec: UserModelSpec) -> Path:
    """The model's path once it exists and matches its sha256 (ModelError / ChecksumMismatch)."""
    if not spec.path.is_file():
        raise ModelError(f"user model {spec.key!r}: file not found: {spec.path}")
    digest = hashlib.sha256()
    with spec.path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != spec.sha256:
        raise ChecksumMismatch(
            f"user model {spec.key!r}: sha256 of {spec.path} is {digest.hexdigest()}, "
            f"manifest says {spec.sha256}"
        )
    return spec.path


def tensor_dims(shape: object) -> list[int | None]:
    """onnxruntime's shape with symbolic or unknown dimensions as None."""
    if not isinstance(shape, list | tuple):
        return []
    return [d if isinstance(d, int) and d > 0 else None for d in shape]


def dims_match(actual: list[int | None], expected: list[int | None]) -> bool:
    """Same rank; a dimension the model leaves symbolic (None) or we leave open (None) matches anything."""
    return len(actual) == len(expected) and all(
        a is None or e is None or a == e for a, e in zip(actual, expected, strict=True)
    )


def format_dims(dims: list[int | None]) -> str:
    return "[" + ", ".join("N" if d is None else str(d) for d in dims) + "]"


def describe_signature(session: ort.InferenceSession) -> str:
    """The session's inputs and outputs as ``name [dims] type``, for error messages."""

    def fmt(args: list[ort.NodeArg]) -> str:
        return ", ".join(
            f"{a.name} [{', '.join('?' if d is None else str(d) for d in tensor_dims(a.shape))}] {a.type}"
            for a in args
        )

    return f"inputs: {fmt(session.get_inputs())}; outputs: {fmt(session.get_outputs())}"

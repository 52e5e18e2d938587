"""The ground truth of a generated sample set: clips, subjects, and where each subject appears.

Written next to the clips as ``ground_truth.json``; end-to-end tests load it to check that search
finds each subject on the right cameras at the right times. Validation checks internal consistency
(references, times inside clips, absolute times that agree with clip starts), not the video files.
"""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sample_streams.render import is_valid_plate, plate_colour_ok
from sightline.errors import InputError, NotFound

__all__ = [
    "SCHEMA_VERSION",
    "Appearance",
    "Clip",
    "GroundTruth",
    "KeyframeBox",
    "Subject",
    "load_ground_truth",
    "save_ground_truth",
]

SCHEMA_VERSION = 1
# Frame times are rounded to the microsecond in JSON; allow that much slack when comparing.
_EPS_S = 1e-3

BoxT = tuple[float, float, float, float]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _utc(v: datetime) -> datetime:
    if v.tzinfo is None or v.utcoffset() != timedelta(0):
        raise ValueError(f"times must be UTC with an explicit offset, got {v.isoformat()}")
    return v


class Clip(_Model):
    """One camera's clip: ``start`` is the wall-clock time of its first frame."""

    camera_id: str
    file: str = Field(description="Path relative to the sample directory.")
    start: datetime
    fps: int = Field(gt=0)
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    frames: int = Field(gt=0)
    duration_s: float = Field(gt=0, description="frames / fps")
    gop: int = Field(gt=0, description="Frames between keyframes (one second of video).")

    _check_start = field_validator("start")(_utc)

    @model_validator(mode="after")
    def _duration(self) -> Self:
        if abs(self.duration_s - self.frames / self.fps) > _EPS_S:
            raise ValueError(f"clip {self.camera_id}: duration {self.duration_s} != frames/fps")
        return self


class Subject(_Model):
    """A person (``face``) or a vehicle with a plate."""

    id: str
    kind: Literal["face", "vehicle"]
    portrait: str | None = Field(
        default=None, description="Source of the portrait, e.g. skimage.data.astronaut"
    )
    query_image: str | None = Field(
        default=None, description="Reference photo, relative to the sample directory"
    )
    plate_text: str | None = None
    plate_colour: Literal["blue", "green", "yellow"] | None = None
    body_colour: str | None = None

    @model_validator(mode="after")
    def _fields_for_kind(self) -> Self:
        if self.kind == "face":
            if not self.portrait or not self.query_image or self.plate_text is not None:
                raise ValueError(f"face subject {self.id}: needs portrait and query_image, no plate")
        else:
            if self.plate_text is None or self.plate_colour is None:
                raise ValueError(f"vehicle subject {self.id}: needs plate_text and plate_colour")
            if not is_valid_plate(self.plate_text) or not plate_colour_ok(self.plate_text, self.plate_colour):
                raise ValueError(
                    f"vehicle subject {self.id}: invalid {self.plate_colour} plate {self.plate_text!r}"
                )
        return self


class KeyframeBox(_Model):
    """Where the subject is at one keyframe (frame pixels, x1 y1 x2 y2; may extend past the edges)."""

    t: float = Field(ge=0, description="Seconds from clip start")
    frame: int = Field(ge=0)
    box: BoxT
    face_box: BoxT | None = None
    plate_box: BoxT | None = None


class Appearance(_Model):
    """A subject visible on a camera from ``t_start`` to ``t_end`` (seconds from clip start, inclusive)."""

    subject_id: str
    camera_id: str
    t_start: float = Field(ge=0)
    t_end: float = Field(ge=0)
    first_frame: int = Field(ge=0)
    last_frame: int = Field(ge=0)
    start: datetime
    end: datetime
    keyframes: tuple[KeyframeBox, ...] = ()

    _check_times = field_validator("start", "end")(_utc)

    @model_validator(mode="after")
    def _order(self) -> Self:
        if self.t_end < self.t_start or self.last_frame < self.first_frame:
            raise ValueError(f"appearance of {self.subject_id} on {self.camera_id}: ends before it starts")
        return self


class GroundTruth(_Model):
    """Everything a test needs to know about a generated sample set."""

    schema_version: int = SCHEMA_VERSION
    seed: int
    clips: tuple[Clip, ...]
    subjects: tuple[Subject, ...]
    appearances: tuple[Appearance, ...]

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.schema_version != SCHEMA_VERSION:
            raise ValueError(
                f"schema_version {self.schema_version} not supported (expected {SCHEMA_VERSION})"
            )
        clips = {c.camera_id: c for c in self.clips}
        subjects = {s.id for s in self.subjects}
        if len(clips) != len(self.clips) or len(subjects) != len(self.subjects):
            raise ValueError("camera ids and subject ids must be unique")
        spans: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for a in self.appearances:
            clip = clips.get(a.camera_id)
            if clip is None or a.subject_id not in subjects:
                raise ValueError(
                    f"appearance refers to unknown camera {a.camera_id!r} or subject {a.subject_id!r}"
                )
            if a.t_end > clip.duration_s + _EPS_S or a.last_frame >= clip.frames:
                raise ValueError(f"appearance of {a.subject_id} ends after clip {a.camera_id}")
            for t, abs_t in ((a.t_start, a.start), (a.t_end, a.end)):
                if abs((abs_t - clip.start).total_seconds() - t) > _EPS_S:
                    raise ValueError(f"appearance of {a.subject_id} on {a.camera_id}: {abs_t} != start + {t}")
            for k in a.keyframes:
                if not a.first_frame <= k.frame <= a.last_frame or k.frame % clip.gop:
                    raise ValueError(
                        f"appearance of {a.subject_id}: frame {k.frame} is not one of its keyframes"
                    )
            spans.setdefault((a.subject_id, a.camera_id), []).append((a.t_start, a.t_end))
        for (subject, camera), ranges in spans.items():
            ranges.sort()
            if any(b[0] <= a[1] for a, b in itertools.pairwise(ranges)):
                raise ValueError(f"{subject} appears twice at once on {camera}")
        return self

    def clip(self, camera_id: str) -> Clip:
        for c in self.clips:
            if c.camera_id == camera_id:
                return c
        raise NotFound(f"no clip for camera {camera_id!r}")

    def subject(self, subject_id: str) -> Subject:
        for s in self.subjects:
            if s.id == subject_id:
                return s
        raise NotFound(f"no subject {subject_id!r}")

    def appearances_of(self, subject_id: str) -> list[Appearance]:
        """The subject's appearances in wall-clock order: its trajectory across cameras."""
        return sorted((a for a in self.appearances if a.subject_id == subject_id), key=lambda a: a.start)


def save_ground_truth(gt: GroundTruth, path: Path) -> None:
    """Write ``gt`` as indented UTF-8 JSON (plates hold Chinese characters)."""
    path.write_text(
        json.dumps(gt.model_dump(mode="json"), ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )


def load_ground_truth(path: Path) -> GroundTruth:
    """Read and validate ``ground_truth.json`` (or the directory holding it)."""
    path = Path(path)
    if path.is_dir():
        path = path / "ground_truth.json"
    if not path.is_file():
        raise NotFound(f"ground truth not found: {path}")
    try:
        return GroundTruth.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        raise InputError(f"invalid ground truth {path}: {exc}") from exc

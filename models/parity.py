"""Reference outputs of a source model, stored with the manifest, that a conversion must reproduce.

A converted model is checked at prepare time against what its *source* computes on real faces. That
source is a TensorFlow GraphDef, and the only runner of it we have is OpenCV's TensorFlow importer,
which OpenCV 5.1 removed (4.10-4.14 cannot import this graph at all). So the source's outputs are
computed once, where an importer exists (``sightline models reference KEY``), and stored beside the
manifest with the exact input pixels they came from (``models/references/*.npz``, pinned by sha256
in the manifest). Preparation then needs only onnxruntime: it runs the converted graph on the stored
pixels and compares. Storing the pixels, not just the outputs, keeps the check independent of how a
library version decodes or resizes the sample photos.
"""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from models.manifest import ManifestEntry, ParitySpec
from sightline.errors import ChecksumMismatch, ModelError

__all__ = [
    "ParityReference",
    "check_against_reference",
    "encode_reference",
    "load_reference",
    "make_reference",
    "model_input",
    "reference_path",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ParityReference:
    """Input pixels (N, H, W, 3 RGB uint8) and the source model's outputs on them (N, D float32)."""

    pixels: NDArray[np.uint8]
    outputs: NDArray[np.float32]
    source_sha256: str
    produced_by: str

    def __post_init__(self) -> None:
        if self.pixels.ndim != 4 or self.pixels.shape[-1] != 3 or self.pixels.dtype != np.uint8:
            raise ValueError(
                f"pixels: expected (N, H, W, 3) uint8, got {self.pixels.shape} {self.pixels.dtype}"
            )
        if self.outputs.ndim != 2 or self.outputs.shape[0] != self.pixels.shape[0]:
            raise ValueError(
                f"outputs: expected ({self.pixels.shape[0]}, D), got {self.outputs.shape} "
                f"for {self.pixels.shape[0]} inputs"
            )


def reference_path(spec: ParitySpec) -> Path:
    """Where the manifest's reference file lives: relative paths are inside the ``models`` package."""
    return Path(__file__).parent / spec.reference  # an absolute ``reference`` replaces the parent


def encode_reference(ref: ParityReference) -> bytes:
    """The ``.npz`` bytes of a reference (no pickles: it loads with ``allow_pickle=False``)."""
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        pixels=ref.pixels,
        outputs=ref.outputs.astype(np.float32),
        source_sha256=np.array(ref.source_sha256),
        produced_by=np.array(ref.produced_by),
    )
    return buf.getvalue()


def load_reference(entry: ManifestEntry) -> ParityReference:
    """The entry's stored reference, checked against its pinned sha256 and its source's sha256.

    Raises ChecksumMismatch naming the file if it was altered, ModelError if it cannot be read.
    """
    spec = entry.parity
    if spec is None:
        raise ModelError(f"model {entry.key!r} declares no parity reference")
    path = reference_path(spec)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"parity reference for model {entry.key!r} cannot be read: {exc}") from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != spec.sha256:
        raise ChecksumMismatch(
            f"parity reference {path} for model {entry.key!r}: expected sha256 {spec.sha256}, got "
            f"{actual}; the file is damaged or was replaced (restore it from the repository, or make "
            f"it again with `sightline models reference {entry.key}` and pin the new sha256)"
        )
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            ref = ParityReference(
                pixels=np.asarray(npz["pixels"]),
                outputs=np.asarray(npz["outputs"], dtype=np.float32),
                source_sha256=str(npz["source_sha256"]),
                produced_by=str(npz["produced_by"]),
            )
    except (OSError, KeyError, ValueError) as exc:
        raise ModelError(f"parity reference {path} for model {entry.key!r} is malformed: {exc}") from exc
    if entry.member_sha256 is not None and ref.source_sha256 != entry.member_sha256:
        raise ModelError(
            f"parity reference {path} was made from source sha256 {ref.source_sha256}, but model "
            f"{entry.key!r} is converted from {entry.member_sha256}"
        )
    return ref


def model_input(entry: ManifestEntry, pixels: NDArray[np.uint8]) -> NDArray[np.float32]:
    """RGB pixels as the model's input: its colour order, layout and normalisation."""
    spec = entry.input
    if spec is None or spec.layout == "NCHW":
        raise ModelError(f"parity input for {entry.key!r}: needs an NHWC or NWHC input")
    if tuple(spec.shape[1:3]) != pixels.shape[1:3] and all(isinstance(d, int) for d in spec.shape[1:3]):
        raise ModelError(
            f"parity input for {entry.key!r}: expected {spec.shape[1:3]} pixels, got {pixels.shape[1:3]}"
        )
    x = pixels if spec.colour == "RGB" else pixels[..., ::-1]
    if spec.layout == "NWHC":
        x = x.transpose(0, 2, 1, 3)
    return np.ascontiguousarray((x.astype(np.float32) - spec.mean) * spec.scale, dtype=np.float32)


def check_against_reference(entry: ManifestEntry, onnx_path: Path) -> list[float]:
    """Run the converted model on the stored pixels; raise ModelError unless it reproduces the source.

    Each input runs alone (cosine to the stored output ≥ ``min_cosine``) and all run as one batch
    (equal to the single runs), since the batch dimension is what the converter rewrites. Returns the
    cosines.
    """
    import onnxruntime as ort

    spec = entry.parity
    if spec is None or entry.input is None or len(entry.outputs) != 1:
        raise ModelError(f"parity check for {entry.key!r} needs a parity reference, an input, one output")
    ref = load_reference(entry)
    batch = model_input(entry, ref.pixels)
    name = entry.outputs[0].name
    try:
        # A plain session: models/ sits below recognition/ and must not import it.
        session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        singles = np.stack([session.run([name], {entry.input.name: x[None]})[0][0] for x in batch])
        together = session.run([name], {entry.input.name: batch})[0]
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelError(f"converted {entry.key!r} fails to run: {exc}") from exc
    if singles.shape != ref.outputs.shape:
        raise ModelError(
            f"converted {entry.key!r}: outputs of shape {singles.shape}, "
            f"the reference has {ref.outputs.shape}"
        )
    cosines = []
    for i, (want, got) in enumerate(zip(ref.outputs, singles, strict=True)):
        cosine = float(want @ got / (np.linalg.norm(want) * np.linalg.norm(got)))
        log.info("parity %s input %d: cosine %.7f vs %s", entry.key, i, cosine, ref.produced_by)
        if not cosine >= spec.min_cosine:
            raise ModelError(
                f"converted {entry.key!r} disagrees with its source on reference input {i}: cosine "
                f"{cosine:.6f} < {spec.min_cosine} (reference made by {ref.produced_by})"
            )
        cosines.append(cosine)
    diff = float(np.abs(singles - together).max())
    if together.shape != singles.shape or diff > 1e-4:
        raise ModelError(
            f"converted {entry.key!r}: a batch of {len(singles)} differs from single runs "
            f"(max diff {diff:.2e})"
        )
    return cosines


def make_reference(entry: ManifestEntry, graph_def: bytes, pixels: NDArray[np.uint8]) -> ParityReference:
    """Run the source GraphDef with OpenCV's TensorFlow importer on ``pixels`` (maintainers only).

    Needs an OpenCV that still has ``cv2.dnn.readNetFromTensorflow`` and imports this graph (5.0);
    raises ModelError otherwise.
    """
    import cv2

    if not hasattr(cv2.dnn, "readNetFromTensorflow"):
        raise ModelError(
            f"OpenCV {cv2.__version__} has no TensorFlow importer (removed in 5.1): make the reference "
            "of a TensorFlow model with opencv-python-headless 5.0"
        )
    spec = entry.input
    if spec is None or spec.layout != "NHWC":
        raise ModelError(f"reference for {entry.key!r}: needs one NHWC input")
    batch = model_input(entry, pixels)
    try:
        net = cv2.dnn.readNetFromTensorflow(np.frombuffer(graph_def, dtype=np.uint8))
        outputs = []
        for image in batch:
            net.setInput(np.ascontiguousarray(image.transpose(2, 0, 1)[None]))
            outputs.append(np.asarray(net.forward(), dtype=np.float32).reshape(-1))
    except cv2.error as exc:
        raise ModelError(
            f"OpenCV {cv2.__version__} cannot run the source graph of {entry.key!r}: {exc}"
        ) from exc
    return ParityReference(
        pixels=np.ascontiguousarray(pixels, dtype=np.uint8),
        outputs=np.stack(outputs),
        source_sha256=hashlib.sha256(graph_def).hexdigest(),
        produced_by=f"cv2.dnn.readNetFromTensorflow, OpenCV {cv2.__version__}",
    )

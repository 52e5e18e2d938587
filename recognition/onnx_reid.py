"""Vehicle appearance embeddings from a user-supplied re-identification ONNX model.

A real re-id network (trained on VeRi-776, VehicleID and the like) tells apart vehicles that the
colour + layout descriptor cannot, but none ships in a package we may use, so a deployment brings
its own and declares it in a ``UserModelSpec`` (``recognition.user_models``):

- input ``input_name``: [N, 3, H, W] float32 (or [N, H, W, 3] with ``layout = "NHWC"``), each
  crop resized to ``input_size`` (H, W) without letterboxing (re-id models are trained on
  stretched box crops), ``color_order``, pixels times ``scale`` then ``(x − mean) / std``;
- output ``output_name``: [N, D] float, D = ``embedding_dim`` when given; rows are L2-normalised
  here whether or not the model does it.

A model exported with a fixed batch dimension B is fed exactly B crops per call, padded with zeros.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np
from numpy.typing import NDArray

from recognition.base import Image
from recognition.runtime import make_session
from recognition.settings import RuntimeSettings
from recognition.types import Box, Embeddings
from recognition.user_models import (
    UserModelSpec,
    describe_signature,
    dims_match,
    find_user_model,
    format_dims,
    tensor_dims,
    verify_user_model,
)
from recognition.vehicle_front import crop_box
from sightline.errors import ModelError

if TYPE_CHECKING:
    import onnxruntime as ort

    from sightline.settings import Settings

__all__ = ["OnnxReidEmbedder"]

log = logging.getLogger(__name__)


class OnnxReidEmbedder:
    """A user-supplied vehicle re-identification model (contract in the module docstring)."""

    def __init__(self, spec: UserModelSpec, session: ort.InferenceSession) -> None:
        if spec.kind != "vehicle_reid":
            raise ModelError(f"user model {spec.key!r} is a {spec.kind}, not a vehicle_reid")
        self._spec = spec
        self._session = session
        self._fixed_batch = self._check_signature()
        self._batch = self._fixed_batch or spec.batch_size
        h, w = spec.input_size
        warm = self._run(np.zeros((1, h, w, 3), dtype=np.uint8))
        if spec.embedding_dim is not None and warm.shape[1] != spec.embedding_dim:
            raise ModelError(
                f"user model {spec.key!r}: manifest says embedding_dim {spec.embedding_dim}, "
                f"the model gives {warm.shape[1]}"
            )
        self._dim = int(warm.shape[1])
        log.info("vehicle re-id model %s loaded (dim %d, batch %d)", spec.key, self._dim, self._batch)

    @classmethod
    def from_spec(cls, spec: UserModelSpec, runtime: RuntimeSettings) -> OnnxReidEmbedder:
        """Verify the file's checksum, open it and check its signature."""
        return cls(spec, make_session(verify_user_model(spec), runtime))

    @classmethod
    def from_settings(cls, settings: Settings) -> OnnxReidEmbedder:
        vehicle = settings.recognition.vehicle
        spec = find_user_model(
            vehicle.user_models, vehicle.reid_model, "vehicle_reid", "recognition.vehicle.reid_model"
        )
        return cls.from_spec(spec, settings.recognition.runtime)

    @property
    def dim(self) -> int:
        return self._dim

    def _check_signature(self) -> int | None:
        """Check the session against the manifest; returns the model's fixed batch size, if any."""
        spec = self._spec
        h, w = spec.input_size
        want_in: list[int | None] = [None, 3, h, w] if spec.layout == "NCHW" else [None, h, w, 3]
        want_out: list[int | None] = [None, spec.embedding_dim]
        inputs = {a.name: a for a in self._session.get_inputs()}
        outputs = {a.name: a for a in self._session.get_outputs()}
        problems: list[str] = []
        in_dims: list[int | None] = []
        if list(inputs) != [spec.input_name]:
            problems.append(f"one input named {spec.input_name!r}")
        else:
            in_dims = tensor_dims(inputs[spec.input_name].shape)
            if not dims_match(in_dims, want_in) or inputs[spec.input_name].type != "tensor(float)":
                problems.append(f"input {spec.input_name} {format_dims(want_in)} tensor(float)")
        if spec.output_name not in outputs:
            problems.append(f"an output named {spec.output_name!r}")
        elif not dims_match(tensor_dims(outputs[spec.output_name].shape), want_out):
            problems.append(f"output {spec.output_name} {format_dims(want_out)}")
        if problems:
            raise ModelError(
                f"user model {spec.key!r} does not match its manifest: expected {'; '.join(problems)}; "
                f"actual {describe_signature(self._session)}"
            )
        return in_dims[0]

    def _run(self, crops: NDArray[np.uint8]) -> NDArray[np.float32]:
        """Embed [n, H, W, 3] BGR crops (n ≤ batch), padding to a fixed batch when the model has one."""
        spec = self._spec
        n = len(crops)
        pixels = crops if spec.color_order == "BGR" else crops[..., ::-1]
        x = (pixels.astype(np.float32) * spec.scale - np.array(spec.mean, np.float32)) / np.array(
            spec.std, np.float32
        )
        if self._fixed_batch is not None and n < self._fixed_batch:
            x = np.concatenate([x, np.zeros((self._fixed_batch - n, *x.shape[1:]), np.float32)])
        if spec.layout == "NCHW":
            x = x.transpose(0, 3, 1, 2)
        try:
            (raw,) = self._session.run([spec.output_name], {spec.input_name: np.ascontiguousarray(x)})
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"user model {spec.key!r} failed to run: {exc}") from exc
        out = np.asarray(raw, dtype=np.float32)
        if out.ndim != 2 or out.shape[0] != len(x):
            raise ModelError(f"user model {spec.key!r}: expected output [{len(x)}, D], got {list(out.shape)}")
        return out[:n]

    def embed(self, image: Image, boxes: Sequence[Box]) -> Embeddings:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"OnnxReidEmbedder: expected a uint8 BGR image [H, W, 3], got {image.shape}")
        if not boxes:
            return Embeddings(np.zeros((0, self._dim), dtype=np.float32))
        h, w = self._spec.input_size
        crops = np.stack(
            [
                np.asarray(cv2.resize(crop_box(image, b), (w, h), interpolation=cv2.INTER_LINEAR), np.uint8)
                for b in boxes
            ]
        )
        parts = [self._run(crops[i : i + self._batch]) for i in range(0, len(crops), self._batch)]
        return Embeddings.normalised(np.concatenate(parts))

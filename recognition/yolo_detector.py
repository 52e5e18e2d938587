"""Vehicle detection with a user-supplied YOLO-style ONNX detector (YOLOv5 / YOLOv8 exports).

I/O contract, declared in the model's ``UserModelSpec`` (``recognition.user_models``), never
guessed from shapes:

- input ``input_name`` (default ``images``): [1, 3, H, W] float32 (or [1, H, W, 3] with
  ``layout = "NHWC"``), ``color_order`` (RGB for Ultralytics exports), pixels times ``scale``
  (1/255) then ``(x − mean) / std``; the frame is letterboxed to ``input_size`` (aspect kept, grey
  114 padding split evenly, as Ultralytics trains).
- output ``output_name`` (default ``output0``): ``anchors_first`` [1, N, 4+nc] or
  ``channels_first`` [1, 4+nc, N] (YOLOv8's export); each candidate is cx, cy, w, h in input
  pixels, then an objectness score when ``has_objectness`` (YOLOv5), then nc class scores.

Post-processing: score = class score (× objectness); the best class per candidate over all
classes (a box most likely a person is not reported as a car); keep it if that class is one of
``vehicle_classes`` and the score reaches ``score_threshold``; class-aware NMS at ``nms_iou``;
boxes mapped back to frame pixels and clipped.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import cv2
import numpy as np
from numpy.typing import NDArray

from recognition.base import Image
from recognition.runtime import make_session
from recognition.settings import RuntimeSettings
from recognition.types import Box, VehicleDetection
from recognition.user_models import (
    UserModelSpec,
    describe_signature,
    dims_match,
    find_user_model,
    format_dims,
    tensor_dims,
    verify_user_model,
)
from sightline.errors import ModelError

if TYPE_CHECKING:
    import onnxruntime as ort

    from sightline.settings import Settings

__all__ = ["Letterbox", "OnnxYoloDetector", "letterbox", "nms"]

log = logging.getLogger(__name__)

_PAD_VALUE = 114


class Letterbox:
    """How a frame was fitted into the model input: input = frame × ``scale`` + (``pad_x``, ``pad_y``)."""

    __slots__ = ("pad_x", "pad_y", "scale")

    def __init__(self, scale: float, pad_x: float, pad_y: float) -> None:
        self.scale = scale
        self.pad_x = pad_x
        self.pad_y = pad_y

    def to_frame(self, boxes: NDArray[np.float32]) -> NDArray[np.float32]:
        """Map [K, 4] x1, y1, x2, y2 boxes from input pixels back to frame pixels."""
        out = boxes.copy()
        out[:, [0, 2]] = (out[:, [0, 2]] - self.pad_x) / self.scale
        out[:, [1, 3]] = (out[:, [1, 3]] - self.pad_y) / self.scale
        return out


def letterbox(image: Image, height: int, width: int) -> tuple[Image, Letterbox]:
    """Resize ``image`` to fit ``height`` × ``width`` keeping its aspect, pad the rest with grey 114."""
    h, w = image.shape[:2]
    scale = min(height / h, width / w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    pad_x, pad_y = (width - new_w) // 2, (height - new_h) // 2
    canvas = np.full((height, width, 3), _PAD_VALUE, dtype=np.uint8)
    canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized
    return canvas, Letterbox(scale, float(pad_x), float(pad_y))


def nms(boxes: NDArray[np.float32], scores: NDArray[np.float32], iou: float) -> list[int]:
    """Greedy non-maximum suppression on [K, 4] x1, y1, x2, y2 boxes; indices kept, best first."""
    order = np.argsort(-scores, kind="stable")
    areas = np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        ix = np.maximum(0, np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0]))
        iy = np.maximum(0, np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1]))
        inter = ix * iy
        union = areas[i] + areas[rest] - inter
        overlap = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
        order = rest[overlap <= iou]
    return keep


class OnnxYoloDetector:
    """A user-supplied YOLO-style vehicle detector (contract in the module docstring)."""

    def __init__(self, spec: UserModelSpec, session: ort.InferenceSession) -> None:
        if spec.kind != "vehicle_detector":
            raise ModelError(f"user model {spec.key!r} is a {spec.kind}, not a vehicle_detector")
        self._spec = spec
        self._session = session
        self._attrs = 4 + int(spec.has_objectness) + len(spec.class_names)
        self._check_signature()
        self._vehicle_ids = np.array(
            [i for i, name in enumerate(spec.class_names) if name in spec.vehicle_classes], dtype=np.int64
        )
        h, w = spec.input_size
        self._run(np.full((h, w, 3), _PAD_VALUE, dtype=np.uint8))
        log.info(
            "vehicle detector %s loaded (%d classes, %d vehicle)",
            spec.key,
            len(spec.class_names),
            len(self._vehicle_ids),
        )

    @classmethod
    def from_spec(cls, spec: UserModelSpec, runtime: RuntimeSettings) -> OnnxYoloDetector:
        """Verify the file's checksum, open it and check its signature."""
        return cls(spec, make_session(verify_user_model(spec), runtime))

    @classmethod
    def from_settings(cls, settings: Settings) -> OnnxYoloDetector:
        vehicle = settings.recognition.vehicle
        spec = find_user_model(
            vehicle.user_models,
            vehicle.detector_model,
            "vehicle_detector",
            "recognition.vehicle.detector_model",
        )
        return cls.from_spec(spec, settings.recognition.runtime)

    def _check_signature(self) -> None:
        spec = self._spec
        h, w = spec.input_size
        want_in: list[int | None] = [1, 3, h, w] if spec.layout == "NCHW" else [1, h, w, 3]
        channels_first = spec.output_layout == "channels_first"
        want_out: list[int | None] = [1, self._attrs, None] if channels_first else [1, None, self._attrs]
        inputs = {a.name: a for a in self._session.get_inputs()}
        outputs = {a.name: a for a in self._session.get_outputs()}
        problems: list[str] = []
        if list(inputs) != [spec.input_name]:
            problems.append(f"one input named {spec.input_name!r}")
        elif not dims_match(tensor_dims(inputs[spec.input_name].shape), want_in) or (
            inputs[spec.input_name].type != "tensor(float)"
        ):
            problems.append(f"input {spec.input_name} {format_dims(want_in)} tensor(float)")
        if spec.output_name not in outputs:
            problems.append(f"an output named {spec.output_name!r}")
        elif not dims_match(tensor_dims(outputs[spec.output_name].shape), want_out):
            problems.append(
                f"output {spec.output_name} {format_dims(want_out)} "
                f"({spec.output_layout}, 4+nc = {self._attrs})"
            )
        if problems:
            raise ModelError(
                f"user model {spec.key!r} does not match its manifest: expected {'; '.join(problems)}; "
                f"actual {describe_signature(self._session)}"
            )

    def _run(self, canvas: Image) -> NDArray[np.float32]:
        spec = self._spec
        pixels = canvas if spec.color_order == "BGR" else canvas[..., ::-1]
        x = (pixels.astype(np.float32) * spec.scale - np.array(spec.mean, np.float32)) / np.array(
            spec.std, np.float32
        )
        x = x[None] if spec.layout == "NHWC" else x.transpose(2, 0, 1)[None]
        try:
            (raw,) = self._session.run([spec.output_name], {spec.input_name: np.ascontiguousarray(x)})
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"user model {spec.key!r} failed to run: {exc}") from exc
        out = np.asarray(raw, dtype=np.float32)
        if out.ndim != 3 or out.shape[0] != 1:
            raise ModelError(f"user model {spec.key!r}: expected output [1, …], got {list(out.shape)}")
        out = np.ascontiguousarray(out[0].T if spec.output_layout == "channels_first" else out[0])
        if out.shape[1] != self._attrs:
            raise ModelError(
                f"user model {spec.key!r}: expected {self._attrs} values per candidate "
                f"({spec.output_layout}), got output {list(np.asarray(raw).shape)}"
            )
        return np.asarray(out, dtype=np.float32)

    def detect(self, image: Image) -> list[VehicleDetection]:
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"OnnxYoloDetector: expected a BGR image [H, W, 3], got {list(image.shape)}")
        spec = self._spec
        canvas, lb = letterbox(image, *spec.input_size)
        out = self._run(canvas)
        first_class = 4 + int(spec.has_objectness)
        scores_all = out[:, first_class:]
        if spec.has_objectness:
            scores_all = scores_all * out[:, 4:5]
        best = scores_all.argmax(axis=1)
        scores = scores_all[np.arange(len(out)), best]
        keep = (scores >= spec.score_threshold) & np.isin(best, self._vehicle_ids)
        if not keep.any():
            return []
        cx, cy, bw, bh = (out[keep, i] for i in range(4))
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1).astype(np.float32)
        scores, classes = scores[keep].astype(np.float32), best[keep]
        frame_h, frame_w = image.shape[:2]
        found: list[tuple[float, VehicleDetection]] = []
        for cls_id in np.unique(classes):
            idx = np.flatnonzero(classes == cls_id)
            mapped = lb.to_frame(boxes[idx])
            for k in nms(mapped, scores[idx], spec.nms_iou):
                box = Box(*(float(v) for v in mapped[k])).clipped(frame_w, frame_h)
                if box.width <= 0 or box.height <= 0:
                    continue
                score = float(scores[idx[k]])
                found.append((score, VehicleDetection(box=box, score=score, label=spec.class_names[cls_id])))
        found.sort(key=lambda t: -t[0])
        return [d for _, d in found]

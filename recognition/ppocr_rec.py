"""PP-OCRv4 text recognition (RapidOCR's ONNX export) as a plate reader, with CTC decoding.

The model reads one text line at height 48: input ``x`` [N, 3, 48, W] (BGR, (x/255 − 0.5)/0.5,
W ≥ 320, zero-padded on the right) → softmax [N, W/8, len(dictionary) + 2]. Class 0 is the CTC
blank, the last class a space; the dictionary is in the ONNX metadata key ``character``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from numpy.typing import NDArray

from recognition.base import Image
from recognition.plate_grammar import normalise_plate
from recognition.types import PlateRead
from sightline.errors import InputError, ModelError

if TYPE_CHECKING:
    import onnxruntime as ort

    from sightline.settings import Settings

__all__ = ["REC_HEIGHT", "REC_MIN_WIDTH", "PpocrPlateReader", "ctc_decode", "preprocess_lines"]

log = logging.getLogger(__name__)

REC_HEIGHT = 48
#: The width the model was trained at; narrower lines are padded to it (PaddleOCR does the same).
REC_MIN_WIDTH = 320
#: Lines wider than this are squeezed: a plate is 3:1 to 5:1, so this only guards against junk input.
_REC_MAX_WIDTH = 960
_STRIDE = 8

FloatArray = NDArray[np.float32]
Alternatives = list[list[tuple[str, float]]]


def preprocess_lines(crops: Sequence[Image]) -> FloatArray:
    """Resize each line to height 48 keeping its ratio, normalise, and zero-pad to one batch width."""
    widths: list[int] = []
    for crop in crops:
        if crop.ndim != 3 or crop.shape[2] != 3 or crop.shape[0] < 2 or crop.shape[1] < 2:
            raise InputError(f"plate crop must be a BGR image [H, W, 3], got shape {list(crop.shape)}")
        ratio = crop.shape[1] / crop.shape[0]
        widths.append(int(min(_REC_MAX_WIDTH, max(8, round(REC_HEIGHT * ratio)))))
    batch_w = max(REC_MIN_WIDTH, *widths)
    batch_w = -(-batch_w // _STRIDE) * _STRIDE
    batch = np.zeros((len(crops), 3, REC_HEIGHT, batch_w), dtype=np.float32)
    for i, (crop, width) in enumerate(zip(crops, widths, strict=True)):
        resized = cv2.resize(crop, (width, REC_HEIGHT), interpolation=cv2.INTER_LINEAR)
        norm = (resized.astype(np.float32) / 255.0 - 0.5) / 0.5
        batch[i, :, :, :width] = norm.transpose(2, 0, 1)
    return batch


def ctc_decode(probs: FloatArray, charset: Sequence[str], top_k: int = 3) -> tuple[str, Alternatives]:
    """Greedy CTC decode of one line [T, C], keeping each emitted character's top-k alternatives.

    Each emitted character is a run of frames with the same best class; its alternatives are the
    non-blank classes at the run's peak frame, renormalised without the blank, so that a look-alike
    the model hesitated over keeps its weight for the grammar to consider.
    """
    if probs.ndim != 2 or probs.shape[1] != len(charset):
        raise ValueError(f"ctc_decode: expected shape [T, {len(charset)}], got {list(probs.shape)}")
    best = probs.argmax(axis=1)
    text: list[str] = []
    alternatives: Alternatives = []
    t = 0
    n = len(best)
    while t < n:
        idx = int(best[t])
        end = t
        while end + 1 < n and int(best[end + 1]) == idx:
            end += 1
        if idx != 0:
            peak = t + int(probs[t : end + 1, idx].argmax())
            row = probs[peak]
            mass = max(float(1.0 - row[0]), 1e-6)
            order = np.argsort(-row[1:])[:top_k] + 1
            alts = [(charset[int(k)], min(1.0, float(row[int(k)]) / mass)) for k in order]
            text.append(charset[idx])
            alternatives.append(alts)
        t = end + 1
    return "".join(text), alternatives


class PpocrPlateReader:
    """Reads rectified plate crops with PP-OCRv4 rec and repairs them with the plate grammar.

    No angle classifier: on plates it flipped 3 of 27 CCPD crops upside down (models/README.md).
    """

    def __init__(self, session: ort.InferenceSession, *, batch_size: int = 8, top_k: int = 3) -> None:
        inputs = session.get_inputs()
        outputs = session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(
                f"ppocr rec: expected 1 input and 1 output, got {len(inputs)} and {len(outputs)}"
            )
        in_shape = inputs[0].shape
        if (
            len(in_shape) != 4
            or in_shape[1] != 3
            or (isinstance(in_shape[2], int) and in_shape[2] != REC_HEIGHT)
        ):
            raise ModelError(f"ppocr rec: expected input [N, 3, {REC_HEIGHT}, W], got {in_shape}")
        meta = session.get_modelmeta().custom_metadata_map
        if "character" not in meta:
            raise ModelError("ppocr rec: the model has no 'character' dictionary in its metadata")
        chars = meta["character"].split("\n")
        self._charset: tuple[str, ...] = ("", *chars, " ")
        out_shape = outputs[0].shape
        if len(out_shape) != 3 or out_shape[2] != len(self._charset):
            raise ModelError(
                f"ppocr rec: expected output [N, T, {len(self._charset)}] for a dictionary of {len(chars)}, "
                f"got {out_shape}"
            )
        self._session = session
        self._input = inputs[0].name
        self._batch_size = batch_size
        self._top_k = top_k

    @classmethod
    def from_settings(cls, settings: Settings) -> PpocrPlateReader:
        """Open the prepared rec model and warm it up once."""
        from models.paths import model_path
        from recognition.runtime import make_session

        session = make_session(model_path(settings.models, "ppocr_rec"), settings.recognition.runtime)
        reader = cls(session, batch_size=settings.recognition.plate.rec_batch_size)
        reader.read([np.full((48, 144, 3), 128, dtype=np.uint8)])
        return reader

    @property
    def charset(self) -> tuple[str, ...]:
        """Class index → character: blank first, the dictionary, then a space."""
        return self._charset

    def _run(self, batch: FloatArray) -> FloatArray:
        try:
            out: list[Any] = self._session.run(None, {self._input: batch})
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"ppocr rec inference failed on batch {list(batch.shape)}: {exc}") from exc
        probs = np.asarray(out[0], dtype=np.float32)
        if probs.ndim != 3 or probs.shape[0] != batch.shape[0] or probs.shape[2] != len(self._charset):
            raise ModelError(f"ppocr rec: unexpected output shape {list(probs.shape)}")
        return probs

    def read_raw(self, crops: Sequence[Image]) -> list[tuple[str, Alternatives]]:
        """CTC-decoded text and per-character alternatives, before the plate grammar."""
        results: list[tuple[str, Alternatives] | None] = [None] * len(crops)
        # Similar ratios share a batch so that little padding is computed (PaddleOCR's ordering).
        order = sorted(range(len(crops)), key=lambda i: crops[i].shape[1] / max(crops[i].shape[0], 1))
        for start in range(0, len(order), self._batch_size):
            chunk = order[start : start + self._batch_size]
            probs = self._run(preprocess_lines([crops[i] for i in chunk]))
            for j, i in enumerate(chunk):
                results[i] = ctc_decode(probs[j], self._charset, self._top_k)
        return [r for r in results if r is not None]

    def read(self, crops: Sequence[Image]) -> list[PlateRead]:
        """Read each crop; ``PlateRead.valid`` says whether the plate grammar accepted it."""
        reads = [normalise_plate(text, alts) for text, alts in self.read_raw(crops)]
        log.debug("read %d plate crops: %s", len(reads), [r.text for r in reads])
        return reads

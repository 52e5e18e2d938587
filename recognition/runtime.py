"""onnxruntime sessions configured from settings, with onnxruntime errors translated at the edge."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from recognition.settings import RuntimeSettings
from sightline.errors import ModelError

__all__ = ["TensorSpec", "check_session", "make_session"]


def make_session(path: Path, runtime: RuntimeSettings) -> ort.InferenceSession:
    """Open an ONNX model with the configured threads and provider.

    One intra-op thread by default: with several sessions busy at once on a small machine, one
    thread per session beats two (models/README.md).
    """
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = runtime.intra_op_threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    providers = ["CPUExecutionProvider"]
    if runtime.provider == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise ModelError("provider 'cuda' requested but this onnxruntime build has no CUDA provider")
        providers.insert(0, "CUDAExecutionProvider")
    if not path.is_file():
        raise ModelError(f"model file not found: {path} (run `sightline models prepare`)")
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=providers)
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelError(f"cannot load model {path}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """Expected name and shape of one graph input or output; ``None`` marks a free (batch) axis."""

    name: str
    shape: tuple[int | None, ...]


def check_session(
    session: ort.InferenceSession, what: str, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec]
) -> None:
    """Raise ModelError unless ``session``'s inputs and outputs match the expected signature.

    A wrong file under the right name (another model, a different export) would otherwise fail
    later with a shape error deep in post-processing, or silently produce nonsense. Fixed sizes in
    the expectation must match fixed sizes in the graph; symbolic axes in the graph are accepted.
    """

    def _compare(kind: str, got: Sequence[ort.NodeArg], want: Sequence[TensorSpec]) -> None:
        got_sig = [(g.name, list(g.shape)) for g in got]
        want_sig = [(w.name, ["N" if s is None else s for s in w.shape]) for w in want]
        mismatch = f"{what}: {kind} expected {want_sig}, got {got_sig}"
        if [g.name for g in got] != [w.name for w in want]:
            raise ModelError(mismatch)
        for g, w in zip(got, want, strict=True):
            shape = list(g.shape)
            if len(shape) != len(w.shape):
                raise ModelError(mismatch)
            for have, need in zip(shape, w.shape, strict=True):
                if need is not None and isinstance(have, int) and have != need:
                    raise ModelError(mismatch)

    _compare("inputs", session.get_inputs(), inputs)
    _compare("outputs", session.get_outputs(), outputs)
    for arg in session.get_inputs():
        if arg.type != "tensor(float)":
            raise ModelError(f"{what}: input {arg.name} must be float32, got {arg.type}")

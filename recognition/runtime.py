"""onnxruntime sessions configured from settings, with onnxruntime errors translated at the edge."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

from recognition.settings import RuntimeSettings
from sightline.errors import ModelError

__all__ = ["make_session"]


def make_session(path: Path, runtime: RuntimeSettings) -> ort.InferenceSession:
    """Open an ONNX model with the configured threads and provider.

    One intra-op thread by default: with several sessions busy at once on a small machine, one
    thread per session beats two (MODELS.md).
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

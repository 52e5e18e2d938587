"""Where each prepared model file lives in the cache. Provisional: to be read from the manifest."""

from __future__ import annotations

from pathlib import Path

from models.settings import ModelSettings
from sightline.errors import ModelError

__all__ = ["model_path"]

_FILES = {
    "mtcnn_pnet": "mtcnn/pnet.onnx",
    "mtcnn_rnet": "mtcnn/rnet.onnx",
    "mtcnn_onet": "mtcnn/onet.onnx",
    "facenet_casia": "facenet/facenet_casia.onnx",
    "ppocr_det": "ppocr/ch_PP-OCRv4_det_infer.onnx",
    "ppocr_rec": "ppocr/ch_PP-OCRv4_rec_infer.onnx",
    "cjk_font": "fonts/NotoSansCJKtc-Regular.otf",
}


def model_path(settings: ModelSettings, key: str) -> Path:
    """The prepared file for manifest key ``key``; raises ModelError if unknown or not prepared."""
    if key not in _FILES:
        raise ModelError(f"unknown model {key!r}; known: {', '.join(sorted(_FILES))}")
    path = settings.cache_dir / _FILES[key]
    if not path.is_file():
        raise ModelError(f"model {key!r} is not prepared ({path} missing): run `sightline models prepare`")
    return path

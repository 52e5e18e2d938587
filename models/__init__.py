"""The model manifest and its preparation. Nothing else lives here (STYLE.md, convention 14).

``model_path`` is all that model loaders need; preparation (``models.prepare``) and the converter
(``models.tf_to_onnx``) are imported where used, so loading a model never imports pip or protobuf code.
"""

from models.manifest import Manifest, ManifestEntry, default_manifest, load_manifest
from models.paths import model_path

__all__ = ["Manifest", "ManifestEntry", "default_manifest", "load_manifest", "model_path"]

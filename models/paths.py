"""Where each prepared model file lives in the cache, as the manifest says."""

from __future__ import annotations

from pathlib import Path

from models.manifest import default_manifest
from models.settings import ModelSettings
from sightline.errors import ModelError

__all__ = ["model_path"]


def model_path(settings: ModelSettings, key: str) -> Path:
    """The prepared file for manifest key ``key``; raises ModelError if unknown or not prepared.

    Only existence is checked here (it runs at every model load); ``sightline models verify``
    re-hashes the files.
    """
    path = default_manifest().entry(key).path(settings.cache_dir)
    if not path.is_file():
        raise ModelError(f"model {key!r} is not prepared ({path} missing): run `sightline models prepare`")
    return path

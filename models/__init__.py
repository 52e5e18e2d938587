"""The model manifest and its preparation. Nothing else lives here (STYLE.md, convention 14)."""

from models.paths import model_path

__all__ = ["model_path"]

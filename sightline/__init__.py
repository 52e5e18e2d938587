"""Sightline: video recognition and investigative search.

This package holds what every other package shares: the settings object, the error tree and the
command line. Recognition, ingest, search and the API live in their own top-level packages.
"""

__all__: list[str] = []
__version__ = "0.1.0"

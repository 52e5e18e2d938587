"""The installed package version, shown by the OpenAPI page and the health endpoint."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version

__all__ = ["package_version"]


@cache
def package_version() -> str:
    try:
        return version("sightline")
    except PackageNotFoundError:
        return "unknown"

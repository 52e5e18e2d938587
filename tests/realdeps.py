"""Real dependencies a test cannot stand in for: GStreamer's RTSP server, prepared models, OpenCV's
TensorFlow importer (and, as they arrive, PostgreSQL, a broker, a browser).

Where one is missing, a developer's run skips the test and says what to install. Under CI
(``CI=true``, which ``.ci/run`` sets) the test fails instead: a green CI must contain these tests,
not skip past them. ``conftest.py`` also fails a CI run on any skip that is not of the ``data`` kind.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

__all__ = ["in_ci", "missing", "require"]


def in_ci() -> bool:
    """True when ``CI`` says so (``true``/``1``/``yes``, any case), as CI services and .ci/run set it."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def missing(what: str) -> NoReturn:
    """Stop the test because ``what`` is missing: a skip on a developer's machine, a failure in CI."""
    if in_ci():
        pytest.fail(f"{what} (CI=true: a missing real dependency fails instead of skipping)", pytrace=False)
    pytest.skip(what)


def require(available: bool, what: str) -> None:
    """:func:`missing` unless ``available``."""
    if not available:
        missing(what)

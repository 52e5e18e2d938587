"""Shared fixtures: settings on a temporary data directory, the prepared models and ../shared/data.

Tests use the real prepared models (`sightline models prepare`, which `.ci/run` runs first). Tests
marked ``data`` use the evaluation sets in ``../shared/data`` and skip cleanly where they are absent.

Skips are counted and shown at the end of every run. Under CI (``CI=true``) any skip of another kind
fails the run: a test whose real dependency is missing calls ``realdeps.missing`` (a failure in CI),
and anything else that skips is a hole in the coverage CI claims.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from realdeps import in_ci

from sightline.settings import Settings, load_settings

REPO_ROOT = Path(__file__).resolve().parent.parent


def _shared_data_dir() -> Path:
    env = os.environ.get("SIGHTLINE_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; tests using it skip where it is absent."""
    path = _shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"evaluation data not present at {path}")
    return path


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    """Settings from defaults and environment, with the real model cache."""
    return load_settings()


@pytest.fixture()
def settings(tmp_path: Path, base_settings: Settings) -> Settings:
    """Settings whose store and index live in a fresh temporary directory."""
    data = base_settings.model_dump()
    data["search"]["data_dir"] = tmp_path / "var"
    return Settings(**data)


@pytest.fixture(scope="session")
def backends(base_settings: Settings) -> tuple[Any, Any, Any]:
    """The real face detector, face embedder and vehicle embedder, built once per test session."""
    from recognition.registry import build_face_detector, build_face_embedder, build_vehicle_embedder

    return (
        build_face_detector(base_settings),
        build_face_embedder(base_settings),
        build_vehicle_embedder(base_settings),
    )


@pytest.fixture()
def service(settings: Settings, backends: tuple[Any, Any, Any]) -> Iterator[Any]:
    """A search service on the temporary store, sized for the vehicle embedder."""
    from search.services import SearchService

    with SearchService.open(settings.search, vehicle_dim=backends[2].dim) as svc:
        yield svc


_SKIPS: list[pytest.TestReport] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _SKIPS.append(report)


def _undocumented_skips() -> list[pytest.TestReport]:
    """Skips that are not of the documented ``data`` kind (evaluation data absent)."""
    return [r for r in _SKIPS if "data" not in r.keywords]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if in_ci() and _undocumented_skips() and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    other = _undocumented_skips()
    terminalreporter.write_line(
        f"sightline: {len(_SKIPS)} skipped ({len(_SKIPS) - len(other)} for absent evaluation data, "
        f"{len(other)} other)"
    )
    if other and in_ci():
        terminalreporter.write_line(
            "sightline: CI=true and tests skipped for a reason other than absent evaluation data; "
            "failing the run:",
            red=True,
        )
    for report in other:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        terminalreporter.write_line(f"  {report.nodeid}: {reason}")

"""What pyproject.toml and the lock declare exists and is used: package data, docs cited by the code,
the lock's coverage of every declared dependency."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Cited documents that are not facts the code relies on: the team's conventions (../shared/STYLE.md)
# and each evaluation data set's own description of where it came from (../shared/data/*/SOURCE.md).
_OUTSIDE_DOCS = {"STYLE.md", "SOURCE.md"}
_SOURCE_DIRS = ("sightline", "ingest", "recognition", "search", "api", "models", "sample_streams", "tests")


def _pyproject() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as fh:
        return tomllib.load(fh)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_package_data_pattern_matches_a_file() -> None:
    data = _pyproject()["tool"]["setuptools"]["package-data"]  # type: ignore[index]
    empty = [
        f"{pkg}: {pattern}"
        for pkg, patterns in data.items()
        for pattern in patterns
        if not list((ROOT / pkg).glob(pattern))
    ]
    assert not empty, f"package-data names nothing: {empty}"


def test_docs_cited_in_code_are_in_the_repository() -> None:
    """Comments cite docs by path (e.g. ``models/README.md``); a doc outside the repository is no doc."""
    cited = re.compile(r"\b([A-Za-z_]+/)*[A-Z][A-Za-z_]*\.md\b")
    missing = []
    for folder in _SOURCE_DIRS:
        for path in (ROOT / folder).rglob("*.py"):
            for match in cited.finditer(path.read_text(encoding="utf-8")):
                doc = match.group(0)
                if not (ROOT / doc).is_file() and doc.rsplit("/", 1)[-1] not in _OUTSIDE_DOCS:
                    missing.append(f"{path.relative_to(ROOT)} cites {doc}")
    assert not missing, "\n".join(missing)


def test_the_lock_pins_every_declared_dependency() -> None:
    project = _pyproject()["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["dev"]]  # type: ignore[index]
    for lock in sorted((ROOT / "locks").glob("*-py*.txt")):
        pinned = {
            _norm(m.group(1))
            for m in re.finditer(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==\S+ \\$", lock.read_text(), re.MULTILINE)
        }
        names = {_norm(re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0]) for req in declared}
        assert names <= pinned, f"{lock.name} lacks {sorted(names - pinned)}: run `bash dev.sh lock`"
        assert {"pip", "setuptools", "wheel"} <= pinned
        text = lock.read_text()
        assert text.count("==") == len(pinned) and text.count("--hash=sha256:") >= len(pinned)

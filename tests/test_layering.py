"""Guarded layering (STYLE.md convention 13): which top-level packages may import which."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FORBIDDEN = {
    "ingest": {"api"},
    "recognition": {"api", "ingest", "search"},
    "search": {"api", "ingest"},
    "models": {"api", "ingest", "search", "recognition"},
}


def _imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_does_not_import_upper_layers(package: str) -> None:
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = _imported_top_levels(path) & FORBIDDEN[package]
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize(
    "package", ["ingest", "recognition", "search", "api", "models", "sample_streams", "sightline"]
)
def test_every_module_declares_all(package: str) -> None:
    missing = []
    for path in sorted((ROOT / package).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        declared = any(
            isinstance(node, (ast.Assign, ast.AnnAssign))
            and any(
                isinstance(t, ast.Name) and t.id == "__all__"
                for t in getattr(node, "targets", [getattr(node, "target", None)])
            )
            for node in tree.body
        )
        if not declared:
            missing.append(str(path.relative_to(ROOT)))
    assert not missing, f"modules without __all__: {missing}"


def test_cli_help_imports_nothing_heavy() -> None:
    """`sightline --help` must stay instant: no model runtimes imported by the parser."""
    import subprocess
    import sys

    code = (
        "import sys; from sightline.cli import build_parser; build_parser(); "
        "heavy = [m for m in ('cv2', 'onnxruntime', 'faiss', 'av', 'torch', 'sqlalchemy', 'fastapi') "
        "if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"heavy modules imported by the CLI parser: {out.stdout.strip()}"

"""CI cannot be green by skipping: the skip policy of ``conftest.py`` and ``realdeps``, run for real.

Each case runs pytest in a subprocess on a throwaway folder holding copies of our ``conftest.py`` and
``realdeps.py`` and a small generated test file, with and without ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

_TESTS = Path(__file__).resolve().parent

_CASES = """
import pytest
from realdeps import missing


def test_passes() -> None:
    pass


@pytest.mark.data
def test_without_data() -> None:
    pytest.skip("evaluation data not present")


def test_without_gstreamer() -> None:
    missing("GStreamer's RTSP server is not installed")
"""


def _run(tmp_path: Path, source: str, ci: bool) -> subprocess.CompletedProcess[str]:
    for name in ("conftest.py", "realdeps.py"):
        shutil.copy(_TESTS / name, tmp_path / name)
    (tmp_path / "test_cases.py").write_text(source)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n  data: needs ../shared/data\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_outside_ci_a_missing_dependency_skips_and_the_count_is_shown(tmp_path: Path) -> None:
    proc = _run(tmp_path, _CASES, ci=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "sightline: 2 skipped (1 for absent evaluation data, 1 other)" in proc.stdout
    assert "1 passed, 2 skipped" in proc.stdout


def test_in_ci_a_missing_dependency_fails(tmp_path: Path) -> None:
    proc = _run(tmp_path, _CASES, ci=True)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "GStreamer's RTSP server is not installed (CI=true" in proc.stdout
    assert "1 failed, 1 passed, 1 skipped" in proc.stdout
    assert "sightline: 1 skipped (1 for absent evaluation data, 0 other)" in proc.stdout


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ('@pytest.mark.data\ndef test_d() -> None:\n    pytest.skip("no data")\n', 0),
        ('def test_s() -> None:\n    pytest.skip("any other reason")\n', 1),
        ('@pytest.mark.skipif(True, reason="platform")\ndef test_p() -> None:\n    pass\n', 1),
    ],
    ids=["data-skip-allowed", "plain-skip-fails", "skipif-fails"],
)
def test_in_ci_only_data_skips_pass(tmp_path: Path, body: str, code: int) -> None:
    proc = _run(tmp_path, "import pytest\n\n\n" + body, ci=True)
    assert proc.returncode == code, proc.stdout + proc.stderr

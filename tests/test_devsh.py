"""``dev.sh`` set-up refuses what it cannot vouch for: a platform without a lock, a file whose hash
differs from the lock. Each case runs a copy of the real ``dev.sh`` in a throwaway folder."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tag() -> str:
    return f"{platform.system().lower()}-{platform.machine()}-py{sys.version_info[0]}.{sys.version_info[1]}"


def _project(tmp_path: Path, lock: str | None) -> Path:
    """A folder with dev.sh, the Debian package list and (optionally) a lock for this platform."""
    shutil.copy(ROOT / "dev.sh", tmp_path / "dev.sh")
    (tmp_path / "sample_streams").mkdir()
    shutil.copy(ROOT / "sample_streams" / "system_packages.txt", tmp_path / "sample_streams")
    (tmp_path / "locks").mkdir()
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\nversion = '0'\n")
    if lock is not None:
        (tmp_path / "locks" / f"{_tag()}.txt").write_text(lock)
    return tmp_path


def _setup(folder: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"CI", "SIGHTLINE_VENV"}}
    env["SIGHTLINE_VENV"] = str(folder / "venv")
    env["PYTHON"] = sys.executable
    return subprocess.run(
        ["bash", str(folder / "dev.sh"), "setup"], capture_output=True, text=True, env=env, timeout=600
    )


def test_the_repository_has_a_lock_for_this_platform() -> None:
    assert (ROOT / "locks" / f"{_tag()}.txt").is_file()


def test_a_platform_without_a_lock_is_named_with_how_to_make_one(tmp_path: Path) -> None:
    proc = _setup(_project(tmp_path, lock=None))
    assert proc.returncode == 2, proc.stderr
    assert f"no lock file for this platform: {_tag()}" in proc.stderr
    assert "bash dev.sh lock" in proc.stderr
    assert not (tmp_path / "venv").exists()  # nothing installed from an unlocked resolution


@pytest.mark.slow
def test_a_hash_mismatch_is_pips_error_not_an_unlocked_install(tmp_path: Path) -> None:
    """A lock whose hash does not match PyPI's file (six 1.16.0, a small wheel) stops set-up."""
    lock = "six==1.16.0 \\\n    --hash=sha256:" + "0" * 64 + "\n"
    proc = _setup(_project(tmp_path, lock=lock))
    assert proc.returncode != 0
    assert "DO NOT MATCH THE HASHES" in proc.stderr
    assert not (tmp_path / "venv" / ".sightline-lock").exists()
    probe = subprocess.run(
        [str(tmp_path / "venv" / "bin" / "python"), "-c", "import six"], capture_output=True, timeout=60
    )
    assert probe.returncode != 0  # and six was not installed some other way

"""The settings object: defaults, TOML, environment, unknown keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from sightline.errors import ConfigError
from sightline.settings import load_settings


def test_defaults_validate() -> None:
    s = load_settings()
    assert s.recognition.face.min_face_px >= 12
    assert s.search.retention_days >= 1


def test_toml_file_overrides_defaults(tmp_path: Path) -> None:
    cfg = tmp_path / "s.toml"
    cfg.write_text("[search]\nretention_days = 7\n[recognition.face]\nmin_face_px = 30\n", encoding="utf-8")
    s = load_settings(cfg)
    assert s.search.retention_days == 7
    assert s.recognition.face.min_face_px == 30


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGHTLINE_SEARCH__RETENTION_DAYS", "3")
    assert load_settings().search.retention_days == 3


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[search]\nretention_dayz = 7\n", "retention_dayz"),
        ("[serch]\nx = 1\n", "serch"),
        ("[search]\nretention_days = 0\n", "retention_days"),
    ],
)
def test_bad_settings_are_errors_that_name_the_key(tmp_path: Path, toml: str, message: str) -> None:
    cfg = tmp_path / "s.toml"
    cfg.write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_settings(cfg)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")

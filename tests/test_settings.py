"""The settings object: defaults, TOML, environment, unknown keys, and their one precedence."""

from __future__ import annotations

import json
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


def _two_layer_file(tmp_path: Path) -> Path:
    cfg = tmp_path / "s.toml"
    cfg.write_text("[search]\nretention_days = 7\n[api]\nport = 9001\n", encoding="utf-8")
    return cfg


def test_environment_beats_the_file_given_as_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--config FILE``: the README's precedence, environment over file, key by key."""
    monkeypatch.delenv("SIGHTLINE_CONFIG", raising=False)
    monkeypatch.setenv("SIGHTLINE_SEARCH__RETENTION_DAYS", "3")
    s = load_settings(_two_layer_file(tmp_path))
    assert s.search.retention_days == 3  # environment wins
    assert s.api.port == 9001  # the file still sets what the environment leaves alone


def test_environment_beats_the_file_named_by_sightline_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGHTLINE_CONFIG", str(_two_layer_file(tmp_path)))
    monkeypatch.setenv("SIGHTLINE_SEARCH__RETENTION_DAYS", "3")
    s = load_settings()
    assert (s.search.retention_days, s.api.port) == (3, 9001)


def test_config_argument_replaces_sightline_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "other.toml"
    other.write_text("[search]\nretention_days = 11\n", encoding="utf-8")
    monkeypatch.setenv("SIGHTLINE_CONFIG", str(other))
    s = load_settings(_two_layer_file(tmp_path))
    assert (s.search.retention_days, s.api.port) == (7, 9001)


def test_overrides_beat_environment_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGHTLINE_SEARCH__RETENTION_DAYS", "3")
    s = load_settings(_two_layer_file(tmp_path), search={"retention_days": 5})
    assert (s.search.retention_days, s.api.port) == (5, 9001)


def test_cli_config_flag_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through the command line, as a user runs it: ``sightline --config FILE config show``."""
    from sightline.cli import main

    monkeypatch.delenv("SIGHTLINE_CONFIG", raising=False)
    monkeypatch.setenv("SIGHTLINE_SEARCH__RETENTION_DAYS", "3")
    assert main(["--config", str(_two_layer_file(tmp_path)), "config", "show"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["search"]["retention_days"] == 3 and shown["api"]["port"] == 9001


def test_an_invalid_sightline_config_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[search\n", encoding="utf-8")
    monkeypatch.setenv("SIGHTLINE_CONFIG", str(bad))
    with pytest.raises(ConfigError, match=r"bad\.toml is not valid TOML"):
        load_settings()

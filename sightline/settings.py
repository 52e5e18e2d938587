"""The one typed settings object, built once at the entry point and passed down.

Sources, highest priority first: explicit overrides, environment (``SIGHTLINE_`` prefix, ``__``
between sections, e.g. ``SIGHTLINE_SEARCH__DATA_DIR``), a TOML file (the ``config`` argument of
:func:`load_settings`, i.e. ``--config``, or else ``SIGHTLINE_CONFIG``), then defaults. Unknown keys
are errors.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from api.settings import ApiSettings
from ingest.settings import IngestSettings
from models.settings import ModelSettings
from recognition.settings import RecognitionSettings
from search.settings import SearchSettings
from sightline.errors import ConfigError

__all__ = ["Settings", "load_settings"]


class Settings(BaseSettings):
    """Every setting of Sightline, one section per package."""

    model_config = SettingsConfigDict(
        env_prefix="SIGHTLINE_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    models: ModelSettings = ModelSettings()
    recognition: RecognitionSettings = RecognitionSettings()
    ingest: IngestSettings = IngestSettings()
    search: SearchSettings = SearchSettings()
    api: ApiSettings = ApiSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = os.environ.get("SIGHTLINE_CONFIG")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(toml_file)))
        return tuple(sources)


def _deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``top`` laid over it, section by section (a key set in ``top`` wins)."""
    out = dict(base)
    for key, value in top.items():
        below = out.get(key)
        if isinstance(value, Mapping) and isinstance(below, Mapping):
            out[key] = _deep_merge(dict(below), value)
        else:
            out[key] = value
    return out


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib

    if not path.is_file():
        raise ConfigError(f"settings file not found: {path}")
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"settings file {path} is not valid TOML: {exc}") from exc


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings: defaults < TOML file < environment < ``overrides``.

    The TOML file is ``config`` if given (it replaces ``SIGHTLINE_CONFIG``), else ``SIGHTLINE_CONFIG``.
    The layers are merged here, in one place, so the file given on the command line and the one named
    in the environment obey the same precedence.
    """
    toml_file = (
        config if config is not None else (Path(p) if (p := os.environ.get("SIGHTLINE_CONFIG")) else None)
    )
    layers: list[Mapping[str, Any]] = []
    if toml_file is not None:
        layers.append(_read_toml(toml_file))
    layers.append(EnvSettingsSource(Settings)())
    layers.append(overrides)
    merged: dict[str, Any] = {}
    for layer in layers:
        merged = _deep_merge(merged, layer)
    try:
        # model_validate takes the merged values as they are: no settings source runs a second time.
        return Settings.model_validate(merged)
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()]
        where = f" (file {toml_file})" if toml_file is not None else ""
        raise ConfigError(f"invalid settings{where}:\n  " + "\n  ".join(lines)) from exc

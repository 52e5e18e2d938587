"""The one typed settings object, built once at the entry point and passed down.

Sources, highest priority first: constructor arguments, environment (``SIGHTLINE_`` prefix, ``__``
between sections, e.g. ``SIGHTLINE_SEARCH__DATA_DIR``), a TOML file (``SIGHTLINE_CONFIG`` or the
``config`` argument of :func:`load_settings`), then defaults. Unknown keys are errors.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_settings import (
    BaseSettings,
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


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings; a TOML file given here wins over ``SIGHTLINE_CONFIG``."""
    try:
        if config is not None:
            if not config.is_file():
                raise ConfigError(f"settings file not found: {config}")
            import tomllib

            with config.open("rb") as fh:
                data = tomllib.load(fh)
            merged = {**data, **overrides}
            return Settings(**merged)
        return Settings(**overrides)
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()]
        raise ConfigError("invalid settings:\n  " + "\n  ".join(lines)) from exc

"""Helpers shared by subcommands: settings from ``--config`` and single-object JSON output."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from sightline.settings import Settings, load_settings

__all__ = ["emit_json", "settings_from_args"]


def settings_from_args(args: argparse.Namespace) -> Settings:
    return load_settings(getattr(args, "config", None))


def emit_json(obj: Any) -> None:
    """With ``--json`` a command prints exactly one JSON object on stdout; logs go to stderr."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()

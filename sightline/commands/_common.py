"""Helpers shared by subcommands: settings from ``--config`` and output as one JSON object or a table."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any

from sightline.settings import Settings, load_settings

__all__ = ["emit", "emit_json", "format_table", "settings_from_args"]


def settings_from_args(args: argparse.Namespace) -> Settings:
    return load_settings(getattr(args, "config", None))


def emit_json(obj: Any) -> None:
    """With ``--json`` a command prints exactly one JSON object on stdout; logs go to stderr."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def format_table(result: Mapping[str, Any], title: str | None = None) -> str:
    """A two-column table of a flat result; nested mappings are flattened with dots."""
    rows: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            rows.append((prefix, _cell(value)))

    walk("", result)
    width = max((len(k) for k, _ in rows), default=3)
    vwidth = max((len(v) for _, v in rows), default=5)
    lines = []
    if title:
        lines.append(title)
    lines.append(f"{'key':<{width}}  {'value':>{vwidth}}")
    lines.append(f"{'-' * width}  {'-' * vwidth}")
    lines.extend(f"{k:<{width}}  {v:>{vwidth}}" for k, v in rows)
    return "\n".join(lines)


def emit(result: Mapping[str, Any], as_json: bool, title: str | None = None) -> None:
    """Print one JSON object (``--json``) or a table."""
    if as_json:
        emit_json(result)
    else:
        sys.stdout.write(format_table(result, title) + "\n")

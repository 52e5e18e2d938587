"""``sightline config validate|show``."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("config", help="validate or show the settings")
    p.add_argument("action", choices=["validate", "show"])
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import sys

    from sightline.commands._common import emit_json, settings_from_args

    settings = settings_from_args(args)
    if args.action == "show":
        emit_json(settings.model_dump(mode="json"))
    else:
        sys.stderr.write("settings are valid\n")
    return 0

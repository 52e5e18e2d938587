"""The ``sightline`` command line: thin subcommands that parse arguments and call library code.

Each subcommand lives in ``sightline/commands/<name>.py`` with a ``register(subparsers)`` function
that must import nothing heavy at module level, so ``sightline --help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from sightline.errors import SightlineError

__all__ = ["main"]

_COMMANDS = [
    "sightline.commands.config",
    "sightline.commands.samples",
    "sightline.commands.models",
    "sightline.commands.eval",
    "sightline.commands.bench",
    "sightline.commands.serve",
    "sightline.commands.ingest",
    "sightline.commands.index",
    "sightline.commands.demo",
    "sightline.commands.search",
    "sightline.commands.retention",
    "sightline.commands.audit",
    "sightline.commands.replay",
    "sightline.commands.cameras",
    "sightline.commands.users",
]

_QUIET_LIBRARIES = ("alembic", "faiss", "httpx", "multipart", "matplotlib", "PIL")

log = logging.getLogger("sightline")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sightline", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--config", type=Path, default=None, help="TOML settings file")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in _COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        # Libraries that narrate their start-up at INFO: keep stderr for what Sightline itself did.
        for name in _QUIET_LIBRARIES:
            logging.getLogger(name).setLevel(logging.WARNING)
    try:
        rc: int = args.func(args)
    except SightlineError as exc:
        sys.stderr.write(f"sightline: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        return 130
    return rc


if __name__ == "__main__":
    raise SystemExit(main())

"""``sightline serve [--host] [--port]``: the HTTP API under uvicorn."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("serve", help="run the HTTP API")
    p.add_argument("--host", default=None, help="address to listen on (default: api.host)")
    p.add_argument("--port", type=int, default=None, help="port to listen on (default: api.port)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from sightline.commands._common import settings_from_args

    settings = settings_from_args(args)
    host = args.host or settings.api.host
    port = args.port or settings.api.port
    # The app is built here, once, from the one settings object; uvicorn gets the instance, not an
    # import string, so there is no import-time app (and no --reload or multiple workers).
    uvicorn.run(create_app(settings), host=host, port=port, log_config=None, proxy_headers=False)
    return 0

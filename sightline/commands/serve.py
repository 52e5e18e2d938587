"""``sightline serve [--host] [--port] [--no-workers]``: the HTTP API and live ingest in one process.

From one settings file: the app builds its services at startup, then starts live ingest
(``ingest.workers`` worker processes) with every registered camera that has an rtsp(s) URL, and
stops it at shutdown before the store closes. File cameras are replayed with ``sightline ingest``,
not streamed. ``--no-workers`` serves the API alone (searches, camera registry); the camera status
routes then answer 503.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("serve", help="run the HTTP API and live camera ingest")
    p.add_argument("--host", default=None, help="address to listen on (default: api.host)")
    p.add_argument("--port", type=int, default=None, help="port to listen on (default: api.port)")
    p.add_argument(
        "--no-workers", action="store_true", help="serve the API only: no live ingest of RTSP cameras"
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from api.live import build_live_ingest
    from sightline.commands._common import settings_from_args

    settings = settings_from_args(args)
    host = args.host or settings.api.host
    port = args.port or settings.api.port
    # The app is built here, once, from the one settings object; uvicorn gets the instance, not an
    # import string, so there is no import-time app (and no --reload or multiple workers).
    app = create_app(settings, supervisor_factory=None if args.no_workers else build_live_ingest)
    uvicorn.run(app, host=host, port=port, log_config=None, proxy_headers=False)
    return 0

"""``sightline demo``: sample streams replayed as live RTSP cameras, ingested live, served by the API."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "demo", help="replay the sample streams as live cameras, ingest them and serve the API"
    )
    p.add_argument("--samples", type=Path, default=None, help="sample folder (default: <data_dir>/samples)")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--rtsp-port", type=int, default=8554, help="port of the replayed cameras (0: any free)")
    p.add_argument("--no-serve", action="store_true", help="prepare and print the queries, then exit")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import logging
    import sys

    from sightline.commands._common import settings_from_args
    from sightline.demo import demo_settings, prepare_demo, register_live_cameras
    from sightline.errors import StreamError
    from sightline.redact import redact_url

    log = logging.getLogger("sightline.demo")
    settings = demo_settings(settings_from_args(args))
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    if overrides:
        data = settings.model_dump()
        data["api"].update(overrides)
        settings = type(settings)(**data)
    samples = args.samples or Path(settings.search.data_dir).parent / "samples"
    plan = prepare_demo(settings, samples)
    sys.stderr.write(f"\nSightline demo: {plan.sightings} sightings from {samples}\n")
    sys.stderr.write("Log in (passwords are new at every demo start):\n")
    for name, password in plan.logins.items():
        sys.stderr.write(f"  {name:<18} {password}\n")
    sys.stderr.write("Try:\n")
    for line in plan.examples:
        sys.stderr.write(f"  {line}\n")
    if args.no_serve:
        return 0

    import uvicorn

    from api.app import create_app
    from api.live import build_live_ingest
    from sample_streams.replay import check_gstreamer, from_sample_dir

    try:
        check_gstreamer()
    except StreamError as exc:
        log.warning("live replay unavailable (%s); serving the file-ingested sightings only", exc)
        uvicorn.run(create_app(settings), host=settings.api.host, port=settings.api.port, log_config=None)
        return 0
    with from_sample_dir(samples, port=args.rtsp_port or None) as server:
        urls = {cam: server.url(cam) for cam in server.files}
        register_live_cameras(settings, samples, urls)
        sys.stderr.write("Live cameras (replayed over RTSP, looping):\n")
        for cam, url in sorted(urls.items()):
            sys.stderr.write(f"  {cam}  {redact_url(url)}\n")
        sys.stderr.write(
            f"Camera status: http://{settings.api.host}:{settings.api.port}/api/cameras/status  "
            f"metrics: http://{settings.api.host}:{settings.api.port}/metrics\n"
        )
        app = create_app(settings, supervisor_factory=build_live_ingest)
        uvicorn.run(app, host=settings.api.host, port=settings.api.port, log_config=None)
    return 0

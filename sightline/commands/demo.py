"""``sightline demo``: sample streams generated and ingested, the API served, example queries printed."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("demo", help="generate, ingest and serve the sample streams")
    p.add_argument("--samples", type=Path, default=None, help="sample folder (default: <data_dir>/samples)")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--no-serve", action="store_true", help="prepare and print the queries, then exit")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import sys

    from sightline.commands._common import settings_from_args
    from sightline.demo import demo_settings, prepare_demo

    settings = demo_settings(settings_from_args(args))
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    if overrides:
        data = settings.model_dump()
        data["api"].update(overrides)
        settings = type(settings)(**data)
    samples = args.samples or Path(settings.search.data_dir).parent / "samples"
    plan = prepare_demo(settings, samples)
    sys.stderr.write(f"\nSightline demo: {plan.sightings} sightings from {samples}\nTry:\n")
    for line in plan.examples:
        sys.stderr.write(f"  {line}\n")
    if args.no_serve:
        return 0

    import uvicorn

    from api.app import create_app

    uvicorn.run(create_app(settings), host=settings.api.host, port=settings.api.port, log_config=None)
    return 0

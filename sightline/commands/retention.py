"""``sightline retention purge``: delete sightings older than ``search.retention_days``.

Rows, crops and index entries go; the audit trail stays, and the purge itself is audited.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("retention", help="apply the data retention limit")
    p.add_argument("action", choices=["purge"])
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from search.services import SearchService
    from sightline.commands._common import emit, settings_from_args

    settings = settings_from_args(args)
    service = SearchService.open(settings.search)
    try:
        report = service.purge_expired()
    finally:
        service.close()
    emit(asdict(report), args.json, f"retention: {settings.search.retention_days} days")
    return 0

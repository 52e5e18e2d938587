"""``sightline index rebuild [--kind face|vehicle|all] [--json]``: rebuild vector indexes from the store."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("index", help="maintain the vector indexes")
    actions = p.add_subparsers(dest="action", required=True)
    rebuild = actions.add_parser("rebuild", help="rebuild indexes from the embeddings in the store")
    rebuild.add_argument("--kind", choices=["face", "vehicle", "all"], default="all")
    rebuild.add_argument("--json", action="store_true", help="print one JSON object")
    rebuild.set_defaults(func=_rebuild)


def _rebuild(args: argparse.Namespace) -> int:
    import logging
    import sys
    import time
    from dataclasses import asdict

    from search.records import SightingKind
    from search.services import open_service
    from sightline.commands._common import emit_json, settings_from_args

    log = logging.getLogger(__name__)
    settings = settings_from_args(args)
    kinds = list(SightingKind) if args.kind == "all" else [SightingKind(args.kind)]
    result: dict[str, Any] = {}
    with open_service(settings.search) as service:
        for kind in kinds:
            if service.store.dim(kind) is None:
                log.info("no %s embeddings in the store: nothing to rebuild", kind.value)
                result[kind.value] = None
                continue
            t0 = time.perf_counter()
            stats = service.rebuild_index(kind)
            result[kind.value] = asdict(stats) | {"seconds": round(time.perf_counter() - t0, 2)}
    if args.json:
        emit_json(result)
    else:
        for kind_name, info in result.items():
            line = "empty" if info is None else f"{info['count']} vectors, {info['dim']}-d, ivf={info['ivf']}"
            sys.stdout.write(f"{kind_name}: {line}\n")
    return 0

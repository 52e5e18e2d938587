"""``sightline bench search|faces``: speed, measured side by side in one run, printed as JSON or a table."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("bench", help="measure speed")
    b = p.add_subparsers(dest="what", required=True)

    search = b.add_parser("search", help="face search latency and recall over synthetic embeddings")
    search.add_argument("--vectors", type=int, default=100_000)
    search.add_argument("--queries", type=int, default=200)
    search.add_argument("--json", action="store_true")
    search.set_defaults(func=_search)

    faces = b.add_parser("faces", help="MTCNN per frame and FaceNet per face, single thread")
    faces.add_argument("--json", action="store_true")
    faces.set_defaults(func=_faces)


def _search(args: argparse.Namespace) -> int:
    from sightline.commands._common import emit, settings_from_args
    from sightline.evaluation.bench_search import bench_search

    result = bench_search(args.vectors, queries=args.queries, settings=settings_from_args(args))
    emit(result, args.json, f"face search over {args.vectors} sightings")
    return 0


def _faces(args: argparse.Namespace) -> int:
    from sightline.commands._common import emit, settings_from_args
    from sightline.evaluation.bench_faces import bench_faces

    emit(bench_faces(settings_from_args(args)), args.json, "face models, one thread")
    return 0

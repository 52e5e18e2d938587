"""``sightline bench search|faces``: speed, measured side by side in one run, printed as JSON or a table."""

from __future__ import annotations

import argparse
from pathlib import Path
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

    ingest = b.add_parser("ingest", help="cameras per core: bare PyAV, our keyframe and full-decode paths")
    ingest.add_argument("--seconds", type=float, default=3.0, help="length of each generated clip")
    ingest.add_argument("--no-pipeline", action="store_true", help="skip the full-pipeline measurement")
    ingest.add_argument(
        "--video",
        type=Path,
        default=None,
        help="also measure on this recorded video, re-encoded like a camera",
    )
    ingest.add_argument("--json", action="store_true")
    ingest.set_defaults(func=_ingest)

    soak = b.add_parser("soak", help="many replayed cameras with injected faults: recovery, loss, memory")
    soak.add_argument("--cameras", type=int, default=200)
    soak.add_argument("--minutes", type=float, default=10.0)
    soak.add_argument("--json", action="store_true")
    soak.set_defaults(func=_soak)


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


def _ingest(args: argparse.Namespace) -> int:
    from sightline.commands._common import emit, settings_from_args
    from sightline.evaluation.bench_ingest import bench_ingest

    result = bench_ingest(
        seconds=args.seconds,
        progress=True,
        settings=settings_from_args(args),
        pipeline=not args.no_pipeline,
        video=args.video,
    )
    emit(result, args.json, "ingest: cameras per core at 1 analysed frame per second")
    return 0


def _soak(args: argparse.Namespace) -> int:
    from sightline.commands._common import emit, settings_from_args
    from sightline.evaluation.bench_soak import bench_soak

    result = bench_soak(settings_from_args(args), cameras=args.cameras, minutes=args.minutes, progress=True)
    emit(result, args.json, f"soak: {args.cameras} replayed cameras, {args.minutes} min, faults injected")
    return 0

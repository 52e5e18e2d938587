"""``sightline samples make DIR``: generated camera clips with ground truth for testers and e2e tests."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "samples", help="generate sample camera clips with ground truth"
    )
    s = p.add_subparsers(dest="what", required=True)
    make = s.add_parser("make", help="write clips, reference photos, cameras.csv and ground_truth.json")
    make.add_argument("dir", type=Path, help="output directory (created if missing)")
    make.add_argument("--seed", type=int, default=7, help="same seed, same samples (default 7)")
    make.add_argument("--cameras", type=int, default=4, help="number of cameras, 1..32 (default 4)")
    make.add_argument("--seconds", type=float, default=12.0, help="length of each clip (default 12)")
    make.add_argument("--json", action="store_true", help="print one JSON summary object")
    make.set_defaults(func=_make)


def _make(args: argparse.Namespace) -> int:
    from sample_streams.make import make_samples
    from sightline.commands._common import emit, settings_from_args

    gt = make_samples(
        args.dir, settings_from_args(args), seed=args.seed, cameras=args.cameras, seconds=args.seconds
    )
    summary = {
        "dir": str(args.dir.resolve()),
        "ground_truth": str((args.dir / "ground_truth.json").resolve()),
        "cameras_csv": str((args.dir / "cameras.csv").resolve()),
        "seed": gt.seed,
        "clips": len(gt.clips),
        "seconds": gt.clips[0].duration_s,
        "fps": gt.clips[0].fps,
        "subjects": {s.id: s.plate_text or s.portrait for s in gt.subjects},
        "appearances": len(gt.appearances),
    }
    emit(summary, args.json, f"samples in {args.dir}")
    return 0

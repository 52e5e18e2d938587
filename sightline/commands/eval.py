"""``sightline eval faces|plates|vehicles|samples``: accuracy on real data and on generated streams."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("eval", help="measure accuracy on evaluation data")
    ev = p.add_subparsers(dest="what", required=True)

    faces = ev.add_parser("faces", help="LFW verification protocol (k-fold threshold)")
    faces.add_argument("--lfw", type=Path, required=True, help="LFW folder with pairs.txt")
    faces.add_argument("--folds", type=int, default=None, help="use only the first N folds")
    faces.add_argument("--json", action="store_true")
    faces.set_defaults(func=_faces)

    plates = ev.add_parser("plates", help="plate reading on crops or on whole scenes")
    group = plates.add_mutually_exclusive_group(required=True)
    group.add_argument("--crops", type=Path, help="folder with labels.csv `filename,plate`")
    group.add_argument("--scenes", type=Path, help="CCPD folder with labels.csv")
    plates.add_argument("--json", action="store_true")
    plates.set_defaults(func=_plates)

    vehicles = ev.add_parser("vehicles", help="vehicle colour naming and appearance retrieval")
    vgroup = vehicles.add_mutually_exclusive_group(required=True)
    vgroup.add_argument("--colors", type=Path, help="vehicle_color folder with labels.csv")
    vgroup.add_argument("--cars", type=Path, help="stanford_cars folder with labels.csv")
    vehicles.add_argument("--json", action="store_true")
    vehicles.set_defaults(func=_vehicles)

    samples = ev.add_parser("samples", help="the pipeline on generated clips scored against ground truth")
    samples.add_argument("--dir", type=Path, required=True, help="folder made by `sightline samples make`")
    samples.add_argument("--json", action="store_true")
    samples.set_defaults(func=_samples)


def _faces(args: argparse.Namespace) -> int:
    from sightline.commands._common import emit, settings_from_args
    from sightline.evaluation.faces import evaluate_lfw

    result = evaluate_lfw(settings_from_args(args), args.lfw, limit_folds=args.folds, progress=True)
    emit(result, args.json, "LFW face verification")
    return 0


def _plates(args: argparse.Namespace) -> int:
    from sightline.commands._common import emit, settings_from_args
    from sightline.evaluation.plates import evaluate_plate_crops, evaluate_plate_scenes

    settings = settings_from_args(args)
    if args.crops is not None:
        emit(evaluate_plate_crops(settings, args.crops), args.json, "plate crops")
    else:
        emit(evaluate_plate_scenes(settings, args.scenes), args.json, "plate scenes")
    return 0


def _vehicles(args: argparse.Namespace) -> int:
    from sightline.commands._common import emit
    from sightline.evaluation.vehicles import evaluate_vehicle_colors, evaluate_vehicle_retrieval

    if args.colors is not None:
        emit(evaluate_vehicle_colors(args.colors), args.json, "vehicle colour names")
    else:
        emit(evaluate_vehicle_retrieval(args.cars), args.json, "vehicle appearance retrieval")
    return 0


def _samples(args: argparse.Namespace) -> int:
    from sightline.commands._common import emit, settings_from_args
    from sightline.evaluation.samples import evaluate_samples

    emit(evaluate_samples(settings_from_args(args), args.dir, progress=True), args.json, "sample streams")
    return 0

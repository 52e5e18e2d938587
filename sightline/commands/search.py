"""``sightline search face IMAGE | vehicle IMAGE | plate PATTERN``: a trajectory from the command line.

Like the API, every search names a case and a reason and is written to the audit trail; the actor is
``--user`` (default: the login name).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["register"]


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--case", required=True, help="case reference (audited)")
    p.add_argument("--reason", required=True, help="why this search is made (audited)")
    p.add_argument("--user", default=None, help="who is asking (default: the login name)")
    p.add_argument("--since", default=None, help="ISO 8601 time; no offset = UTC")
    p.add_argument("--until", default=None, help="ISO 8601 time; no offset = UTC")
    p.add_argument("--cameras", default=None, help="comma-separated camera ids")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("search", help="search sightings by photo or plate")
    s = p.add_subparsers(dest="what", required=True)
    face = s.add_parser("face", help="where did this person appear? (largest face of the photo)")
    face.add_argument("image", type=Path)
    face.add_argument("-k", type=int, default=100)
    face.add_argument("--min-similarity", type=float, default=None)
    _common(face)
    face.set_defaults(func=_run)
    vehicle = s.add_parser("vehicle", help="vehicles that look like this vehicle front")
    vehicle.add_argument("image", type=Path)
    vehicle.add_argument("-k", type=int, default=100)
    vehicle.add_argument("--min-similarity", type=float, default=None)
    _common(vehicle)
    vehicle.set_defaults(func=_run)
    plate = s.add_parser("plate", help="plate pattern: * any run, ? one character, e.g. 渝A*23*5")
    plate.add_argument("pattern")
    plate.add_argument("--exact", action="store_true", help="no look-alike (fuzzy) matching")
    _common(plate)
    plate.set_defaults(func=_run)


def _time(text: str | None, flag: str) -> Any:
    from datetime import UTC, datetime

    from sightline.errors import InputError

    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InputError(f"{flag}: not an ISO 8601 time: {text!r}") from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _read_image(path: Path) -> Any:
    import cv2
    import numpy as np

    from sightline.errors import ImageDecodeError, NotFound

    if not path.is_file():
        raise NotFound(f"no such image: {path}")
    raw = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), cv2.IMREAD_COLOR)
    if raw is None:
        raise ImageDecodeError(f"{path} is not a readable image")
    return np.asarray(raw, dtype=np.uint8)


def _run(args: argparse.Namespace) -> int:
    import getpass
    import sys

    from search.records import SearchRequest, Trajectory
    from search.services import SearchService
    from sightline.commands._common import emit_json, settings_from_args

    settings = settings_from_args(args)
    request = SearchRequest(
        case_ref=args.case,
        reason=args.reason,
        actor=args.user or getpass.getuser(),
        since=_time(args.since, "--since"),
        until=_time(args.until, "--until"),
        camera_ids=tuple(c.strip() for c in (args.cameras or "").split(",") if c.strip()),
    )
    service = SearchService.open(settings.search)
    try:
        trajectory: Trajectory
        if args.what == "plate":
            trajectory = service.search_plate(request, args.pattern, fuzzy=not args.exact)
        elif args.what == "face":
            from recognition.query import QueryFaceEmbedder

            vector = QueryFaceEmbedder.from_settings(settings).embed(_read_image(args.image))
            trajectory = service.search_face(request, vector, k=args.k, min_similarity=args.min_similarity)
        else:
            from recognition.registry import build_vehicle_embedder
            from recognition.vehicle_front import query_box

            image = _read_image(args.image)
            height, width = image.shape[:2]
            embedder = build_vehicle_embedder(settings)
            vector = embedder.embed(image, [query_box(width, height)]).vectors[0]
            trajectory = service.search_vehicle(request, vector, k=args.k, min_similarity=args.min_similarity)
    finally:
        service.close()

    if args.json:
        emit_json(
            {
                "count": len(trajectory),
                "points": [
                    {
                        "sighting_id": p.sighting_id,
                        "kind": p.kind.value,
                        "camera_id": p.camera_id,
                        "camera_name": p.camera_name,
                        "lat": p.lat,
                        "lon": p.lon,
                        "first_seen": p.first_seen.isoformat(),
                        "last_seen": p.last_seen.isoformat(),
                        "score": round(p.score, 4),
                        "plate_text": p.plate_text,
                        "crop_url": p.crop_url,
                    }
                    for p in trajectory.points
                ],
            }
        )
        return 0
    out = sys.stdout
    out.write(f"{len(trajectory)} sightings\n")
    for camera_id, points in trajectory.by_camera().items():
        out.write(f"\n{camera_id} ({points[0].camera_name})\n")
        for p in points:
            plate = f"  {p.plate_text}" if p.plate_text else ""
            out.write(
                f"  #{p.sighting_id:<6} {p.first_seen:%Y-%m-%d %H:%M:%S} → {p.last_seen:%H:%M:%S}"
                f"  score {p.score:.3f}{plate}\n"
            )
    return 0

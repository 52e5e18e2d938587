"""``sightline ingest PATH [--camera ID] [--start ISO] [--json]``: video files into the store."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "ingest",
        help="recognise faces and vehicles in video files and store one sighting per track",
        description="Ingest a video file, or every .mp4 file of a directory (one camera per file, "
        "named after the file unless --camera is given). Exits 1 when a stream broke, after "
        "keeping the sightings found before the break.",
    )
    p.add_argument("path", type=Path, help="a video file or a directory of .mp4 files")
    p.add_argument("--camera", default=None, help="camera id (default: the file name without extension)")
    p.add_argument(
        "--start",
        default=None,
        help="wall-clock time of the file's first frame, ISO 8601 (no offset = UTC); default: the "
        "file's creation_time tag, else its modification time minus its duration",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_run)


def _parse_start(text: str | None) -> datetime | None:
    from sightline.errors import InputError

    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InputError(f"--start: not an ISO 8601 time: {text!r}") from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _jobs(path: Path, camera: str | None, start: datetime | None) -> list[tuple[Path, str, datetime | None]]:
    from sightline.errors import InputError, NotFound

    if path.is_dir():
        if start is not None:
            raise InputError("--start applies to a single file, not a directory")
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".mp4" and p.is_file())
        if not files:
            raise NotFound(f"no .mp4 files in {path}")
        return [(f, camera or f.stem, None) for f in files]
    if not path.exists():
        raise NotFound(f"no such file or directory: {path}")
    return [(path, camera or path.stem, start)]


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ingest.pipeline import IngestPipeline, IngestReport
    from search.records import Camera
    from search.store import SightingStore
    from sightline.commands._common import emit, emit_json, settings_from_args

    settings = settings_from_args(args)
    jobs = _jobs(args.path, args.camera, _parse_start(args.start))
    reports: list[IngestReport] = []
    with SightingStore.open(settings.search) as store:
        pipeline = IngestPipeline.from_settings(settings, store)
        for path, camera_id, start in jobs:
            store.ensure_camera(Camera(id=camera_id, name=camera_id))
            with tqdm(
                total=None, unit="s", desc=path.name, file=sys.stderr, disable=None, leave=False
            ) as bar:

                def progress(position: float, duration: float | None, bar: Any = bar) -> None:
                    if duration and bar.total is None:
                        bar.total = round(duration, 1)
                    bar.n = round(position, 1)
                    bar.refresh()

                reports.append(pipeline.ingest_file(path, camera_id, start, progress=progress))

    failed = [r for r in reports if r.error is not None]
    written = sum(r.sightings_written for r in reports)
    if len(reports) == 1:
        result: dict[str, Any] = reports[0].as_dict()
    else:
        result = {
            "files": len(reports),
            "failed": len(failed),
            "sightings_written": written,
            "reports": [r.as_dict() for r in reports],
        }
    if args.json:
        emit_json(result)
    else:
        for r in reports:
            table = {k: v for k, v in r.as_dict().items() if k != "sighting_ids"}
            emit(table, False, f"ingest {r.path}")
    for r in failed:
        sys.stderr.write(
            f"sightline: {r.path}: stream failed, {r.sightings_written} sightings kept: {r.error}\n"
        )
    return 1 if failed else 0

"""``sightline cameras import FILE.csv | list``: the camera registry from the command line.

The import may register file sources (a path or ``file://``) for replay, which the HTTP API refuses.
A running ``sightline serve`` reads the registry at start: cameras imported while it runs reach live
ingest through the API (``POST /api/cameras``) or at the next start.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("cameras", help="import and list registered cameras")
    s = p.add_subparsers(dest="action", required=True)
    imp = s.add_parser(
        "import",
        help="add or update cameras from a CSV (columns id,name,url,lat,lon[,tags]; tags ';'-separated)",
    )
    imp.add_argument("file", type=Path, help="UTF-8 CSV with a header row")
    imp.add_argument("--strict", action="store_true", help="import nothing when any row is bad")
    imp.add_argument("--json", action="store_true", help="print one JSON object")
    imp.set_defaults(func=_import)
    ls = s.add_parser("list", help="registered cameras (URLs with credentials redacted)")
    ls.add_argument("--json", action="store_true", help="print one JSON object")
    ls.set_defaults(func=_list)


def _import(args: argparse.Namespace) -> int:
    from search.camera_import import apply_import, read_camera_csv
    from search.store import SightingStore
    from sightline.commands._common import emit_json, settings_from_args

    settings = settings_from_args(args)
    parsed = read_camera_csv(args.file)  # a missing column raises before the store is opened
    store = SightingStore.open(settings.search)
    try:
        report = apply_import(store, parsed, strict=args.strict)
    finally:
        store.close()
    if args.json:
        emit_json(report.as_dict())
    else:
        lines = [
            f"cameras import {args.file}: {report.rows} rows, {len(report.added)} added, "
            f"{len(report.updated)} updated (existing ids), {len(report.errors)} refused"
        ]
        if report.strict_refused:
            lines.append("--strict: nothing imported because some rows are bad")
        if report.updated:
            lines.append("updated: " + ", ".join(report.updated))
        lines.extend(f"line {e.line}: {e.camera_id or '-'}: {e.message}" for e in report.errors)
        sys.stdout.write("\n".join(lines) + "\n")
    return 1 if report.errors else 0


def _list(args: argparse.Namespace) -> int:
    from search.store import SightingStore
    from sightline.commands._common import emit_json, settings_from_args
    from sightline.redact import redact_url

    settings = settings_from_args(args)
    store = SightingStore.open(settings.search)
    try:
        cameras = store.list_cameras()
    finally:
        store.close()
    rows = [
        {
            "id": c.id,
            "name": c.name,
            "lat": c.lat,
            "lon": c.lon,
            "url": redact_url(c.url),
            "tags": list(c.tags),
        }
        for c in cameras
    ]
    if args.json:
        emit_json({"count": len(rows), "cameras": rows})
        return 0
    header = ("id", "name", "lat", "lon", "url", "tags")
    table = [header] + [
        (
            str(r["id"]),
            str(r["name"]),
            "" if r["lat"] is None else f"{r['lat']:.6f}",
            "" if r["lon"] is None else f"{r['lon']:.6f}",
            str(r["url"] or ""),
            ";".join(c.tags),
        )
        for r, c in zip(rows, cameras, strict=True)
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    out = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table]
    sys.stdout.write("\n".join(out) + f"\n{len(rows)} camera(s)\n")
    return 0

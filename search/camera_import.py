"""Cameras from a CSV file: parse and validate every row, then add or update them in the store.

Columns ``id, name, url, lat, lon`` are required, ``tags`` (``;``-separated) is optional; the
header may list them in any order. A row that fails validation is reported with its line number
and skipped, unless the import is strict, in which case nothing is written when any row is bad.
The CLI may register file sources (a path or ``file://``) for replay; the HTTP API accepts only
RTSP (see :func:`classify_stream_url`).

Reports never hold a URL: camera URLs may carry credentials.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from search.records import Camera
from search.store import SightingStore
from sightline.errors import InputError

__all__ = [
    "LIVE_SCHEMES",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "CameraImport",
    "ImportReport",
    "RowError",
    "StreamKind",
    "apply_import",
    "classify_stream_url",
    "parse_camera_csv",
    "read_camera_csv",
]

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("id", "name", "url", "lat", "lon")
OPTIONAL_COLUMNS = ("tags",)
LIVE_SCHEMES = frozenset({"rtsp", "rtsps"})


class StreamKind(StrEnum):
    """Where a camera's video comes from: a live RTSP stream or a file replayed by the CLI."""

    LIVE = "live"
    FILE = "file"


def classify_stream_url(url: str) -> StreamKind:
    """``rtsp(s)://`` → LIVE; ``file://`` or a bare path → FILE; any other scheme → InputError.

    The message names the scheme only, never the URL, which may hold credentials.
    """
    text = url.strip()
    if not text:
        raise InputError("the URL is empty")
    try:
        parts = urlsplit(text)
    except ValueError as exc:
        raise InputError("the URL cannot be parsed") from exc
    scheme = parts.scheme.lower()
    if scheme in LIVE_SCHEMES:
        if not parts.hostname:
            raise InputError(f"the {scheme}:// URL has no host")
        return StreamKind.LIVE
    # A one-letter scheme is a Windows drive ("C:\\clips\\gate.mp4"), i.e. a bare path.
    if scheme in ("", "file") or len(scheme) == 1:
        return StreamKind.FILE
    raise InputError(f"unsupported URL scheme {scheme + '://'!r}: use rtsp://, rtsps://, file:// or a path")


@dataclass(frozen=True, slots=True)
class RowError:
    """A CSV row that cannot be imported; ``line`` counts the header as line 1."""

    line: int
    camera_id: str | None
    message: str


@dataclass(frozen=True, slots=True)
class CameraImport:
    """The validated content of a camera CSV: cameras to write and rows refused."""

    cameras: tuple[Camera, ...]
    errors: tuple[RowError, ...]

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(slots=True)
class ImportReport:
    """What an import did; ``strict_refused`` when nothing was written because some row was bad."""

    rows: int
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    strict_refused: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "added": len(self.added),
            "updated": len(self.updated),
            "refused": len(self.errors),
            "strict_refused": self.strict_refused,
            "added_ids": list(self.added),
            "updated_ids": list(self.updated),
            "errors": [{"line": e.line, "id": e.camera_id, "error": e.message} for e in self.errors],
        }


def _coordinate(raw: str, name: str, low: float, high: float) -> float | None:
    text = raw.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError as exc:
        raise InputError(f"{name} {text!r} is not a number") from exc
    if not low <= value <= high:  # also refuses nan
        raise InputError(f"{name} {value} is outside [{low:g}, {high:g}]")
    return value


def _row_camera(row: dict[str, str]) -> Camera:
    camera_id = row["id"].strip()
    if not camera_id:
        raise InputError("id is empty")
    name = row["name"].strip() or camera_id
    url = row["url"].strip() or None
    if url is not None:
        try:
            classify_stream_url(url)
        except InputError as exc:
            raise InputError(f"url: {exc}") from exc
    lat = _coordinate(row["lat"], "lat", -90.0, 90.0)
    lon = _coordinate(row["lon"], "lon", -180.0, 180.0)
    tags = tuple(t.strip() for t in (row.get("tags") or "").split(";") if t.strip())
    return Camera(id=camera_id, name=name, lat=lat, lon=lon, url=url, tags=tags)


def parse_camera_csv(text: str) -> CameraImport:
    """Validate a camera CSV. Missing columns raise InputError naming them; bad rows are collected."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        raise InputError("the CSV is empty: expected a header with " + ", ".join(REQUIRED_COLUMNS))
    reader.fieldnames = header
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise InputError(
            f"the CSV lacks column(s) {', '.join(missing)}; required: {', '.join(REQUIRED_COLUMNS)}, "
            f"optional: {', '.join(OPTIONAL_COLUMNS)}"
        )
    cameras: list[Camera] = []
    errors: list[RowError] = []
    first_line: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue  # blank line
        if None in row:
            errors.append(RowError(line, (row.get("id") or "").strip() or None, "more fields than columns"))
            continue
        values = {k: v or "" for k, v in row.items()}
        camera_id = values["id"].strip() or None
        try:
            camera = _row_camera(values)
        except InputError as exc:
            errors.append(RowError(line, camera_id, str(exc)))
            continue
        if camera.id in first_line:
            errors.append(RowError(line, camera.id, f"duplicate id, first on line {first_line[camera.id]}"))
            continue
        first_line[camera.id] = line
        cameras.append(camera)
    return CameraImport(tuple(cameras), tuple(errors))


def read_camera_csv(path: Path) -> CameraImport:
    """:func:`parse_camera_csv` of a UTF-8 file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InputError(f"camera CSV not found: {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"camera CSV {path} cannot be read: {exc}") from exc
    return parse_camera_csv(text)


def apply_import(store: SightingStore, parsed: CameraImport, *, strict: bool = False) -> ImportReport:
    """Add new cameras and update existing ones (name, position, URL, tags).

    Each camera is its own transaction: a store failure part-way leaves the earlier ones written and
    raises; rerunning the import is safe because existing ids are updated, not duplicated.
    """
    report = ImportReport(rows=len(parsed.cameras) + len(parsed.errors), errors=list(parsed.errors))
    if strict and parsed.errors:
        report.strict_refused = True
        return report
    existing = {c.id for c in store.list_cameras()}
    for camera in parsed.cameras:
        if camera.id in existing:
            store.update_camera(
                camera.id, name=camera.name, lat=camera.lat, lon=camera.lon, url=camera.url, tags=camera.tags
            )
            report.updated.append(camera.id)
        else:
            store.add_camera(camera)
            report.added.append(camera.id)
    log.info(
        "camera import: %d added, %d updated, %d rows refused",
        len(report.added),
        len(report.updated),
        len(report.errors),
    )
    return report

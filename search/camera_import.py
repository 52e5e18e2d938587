"""Cameras from a CSV file: parse and validate every row, then add or update them in the store.

Columns ``id, name, url, lat, lon`` are required, ``tags`` (``;``-separated) is optional; the
header may list them in any order. A row that fails validation is reported with its line number
and skipped, unless the import is strict, in which case nothing is written when any row is bad.
The CLI may register file sources (a path or ``file://``) for replay; the HTTP API accepts only
RTSP (see :func:`classify_stream_url`).

Reports never hold a URL with its credentials: camera URLs may carry them, and a cell echoed in an
error may hold one when columns are swapped (a URL in ``name`` or ``lat``), so every echoed cell goes
through :func:`sightline.redact.redact_text` and is shortened. Ids and names follow the API's rules
and limits (``sightline/limits.py``); a name that looks like a URL is refused, since it is almost
always the url column's value and would otherwise show its password wherever names are shown.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from search.records import Camera
from search.store import SightingStore
from sightline.errors import InputError
from sightline.limits import (
    CAMERA_ID_MAX_CHARS,
    CAMERA_ID_PATTERN,
    NAME_MAX_CHARS,
    TAG_MAX_CHARS,
    TAGS_MAX,
    URL_MAX_CHARS,
)
from sightline.redact import redact_text

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
_ECHO_MAX_CHARS = 60
_CAMERA_ID = re.compile(CAMERA_ID_PATTERN)
_LOOKS_LIKE_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://|^[^\s:/@]+:[^\s/@]*@")


def _shown(cell: str) -> str:
    """A cell as an error message may quote it: credentials redacted, at most a few dozen characters."""
    text = redact_text(cell.strip())
    if len(text) > _ECHO_MAX_CHARS:
        text = text[: _ECHO_MAX_CHARS - 1] + "…"
    return repr(text)


def _valid_id(raw: str) -> str | None:
    """The stripped id when it follows the API's rules (characters, length), else None."""
    camera_id = raw.strip()
    if camera_id and len(camera_id) <= CAMERA_ID_MAX_CHARS and _CAMERA_ID.match(camera_id):
        return camera_id
    return None


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
        raise InputError(f"{name} {_shown(text)} is not a number") from exc
    if not low <= value <= high:  # also refuses nan
        raise InputError(f"{name} {value} is outside [{low:g}, {high:g}]")
    return value


def _row_camera(row: dict[str, str]) -> Camera:
    raw_id = row["id"].strip()
    if not raw_id:
        raise InputError("id is empty")
    camera_id = _valid_id(raw_id)
    if camera_id is None:
        raise InputError(
            f"id {_shown(raw_id)} must be at most {CAMERA_ID_MAX_CHARS} letters, digits and . _ : -"
        )
    name = row["name"].strip() or camera_id
    if _LOOKS_LIKE_URL.search(name):
        raise InputError(
            f"name {_shown(name)} looks like a stream URL: are the name and url columns swapped?"
        )
    if len(name) > NAME_MAX_CHARS:
        raise InputError(f"name is {len(name)} characters long, over the limit of {NAME_MAX_CHARS}")
    url = row["url"].strip() or None
    if url is not None:
        if len(url) > URL_MAX_CHARS:
            raise InputError(f"url is {len(url)} characters long, over the limit of {URL_MAX_CHARS}")
        try:
            classify_stream_url(url)
        except InputError as exc:
            raise InputError(f"url: {exc}") from exc
    lat = _coordinate(row["lat"], "lat", -90.0, 90.0)
    lon = _coordinate(row["lon"], "lon", -180.0, 180.0)
    tags = tuple(t.strip() for t in (row.get("tags") or "").split(";") if t.strip())
    if len(tags) > TAGS_MAX:
        raise InputError(f"tags lists {len(tags)} tags, over the limit of {TAGS_MAX}")
    for tag in tags:
        if len(tag) > TAG_MAX_CHARS:
            raise InputError(f"tags: a tag of {len(tag)} characters, over the limit of {TAG_MAX_CHARS}")
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
            errors.append(RowError(line, _valid_id(row.get("id") or ""), "more fields than columns"))
            continue
        values = {k: v or "" for k, v in row.items()}
        camera_id = _valid_id(values["id"])
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

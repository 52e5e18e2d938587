"""Size and range limits of everything a user sends: API fields, search requests, camera records.

Why limits at all: every field a user sends is stored (cameras), written to the append-only audit
trail (searches) or echoed in responses, so an unbounded field is unbounded disk, memory and log
growth that nobody can delete. A review found camera ``tags`` of 8.8 MB accepted and a 619 KB
``cameras`` filter writing an 889 KB audit row. The limits are generous for real use (a camera name
is a sentence, a case reference an identifier) and small against abuse.

One place: the API schemas and routers, the search request value (``search/records.py``, which the
CLI builds too) and the camera CSV import all read these constants, so a limit cannot differ between
the ways in. The audit text fields (case_ref ≤ 64, reason ≤ 1000, actor characters) have their
limits beside their other rules (no control characters) in ``search/audit_text.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sightline.errors import InputError

__all__ = [
    "BOX_MAX_CHARS",
    "CAMERA_FILTER_MAX_IDS",
    "CAMERA_ID_MAX_CHARS",
    "CAMERA_ID_PATTERN",
    "EARLIEST_TIME",
    "LATEST_TIME",
    "NAME_MAX_CHARS",
    "PLATE_PATTERN_MAX_CHARS",
    "SIGHTING_ID_MAX",
    "TAGS_MAX",
    "TAG_MAX_CHARS",
    "URL_MAX_CHARS",
    "check_length",
    "check_time",
]

NAME_MAX_CHARS = 200
"""A camera's display name."""

CAMERA_ID_MAX_CHARS = 64
"""A camera id, wherever it appears: registration, paths, the search ``cameras`` filter, CSV import."""

CAMERA_ID_PATTERN = r"^[A-Za-z0-9._:-]+$"
"""Characters of a camera id: it appears in URL paths and comma-separated filters unescaped."""

URL_MAX_CHARS = 2048
"""A camera stream URL; browsers and most servers stop near 2,000 characters too."""

TAGS_MAX = 32
"""Tags per camera."""

TAG_MAX_CHARS = 64
"""One camera tag."""

CAMERA_FILTER_MAX_IDS = 500
"""Camera ids in one search's ``cameras`` filter; each is stored in the audit row."""

PLATE_PATTERN_MAX_CHARS = 32
"""A plate search pattern: the longest plate is 8 characters, wildcards included this is ample."""

BOX_MAX_CHARS = 100
"""The ``box`` form field, four numbers ``x1,y1,x2,y2``."""

SIGHTING_ID_MAX = 2**63 - 1
"""Largest sighting id: SQLite INTEGER is a signed 64-bit value; larger ids cannot exist."""

EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
"""Earliest time a search filter may name (in UTC): no camera recorded before the Unix epoch."""

LATEST_TIME = datetime.max.replace(tzinfo=UTC)
"""Latest time a search filter may name (in UTC): the last instant Python's datetime holds."""


def check_length(field: str, value: str, limit: int) -> str:
    """``value`` unchanged, or InputError naming ``field`` when it is longer than ``limit`` characters."""
    if len(value) > limit:
        raise InputError(f"{field} is {len(value)} characters long, over the limit of {limit}")
    return value


def check_time(field: str, value: datetime) -> datetime:
    """``value`` unchanged when timezone-aware and within [EARLIEST_TIME, LATEST_TIME] in UTC.

    Checked before a time reaches the store: converting ``0001-01-01T00:00:00+14:00`` to UTC
    overflows, which SQLAlchemy reported as a StoreError quoting its SQL statement.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise InputError(f"{field} must be timezone-aware (e.g. 2024-05-01T08:00:00Z)")
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST_TIME <= utc <= LATEST_TIME:
        raise InputError(
            f"{field} {value.isoformat()} is outside the supported range "
            f"{EARLIEST_TIME:%Y-%m-%dT%H:%M:%SZ} to {LATEST_TIME:%Y-%m-%dT%H:%M:%SZ} (UTC)"
        )
    return value

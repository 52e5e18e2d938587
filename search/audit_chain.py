"""The audit hash chain: one canonical encoding of a record, and a walker that finds the first break.

SQLite's triggers keep honest clients from changing the audit table, but anyone holding the file can
drop them, edit or delete rows and put them back. The chain makes that visible: each record stores

    hash = sha256(bytes.fromhex(prev_hash) || canonical_encoding(record))

where ``prev_hash`` is the previous record's ``hash`` (:data:`GENESIS_HASH` for the first record).
Changing any field of a record changes its hash; deleting one breaks the next record's link (and
leaves a gap in the ids, which are consecutive from 1 because the table never reuses one); only a
writer who recomputes every later hash stays consistent, and the signed checkpoints
(``search/audit_checkpoints.py``), made with a key the database does not hold, catch that rewrite.

The canonical encoding is what an independent verifier must reproduce byte for byte: JSON with
sorted keys, no whitespace (``separators=(",", ":")``), non-ASCII characters as themselves in UTF-8
(``ensure_ascii=False``), no NaN or infinity; times as ISO 8601 UTC with microseconds and a ``Z``
(``2026-01-01T08:00:00.000000Z``); ids as JSON integers; and a version field ``"v"`` so that the
encoding can change without re-hashing history. Every field is covered, the id included::

    {"actor":…,"at":…,"case_ref":…,"component":…,"event":…,"id":…,"outcome":…,"query":{…},
     "reason":…,"result_ids":[…],"v":1}

A query is stored in the form this encoding reads back (:func:`json_value`): what is hashed at
append time is exactly what the database returns later.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from search.records import AuditRecord

__all__ = [
    "ENCODING_VERSION",
    "GENESIS_HASH",
    "ChainBreak",
    "ChainWalker",
    "canonical_encoding",
    "component_of",
    "encode_time",
    "json_value",
    "record_hash",
]

GENESIS_HASH = "0" * 64
"""What the first record chains from: a fixed value, so a verifier needs nothing but the table."""

ENCODING_VERSION = 1


def encode_time(at: datetime) -> str:
    """``at`` as ISO 8601 UTC with microseconds: one spelling per instant, whatever zone it came in."""
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at!r}: audit times must be timezone-aware")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def json_value(value: Mapping[str, Any]) -> dict[str, Any]:
    """``value`` as the JSON column returns it (tuples as lists, keys as strings); ValueError for
    NaN or infinity, TypeError for what JSON cannot hold. Stored and hashed in this form."""
    out: dict[str, Any] = json.loads(_dumps(dict(value)))
    return out


def component_of(event: str) -> str:
    """The default component of an event: its first dotted part (``search.face`` → ``search``)."""
    return event.split(".", 1)[0]


def canonical_encoding(record: AuditRecord) -> bytes:
    """The bytes that are hashed for ``record`` (see the module docstring); ``prev_hash`` and
    ``hash`` are not part of them: the previous hash is prefixed by :func:`record_hash`."""
    fields = {
        "v": ENCODING_VERSION,
        "id": int(record.id),
        "at": encode_time(record.at),
        "component": record.component,
        "event": record.action,
        "actor": record.actor,
        "outcome": record.outcome,
        "case_ref": record.case_ref,
        "reason": record.reason,
        "query": record.query,
        "result_ids": [int(i) for i in record.result_ids],
    }
    return _dumps(fields).encode("utf-8")


def record_hash(prev_hash: str, record: AuditRecord) -> str:
    """``sha256(prev_hash || canonical_encoding(record))`` as lower-case hex."""
    try:
        prev = bytes.fromhex(prev_hash)
    except ValueError:
        prev = b""
    if len(prev) != 32:
        raise ValueError(f"prev_hash must be 64 hex digits, got {prev_hash!r}")
    return hashlib.sha256(prev + canonical_encoding(record)).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first record the chain can no longer vouch for, and why."""

    record_id: int
    reason: str


class ChainWalker:
    """Checks records fed in id order, from the genesis or from a trusted (checkpointed) record.

    Three checks per record, in the order that names the first bad record: its id follows the
    previous one (a gap is a deleted record); its stored hash is the hash of its fields (otherwise
    a field was changed); its ``prev_hash`` is the previous record's hash (otherwise the previous
    record was rewritten with a recomputed hash, since this record's own hash still covers the
    ``prev_hash`` it was written with).
    """

    def __init__(self, *, after_id: int = 0, after_hash: str = GENESIS_HASH) -> None:
        self.last_id = after_id
        self.last_hash = after_hash
        self.count = 0

    def feed(self, record: AuditRecord) -> ChainBreak | None:
        """None if ``record`` extends the chain (and it becomes the new tail), else the break."""
        expected = self.last_id + 1
        if record.id != expected:
            missing = str(expected) if record.id == expected + 1 else f"{expected}-{record.id - 1}"
            return ChainBreak(
                expected,
                f"record {missing} missing: ids jump from {self.last_id} to {record.id} "
                "(deleted from the table)",
            )
        try:
            computed = record_hash(record.prev_hash, record)
        except (ValueError, TypeError) as exc:
            return ChainBreak(record.id, f"record {record.id} cannot be hashed: {exc}")
        if computed != record.hash:
            return ChainBreak(
                record.id, f"record {record.id} was altered: its fields no longer match its hash"
            )
        if record.prev_hash != self.last_hash:
            if self.last_id == 0:
                return ChainBreak(
                    record.id, f"record {record.id} does not chain from the genesis value (rewritten)"
                )
            return ChainBreak(
                self.last_id,
                f"record {self.last_id} was rewritten: its hash is not the one record {record.id} "
                "was chained to",
            )
        self.last_id = record.id
        self.last_hash = record.hash
        self.count += 1
        return None

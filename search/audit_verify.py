"""``sightline audit verify``: recompute the audit chain from the genesis and hold it to its checkpoints.

What each check catches (the tests in ``tests/test_audit_chain.py`` do each of these to a real store):

- a field changed in place: the record's hash no longer matches its fields;
- a record deleted from the middle: a gap in the ids, which are consecutive from 1;
- the whole chain rewritten consistently after a change: the hash at a signed checkpoint's
  ``last_id`` differs from the one signed (the first record not vouched for is the one after the
  last checkpoint that still matches: the change is in that stretch);
- the newest records deleted: a signed checkpoint names a record, or a count, the table no longer
  has (and SQLite's AUTOINCREMENT counter is past the last record, a weaker hint);
- a checkpoint line altered or forged without the key: its Ed25519 signature fails; a line deleted
  from the middle of the file: the next line's ``seq``/``prev`` no longer follow;
- the append-only triggers left dropped.

The result names the first bad record (``first_bad_id``; None when the records are fine and only a
checkpoint or a guard is wrong) with a reason, and lists every problem found.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from search.audit import AuditLog
from search.audit_chain import GENESIS_HASH, ChainWalker
from search.audit_checkpoints import Checkpoint, key_fingerprint, load_public_key
from sightline.errors import StoreError

__all__ = ["AuditVerification", "verify_audit"]


@dataclass(frozen=True, slots=True)
class AuditVerification:
    """The verdict: ``ok`` only when the chain, every checkpoint and the guards all hold."""

    ok: bool
    records: int
    first_bad_id: int | None
    reason: str | None
    checkpoints: int
    """Checkpoints whose signature verified and whose claims the table still meets."""
    problems: tuple[str, ...] = ()
    key: str | None = None
    """sha256 fingerprint of the public key the checkpoints were checked with."""

    def as_dict(self) -> dict[str, Any]:
        """The one JSON object of ``sightline audit verify --json``."""
        return {
            "ok": self.ok,
            "records": self.records,
            "first_bad_id": self.first_bad_id,
            "reason": self.reason,
            "checkpoints": self.checkpoints,
        }


@dataclass(frozen=True, slots=True)
class _Problem:
    record_id: int | None
    reason: str


def _signed_checkpoints(
    audit: AuditLog, public_key_file: Path | None, problems: list[_Problem]
) -> tuple[list[Checkpoint], str | None]:
    """The checkpoints whose signatures verify, in file order; problems found on the way are added."""
    log = audit.checkpoints
    lines = log.lines()
    key_path = public_key_file or log.public_key_file
    key: Ed25519PublicKey | None = None
    try:
        key = load_public_key(key_path)
    except StoreError as exc:
        if lines:
            problems.append(_Problem(None, f"{exc}: {len(lines)} checkpoints cannot be verified"))
    if key is not None and public_key_file is None:
        signer = log.signing_public_key()
        if signer is not None and key_fingerprint(signer) != key_fingerprint(key):
            problems.append(
                _Problem(
                    None, f"the public key {key_path} is not the signing key's ({log.key_file}): replaced"
                )
            )
    if key is None:
        return [], None
    fingerprint = key_fingerprint(key)
    valid: list[Checkpoint] = []
    prev_raw: bytes | None = None
    prev_seq = 0
    prev_ok = True
    for line in lines:
        where = f"checkpoint line {line.number} of {log.path}"
        cp = line.checkpoint
        if cp is None:
            problems.append(_Problem(None, f"{where} is not a checkpoint ({line.error})"))
            prev_ok = False
            continue
        if cp.key != fingerprint or not cp.verify(key):
            problems.append(
                _Problem(None, f"{where}: bad signature (the line was altered, or signed by another key)")
            )
            prev_ok = False
            continue
        expected_prev = GENESIS_HASH if prev_raw is None else hashlib.sha256(prev_raw).hexdigest()
        if prev_ok and (cp.seq != prev_seq + 1 or cp.prev != expected_prev):
            problems.append(
                _Problem(
                    None,
                    f"{where}: checkpoint {cp.seq} does not follow checkpoint {prev_seq}: "
                    "a line was deleted or reordered",
                )
            )
        if valid and cp.last_id < valid[-1].last_id:
            problems.append(
                _Problem(None, f"{where}: goes back from record {valid[-1].last_id} to {cp.last_id}")
            )
        valid.append(cp)
        prev_raw, prev_seq, prev_ok = line.raw, cp.seq, True
    return valid, fingerprint


def verify_audit(audit: AuditLog, *, public_key_file: Path | None = None) -> AuditVerification:
    """Check the whole audit trail: the chain from the genesis, every checkpoint, the guards.

    ``public_key_file`` pins the key to check the checkpoints with (a copy kept elsewhere); by
    default the one beside the checkpoints is used, cross-checked against the signing key when this
    process can read it. Reads only; never raises for tampering, which is what it reports.
    """
    problems: list[_Problem] = []
    checkpoints, fingerprint = _signed_checkpoints(audit, public_key_file, problems)
    by_id: dict[int, list[Checkpoint]] = {}
    for cp in checkpoints:
        by_id.setdefault(cp.last_id, []).append(cp)

    walker = ChainWalker()
    matched = 0
    vouched_upto = 0
    broken = False
    for record in audit.iter_chain():
        chain_break = walker.feed(record)
        if chain_break is not None:
            problems.append(_Problem(chain_break.record_id, chain_break.reason))
            broken = True
            break
        for cp in by_id.get(record.id, ()):
            if record.hash != cp.last_hash or walker.count != cp.count:
                start = vouched_upto + 1
                stretch = f"record {start}" if start == record.id else f"records {start}-{record.id}"
                what = (
                    f"record {record.id}'s hash is {record.hash[:16]}…, the checkpoint signed "
                    f"{cp.last_hash[:16]}…"
                    if record.hash != cp.last_hash
                    else f"the table holds {walker.count} records up to {record.id}, it signed {cp.count}"
                )
                problems.append(
                    _Problem(
                        start,
                        f"{stretch} do not match signed checkpoint {cp.seq} ({cp.at}): {what}; the chain "
                        "was rewritten after it was signed, and the change is in this stretch",
                    )
                )
                broken = True
                break
            matched += 1
            vouched_upto = record.id
        if broken:
            break

    if not broken:
        last = walker.last_id
        beyond = [cp for cp in checkpoints if cp.last_id > last]
        if beyond:
            cp = max(beyond, key=lambda c: c.last_id)
            problems.append(
                _Problem(
                    last + 1,
                    f"the audit ends at record {last}, but signed checkpoint {cp.seq} ({cp.at}) covers "
                    f"{cp.count} records up to record {cp.last_id}: records {last + 1}-{cp.last_id} "
                    "were deleted",
                )
            )
        issued = audit.highest_issued_id()
        if issued > last:
            problems.append(
                _Problem(
                    last + 1,
                    f"the audit ends at record {last}, but ids up to {issued} were issued: records "
                    f"{last + 1}-{issued} were deleted from the end",
                )
            )
    missing = audit.missing_guards()
    if missing:
        problems.append(
            _Problem(
                None, f"the append-only triggers {', '.join(missing)} are missing: the table is writable"
            )
        )

    record_problems = [p for p in problems if p.record_id is not None]
    first = min(record_problems, key=lambda p: p.record_id or 0) if record_problems else None
    if first is None and problems:
        first = problems[0]
    return AuditVerification(
        ok=not problems,
        records=audit.count(),
        first_bad_id=first.record_id if first is not None else None,
        reason=first.reason if first is not None else None,
        checkpoints=matched,
        problems=tuple(p.reason for p in problems),
        key=fingerprint,
    )

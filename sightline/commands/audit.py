"""``sightline audit verify [--json] | checkpoint [--json] | list [--case C --actor A --limit N]``.

``verify`` recomputes the audit's hash chain from the genesis and checks every signed checkpoint
(``search/audit_verify.py``); it exits 0 when the trail is intact and 1 when it was tampered with,
naming the first bad record and why. ``checkpoint`` signs one now (the server also signs one every
``search.audit_checkpoint_every`` records). ``list`` shows the newest records.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("audit", help="verify, checkpoint and list the audit trail")
    s = p.add_subparsers(dest="action", required=True)
    verify = s.add_parser(
        "verify", help="check the audit's hash chain and signed checkpoints (exit 1: tampered)"
    )
    verify.add_argument(
        "--public-key",
        type=Path,
        default=None,
        help="PEM public key to check the checkpoints with (default: the one beside them)",
    )
    verify.add_argument("--json", action="store_true", help="print one JSON object")
    verify.set_defaults(func=_verify)
    checkpoint = s.add_parser("checkpoint", help="sign a checkpoint of the audit chain now")
    checkpoint.add_argument("--json", action="store_true", help="print one JSON object")
    checkpoint.set_defaults(func=_checkpoint)
    ls = s.add_parser("list", help="the newest audit records")
    ls.add_argument("--case", default=None, help="only this case reference")
    ls.add_argument("--actor", default=None, help="only this actor")
    ls.add_argument("--limit", type=int, default=50, help="at most this many records (default 50)")
    ls.add_argument("--json", action="store_true", help="print one JSON object")
    ls.set_defaults(func=_list)


def _verify(args: argparse.Namespace) -> int:
    import sys

    from search.audit import AuditLog
    from search.audit_verify import verify_audit
    from search.store import SightingStore
    from sightline.commands._common import emit_json, settings_from_args

    store = SightingStore.open(settings_from_args(args).search)
    try:
        audit = AuditLog(store)
        result = verify_audit(audit, public_key_file=args.public_key)
        where = audit.checkpoints.path
    finally:
        store.close()
    if args.json:
        emit_json(result.as_dict())
    else:
        rows = [
            ("verdict", "ok" if result.ok else "TAMPERED"),
            ("records", str(result.records)),
            ("checkpoints", f"{result.checkpoints} verified ({where})"),
            ("key", result.key[:16] if result.key else "-"),
        ]
        if not result.ok:
            rows.append(("first bad id", "-" if result.first_bad_id is None else str(result.first_bad_id)))
            rows.append(("reason", result.reason or "-"))
        width = max(len(k) for k, _ in rows)
        lines = [f"{k:<{width}}  {v}" for k, v in rows]
        lines.extend(f"  also: {p}" for p in result.problems if p != result.reason)
        sys.stdout.write("\n".join(lines) + "\n")
    return 0 if result.ok else 1


def _checkpoint(args: argparse.Namespace) -> int:
    import sys
    from dataclasses import asdict

    from search.audit import AuditLog
    from search.store import SightingStore
    from sightline.commands._common import emit_json, settings_from_args

    store = SightingStore.open(settings_from_args(args).search)
    try:
        audit = AuditLog(store)
        checkpoint = audit.checkpoint()
        where = audit.checkpoints.path
    finally:
        store.close()
    if args.json:
        emit_json({"checkpoint": asdict(checkpoint) if checkpoint else None, "file": str(where)})
    elif checkpoint is None:
        sys.stdout.write("audit checkpoint: the audit is empty, nothing to sign\n")
    else:
        sys.stdout.write(
            f"audit checkpoint {checkpoint.seq}: record {checkpoint.last_id}, {checkpoint.count} records, "
            f"signed into {where}\n"
        )
    return 0


def _list(args: argparse.Namespace) -> int:
    import sys

    from search.audit import AuditLog
    from search.audit_chain import encode_time
    from search.audit_text import printable
    from search.store import SightingStore
    from sightline.commands._common import emit_json, settings_from_args
    from sightline.errors import InputError

    if args.limit < 1:
        raise InputError(f"--limit must be at least 1, got {args.limit}")
    store = SightingStore.open(settings_from_args(args).search)
    try:
        records = AuditLog(store).entries(case_ref=args.case, actor=args.actor, limit=args.limit)
    finally:
        store.close()
    if args.json:
        emit_json(
            {
                "records": [
                    {
                        "id": r.id,
                        "at": encode_time(r.at),
                        "component": r.component,
                        "event": r.event,
                        "actor": r.actor,
                        "outcome": r.outcome,
                        "case_ref": r.case_ref,
                        "reason": r.reason,
                        "query": r.query,
                        "result_ids": list(r.result_ids),
                        "hash": r.hash,
                    }
                    for r in records
                ]
            }
        )
        return 0
    # Stored text is escaped for the terminal: a reason may hold a newline, an old record anything.
    for r in records:
        sys.stdout.write(
            f"{r.id:>6}  {r.at:%Y-%m-%d %H:%M:%S}  {printable(r.event):<16} {printable(r.outcome):<8} "
            f"{printable(r.actor):<16} {printable(r.case_ref) or '-':<16} {len(r.result_ids):>4} results  "
            f"{printable(r.reason)[:60]}\n"
        )
    return 0

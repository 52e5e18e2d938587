"""``sightline models prepare|verify``: fetch and check the model files named in the manifest."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("models", help="prepare or verify the model files")
    p.add_argument(
        "action",
        choices=["prepare", "verify"],
        help="prepare: download, check and convert what is missing; verify: re-hash, download nothing",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import logging

    from models.prepare import prepare, verify
    from sightline.commands._common import emit_json, settings_from_args
    from sightline.errors import SightlineError

    log = logging.getLogger(__name__)
    settings = settings_from_args(args).models
    if args.action == "prepare":
        try:
            prepared = prepare(settings, progress=not args.json)
        except SightlineError as exc:
            if not args.json:
                raise
            # Scripts reading --json get one object even on failure, and the usual exit status 2.
            emit_json({"ok": False, "error": type(exc).__name__, "message": str(exc)})
            return 2
        if args.json:
            emit_json(
                {
                    "ok": True,
                    "cache_dir": str(settings.cache_dir),
                    "models": [
                        {
                            "key": m.key,
                            "path": str(m.path),
                            "sha256": m.sha256,
                            "action": m.action,
                            "seconds": round(m.seconds, 2),
                        }
                        for m in prepared
                    ],
                }
            )
        for m in prepared:
            log.info("%s: %s (%s)", m.key, m.action, m.path)
        return 0
    checks = verify(settings)
    ok = all(c.ok for c in checks)
    if args.json:
        emit_json(
            {
                "ok": ok,
                "cache_dir": str(settings.cache_dir),
                "models": [
                    {
                        "key": c.key,
                        "path": str(c.path),
                        "status": c.status,
                        "expected": c.expected,
                        "actual": c.actual,
                    }
                    for c in checks
                ],
            }
        )
    for c in checks:
        if c.ok:
            log.info("%s: ok", c.key)
        else:
            log.error("%s: %s (%s)", c.key, c.status, c.path)
    return 0 if ok else 1

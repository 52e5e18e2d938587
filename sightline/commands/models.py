"""``sightline models prepare|verify|reference``: fetch and check the model files named in the manifest."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("models", help="prepare or verify the model files")
    p.add_argument(
        "action",
        choices=["prepare", "verify", "reference"],
        help="prepare: download, check and convert what is missing; verify: re-hash, download nothing; "
        "reference: (maintainers) store a converted model's source outputs on real faces, which prepare "
        "checks the conversion against (needs OpenCV 5.0's TensorFlow importer)",
    )
    p.add_argument("key", nargs="?", help="reference: the manifest key, e.g. facenet_casia")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import logging

    from models.prepare import prepare, verify
    from sightline.commands._common import emit_json, settings_from_args
    from sightline.errors import SightlineError

    log = logging.getLogger(__name__)
    settings = settings_from_args(args).models
    if args.action == "reference":
        return _reference(args, settings)
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


def _reference(args: argparse.Namespace, settings: Any) -> int:
    """Write ``models/<parity.reference>`` for one converted model and print the sha256 to pin."""
    import hashlib
    import logging

    from models.manifest import default_manifest
    from models.parity import encode_reference, make_reference, reference_path
    from models.prepare import face_crops, fetch_source, read_member
    from sightline.commands._common import emit_json
    from sightline.errors import ModelError
    from sightline.fileio import atomic_write_bytes

    if not args.key:
        raise ModelError(
            "`models reference` needs a model key, e.g. `sightline models reference facenet_casia`"
        )
    entry = default_manifest().entry(args.key)
    if entry.parity is None or entry.input is None:
        raise ModelError(f"model {entry.key!r} declares no `parity` table in the manifest")
    side = entry.input.shape[1]
    if not isinstance(side, int):
        raise ModelError(
            f"model {entry.key!r}: a reference needs a fixed input size, got {entry.input.shape}"
        )
    graph = read_member(fetch_source(entry, settings), entry.member)
    data = encode_reference(make_reference(entry, graph, face_crops(side)))
    path = reference_path(entry.parity)
    atomic_write_bytes(path, data)
    digest = hashlib.sha256(data).hexdigest()
    if args.json:
        emit_json({"ok": True, "key": entry.key, "path": str(path), "sha256": digest})
    logging.getLogger(__name__).info(
        'wrote %s (%d bytes); pin it in models/manifest.toml: [models.%s.parity] sha256 = "%s"',
        path,
        len(data),
        entry.key,
        digest,
    )
    return 0

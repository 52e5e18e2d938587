"""``sightline replay DIR``: serve a sample set's clips as live RTSP cameras until Ctrl-C.

``--check`` instead ingests them live for one full pass, searches every subject and scores the
answers against the ground truth (:mod:`sightline.evaluation.replay_check`).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["register"]

_DEFAULT_PORT = 8554


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "replay",
        help="serve the clips of a sample set (sightline samples make) as looping live RTSP cameras",
    )
    p.add_argument("dir", type=Path, help="sample directory holding ground_truth.json")
    p.add_argument(
        "--port",
        type=int,
        default=_DEFAULT_PORT,
        help=f"RTSP port, 0 for any free one (default {_DEFAULT_PORT})",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--speed", type=float, default=1.0, help="playback rate, 2 = twice as fast (default 1)")
    p.add_argument("--user", default=None, help="require basic authentication with this user")
    p.add_argument("--password", default=None, help="password for --user")
    p.add_argument(
        "--check",
        action="store_true",
        help="ingest the replayed cameras live for one pass, search every subject, score against "
        "ground_truth.json, then exit",
    )
    p.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="with --check: seconds to watch each camera from its first frame (default: one full "
        "pass of its clip plus the longest appearance)",
    )
    p.add_argument("--json", action="store_true", help="with --check: print one JSON object")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from sample_streams.replay import from_sample_dir
    from sightline.errors import InputError, StreamError
    from sightline.redact import redact_url

    if args.check:
        return _check(args)
    if args.json or args.seconds is not None:
        raise InputError("--json and --seconds go with --check")
    if (args.user is None) != (args.password is None):
        raise InputError("--user and --password go together")
    credentials = (args.user, args.password) if args.user is not None else None
    server = from_sample_dir(
        args.dir, port=args.port or None, speed=args.speed, credentials=credentials, host=args.host
    )
    with server:
        for camera_id in server.files:
            url = redact_url(server.url(camera_id))
            sys.stdout.write(f"{camera_id}\t{url}\n")
        sys.stdout.write("serving; Ctrl-C stops\n")
        sys.stdout.flush()
        try:
            while server.running:
                time.sleep(0.5)
        except KeyboardInterrupt:
            return 0
    raise StreamError("the RTSP replay server stopped unexpectedly")


def _check(args: argparse.Namespace) -> int:
    from sightline.commands._common import emit_json, settings_from_args
    from sightline.errors import InputError
    from sightline.evaluation.replay_check import check_replay, format_report

    if args.user is not None or args.password is not None:
        raise InputError("--check serves its own cameras on a free port; --user/--password do not apply")
    if args.seconds is not None and not args.seconds > 0:
        raise InputError(f"--seconds must be positive, got {args.seconds}")
    result = check_replay(
        settings_from_args(args), args.dir, seconds=args.seconds, speed=args.speed, progress=not args.json
    )
    if args.json:
        emit_json(result)
    else:
        sys.stdout.write(format_report(result) + "\n")
    return 0

"""``sightline users add|list|disable|enable|set-role|set-cameras|set-password|revoke``.

Users are managed on the store's machine by whoever can open its database: that is how the first
administrator comes to exist, and why no API route can create one. Passwords are read from stdin
(``--password-stdin``), never from arguments, which other users can read in ``ps``. Every change is
written to the audit trail under the operating-system account that made it.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]

_ACTIONS = ["add", "list", "disable", "enable", "set-role", "set-cameras", "set-password", "revoke"]


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("users", help="manage who may log in")
    p.add_argument("action", choices=_ACTIONS)
    p.add_argument("name", nargs="?", help="the user (all actions but list)")
    p.add_argument("--role", help="add, set-role: admin, investigator, supervisor, auditor, operator, tester")
    p.add_argument(
        "--cameras",
        help="add, set-cameras: comma-separated camera tags in scope; '*' for every camera",
    )
    p.add_argument("--password-stdin", action="store_true", help="add, set-password: read the password")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_run)


def _cli_actor() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"[:64]
    except (KeyError, OSError):
        return "cli:unknown"


def _read_password(args: argparse.Namespace) -> str:
    import sys

    from sightline.errors import InputError

    if not args.password_stdin:
        raise InputError(f"users {args.action} needs --password-stdin (the password on standard input)")
    return sys.stdin.readline().rstrip("\r\n")


def _run(args: argparse.Namespace) -> int:
    import sys

    from search.services import SearchService
    from search.users import User, UserDirectory
    from sightline.commands._common import emit_json, settings_from_args
    from sightline.errors import InputError

    def out(user: User) -> dict[str, Any]:
        return {
            "name": user.name,
            "role": user.role.value,
            "cameras": sorted(user.scope),
            "disabled": user.disabled,
            "locked_until": user.locked_until.isoformat() if user.locked_until else None,
            "created": user.created.isoformat(),
        }

    settings = settings_from_args(args)
    if args.action != "list" and not args.name:
        raise InputError(f"users {args.action} needs a user name")
    scope = [t for t in (args.cameras or "").split(",") if t.strip()]
    service = SearchService.open(settings.search)
    try:
        users = UserDirectory(service.store)
        if args.action == "list":
            listed = [out(u) for u in users.list()]
            if args.json:
                emit_json({"users": listed})
            else:
                for u in listed:
                    state = "disabled" if u["disabled"] else "active"
                    sys.stdout.write(f"{u['name']:<24} {u['role']:<13} {state:<9} {','.join(u['cameras'])}\n")
            return 0
        if args.action == "add":
            if not args.role:
                raise InputError("users add needs --role")
            user = users.add(args.name, args.role, scope, _read_password(args))
        elif args.action == "set-role":
            if not args.role:
                raise InputError("users set-role needs --role")
            user = users.set_role(args.name, args.role)
        elif args.action == "set-cameras":
            if args.cameras is None:
                raise InputError("users set-cameras needs --cameras")
            user = users.set_scope(args.name, scope)
        elif args.action == "set-password":
            user = users.set_password(args.name, _read_password(args))
        elif args.action == "disable":
            user = users.disable(args.name)
        elif args.action == "enable":
            user = users.enable(args.name)
        else:
            user = users.revoke_tokens(args.name)
        service.audit_event(
            f"users.{args.action.replace('-', '_')}",
            actor=_cli_actor(),
            outcome="ok",
            detail={"user": user.name, "role": user.role.value, "cameras": sorted(user.scope)},
        )
    finally:
        service.close()
    if args.json:
        emit_json(out(user))
    else:
        cameras = ",".join(sorted(user.scope)) or "-"
        sys.stdout.write(f"{args.action}: {user.name} ({user.role.value}; cameras {cameras})\n")
    return 0

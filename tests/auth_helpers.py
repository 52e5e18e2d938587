"""Users and bearer tokens for the API tests: real users in the test's store, real signed tokens.

``grant(app, role)`` creates (once per app) a user of that role and returns the request headers that
carry a token for them, issued by the app's own signer exactly as ``POST /api/auth/token`` would.
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import FastAPI

from api.access import Access
from search.identity import ALL_CAMERAS, Role
from sightline.errors import NotFound

__all__ = ["PASSWORD", "grant", "with_token"]

PASSWORD = "correct horse battery staple"


def grant(
    app: FastAPI, role: Role | str, scope: Iterable[str] = (ALL_CAMERAS,), name: str | None = None
) -> dict[str, str]:
    """Headers with a bearer token for a user of ``role`` (created on first use) in ``app``'s store."""
    access: Access = app.state.access
    role = Role(role)
    name = name or f"test-{role.value}"
    try:
        user = access.users.get(name)
    except NotFound:
        user = access.users.add(name, role, scope, PASSWORD)
    return {"Authorization": f"Bearer {access.signer.issue(user.name, user.token_version)}"}


def with_token(app: FastAPI, method: str, url: str, headers: dict[str, str] | None) -> dict[str, str]:
    """``headers`` plus a token for the role the route needs, unless they already carry one.

    For tests about something other than access: camera changes, camera status and metrics are an
    administrator's; everything else an investigator's. ``tests/test_auth.py`` checks every role.
    """
    headers = dict(headers or {})
    if any(k.lower() == "authorization" for k in headers) or not hasattr(app.state, "access"):
        return headers
    path = url.split("?", 1)[0]
    admin = path == "/metrics" or (
        path.startswith("/api/cameras") and (method.upper() != "GET" or path.endswith("/status"))
    )
    return {**headers, **grant(app, Role.ADMIN if admin else Role.INVESTIGATOR)}

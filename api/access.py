"""Logins, tokens and the principal behind a request: the one place the API learns who is asking.

:class:`Access` joins the user directory (``search/users.py``) and the token signer
(``api/tokens.py``). The API builds one per app at startup, beside its services; routes reach it
through ``api/deps.py``. Logins, failed and successful, are written to the audit trail through the
search service, as every other access is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from api.tokens import TokenSigner, read_or_create_key
from search.audit_text import printable
from search.identity import Principal
from search.services import SearchService
from search.users import LockoutPolicy, UserDirectory
from sightline.errors import Unauthenticated
from sightline.settings import Settings

__all__ = ["Access", "IssuedToken"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in: int
    principal: Principal


class Access:
    """Users and tokens for one app."""

    def __init__(self, users: UserDirectory, signer: TokenSigner, search: SearchService) -> None:
        self.users = users
        self.signer = signer
        self._search = search

    @classmethod
    def build(cls, settings: Settings, search: SearchService) -> Access:
        api = settings.api
        key_file = api.token_key_file or settings.search.data_dir / "keys" / "api-token.key"
        lockout = LockoutPolicy(max_failures=api.login_max_failures, base_s=api.login_lockout_s)
        users = UserDirectory(search.store, lockout=lockout)
        return cls(users, TokenSigner(read_or_create_key(key_file), api.token_ttl_s), search)

    def login(self, name: str, password: str) -> IssuedToken:
        """A token for ``name``; Unauthenticated (and an audit record) otherwise."""
        try:
            user = self.users.authenticate(name, password)
        except Unauthenticated:
            # The name is whatever the caller typed: escaped and cut so that it can always be recorded.
            self._search.audit_event("auth.login", actor=printable(name)[:64] or "-", outcome="denied")
            raise
        self._search.audit_event("auth.login", actor=user.name, outcome="ok")
        token = self.signer.issue(user.name, user.token_version)
        return IssuedToken(token, int(self.signer.ttl_s), user.principal)

    def principal(self, token: str) -> Principal:
        """The live principal behind ``token``: signature, expiry, then the user's current state."""
        claims = self.signer.check(token)
        return self.users.principal(claims.subject, claims.token_version)

    def logout(self, principal: Principal) -> None:
        """Revoke every token of ``principal``'s user."""
        self.users.revoke_tokens(principal.name)
        self._search.audit_event("auth.logout", actor=principal.name, outcome="ok")

"""The people who may log in: argon2id password hashes, roles, camera scopes, lockout, revocation.

Users live in the store's database beside the audit that names them, and are never deleted, only
disabled. Passwords are hashed with argon2id (RFC 9106's second recommended profile through
``argon2-cffi``: 64 MiB, 3 passes, 4 lanes), so a stolen database does not give the passwords back.

Repeated failures lock an account with a doubling delay (:meth:`UserDirectory.authenticate`): a
guesser gets a handful of tries per lockout, while a user who mistypes waits seconds, not hours.
Every answer to a failed login is the same, whether the name exists, the password is wrong or the
account is locked or disabled, and an unknown name still costs one hash, so neither the message
nor the time tells a guesser which names exist.

``token_version`` revokes tokens at once: a token carries the version it was issued under, and
logging out, disabling the user, or changing their password or role moves the version on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from search.identity import Principal, Role, normalise_scope
from search.store import SightingStore
from search.tables import UserRow
from sightline.errors import InputError, NotFound, Unauthenticated

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "USER_NAME",
    "LockoutPolicy",
    "User",
    "UserDirectory",
]

MIN_PASSWORD_LENGTH = 12
"""NIST SP 800-63B asks for at least 8; 12 costs users little and a guesser a great deal."""

USER_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
"""Lower-case names, 2-64 characters: they appear in the audit and in logs, so nothing to escape."""

_RESERVED = frozenset({"system", "anonymous", "root"})
"""Names Sightline itself writes into the audit; no person may log in as one of them."""

LOGIN_FAILED = "invalid user name or password, or too many failed attempts: try again later"


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """After ``max_failures`` consecutive failures an account locks for ``base_s``, doubling with
    each further failure up to ``max_s``."""

    max_failures: int = 5
    base_s: float = 30.0
    max_s: float = 900.0

    def lock_for(self, failures: int) -> timedelta | None:
        if failures < self.max_failures:
            return None
        return timedelta(seconds=min(self.max_s, self.base_s * 2 ** (failures - self.max_failures)))


@dataclass(frozen=True, slots=True)
class User:
    """A user as listed: never the password hash."""

    name: str
    role: Role
    scope: frozenset[str]
    disabled: bool
    token_version: int
    failed_logins: int
    locked_until: datetime | None
    created: datetime

    @property
    def principal(self) -> Principal:
        return Principal(self.name, self.role, self.scope)


def _user(row: UserRow) -> User:
    return User(
        name=row.name,
        role=Role(row.role),
        scope=frozenset(row.scope),
        disabled=bool(row.disabled),
        token_version=row.token_version,
        failed_logins=row.failed_logins,
        locked_until=row.locked_until,
        created=row.created,
    )


def _check_name(name: str) -> str:
    if not USER_NAME.fullmatch(name):
        raise InputError(
            f"user name {name[:80]!r}: 2-64 characters of a-z, 0-9, '.', '_' and '-', starting with a "
            "letter or digit"
        )
    if name in _RESERVED:
        raise InputError(f"user name {name!r} is reserved for Sightline itself")
    return name


def _check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > 1024:
        raise InputError("a password may have at most 1024 characters")
    return password


def _role(role: str | Role) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise InputError(f"unknown role {role!r}; known: {', '.join(r.value for r in Role)}") from None


class UserDirectory:
    """Users in the store's database."""

    def __init__(
        self, store: SightingStore, hasher: PasswordHasher | None = None, lockout: LockoutPolicy | None = None
    ) -> None:
        self._store = store
        self._hasher = hasher or PasswordHasher()  # argon2id, RFC 9106 low-memory profile
        self._lockout = lockout or LockoutPolicy()
        # Verified against when the name is unknown, so that a miss costs what a hit costs.
        self._decoy = self._hasher.hash("decoy password that matches nothing")

    def add(self, name: str, role: str | Role, scope: Iterable[str], password: str) -> User:
        """Create a user; InputError if the name is taken or anything is malformed."""
        row = UserRow(
            name=_check_name(name),
            role=_role(role).value,
            scope=sorted(normalise_scope(scope)),
            password_hash=self._hasher.hash(_check_password(password)),
            disabled=False,
            token_version=0,
            failed_logins=0,
            locked_until=None,
            created=datetime.now(UTC),
            updated=datetime.now(UTC),
        )
        with self._store.session() as s:
            if s.get(UserRow, name) is not None:
                raise InputError(f"user {name!r} already exists")
            s.add(row)
            s.flush()
            return _user(row)

    def get(self, name: str) -> User:
        with self._store.session() as s:
            row = s.get(UserRow, name)
            if row is None:
                raise NotFound(f"no user {name[:80]!r}")
            return _user(row)

    def list(self) -> list[User]:
        from sqlalchemy import select

        with self._store.session() as s:
            return [_user(r) for r in s.scalars(select(UserRow).order_by(UserRow.name))]

    def count(self) -> int:
        return len(self.list())

    def _update(self, name: str, *, revoke: bool, **changes: object) -> User:
        with self._store.session() as s:
            row = s.get(UserRow, name)
            if row is None:
                raise NotFound(f"no user {name[:80]!r}")
            for key, value in changes.items():
                setattr(row, key, value)
            if revoke:
                row.token_version += 1
            row.updated = datetime.now(UTC)
            s.flush()
            return _user(row)

    def set_role(self, name: str, role: str | Role) -> User:
        return self._update(name, revoke=True, role=_role(role).value)

    def set_scope(self, name: str, scope: Iterable[str]) -> User:
        return self._update(name, revoke=True, scope=sorted(normalise_scope(scope)))

    def set_password(self, name: str, password: str) -> User:
        digest = self._hasher.hash(_check_password(password))
        return self._update(name, revoke=True, password_hash=digest, failed_logins=0, locked_until=None)

    def disable(self, name: str) -> User:
        return self._update(name, revoke=True, disabled=True)

    def enable(self, name: str) -> User:
        return self._update(name, revoke=False, disabled=False, failed_logins=0, locked_until=None)

    def revoke_tokens(self, name: str) -> User:
        """Every token issued to ``name`` so far stops working (logout)."""
        return self._update(name, revoke=True)

    def authenticate(self, name: str, password: str, *, now: datetime | None = None) -> User:
        """The user whose name and password these are; Unauthenticated otherwise (one message for all).

        A failure counts towards the lockout even while locked, so hammering a locked account keeps
        it locked longer.
        """
        now = now or datetime.now(UTC)
        with self._store.session() as s:
            row = s.get(UserRow, name) if USER_NAME.fullmatch(name) else None
            if row is None:
                self._verify(self._decoy, password)
                raise Unauthenticated(LOGIN_FAILED)
            locked = row.locked_until is not None and row.locked_until > now
            ok = self._verify(row.password_hash, password)
            if ok and not locked and not row.disabled:
                row.failed_logins = 0
                row.locked_until = None
                if self._hasher.check_needs_rehash(row.password_hash):
                    row.password_hash = self._hasher.hash(password)
                s.flush()
                return _user(row)
            if not ok:
                row.failed_logins += 1
                lock = self._lockout.lock_for(row.failed_logins)
                if lock is not None:
                    row.locked_until = now + lock
            s.flush()
        raise Unauthenticated(LOGIN_FAILED)

    def _verify(self, digest: str, password: str) -> bool:
        try:
            return self._hasher.verify(digest, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def principal(self, name: str, token_version: int) -> Principal:
        """The principal behind a token: Unauthenticated if the user is gone, disabled or the token
        was revoked. Role and scope come from the store, so a change applies to the next request."""
        with self._store.session() as s:
            row = s.get(UserRow, name)
            if row is None or row.disabled or row.token_version != token_version:
                raise Unauthenticated("the token was revoked or its user disabled: log in again")
            return _user(row).principal

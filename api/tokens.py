"""Short-lived signed API tokens (JWT, HS256) and the key they are signed with.

A token says who it was issued to and under which ``token_version`` of that user
(``search/users.py``); every request checks the version against the store, so a logout, a disabled
user or a changed password or role revokes every earlier token at once, without a deny-list. The
lifetime is short (``api.token_ttl_s``) because a token copied out of a browser works until then.

The signing key is 32 random bytes in a file outside the database (``api.token_key_file``, default
``<data_dir>/keys/api-token.key``), created 0600 in a 0700 folder on first use: a copy of the
database alone cannot mint tokens.
"""

from __future__ import annotations

import os
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt

from sightline.errors import StoreError, Unauthenticated

__all__ = ["TokenClaims", "TokenSigner", "read_or_create_key"]

_ALGORITHM = "HS256"
_ISSUER = "sightline"
_KEY_BYTES = 32


def read_or_create_key(path: Path, nbytes: int = _KEY_BYTES) -> bytes:
    """The secret in ``path``, created (0600, folder 0700) with ``nbytes`` random bytes if absent.

    Created with O_EXCL so two processes starting together agree on one key.
    """
    try:
        return _read_key(path, nbytes)
    except FileNotFoundError:
        pass
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(path, nbytes)
    except OSError as exc:
        raise StoreError(f"cannot create the key file {path}: {exc}") from exc
    with os.fdopen(fd, "wb") as fh:
        fh.write(secrets.token_bytes(nbytes))
        fh.flush()
        os.fsync(fh.fileno())
    return _read_key(path, nbytes)


def _read_key(path: Path, nbytes: int) -> bytes:
    data = path.read_bytes()
    if len(data) != nbytes:
        raise StoreError(f"key file {path} holds {len(data)} bytes, expected {nbytes}")
    if path.stat().st_mode & 0o077:
        raise StoreError(f"key file {path} is readable by others: chmod 600 it")
    return data


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a valid token says."""

    subject: str
    token_version: int
    expires: datetime


class TokenSigner:
    """Issues and checks tokens with one key and lifetime."""

    def __init__(self, key: bytes, ttl_s: float) -> None:
        if len(key) < _KEY_BYTES:
            raise ValueError(f"a token key needs at least {_KEY_BYTES} bytes")
        self._key = key
        self.ttl_s = ttl_s

    def issue(self, subject: str, token_version: int, *, now: datetime | None = None) -> str:
        now = now or datetime.now(UTC)
        claims = {
            "iss": _ISSUER,
            "sub": subject,
            "ver": token_version,
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(seconds=self.ttl_s)).timestamp()),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm=_ALGORITHM)

    def check(self, token: str) -> TokenClaims:
        """The claims of a valid, unexpired token of ours; Unauthenticated otherwise."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],
                issuer=_ISSUER,
                options={"require": ["sub", "ver", "exp", "iat", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired: log in again") from None
        except jwt.PyJWTError:
            raise Unauthenticated("the token is not valid") from None
        subject, version = claims.get("sub"), claims.get("ver")
        if not isinstance(subject, str) or not isinstance(version, int):
            raise Unauthenticated("the token is not valid")
        return TokenClaims(subject, version, datetime.fromtimestamp(int(claims["exp"]), UTC))

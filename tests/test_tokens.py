"""API tokens and their key file (``api/tokens.py``) and the role table (``search/identity.py``)."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from api.tokens import TokenSigner, read_or_create_key
from search.identity import ALL_CAMERAS, PERMISSIONS, Action, Principal, Role, normalise_scope
from sightline.errors import PermissionDenied, StoreError, Unauthenticated

KEY = b"k" * 32


def test_a_token_round_trips_with_its_version() -> None:
    signer = TokenSigner(KEY, ttl_s=60)
    claims = signer.check(signer.issue("li.investigator", 3))
    assert (claims.subject, claims.token_version) == ("li.investigator", 3)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda s: s.issue("a", 0, now=datetime.now(UTC) - timedelta(hours=1)), "expired"),
        (lambda s: TokenSigner(b"x" * 32, 60).issue("a", 0), "not valid"),
        (lambda s: s.issue("a", 0)[:-2] + "xx", "not valid"),
        (lambda s: jwt.encode({"sub": "a", "ver": 0}, KEY, algorithm="HS256"), "not valid"),
        (lambda s: jwt.encode({"sub": "a"}, "", algorithm="none"), "not valid"),
        (lambda s: "not a token", "not valid"),
    ],
    ids=["expired", "other-key", "tampered", "no-expiry", "alg-none", "garbage"],
)
def test_bad_tokens_are_unauthenticated(make: object, message: str) -> None:
    signer = TokenSigner(KEY, ttl_s=60)
    with pytest.raises(Unauthenticated, match=message):
        signer.check(make(signer))  # type: ignore[operator]


def test_the_key_file_is_created_private_once(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "api-token.key"
    first = read_or_create_key(path)
    assert len(first) == 32 and read_or_create_key(path) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    path.write_bytes(os.urandom(32))
    path.chmod(0o644)
    with pytest.raises(StoreError, match="chmod 600"):
        read_or_create_key(path)


def test_scope_and_permissions() -> None:
    investigator = Principal("li", Role.INVESTIGATOR, normalise_scope(["north", " ", "gate"]))
    assert investigator.sees_camera(["gate", "x"]) and not investigator.sees_camera(["south"])
    assert Principal("x", Role.OPERATOR, normalise_scope(["a", ALL_CAMERAS])).scope == {ALL_CAMERAS}
    investigator.require(Action.SEARCH)
    with pytest.raises(PermissionDenied, match="role 'investigator' may not manage cameras"):
        investigator.require(Action.MANAGE_CAMERAS)
    # Separation of duties the product promises: admins and operators never search, auditors only read
    # the audit, testers touch no personal data.
    assert not any(Action.SEARCH in PERMISSIONS[r] for r in (Role.ADMIN, Role.OPERATOR, Role.AUDITOR))
    assert PERMISSIONS[Role.AUDITOR] == {Action.READ_AUDIT} and PERMISSIONS[Role.TESTER] == set()

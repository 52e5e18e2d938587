"""Authentication and authorisation end to end: logins, lockout, revocation, every role × every route.

Real parts throughout: users in the test's SQLite store with argon2id hashes, tokens signed by the
app's key, the real recognition backends behind the search routes. The role table is the product's
promise (search/identity.py); this test is its executable form, route by route.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from asgi_call import call
from auth_helpers import PASSWORD, grant
from fastapi import FastAPI
from skimage import data as skdata

from api.app import Services, create_app
from recognition.types import Box, PlateRead
from search.identity import Role
from search.records import NewSighting, SightingKind
from search.services import SearchService
from sightline.settings import Settings

pytestmark = pytest.mark.slow

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
CASE = {"case_ref": "CASE-7", "reason": "stolen vehicle report"}


def _jpeg(image: np.ndarray[Any, Any]) -> bytes:
    ok, buf = cv2.imencode(".jpg", image)
    assert ok
    return buf.tobytes()


@pytest.fixture()
def app(settings: Settings, service: SearchService, backends: tuple[Any, Any, Any]) -> FastAPI:
    return create_app(settings, Services(service, *backends))


@pytest.fixture()
def seeded(app: FastAPI, service: SearchService) -> dict[str, int]:
    """Camera north (tag "north") and south (tag "south"), one plate sighting on each."""
    admin = grant(app, Role.ADMIN)
    for cam, tag in (("cam-n", "north"), ("cam-s", "south")):
        r = call(app, "POST", "/api/cameras", headers=admin, json={"id": cam, "name": cam, "tags": [tag]})
        assert r.status_code == 201, r.text
    crop = _jpeg(np.full((60, 120, 3), 90, np.uint8))
    dim = service.store.dim(SightingKind.VEHICLE)
    assert dim is not None
    vector = np.full(dim, 1 / np.sqrt(dim), np.float32)
    ids = {}
    for cam, plate in (("cam-n", "渝A12345"), ("cam-s", "渝B67890")):
        ids[cam] = service.add_sighting(
            NewSighting(
                kind=SightingKind.VEHICLE,
                camera_id=cam,
                first_seen=T0,
                last_seen=T0 + timedelta(seconds=5),
                box=Box(10, 10, 110, 60),
                quality=0.9,
                crop_jpeg=crop,
                embedding=vector,
                plate=PlateRead(plate, (0.95,) * len(plate)),
            )
        )
    return ids


def _login(app: FastAPI, name: str, password: str) -> Any:
    return call(app, "POST", "/api/auth/token", token=False, data={"username": name, "password": password})


# -- logins ----------------------------------------------------------------------------------------


def test_login_gives_a_token_that_works_and_is_audited(app: FastAPI, service: SearchService) -> None:
    grant(app, Role.INVESTIGATOR, name="li")
    r = _login(app, "li", PASSWORD)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    me = call(app, "GET", "/api/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json() == {"name": "li", "role": "investigator", "cameras": ["*"]}
    events = [(e.action, e.actor, e.outcome) for e in service.audit_entries()]
    assert ("auth.login", "li", "ok") in events


@pytest.mark.parametrize(("name", "password"), [("li", "wrong password!!"), ("nobody", PASSWORD)])
def test_failed_logins_say_the_same_thing_and_are_audited(
    app: FastAPI, service: SearchService, name: str, password: str
) -> None:
    grant(app, Role.INVESTIGATOR, name="li")
    r = _login(app, name, password)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert r.json()["detail"].startswith("invalid user name or password")
    assert ("auth.login", name, "denied") in [(e.action, e.actor, e.outcome) for e in service.audit_entries()]


def test_repeated_failures_lock_the_account_even_for_the_right_password(app: FastAPI) -> None:
    grant(app, Role.INVESTIGATOR, name="li")
    for _ in range(5):
        assert _login(app, "li", "not the password").status_code == 401
    assert _login(app, "li", PASSWORD).status_code == 401  # locked
    user = app.state.access.users.get("li")
    assert user.locked_until is not None and user.locked_until > datetime.now(UTC)
    # Once the lock has passed, the right password works again and resets the count.
    app.state.access.users.authenticate("li", PASSWORD, now=user.locked_until + timedelta(seconds=1))
    assert app.state.access.users.get("li").failed_logins == 0


def test_logout_and_disabling_revoke_tokens_at_once(app: FastAPI) -> None:
    headers = grant(app, Role.INVESTIGATOR, name="li")
    assert call(app, "GET", "/api/auth/me", headers=headers).status_code == 200
    assert call(app, "POST", "/api/auth/logout", headers=headers).status_code == 204
    assert call(app, "GET", "/api/auth/me", headers=headers).status_code == 401
    headers = grant(app, Role.INVESTIGATOR, name="li")
    app.state.access.users.disable("li")
    assert call(app, "GET", "/api/auth/me", headers=headers).status_code == 401
    assert _login(app, "li", PASSWORD).status_code == 401


def test_a_role_change_applies_to_the_next_request(app: FastAPI) -> None:
    headers = grant(app, Role.INVESTIGATOR, name="li")
    app.state.access.users.set_role("li", Role.OPERATOR)
    assert call(app, "GET", "/api/auth/me", headers=headers).status_code == 401  # token revoked
    headers = grant(app, Role.OPERATOR, name="li")
    assert (
        call(app, "GET", "/api/search/plate", headers=headers, params={"pattern": "渝A*", **CASE}).status_code
        == 403
    )


def test_the_system_name_cannot_be_taken(app: FastAPI) -> None:
    from sightline.errors import InputError

    with pytest.raises(InputError, match="reserved"):
        app.state.access.users.add("system", Role.ADMIN, ["*"], PASSWORD)


# -- every role × every route ------------------------------------------------------------------------

_ALL = set(Role)
_SEES_CAMERAS = {Role.ADMIN, Role.INVESTIGATOR, Role.SUPERVISOR, Role.OPERATOR}


def _face_upload() -> dict[str, Any]:
    astronaut = cv2.cvtColor(np.asarray(skdata.astronaut(), np.uint8), cv2.COLOR_RGB2BGR)
    return {"files": {"image": ("q.jpg", _jpeg(astronaut), "image/jpeg")}, "data": CASE}


def _routes(ids: dict[str, int]) -> list[tuple[str, str, dict[str, Any], set[Role], int]]:
    """(method, path, request kwargs, roles allowed, status when allowed)."""
    n = ids["cam-n"]
    new_camera = {"json": {"id": "cam-x", "name": "x", "tags": ["north"]}}
    return [
        ("GET", "/api/auth/me", {}, _ALL, 200),
        ("GET", "/api/cameras", {}, _SEES_CAMERAS, 200),
        ("GET", "/api/cameras/cam-n", {}, _SEES_CAMERAS, 200),
        ("POST", "/api/cameras", new_camera, {Role.ADMIN}, 201),
        ("PUT", "/api/cameras/cam-n", {"json": {"name": "renamed"}}, {Role.ADMIN}, 200),
        ("GET", "/api/cameras/status", {}, {Role.ADMIN, Role.OPERATOR}, 503),  # no live ingest here
        ("GET", "/api/cameras/cam-n/status", {}, {Role.ADMIN, Role.OPERATOR}, 503),
        ("GET", "/api/search/plate", {"params": {"pattern": "渝A*", **CASE}}, {Role.INVESTIGATOR}, 200),
        ("POST", "/api/search/face", _face_upload(), {Role.INVESTIGATOR}, 200),
        ("GET", f"/api/sightings/{n}", {}, {Role.INVESTIGATOR}, 200),
        ("GET", f"/api/sightings/{n}/crop", {}, {Role.INVESTIGATOR}, 200),
        ("GET", "/metrics", {}, {Role.ADMIN}, 200),
        ("GET", "/openapi.json", {}, _ALL, 200),
        ("DELETE", "/api/cameras/cam-x", {}, {Role.ADMIN}, 204),  # the camera the POST above made
    ]


def test_every_route_answers_401_without_a_token(app: FastAPI, seeded: dict[str, int]) -> None:
    for method, path, kwargs, _, _ in _routes(seeded):
        r = call(app, method, path, token=False, **kwargs)
        assert r.status_code == 401, (method, path, r.status_code, r.text)
        r = call(app, method, path, headers={"Authorization": "Bearer not-a-token"}, **kwargs)
        assert r.status_code == 401, (method, path, r.status_code)
    assert call(app, "GET", "/api/health", token=False).status_code == 200


@pytest.mark.parametrize("role", list(Role))
def test_every_role_on_every_route(app: FastAPI, seeded: dict[str, int], role: Role) -> None:
    headers = grant(app, role)
    failures = []
    for method, path, kwargs, allowed, ok_status in _routes(seeded):
        expected = ok_status if role in allowed else 403
        r = call(app, method, path, headers=headers, **kwargs)
        if r.status_code != expected:
            failures.append(
                f"{role.value} {method} {path}: {r.status_code}, expected {expected}: {r.text[:200]}"
            )
    assert not failures, "\n".join(failures)


# -- camera scope ----------------------------------------------------------------------------------


def test_outside_the_scope_nothing_exists(
    app: FastAPI, seeded: dict[str, int], service: SearchService
) -> None:
    north = grant(app, Role.INVESTIGATOR, scope=["north"], name="north-only")
    r = call(app, "GET", "/api/search/plate", headers=north, params={"pattern": "渝*", **CASE})
    assert r.status_code == 200
    assert [p["camera_id"] for p in r.json()["points"]] == ["cam-n"]
    # Asking for the other camera explicitly finds nothing, rather than an error that confirms it.
    r = call(
        app, "GET", "/api/search/plate", headers=north, params={"pattern": "渝*", "cameras": "cam-s", **CASE}
    )
    assert r.status_code == 200 and r.json()["points"] == []
    for path in (f"/api/sightings/{seeded['cam-s']}", f"/api/sightings/{seeded['cam-s']}/crop"):
        hidden = call(app, "GET", path, headers=north)
        never = call(app, "GET", "/api/sightings/999999", headers=north)
        assert hidden.status_code == never.status_code == 404
        assert hidden.json()["detail"].replace(str(seeded["cam-s"]), "N") == never.json()["detail"].replace(
            "999999", "N"
        )
    assert [c["id"] for c in call(app, "GET", "/api/cameras", headers=north).json()] == ["cam-n"]
    assert call(app, "GET", "/api/cameras/cam-s", headers=north).status_code == 404


def test_sighting_and_crop_reads_are_audited(
    app: FastAPI, seeded: dict[str, int], service: SearchService
) -> None:
    headers = grant(app, Role.INVESTIGATOR, name="li")
    sid = seeded["cam-n"]
    assert call(app, "GET", f"/api/sightings/{sid}", headers=headers).status_code == 200
    assert call(app, "GET", f"/api/sightings/{sid}/crop", headers=headers).status_code == 200
    reads = [
        (e.action, e.actor, e.result_ids) for e in service.audit_entries() if e.action.startswith("sighting.")
    ]
    assert ("sighting.read", "li", (sid,)) in reads and ("sighting.crop", "li", (sid,)) in reads


def test_the_search_audit_names_the_authenticated_user(
    app: FastAPI, seeded: dict[str, int], service: SearchService
) -> None:
    headers = grant(app, Role.INVESTIGATOR, name="li")
    spoof = {**headers, "X-Sightline-User": "system"}
    r = call(app, "GET", "/api/search/plate", headers=spoof, params={"pattern": "渝A12345", **CASE})
    assert r.status_code == 200
    (entry,) = [e for e in service.audit_entries() if e.action == "search.plate"]
    assert entry.actor == "li"


def test_docs_and_metrics_open_only_when_the_settings_say_so(
    settings: Settings, service: SearchService, backends: tuple[Any, Any, Any]
) -> None:
    data = settings.model_dump()
    data["api"].update({"open_docs": True, "open_metrics": True})
    app = create_app(Settings(**data), Services(service, *backends))
    assert call(app, "GET", "/openapi.json", token=False).status_code == 200
    assert call(app, "GET", "/docs", token=False).status_code == 200
    assert call(app, "GET", "/metrics", token=False).status_code == 200
    assert call(app, "GET", "/api/cameras", token=False).status_code == 401


def test_the_cli_manages_users_and_audits_it(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io
    import json

    from sightline.cli import main

    monkeypatch.setenv("SIGHTLINE_SEARCH__DATA_DIR", str(settings.search.data_dir))
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert (
        main(
            ["users", "add", "ops.wang", "--role", "operator", "--cameras", "north,gate", "--password-stdin"]
        )
        == 0
    )
    assert main(["users", "set-role", "ops.wang", "--role", "supervisor", "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert json.loads(out[-1])["role"] == "supervisor"
    assert main(["users", "add", "ops.wang", "--role", "operator"]) == 2  # no --password-stdin / exists
    assert main(["users", "list", "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)["users"]
    assert listed["cameras"] == ["gate", "north"] and "password" not in json.dumps(listed)
    with SearchService.open(settings.search) as svc:
        events = [e.action for e in svc.audit_entries()]
    assert "users.add" in events and "users.set_role" in events
    shutil.rmtree(tmp_path, ignore_errors=True)

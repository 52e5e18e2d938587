"""``/api/auth``: log in for a token, see who you are, log out (revoking every token of yours)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status
from fastapi.security import OAuth2PasswordRequestForm
from starlette.concurrency import run_in_threadpool

from api.deps import AccessDep, PrincipalDep
from api.schemas import ErrorOut, PrincipalOut, TokenOut

__all__ = ["router"]

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/token",
    summary="Log in",
    description="OAuth2 password form (`username`, `password`) → a bearer token valid for "
    "`expires_in` seconds. Failures answer 401 with one message whatever went wrong; repeated "
    "failures lock the account for a while. Every attempt is audited.",
    response_model=TokenOut,
    responses={401: {"model": ErrorOut, "description": "Wrong name or password, or locked."}},
)
async def login(form: Annotated[OAuth2PasswordRequestForm, Depends()], access: AccessDep) -> TokenOut:
    # argon2id takes ~50 ms and 64 MiB on purpose: off the event loop.
    issued = await run_in_threadpool(access.login, form.username, form.password)
    return TokenOut(access_token=issued.access_token, token_type="bearer", expires_in=issued.expires_in)


@router.get(
    "/me",
    summary="Who am I",
    description="The authenticated user's name, role and camera scope.",
    response_model=PrincipalOut,
)
def me(principal: PrincipalDep) -> PrincipalOut:
    return PrincipalOut.from_principal(principal)


@router.post(
    "/logout",
    summary="Log out",
    description="Revokes every token issued to the caller so far, at once.",
    status_code=status.HTTP_204_NO_CONTENT,
)
def logout(principal: PrincipalDep, access: AccessDep) -> None:
    access.logout(principal)

"""POST /api/login: the OAuth2 password form in, a bearer token out."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from webapp.api.deps import error, unauthorized
from webapp.core.area_routes import area_router
from webapp.core.client_address import client_ip
from webapp.core.deps import DbSession, Hasher, SettingsDep, Tokens
from webapp.models import Token
from webapp.rules import accounts

router = area_router(tags=["auth"])

LOGIN_FAILED = "Incorrect username, email or password"


# The body limit middleware answers a form that is not UTF-8 with a string detail.
FORM_INVALID = {
    "description": "A field is missing, or the form is not UTF-8 text",
    "content": {
        "application/json": {
            "schema": {
                "anyOf": [
                    {"$ref": "#/components/schemas/HTTPValidationError"},
                    {"$ref": "#/components/schemas/ErrorDetail"},
                ]
            }
        }
    },
}


@router.post(
    "/login",
    response_model=Token,
    summary="Log in: get a bearer token",
    responses={
        401: error(
            "Wrong password, or no such user (the same answer for both)",
            {"WWW-Authenticate": "`Bearer`"},
        ),
        403: error("The right password of a suspended account: until when, and why (no token)"),
        422: FORM_INVALID,
        429: error(
            "Too many failed logins for this account or from this address",
            {"Retry-After": "Seconds to wait before the next attempt"},
        ),
    },
)
async def login(
    request: Request,
    db: DbSession,
    hasher: Hasher,
    tokens: Tokens,
    settings: SettingsDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> Token:
    """`username` may be the username or the email, in any letter case. The token
    lasts `ACCESS_TOKEN_EXPIRE_MINUTES` and stops working at once when the user
    changes their password, logs out everywhere else, deletes the account, or
    is suspended."""
    account = await accounts.authenticate(  # TooManyLogins: 429 with Retry-After
        db,
        hasher,
        identifier=form.username,
        password=form.password,
        client_ip=client_ip(request),
        max_attempts=settings.login_max_attempts,
    )
    if account is None:
        raise unauthorized(LOGIN_FAILED)
    return Token(access_token=tokens.issue(account.id, account.security_stamp))

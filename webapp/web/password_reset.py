"""Pages for a forgotten password: ask for a link by address, then choose a
new password through it. The rules are `webapp.rules.mail_links`'."""

from __future__ import annotations

from fastapi import Request
from pydantic import ValidationError
from starlette.responses import Response

from webapp.core.area_routes import area_router
from webapp.core.client_address import client_ip
from webapp.core.deps import DbSession, Hasher, PostmanDep, SettingsDep
from webapp.errors import MailUnavailable, TooManyResetRequests
from webapp.models import EmailAddress, PasswordChange
from webapp.rules import mail_links
from webapp.web.deps import VisitorDep
from webapp.web.pages import FormText, field_errors, flash, redirect, render

router = area_router()

# A page whose address holds a working token is kept by no cache.
NO_STORE = {"Cache-Control": "no-store"}


@router.get("/password-reset")
async def password_reset_form(
    request: Request, visitor: VisitorDep, postman: PostmanDep
) -> Response:
    context = {"values": {}, "errors": {}, "unavailable": postman is None}
    return render(request, visitor, "auth/password_reset.html", context)


@router.post("/password-reset")
async def ask_password_reset(
    request: Request,
    db: DbSession,
    settings: SettingsDep,
    postman: PostmanDep,
    visitor: VisitorDep,
    email: FormText = "",
) -> Response:
    try:
        address = EmailAddress.model_validate({"email": email})
        await mail_links.ask_reset(
            db,
            postman,
            str(address.email),
            client_ip=client_ip(request),
            settings=settings,
        )
    except ValidationError as error:
        errors = field_errors(error, default_field="email")
        return _form_again(request, visitor, email, errors, 422)
    except (TooManyResetRequests, MailUnavailable) as refused:
        return _form_again(
            request, visitor, email, {"form": refused.detail}, refused.status_code, refused.headers
        )
    return redirect("/password-reset/sent")


def _form_again(
    request: Request,
    visitor: VisitorDep,
    email: str,
    errors: dict[str, str],
    status_code: int,
    headers: dict[str, str] | None = None,
) -> Response:
    context = {"values": {"email": email}, "errors": errors, "unavailable": status_code == 503}
    return render(
        request,
        visitor,
        "auth/password_reset.html",
        context,
        status_code=status_code,
        headers=headers,
    )


@router.get("/password-reset/sent")
async def password_reset_sent(request: Request, visitor: VisitorDep) -> Response:
    return render(request, visitor, "auth/password_reset_sent.html")


@router.get("/password-reset/{token}")
async def new_password_form(
    request: Request, db: DbSession, visitor: VisitorDep, token: str
) -> Response:
    if await mail_links.find_reset(db, token) is None:
        return _link_not_working(request, visitor)
    context = {"errors": {}, "token": token}
    return render(request, visitor, "auth/password_reset_new.html", context, headers=NO_STORE)


@router.post("/password-reset/{token}")
async def reset_password(
    request: Request,
    db: DbSession,
    hasher: Hasher,
    visitor: VisitorDep,
    token: str,
    new_password: FormText = "",
    new_password_confirm: FormText = "",
) -> Response:
    account = await mail_links.find_reset(db, token)
    if account is None:
        return _link_not_working(request, visitor)
    form = {"new_password": new_password, "new_password_confirm": new_password_confirm}
    try:
        change = PasswordChange.model_validate(
            form, context={"username": account.username, "email": account.email}
        )
    except ValidationError as error:
        errors = field_errors(error, default_field="new_password")
        context = {"errors": errors, "token": token}
        return render(request, visitor, "auth/password_reset_new.html", context, status_code=422)
    if not await mail_links.reset_password(db, hasher, token, account, change):
        return _link_not_working(request, visitor)  # used by another request meanwhile
    flash(request, "Your password has been changed. Log in with it.")
    return redirect("/login")


def _link_not_working(request: Request, visitor: VisitorDep) -> Response:
    """Unknown, used or expired: a 400 page that offers a new link."""
    return render(
        request, visitor, "auth/link_not_working.html", {"kind": "reset"}, status_code=400
    )

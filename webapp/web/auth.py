"""Pages for registering, logging in and logging out."""

from __future__ import annotations

from fastapi import Request
from pydantic import ValidationError
from starlette.responses import Response

from webapp.core.area_routes import area_router
from webapp.core.client_address import client_ip
from webapp.core.deps import DbSession, Hasher, PostmanDep, SettingsDep
from webapp.errors import AccountSuspended, AccountTaken, TooManyLogins, TooManyRegistrations
from webapp.models import UserCreate
from webapp.rules import accounts, confirmations, registrations
from webapp.web import login_cookie
from webapp.web.deps import VisitorDep
from webapp.web.pages import FormText, field_errors, flash, redirect, render, safe_next

router = area_router()

LOGIN_FAILED = "The username, email or password is not right."


@router.get("/register")
async def register_form(request: Request, visitor: VisitorDep) -> Response:
    if visitor.user:
        return redirect("/")
    return render(request, visitor, "auth/register.html", {"values": {}, "errors": {}})


@router.post("/register")
async def register(
    request: Request,
    db: DbSession,
    hasher: Hasher,
    settings: SettingsDep,
    postman: PostmanDep,
    visitor: VisitorDep,
    username: FormText = "",
    email: FormText = "",
    password: FormText = "",
    password_confirm: FormText = "",
) -> Response:
    values = {"username": username, "email": email}
    errors: dict[str, str] = {}
    status_code, headers = 422, None
    try:
        data = UserCreate.model_validate(
            {"username": username, "email": email, "password": password}
        )
    except ValidationError as error:
        errors = field_errors(error, default_field="password")
    if password != password_confirm:
        errors.setdefault("password_confirm", "The two passwords do not match.")
    if not errors:
        try:
            user = await registrations.register(
                db,
                hasher,
                data,
                client_ip=client_ip(request),
                per_hour=settings.registrations_per_hour,
            )
        except AccountTaken as taken:
            errors = taken.fields
        except TooManyRegistrations as refused:
            # The form again, as typed, with the reason above it.
            errors = {"form": refused.detail}
            status_code, headers = refused.status_code, refused.headers
    if errors:
        return render(
            request,
            visitor,
            "auth/register.html",
            {"values": values, "errors": errors},
            status_code=status_code,
            headers=headers,
        )
    await confirmations.mail_at_registration(db, postman, user.id, settings=settings)
    await login_cookie.log_in(db, request, user.id, settings.session_max_age)
    flash(request, f"Welcome to Agora, {user.username}!")
    if settings.confirms_email:
        flash(request, "We mailed you a link: open it to confirm your address.")
    return redirect("/")


@router.get("/login")
async def login_form(request: Request, visitor: VisitorDep, next: str = "/") -> Response:
    if visitor.user:
        return redirect(safe_next(next))
    context = {"values": {"next": safe_next(next)}, "errors": {}}
    return render(request, visitor, "auth/login.html", context)


@router.post("/login")
async def login(
    request: Request,
    db: DbSession,
    hasher: Hasher,
    settings: SettingsDep,
    postman: PostmanDep,
    visitor: VisitorDep,
    username: FormText = "",
    password: FormText = "",
    next: FormText = "/",
) -> Response:
    values = {"username": username, "next": safe_next(next)}
    try:
        account = await accounts.authenticate(
            db,
            hasher,
            identifier=username,
            password=password,
            client_ip=client_ip(request),
            max_attempts=settings.login_max_attempts,
        )
    except (TooManyLogins, AccountSuspended) as refused:
        # The form again, as typed, with the wait above it.
        errors = {"form": refused.page_message or refused.detail}
        return render(
            request,
            visitor,
            "auth/login.html",
            {"values": values, "errors": errors},
            status_code=refused.status_code,
            headers=refused.headers,
        )
    if account is None:
        return render(
            request,
            visitor,
            "auth/login.html",
            {"values": values, "errors": {"form": LOGIN_FAILED}},
            status_code=422,
        )
    try:
        await login_cookie.log_in(db, request, account.id, settings.session_max_age)
    except AccountSuspended as refused:  # suspended since the password was checked
        errors = {"form": refused.detail}
        return render(
            request,
            visitor,
            "auth/login.html",
            {"values": values, "errors": errors},
            status_code=refused.status_code,
        )
    flash(request, f"Welcome back, {account.username}.")
    return redirect(safe_next(next))


@router.post("/logout")
async def logout(request: Request, db: DbSession) -> Response:
    await login_cookie.log_out(db, request)
    flash(request, "You have been logged out.")
    return redirect("/")

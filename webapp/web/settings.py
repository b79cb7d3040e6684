"""The settings page: change the password, see and end sessions, delete the account."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from starlette.responses import Response

from webapp import sessions, users
from webapp.deps import CurrentUser, DbSession, Hasher, VisitorDep, protect_form
from webapp.models import PASSWORD_MAX, PASSWORD_MIN, User, check_password_not_identity
from webapp.models import reject_control_characters as check_characters
from webapp.templating import flash, render
from webapp.web.auth import redirect

router = APIRouter(include_in_schema=False, dependencies=[Depends(protect_form)])

FormText = Annotated[str, Form()]
WRONG_CURRENT = "This is not your current password."


async def settings_page(
    request: Request,
    db: DbSession,
    visitor: VisitorDep,
    account: User,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    assert visitor.user is not None and visitor.session_id is not None
    context = {
        "email": account.email,
        "errors": errors or {},
        "sessions": await sessions.active(db, visitor.user.id),
        "this_session_id": visitor.session_id,
    }
    return render(request, "settings/index.html", context, status_code=status_code)


async def account_of(db: DbSession, user: CurrentUser) -> User:
    """The whole account (its hash and email), for the forms that need it."""
    account = await users.get_user(db, user.id)
    if account is None:  # deleted since the session was read
        raise HTTPException(404)
    return account


Account = Annotated[User, Depends(account_of)]


@router.get("/settings")
async def show_settings(
    request: Request, db: DbSession, visitor: VisitorDep, user: Account
) -> Response:
    return await settings_page(request, db, visitor, user)


def new_password_error(password: str, confirm: str, username: str, email: str) -> str | None:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        return f"Must be {PASSWORD_MIN}–{PASSWORD_MAX} characters."
    try:
        check_characters(password)
        check_password_not_identity(password, username, email)
    except ValueError as error:
        return str(error).capitalize() + "."
    if password != confirm:
        return "The two passwords do not match."
    return None


@router.post("/settings/password")
async def change_password(
    request: Request,
    db: DbSession,
    hasher: Hasher,
    visitor: VisitorDep,
    user: Account,
    current_password: FormText = "",
    new_password: FormText = "",
    new_password_confirm: FormText = "",
) -> Response:
    errors: dict[str, str] = {}
    if not await users.check_password(hasher, user, current_password):
        errors["current_password"] = WRONG_CURRENT
    problem = new_password_error(new_password, new_password_confirm, user.username, user.email)
    if problem:
        field = "new_password_confirm" if "match" in problem else "new_password"
        errors[field] = problem
    if errors:
        return await settings_page(request, db, visitor, user, errors, status_code=422)
    await users.change_password(db, hasher, user, new_password)
    await sessions.end_others(db, user.id, keep_id=visitor.session_id)
    await db.commit()
    flash(request, "Your password has been changed. Other sessions were logged out.")
    return redirect("/settings")


@router.post("/settings/logout-others")
async def logout_others(
    request: Request, db: DbSession, visitor: VisitorDep, user: Account
) -> Response:
    ended = await sessions.end_others(db, user.id, keep_id=visitor.session_id)
    users.rotate_stamp(user)  # and every API token with them
    db.add(user)
    await db.commit()
    flash(
        request, f"Logged out everywhere else ({ended} other session{'s' if ended != 1 else ''})."
    )
    return redirect("/settings")


@router.post("/settings/delete")
async def delete_account(
    request: Request,
    db: DbSession,
    hasher: Hasher,
    visitor: VisitorDep,
    user: Account,
    password: FormText = "",
) -> Response:
    if not await users.check_password(hasher, user, password):
        errors = {"password": WRONG_CURRENT}
        return await settings_page(request, db, visitor, user, errors, status_code=422)
    await users.delete_account(db, user)
    await sessions.end(db, request)
    flash(request, "Your account and everything in it have been deleted.")
    return redirect("/")

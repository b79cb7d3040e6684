"""The settings page: change the password or the address, see and end
sessions, delete the account. The rules are `webapp.rules.accounts`'; these
handlers turn forms into calls and errors into messages beside the fields."""

from __future__ import annotations

from fastapi import Request
from pydantic import ValidationError
from starlette.responses import Response

from webapp.core.area_routes import area_router
from webapp.core.client_address import client_ip
from webapp.core.deps import (
    DbEngine,
    DbSession,
    Hasher,
    PictureFormDep,
    PostmanDep,
    SettingsDep,
    Store,
    services_of,
)
from webapp.core.media_store import MediaStore
from webapp.core.zip_stream import zip_download
from webapp.errors import (
    AccountTaken,
    MailUnavailable,
    PictureRefused,
    SameAddress,
    TooManyAddressChanges,
    TooManyAttempts,
    WrongPassword,
)
from webapp.models import EmailAddress, PasswordChange, ProfileUpdate
from webapp.rules import accounts, export, mail_links, profiles, sessions
from webapp.web import login_cookie
from webapp.web.deps import (
    AccountSession,
    CurrentUser,
    SignedInAccount,
    Visitor,
    VisitorDep,
)
from webapp.web.pages import FormText, field_errors, flash, redirect, render

router = area_router()


async def settings_page(
    request: Request,
    db: DbSession,
    visitor: Visitor,
    signed_in: AccountSession,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    new_email: str = "",
    email_errors: dict[str, str] | None = None,
    profile: dict[str, str] | None = None,
    profile_errors: dict[str, str] | None = None,
    avatar_errors: dict[str, str] | None = None,
) -> Response:
    """`errors`: those of the forms that ask for a password; `new_email` and
    `email_errors`: the new address form as it was sent, and its errors."""
    account = signed_in.account
    context = {
        "email": account.email,
        "email_confirmed": account.email_confirmed,
        "errors": errors or {},
        "email_errors": email_errors or {},
        "new_email": new_email,
        "pending_email": await mail_links.pending_address(db, account.id),
        "mail_unavailable": services_of(request.app).postman is None,
        "sessions": await sessions.active(db, account.id),
        "this_session_id": signed_in.session_id,
        "profile": profile
        or {
            "display_name": account.display_name,
            "bio": account.bio,
            "website": account.website,
        },
        "profile_errors": profile_errors or {},
        "avatar_errors": avatar_errors or {},
        "account": account.me,
    }
    return render(
        request, visitor, "settings/index.html", context, status_code=status_code, headers=headers
    )


async def refused(
    request: Request,
    db: DbSession,
    visitor: Visitor,
    signed_in: AccountSession,
    field: str,
    error: WrongPassword | TooManyAttempts,
) -> Response:
    """The form again, with the password's problem beside `field`: 422 for a
    wrong one, 429 with Retry-After once there were too many."""
    errors = {field: error.page_message or error.detail}
    return await settings_page(
        request, db, visitor, signed_in, errors, error.status_code, error.headers
    )


@router.get("/settings")
async def show_settings(
    request: Request, db: DbSession, visitor: VisitorDep, signed_in: SignedInAccount
) -> Response:
    return await settings_page(request, db, visitor, signed_in)


@router.get("/settings/export")
async def export_data(db: DbSession, engine: DbEngine, store: Store, user: CurrentUser) -> Response:
    """The account's data as a ZIP, written while it is sent."""
    # The archive reads on a connection of its own for as long as it is
    # sent: the request's is given back first.
    await db.close()
    return zip_download(export.archive(engine, store, user.id), export.file_name(user.username))


@router.post("/settings/password")
async def change_password(
    request: Request,
    db: DbSession,
    hasher: Hasher,
    settings: SettingsDep,
    visitor: VisitorDep,
    signed_in: SignedInAccount,
    current_password: FormText = "",
    new_password: FormText = "",
    new_password_confirm: FormText = "",
) -> Response:
    account = signed_in.account
    form = {
        "current_password": current_password,
        "new_password": new_password,
        "new_password_confirm": new_password_confirm,
    }
    try:
        change = PasswordChange.model_validate(
            form, context={"username": account.username, "email": account.email}
        )
        await accounts.change_password(
            db,
            hasher,
            account,
            change,
            client_ip=client_ip(request),
            max_attempts=settings.login_max_attempts,
        )
    except ValidationError as error:
        errors = field_errors(error, default_field="new_password")
        return await settings_page(request, db, visitor, signed_in, errors, status_code=422)
    except (WrongPassword, TooManyAttempts) as error:
        return await refused(request, db, visitor, signed_in, "current_password", error)
    # Every session of the account ended; this browser gets a new one, with a
    # new id and CSRF token, so a copy of its old cookie is worth nothing.
    await login_cookie.log_in(db, request, account.id, settings.session_max_age)
    flash(request, "Your password has been changed. Other sessions were logged out.")
    return redirect("/settings")


@router.post("/settings/profile")
async def change_profile(
    request: Request,
    db: DbSession,
    visitor: VisitorDep,
    signed_in: SignedInAccount,
    display_name: FormText = "",
    bio: FormText = "",
    website: FormText = "",
) -> Response:
    form = {"display_name": display_name, "bio": bio, "website": website}
    try:
        data = ProfileUpdate.model_validate(form)
    except ValidationError as error:
        errors = field_errors(error, default_field="display_name")
        return await settings_page(
            request, db, visitor, signed_in, status_code=422, profile=form, profile_errors=errors
        )
    await profiles.update_profile(db, signed_in.account.id, data)
    flash(request, "Your profile is saved.")
    return redirect("/settings")


@router.post("/settings/avatar")
async def change_avatar(
    request: Request,
    db: DbSession,
    store: Store,
    visitor: VisitorDep,
    signed_in: SignedInAccount,
    form: PictureFormDep,
) -> Response:
    uploads = [upload for upload in form.uploads("avatar") if upload.size or upload.filename]
    try:
        if not uploads:
            raise PictureRefused("Choose a picture to upload.", field="avatar")
        await profiles.set_avatar(db, store, signed_in.account.id, uploads[0].path, "avatar")
    except PictureRefused as error:
        errors = {"avatar": error.detail}
        return await settings_page(
            request, db, visitor, signed_in, status_code=422, avatar_errors=errors
        )
    flash(request, "Your avatar is changed.")
    return redirect("/settings")


@router.post("/settings/avatar/delete")
async def delete_avatar(
    request: Request, db: DbSession, store: Store, signed_in: SignedInAccount
) -> Response:
    await profiles.delete_avatar(db, store, signed_in.account.id)
    flash(request, "Your avatar is removed.")
    return redirect("/settings")


@router.post("/settings/logout-others")
async def logout_others(request: Request, db: DbSession, signed_in: SignedInAccount) -> Response:
    ended = await accounts.log_out_elsewhere(
        db, signed_in.account.id, keep_session_id=signed_in.session_id
    )
    flash(
        request, f"Logged out everywhere else ({ended} other session{'s' if ended != 1 else ''})."
    )
    return redirect("/settings")


@router.post("/settings/delete")
async def delete_account(
    request: Request,
    db: DbSession,
    hasher: Hasher,
    settings: SettingsDep,
    visitor: VisitorDep,
    signed_in: SignedInAccount,
    password: FormText = "",
) -> Response:
    try:
        await accounts.delete_account(
            db,
            hasher,
            signed_in.account,
            password=password,
            client_ip=client_ip(request),
            max_attempts=settings.login_max_attempts,
            store=MediaStore(settings.media_dir),
        )
    except (WrongPassword, TooManyAttempts) as error:
        return await refused(request, db, visitor, signed_in, "password", error)
    await login_cookie.log_out(db, request)
    flash(request, "Your account and everything in it have been deleted.")
    return redirect("/")


@router.post("/settings/email")
async def ask_new_address(
    request: Request,
    db: DbSession,
    hasher: Hasher,
    settings: SettingsDep,
    postman: PostmanDep,
    visitor: VisitorDep,
    signed_in: SignedInAccount,
    email: FormText = "",
    current_password: FormText = "",
) -> Response:
    """A link to the new address, a notice to the old one; the address changes
    when the link is opened."""
    errors: dict[str, str] = {}
    status_code, headers = 422, None
    try:
        if postman is None:
            raise MailUnavailable
        address = EmailAddress.model_validate({"email": email})
        await mail_links.ask_new_address(
            db,
            hasher,
            signed_in.account,
            str(address.email),
            current_password,
            client_ip=client_ip(request),
            max_attempts=settings.login_max_attempts,
            site_url=settings.public_url,
        )
    except ValidationError as error:
        errors = field_errors(error, "email")
    except (WrongPassword, TooManyAttempts) as error:
        errors = {"current_password": error.page_message or error.detail}
        status_code, headers = error.status_code, error.headers
    except (SameAddress, MailUnavailable, TooManyAddressChanges) as error:
        errors = {"email": error.page_message or error.detail}
        status_code, headers = error.status_code, error.headers
    except AccountTaken as taken:
        errors, status_code = taken.fields, taken.status_code
    else:
        postman.wake()
        flash(request, f"A link to confirm the change is on its way to {address.email}.")
        return redirect("/settings")
    return await settings_page(
        request,
        db,
        visitor,
        signed_in,
        status_code=status_code,
        headers=headers,
        new_email=email,
        email_errors=errors,
    )


@router.post("/settings/email/cancel")
async def cancel_new_address(
    request: Request, db: DbSession, signed_in: SignedInAccount
) -> Response:
    await mail_links.cancel_new_address(db, signed_in.account.id)
    flash(request, "The change of address is cancelled: the link sent no longer works.")
    return redirect("/settings")


@router.get("/settings/email/{token}")
async def confirm_new_address(
    request: Request,
    db: DbSession,
    settings: SettingsDep,
    postman: PostmanDep,
    visitor: VisitorDep,
    token: str,
) -> Response:
    """Anyone with the link: it is the proof that the new address is theirs.
    The old address is told."""
    try:
        changed = await mail_links.confirm_new_address(
            db, token, settings.public_url, tell=postman is not None
        )
    except AccountTaken as taken:
        message = f"{taken.fields['email']} Ask for another address on your settings page."
        return render(
            request,
            visitor,
            "error.html",
            {"status_code": 409, "title": "Address taken", "message": message},
            status_code=409,
        )
    if changed is None:
        return render(
            request, visitor, "auth/link_not_working.html", {"kind": "email"}, status_code=400
        )
    if postman is not None:
        postman.wake()
    flash(request, f"Your address is now {changed.new_email}.")
    return redirect("/settings" if visitor.user_id == changed.user_id else "/login")

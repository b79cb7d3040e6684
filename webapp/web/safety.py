"""Pages for personal safety: blocking and muting someone (from their
profile), the list of both with a button to undo each (`/settings/people`),
and the link that confirms an address, with the button that sends it again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from starlette.responses import Response

from webapp.core.area_routes import area_router
from webapp.core.deps import DbSession, PostmanDep, SettingsDep
from webapp.errors import CannotBlockSelf, CannotMuteSelf, MailUnavailable
from webapp.rules import confirmations, safety
from webapp.web.cache_policy import Pages
from webapp.web.deps import CurrentUser, VisitorDep
from webapp.web.pages import FormText, flash, redirect, render, safe_next
from webapp.web.profile_page import person, profile_page

router = area_router()

NO_STORE = {"Cache-Control": "no-store"}
# Where the forms may send the visitor back to; anywhere else, the profile.
PEOPLE_PAGE = "/settings/people"

Change = Callable[[], Awaitable[None]]


async def _change(
    request: Request,
    db: DbSession,
    visitor: VisitorDep,
    pages: Pages,
    user_id: int,
    change: Change,
    said: str,
    back: str,
) -> Response:
    """Block, unblock, mute or unmute someone (UserNotFound: 404), then back to
    where the form was (their profile, or the people page) saying so; oneself:
    one's own profile, saying why not (422)."""
    someone = await person(db, pages, user_id) if user_id != visitor.user_id else None
    try:
        await change()
    except (CannotBlockSelf, CannotMuteSelf) as error:
        return await profile_page(
            request, db, visitor, pages, user_id, error=error.page_message, status_code=422
        )
    flash(request, said.format(someone.username if someone else ""))
    target = safe_next(back)
    return redirect(target if target == PEOPLE_PAGE else f"/users/{user_id}")


# What each form does, and what the page says after it. A rule's arguments: the
# database, the person acting, the person they act on.
Rule = Callable[[DbSession, int, int], Awaitable[None]]
CHANGES: dict[str, tuple[Rule, str]] = {
    "block": (
        lambda db, me, them: safety.block(db, blocker_id=me, blocked_id=them),
        "You blocked {}. They are not told.",
    ),
    "unblock": (
        lambda db, me, them: safety.unblock(db, blocker_id=me, blocked_id=them),
        "You no longer block {}.",
    ),
    "mute": (
        lambda db, me, them: safety.mute(db, muter_id=me, muted_id=them),
        "You muted {}. They are not told.",
    ),
    "unmute": (
        lambda db, me, them: safety.unmute(db, muter_id=me, muted_id=them),
        "You no longer mute {}.",
    ),
}


def _route(rule: Rule, said: str) -> Callable[..., Awaitable[Response]]:
    async def endpoint(
        request: Request,
        user_id: int,
        db: DbSession,
        visitor: VisitorDep,
        user: CurrentUser,
        pages: Pages,
        next: FormText = "",
    ) -> Response:
        async def change() -> None:
            await rule(db, user.id, user_id)

        return await _change(request, db, visitor, pages, user_id, change, said, next)

    return endpoint


for _action, (_rule, _said) in CHANGES.items():
    router.add_api_route(
        f"/users/{{user_id:id}}/{_action}",
        _route(_rule, _said),
        methods=["POST"],
        name=f"{_action}_user",
    )


@router.get("/settings/people")
async def people_settings(
    request: Request, db: DbSession, visitor: VisitorDep, user: CurrentUser
) -> Response:
    """The people one blocks and mutes, each with a button that undoes it."""
    context = {
        "blocked": await safety.blocked_people(db, user.id),
        "muted": await safety.muted_people(db, user.id),
        "back": PEOPLE_PAGE,
    }
    return render(request, visitor, "settings/people.html", context)


# --- confirming an address ---------------------------------------------------------


@router.get("/confirm-email/{token}")
async def confirm_email(
    request: Request, db: DbSession, visitor: VisitorDep, token: str
) -> Response:
    """Anyone holding the link: it proves the address is the account's."""
    if not await confirmations.confirm(db, token):
        return render(
            request,
            visitor,
            "auth/link_not_working.html",
            {"kind": "confirm"},
            status_code=400,
            headers=NO_STORE,
        )
    flash(request, "Your address is confirmed. Welcome!")
    response = redirect("/" if visitor.user else "/login")
    response.headers.update(NO_STORE)
    return response


@router.post("/settings/confirm-email")
async def send_confirmation(
    request: Request,
    db: DbSession,
    settings: SettingsDep,
    postman: PostmanDep,
    user: CurrentUser,
) -> Response:
    """The link again (TooManyConfirmationMails past the hour's mails: 429)."""
    if postman is None:
        raise MailUnavailable
    mail = await confirmations.mail_link(db, user.id, settings.public_url)
    if mail is None:
        flash(request, "Your address is already confirmed.")
    else:
        postman.wake()
        flash(request, "A new link is on its way to your address. It works for 24 hours.")
    return redirect("/settings")

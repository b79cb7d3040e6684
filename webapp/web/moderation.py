"""The moderators' pages: the queue of open reports, the actions on posts and
comments, and the public moderation log. Every route reads the visitor's role
with their session on every request; anyone but a moderator gets 404."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from pydantic import ValidationError
from starlette.responses import Response

from webapp.core.area_routes import area_router
from webapp.core.deps import DbSession
from webapp.errors import NotFound
from webapp.models import ModerationActionCreate
from webapp.rules import moderation, roles, suspensions
from webapp.web.deps import Visitor, VisitorDep
from webapp.web.pages import FormText, field_errors, flash, page_number, redirect, render

router = area_router()

DONE = {
    "hide": "Hidden: {}.",
    "restore": "Restored: {}.",
    "dismiss": "Reports dismissed: {}.",
    "suspend": "Suspended: {}.",
    "unsuspend": "Suspension lifted: {}.",
}


def moderator_of(visitor: Visitor) -> moderation.Moderator:
    if visitor.user is None or not roles.moderates(visitor.role):
        raise NotFound
    return moderation.Moderator(visitor.user.id, visitor.user.username, visitor.role)


@router.get("/moderation")
async def queue(request: Request, db: DbSession, visitor: VisitorDep) -> Response:
    moderator_of(visitor)
    return await queue_page(request, db, visitor)


async def queue_page(
    request: Request,
    db: DbSession,
    visitor: Visitor,
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    items = await moderation.queue(db)
    context = {"items": items, "errors": errors or {}}
    return render(request, visitor, "moderation/queue.html", context, status_code=status_code)


async def act(
    request: Request,
    db: DbSession,
    visitor: Visitor,
    action: str,
    kind: str,
    target_id: int,
    reason: str,
    days: str = "",
) -> Response:
    moderator = moderator_of(visitor)
    fields: dict[str, object] = {
        "action": action,
        "target_type": kind,
        "target_id": target_id,
        "reason": reason,
    }
    if days.strip():
        if not days.strip().isdecimal() or len(days.strip()) > 5:
            message = f"Days: a whole number from 1 to {suspensions.MAX_DAYS}, or empty."
            return await queue_page(request, db, visitor, errors={"days": message}, status_code=422)
        fields["days"] = int(days.strip())
    try:
        data = ModerationActionCreate.model_validate(fields)
        entry = await moderation.act(db, moderator=moderator, data=data)
    except ValidationError as error:
        return await queue_page(
            request, db, visitor, errors=field_errors(error, "reason"), status_code=422
        )
    except moderation.ReasonMissing as error:
        return await queue_page(
            request, db, visitor, errors={"reason": str(error)}, status_code=422
        )
    if entry is None:
        flash(request, "Nothing changed: it was already so.")
    else:
        flash(request, DONE[action].format(entry.target_label))
    return redirect("/moderation")


@router.post("/moderation/reports/{report_id:id}/dismiss")
async def dismiss(request: Request, report_id: int, db: DbSession, visitor: VisitorDep) -> Response:
    moderator_of(visitor)
    found = await moderation.report_target(db, report_id)
    if found is None:
        raise NotFound
    return await act(request, db, visitor, "dismiss", found[0], found[1], "")


def _hide_or_restore(action: str, kind: str) -> Callable[..., Awaitable[Response]]:
    async def endpoint(
        request: Request, target_id: int, db: DbSession, visitor: VisitorDep, reason: FormText = ""
    ) -> Response:
        return await act(request, db, visitor, action, kind, target_id, reason)

    return endpoint


# A moderator hides or restores a post or a comment from the queue or its page.
for _kind in ("post", "comment"):
    for _action in ("hide", "restore"):
        router.add_api_route(
            f"/moderation/{_kind}s/{{target_id:id}}/{_action}",
            _hide_or_restore(_action, _kind),
            methods=["POST"],
            name=f"{_action}_{_kind}",
        )


@router.post("/moderation/users/{user_id:id}/suspend")
async def suspend_user(
    request: Request,
    user_id: int,
    db: DbSession,
    visitor: VisitorDep,
    reason: FormText = "",
    days: FormText = "",
) -> Response:
    """`days` 1-3650, or empty: until a moderator lifts it."""
    return await act(request, db, visitor, "suspend", "user", user_id, reason, days)


@router.post("/moderation/users/{user_id:id}/unsuspend")
async def unsuspend_user(
    request: Request, user_id: int, db: DbSession, visitor: VisitorDep, reason: FormText = ""
) -> Response:
    return await act(request, db, visitor, "unsuspend", "user", user_id, reason)


@router.get("/moderation/log")
async def moderation_log(
    request: Request, db: DbSession, visitor: VisitorDep, page: str = "1"
) -> Response:
    """Anyone may read it: who did what, to what, and why; never who reported."""
    number = page_number(page)
    entries = await moderation.log(
        db, offset=(number - 1) * moderation.LOG_PAGE, limit=moderation.LOG_PAGE + 1
    )
    context = {
        "entries": entries[: moderation.LOG_PAGE],
        "page": number,
        "more": len(entries) > moderation.LOG_PAGE,
    }
    return render(request, visitor, "moderation/log.html", context)

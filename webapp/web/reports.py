"""The Report forms under posts, comments and profiles: a reason and a note,
then back to what was reported with a message."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.responses import Response

from webapp.core.area_routes import area_router
from webapp.core.deps import DbSession, SettingsDep
from webapp.errors import CannotReportOwn
from webapp.models import NOTE_MAX, ReportCreate
from webapp.rules import reports
from webapp.rules.moderation import Target
from webapp.web.deps import ConfirmedUser, CurrentUser, Visitor, VisitorDep
from webapp.web.pages import FormText, field_errors, flash, redirect, render

router = area_router()
REASONS = (
    ("spam", "Spam"),
    ("harassment", "Harassment"),
    ("illegal", "Illegal content"),
    ("other", "Something else"),
)


# Where each kind of thing is, and so its Report form.
PLACES = {"post": "/posts", "comment": "/comments", "user": "/users"}


def back_to(target: Target) -> str:
    return f"{PLACES[target.kind]}/{target.id}"


async def report_form(
    request: Request,
    db: AsyncSession,
    visitor: Visitor,
    kind: str,
    target_id: int,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    assert visitor.user is not None
    target = await reports.visible_target(db, kind, target_id, visitor.user.id)
    context = {
        "target": target,
        "back": back_to(target),
        "reasons": REASONS,
        "values": values or {"reason": "", "note": ""},
        "errors": errors or {},
        "note_max": NOTE_MAX,
    }
    return render(request, visitor, "moderation/report.html", context, status_code=status_code)


async def send(
    request: Request,
    db: AsyncSession,
    visitor: Visitor,
    user_id: int,
    auto_hide: int,
    kind: str,
    target_id: int,
    values: dict[str, str],
) -> Response:
    """File the report, then back to what was reported (its address read
    first: enough reports hide it from the reporter too)."""
    try:
        data = ReportCreate.model_validate({**values, "target_type": kind, "target_id": target_id})
    except ValidationError as error:
        errors = field_errors(error, default_field="reason")
        return await report_form(
            request, db, visitor, kind, target_id, values=values, errors=errors, status_code=422
        )
    back = back_to(await reports.visible_target(db, kind, target_id, user_id))
    try:
        _, new = await reports.report(db, reporter_id=user_id, data=data, auto_hide=auto_hide)
    except CannotReportOwn as error:
        errors = {"form": error.page_message or error.detail}
        return await report_form(
            request, db, visitor, kind, target_id, values=values, errors=errors, status_code=422
        )
    flash(
        request,
        "Thank you: moderators will look at your report."
        if new
        else "You have already reported this; moderators will look at it.",
    )
    return redirect(back)


def _form_route(kind: str) -> Callable[..., Awaitable[Response]]:
    async def endpoint(
        request: Request, target_id: int, db: DbSession, visitor: VisitorDep, user: CurrentUser
    ) -> Response:
        return await report_form(request, db, visitor, kind, target_id)

    return endpoint


def _send_route(kind: str) -> Callable[..., Awaitable[Response]]:
    async def endpoint(
        request: Request,
        target_id: int,
        db: DbSession,
        visitor: VisitorDep,
        user: ConfirmedUser,
        settings: SettingsDep,
        reason: FormText = "",
        note: FormText = "",
    ) -> Response:
        values = {"reason": reason, "note": note}
        hide = settings.auto_hide_reports
        return await send(request, db, visitor, user.id, hide, kind, target_id, values)

    return endpoint


for _kind, _place in PLACES.items():
    _path = f"{_place}/{{target_id:id}}/report"
    router.add_api_route(_path, _form_route(_kind), methods=["GET"], name=f"report_{_kind}_form")
    router.add_api_route(_path, _send_route(_kind), methods=["POST"], name=f"report_{_kind}")

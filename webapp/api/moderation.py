"""Moderation through the API: reports (anyone with a token), the moderators'
list of reports and their actions, and the public log. The caller's role is
read with the token's account on every request."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import HTTPException, Query
from fastapi.responses import JSONResponse

from webapp.api.deps import (
    NOT_CONFIRMED,
    UNAUTHORIZED,
    UNREADABLE_BODY,
    ApiUser,
    ConfirmedApiUser,
    Limit,
    Skip,
    error,
)
from webapp.core.area_routes import area_router
from webapp.core.deps import DbSession, SettingsDep
from webapp.models import (
    ModerationActionCreate,
    ModerationActionPublic,
    ReportCreate,
    ReportPublic,
)
from webapp.rules import moderation, reports, roles

router = area_router(tags=["moderation"])


def invalid(description: str) -> dict[str, Any]:
    """A 422 that is either FastAPI's list of problems with the body, or one
    sentence from the rules (your own post; an action without its reason)."""
    refs = ("HTTPValidationError", "ErrorDetail")
    schema = {"anyOf": [{"$ref": f"#/components/schemas/{name}"} for name in refs]}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


@router.post(
    "/reports",
    status_code=201,
    response_model=ReportPublic,
    responses={
        **UNAUTHORIZED,
        **UNREADABLE_BODY,
        **NOT_CONFIRMED,
        200: {"model": ReportPublic, "description": "Already reported: the open report"},
        404: error("Nothing to report there, or not visible to you"),
        422: invalid("Invalid, or your own post, comment or account"),
        429: error("More than 20 reports in an hour"),
    },
)
async def create_report(
    data: ReportCreate, db: DbSession, user: ConfirmedApiUser, settings: SettingsDep
) -> ReportPublic | JSONResponse:
    """Report a post, a comment or a person; a repeat while yours is open answers 200."""
    report, new = await reports.report(
        db, reporter_id=user.id, data=data, auto_hide=settings.auto_hide_reports
    )
    if not new:
        return JSONResponse(report.model_dump(mode="json"), status_code=200)
    return report


@router.get(
    "/moderation/reports",
    response_model=list[ReportPublic],
    responses={**UNAUTHORIZED, 404: error("Not a moderator")},
)
async def list_reports(
    db: DbSession,
    user: ApiUser,
    status: Literal["open", "closed"] = "open",
    limit: Limit = 50,
    skip: Skip = 0,
) -> list[ReportPublic]:
    """Moderators: reports, oldest first."""
    roles.require_moderator(user.role)
    found = await moderation.reports_list(db, status=status, offset=skip, limit=limit)
    return [ReportPublic.model_validate(report, from_attributes=True) for report in found]


@router.post(
    "/moderation/actions",
    status_code=201,
    response_model=ModerationActionPublic,
    responses={
        **UNAUTHORIZED,
        **UNREADABLE_BODY,
        200: {"model": ModerationActionPublic, "description": "Already so: nothing changed"},
        403: error("Acting on an admin, or on yourself"),
        404: error("Not a moderator, or no such target"),
        422: invalid("Invalid, or an action without the reason it needs"),
    },
)
async def take_action(
    data: ModerationActionCreate, db: DbSession, user: ApiUser
) -> ModerationActionPublic | JSONResponse:
    """Hide or restore a post or comment, suspend (`days` 1-3650, or none:
    until lifted) or unsuspend a person, or dismiss the reports on a target; a
    repeat of what is already so changes nothing and logs nothing (200, with
    the last entry of that action)."""
    roles.require_moderator(user.role)
    moderator = moderation.Moderator(user.id, user.username, user.role)
    try:
        entry = await moderation.act(db, moderator=moderator, data=data)
    except moderation.ReasonMissing as problem:
        raise HTTPException(422, str(problem)) from None
    if entry is None:
        last = await moderation.last_entry(db, data.target_type, data.target_id, data.action)
        if last is None:
            return JSONResponse({"detail": "Nothing changed"}, status_code=200)
        return JSONResponse(last.model_dump(mode="json"), status_code=200)
    return entry


@router.get("/moderation/log", response_model=list[ModerationActionPublic])
async def moderation_log(
    db: DbSession,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    skip: Skip = 0,
) -> list[ModerationActionPublic]:
    """Anyone: every moderation action, newest first; never who reported."""
    return await moderation.log(db, offset=skip, limit=limit)

"""Reports: a logged-in person asks moderators to look at a post, a comment or
a person they can see. One open report per reporter and target (a partial
unique index settles a double submit), at most REPORTS_PER_HOUR an hour, and
enough reports from day-old accounts hide a post or comment until a moderator
decides (auto-hide, `AUTO_HIDE_REPORTS`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, insert
from sqlalchemy import select as core_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.core.db import rows, transaction
from webapp.core.removals import taken_away
from webapp.errors import (
    CannotReportOwn,
    CommentNotFound,
    DomainError,
    PostNotFound,
    ReportTargetNotFound,
    TooManyReports,
    UserNotFound,
)
from webapp.models import Comment, Post, Report, ReportCreate, ReportPublic, User, utcnow
from webapp.rules import comments, moderation, posts

REPORTS_PER_HOUR = 20
WINDOW = timedelta(hours=1)
# Accounts younger than this do not count towards hiding anything.
OLD_ENOUGH = timedelta(days=1)

_REPORT: Any = core_select(
    col(Report.id),
    col(Report.target_type),
    col(Report.target_id),
    col(Report.reason),
    col(Report.note),
    col(Report.status),
    col(Report.created_at),
)


def as_public(row: Any) -> ReportPublic:
    return ReportPublic.model_construct(**row._mapping)


async def visible_target(
    db: AsyncSession, kind: str, target_id: int, viewer_id: int
) -> moderation.Target:
    """The target, if the reporter can see it; ReportTargetNotFound if not."""
    try:
        target = await moderation.find_target(db, kind, target_id)
    except (PostNotFound, CommentNotFound, UserNotFound):
        raise ReportTargetNotFound from None
    if kind != "user":
        condition: Any = posts.visible_to(viewer_id)
        statement: Any = core_select(col(Post.id)).where(col(Post.id) == target.post_id, condition)
        if kind == "comment":
            statement = statement.join(Comment, col(Comment.post_id) == col(Post.id)).where(
                col(Comment.id) == target_id, comments.shown_to(viewer_id)
            )
        if (await rows(db, statement)).first() is None:
            raise ReportTargetNotFound
    return target


async def _open_report(
    db: AsyncSession, reporter_id: int, kind: str, target_id: int
) -> ReportPublic | None:
    statement = _REPORT.where(
        col(Report.reporter_id) == reporter_id,
        col(Report.target_type) == kind,
        col(Report.target_id) == target_id,
        col(Report.status) == "open",
    )
    row = (await rows(db, statement)).first()
    return None if row is None else as_public(row)


async def report(
    db: AsyncSession, *, reporter_id: int, data: ReportCreate, auto_hide: int
) -> tuple[ReportPublic, bool]:
    """File a report: (the report, whether it is new). A repeat while one's
    report is open gives that one back and changes nothing."""
    target = await visible_target(db, data.target_type, data.target_id, reporter_id)
    if target.owner_id == reporter_id:
        raise CannotReportOwn
    existing = await _open_report(db, reporter_id, target.kind, target.id)
    if existing is not None:
        return existing, False
    now = utcnow()

    async def write() -> tuple[ReportPublic, bool]:
        # The target's row, held until this commits: a deletion under way is
        # waited for (and then nothing is found), and one that comes later
        # waits, then takes the report with it (migration 0015's triggers).
        table: Any = {"post": Post, "comment": Comment}.get(target.kind, User)
        held = (
            core_select(col(table.id))
            .where(col(table.id) == target.id)
            .with_for_update(key_share=True)
        )
        if target.kind == "comment":  # nor a "[deleted]" placeholder since
            held = held.where(col(Comment.deleted).is_(False))
        if (await rows(db, held)).first() is None:
            raise ReportTargetNotFound
        recent = core_select(func.count(), func.min(col(Report.created_at))).where(
            col(Report.reporter_id) == reporter_id, col(Report.created_at) > now - WINDOW
        )
        found: Any = (await rows(db, recent)).one()
        count, oldest = found
        if count >= REPORTS_PER_HOUR:
            raise TooManyReports(max(1, int((oldest + WINDOW - now).total_seconds()) + 1))
        values: dict[str, Any] = {
            "reporter_id": reporter_id,
            "target_type": target.kind,
            "target_id": target.id,
            "reason": data.reason,
            "note": data.note,
            "status": "open",
            "created_at": now,
        }
        report_id = (
            await db.exec(insert(Report).values(values).returning(col(Report.id)))
        ).scalar_one()
        hid = False
        if auto_hide and target.kind != "user":
            hid = await _auto_hide(db, target, auto_hide, now)
        public = ReportPublic.model_construct(
            id=report_id, **{k: v for k, v in values.items() if k != "reporter_id"}
        )
        return public, hid

    try:
        public, hid = await transaction(db, write)
    except IntegrityError:  # the same report, sent twice at once: the first one stands
        existing = await _open_report(db, reporter_id, target.kind, target.id)
        if existing is None:
            raise DomainError("The report could not be filed; please try again.") from None
        return existing, False
    if hid:
        taken_away()
    return public, True


async def _auto_hide(db: AsyncSession, target: moderation.Target, threshold: int, now: Any) -> bool:
    """Hide the target pending review once `threshold` people whose accounts
    are a day old have open reports on it; True if it was hidden now."""
    reporters = (
        core_select(func.count(func.distinct(col(Report.reporter_id))))
        .join(User, col(User.id) == col(Report.reporter_id))
        .where(
            col(Report.target_type) == target.kind,
            col(Report.target_id) == target.id,
            col(Report.status) == "open",
            col(User.created_at) <= now - OLD_ENOUGH,
        )
    )
    if (await rows(db, reporters)).one()[0] < threshold:
        return False
    fresh = await moderation.find_target(db, target.kind, target.id)
    if fresh.hidden is not None:
        return False
    return await moderation.set_hidden(db, fresh, moderation.BY_REPORTS, None)

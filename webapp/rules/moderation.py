"""What moderators do: hide and restore posts and comments, suspend and
unsuspend people (`webapp.rules.suspensions`), dismiss reports, and the
public log of every action that took effect.

A hidden post or comment keeps its row, with `hidden` saying who hid it
(`reports`: the reports of day-old accounts, pending review; `moderators`)
and the reason. Who may still see it is decided in one place for each:
`webapp.rules.posts.LISTED` / `visible_to` and `webapp.rules.comments.SHOWN`.
A hidden comment is taken out of its post's count, and put back on restore.
Each change is a conditional UPDATE, so that two moderators acting at once
change the row once and log once; the database's triggers move the data
versions and tell the sockets (migration 0015).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, true, update
from sqlalchemy import select as core_select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.core.db import rows, transaction
from webapp.core.removals import taken_away
from webapp.errors import CommentNotFound, PostNotFound, UserNotFound
from webapp.models import (
    MAX_ID,
    TITLE_MAX,
    Comment,
    ModerationAction,
    ModerationActionCreate,
    ModerationActionPublic,
    Notification,
    Post,
    Report,
    User,
    UserPublic,
    utcnow,
)
from webapp.rules import roles, suspensions

BY_REPORTS, BY_MODERATORS = "reports", "moderators"
LOG_PAGE = 50
# The actions that must say why.
NEEDS_REASON = frozenset({"hide", "restore", "suspend"})


class ReasonMissing(ValueError):
    """An action that must say why, without a reason (a form error, 422)."""


@dataclass(frozen=True)
class Target:
    """What an action or a report is about, as it is now."""

    kind: str  # post, comment or user
    id: int
    owner_id: int  # the author, or the person
    owner_role: str
    label: str  # a post's title, a person's name, "a comment on <title>"
    hidden: str | None = None
    post_id: int | None = None  # a comment's post; a post's own id
    published: bool = True
    suspended: bool = False  # a person suspended now


async def find_target(db: AsyncSession, kind: str, target_id: int) -> Target:
    """The post, comment or person, whoever may see it; PostNotFound,
    CommentNotFound or UserNotFound if there is none."""
    if not 0 < target_id <= MAX_ID:
        raise {"post": PostNotFound, "comment": CommentNotFound}.get(kind, UserNotFound)
    if kind == "post":
        statement: Any = (
            core_select(
                col(Post.owner_id),
                col(User.role),
                col(Post.title),
                col(Post.hidden),
                col(Post.published),
            )
            .join(User, col(User.id) == col(Post.owner_id))
            .where(col(Post.id) == target_id)
        )
        row: Any = (await rows(db, statement)).first()
        if row is None:
            raise PostNotFound
        owner, role, title, hidden, published = row
        return Target("post", target_id, owner, role, title, hidden, target_id, published)
    if kind == "comment":
        statement = (
            core_select(
                col(Comment.author_id),
                col(User.role),
                col(Post.title),
                col(Comment.hidden),
                col(Comment.post_id),
                col(Post.published),
            )
            .join(User, col(User.id) == col(Comment.author_id))
            .join(Post, col(Post.id) == col(Comment.post_id))
            .where(col(Comment.id) == target_id, col(Comment.deleted).is_(False))
        )
        row = (await rows(db, statement)).first()
        if row is None:  # gone, or a "[deleted]" placeholder: nothing left to judge
            raise CommentNotFound
        author, role, title, hidden, post_id, published = row
        label = f"a comment on {title}"[:TITLE_MAX]
        return Target("comment", target_id, author, role, label, hidden, post_id, published)
    user, role = await roles.role_of(db, target_id)
    until = (
        await rows(db, core_select(col(User.suspended_until)).where(col(User.id) == target_id))
    ).one()[0]
    return Target(
        "user", target_id, user.id, role, user.username, suspended=suspensions.is_suspended(until)
    )


async def set_hidden(
    db: AsyncSession, target: Target, hidden: str | None, reason: str | None
) -> bool:
    """Hide a post or comment (`hidden` says by whom) or show it again (None),
    inside the caller's unit of work: True when the row changed. A comment
    leaves its post's count when hidden and comes back when shown; a
    "[deleted]" placeholder is neither (it counts for nothing already).

    Whether the count moves is decided by the UPDATE that changes the row, not
    by a read before it: a hide racing an auto-hide, or a deletion, finds the
    row as the other left it (PostgreSQL re-reads it under the row's lock)."""
    table: Any = Post if target.kind == "post" else Comment
    alive: Any = col(Comment.deleted).is_(False) if target.kind == "comment" else true()
    shown = col(table.hidden).is_(None)

    async def change(condition: Any) -> bool:
        statement = (
            update(table)
            .where(col(table.id) == target.id, alive, condition)
            .values(hidden=hidden, hidden_reason=reason)
            .returning(col(table.id))
        )
        return (await db.exec(statement)).first() is not None

    if hidden is None:
        flipped = await change(col(table.hidden).is_not(None))
    else:
        flipped = await change(shown)
        if not flipped:  # hidden already: by reports, now by moderators
            return await change(col(table.hidden) != hidden)
    if flipped and target.kind == "comment":
        await db.exec(
            update(Post)
            .where(col(Post.id) == target.post_id)
            .values(comments=col(Post.comments) + (+1 if hidden is None else -1))
        )
    return flipped


async def close_reports(db: AsyncSession, kind: str, target_id: int) -> int:
    """Close every open report on the target: how many there were."""
    closed = await db.exec(
        update(Report)
        .where(
            col(Report.target_type) == kind,
            col(Report.target_id) == target_id,
            col(Report.status) == "open",
        )
        .values(status="closed", closed_at=utcnow())
    )
    return int(closed.rowcount or 0)


@dataclass(frozen=True)
class Moderator:
    id: int
    username: str
    role: str


async def act(
    db: AsyncSession, *, moderator: Moderator, data: ModerationActionCreate
) -> ModerationActionPublic | None:
    """Carry out an action and log it; None when it changed nothing (a hide of
    a hidden post, a dismissal with no open report): nothing is logged then.
    NotFound (404) for anyone but a moderator; CannotActOnSelf and
    CannotActOnAdmin (403); ReasonMissing for an action that needs a reason."""
    roles.require_moderator(moderator.role)
    if data.action in NEEDS_REASON and not data.reason:
        raise ReasonMissing("A reason is required.")
    if data.target_type == "user" and data.action in ("hide", "restore"):
        raise ReasonMissing("Only posts and comments are hidden or restored.")
    if data.target_type != "user" and data.action in ("suspend", "unsuspend"):
        raise ReasonMissing("Only people are suspended.")
    target = await find_target(db, data.target_type, data.target_id)
    roles.check_may_act(
        actor_id=moderator.id,
        actor_role=moderator.role,
        target_id=target.owner_id,
        target_role=target.owner_role,
    )

    async def write() -> tuple[ModerationActionPublic | None, bool]:
        removed = False
        if data.action == "hide":
            changed = await set_hidden(db, target, BY_MODERATORS, data.reason)
            removed = changed
        elif data.action == "restore":
            changed = await set_hidden(db, target, None, None)
        elif data.action == "suspend":
            until = suspensions.end_of(data.days, utcnow())
            changed = await suspensions.suspend(db, target.id, until=until, reason=data.reason)
            removed = changed
        elif data.action == "unsuspend":
            changed = await suspensions.unsuspend(db, target.id)
        else:  # dismiss: the reports go; what they alone hid comes back
            changed = await close_reports(db, target.kind, target.id) > 0
            if changed and target.kind != "user":
                fresh = await find_target(db, target.kind, target.id)
                if fresh.hidden == BY_REPORTS:
                    await set_hidden(db, fresh, None, None)
        if not changed:
            return None, False
        await close_reports(db, target.kind, target.id)
        entry = await _log(db, moderator, target, data)
        if data.action != "dismiss":
            await db.exec(
                insert(Notification).values(
                    recipient_id=target.owner_id,
                    kind="moderation",
                    actor_id=moderator.id,
                    post_id=target.post_id,
                    comment_id=target.id if target.kind == "comment" else None,
                    created_at=entry.created_at,
                    read=False,
                    action=data.action,
                    reason=data.reason,
                )
            )
        return entry, removed

    entry, removed = await transaction(db, write)
    if removed:
        taken_away()
    return entry


async def _log(
    db: AsyncSession, moderator: Moderator, target: Target, data: ModerationActionCreate
) -> ModerationActionPublic:
    now = utcnow()
    values = {
        "moderator_id": moderator.id,
        "moderator_name": moderator.username,
        "action": data.action,
        "target_type": target.kind,
        "target_id": target.id,
        "target_label": target.label[:TITLE_MAX],
        "reason": data.reason,
        "created_at": now,
    }
    statement = insert(ModerationAction).values(values).returning(col(ModerationAction.id))
    entry_id = (await db.exec(statement)).scalar_one()
    me = await roles.role_of(db, moderator.id)
    return ModerationActionPublic.model_construct(
        id=entry_id,
        action=data.action,
        target_type=target.kind,
        target_id=target.id,
        target_label=values["target_label"],
        reason=data.reason,
        moderator=me[0],
        created_at=now,
    )


async def last_entry(
    db: AsyncSession, kind: str, target_id: int, action: str
) -> ModerationActionPublic | None:
    """The newest log entry of this action on this target (what a repeated
    action answers with)."""
    found = await _entries(
        db,
        and_(
            col(ModerationAction.target_type) == kind,
            col(ModerationAction.target_id) == target_id,
            col(ModerationAction.action) == action,
        ),
        offset=0,
        limit=1,
    )
    return found[0] if found else None


_LOG: Any = core_select(
    col(ModerationAction.id),
    col(ModerationAction.action),
    col(ModerationAction.target_type),
    col(ModerationAction.target_id),
    col(ModerationAction.target_label),
    col(ModerationAction.reason),
    col(ModerationAction.created_at),
    col(ModerationAction.moderator_name),
    col(User.id).label("moderator_id"),
    col(User.created_at).label("moderator_created_at"),
).outerjoin(User, col(User.id) == col(ModerationAction.moderator_id))


async def _entries(
    db: AsyncSession, condition: Any, *, offset: int, limit: int
) -> list[ModerationActionPublic]:
    statement = (
        _LOG.where(condition)
        .order_by(col(ModerationAction.created_at).desc(), col(ModerationAction.id).desc())
        .offset(offset)
        .limit(limit)
    )
    found = []
    for row in await rows(db, statement):
        moderator = None
        if row.moderator_id is not None:
            moderator = UserPublic.model_construct(
                id=row.moderator_id,
                username=row.moderator_name,
                created_at=row.moderator_created_at,
            )
        found.append(
            ModerationActionPublic.model_construct(
                id=row.id,
                action=row.action,
                target_type=row.target_type,
                target_id=row.target_id,
                target_label=row.target_label,
                reason=row.reason,
                moderator=moderator,
                created_at=row.created_at,
            )
        )
    return found


async def log(db: AsyncSession, *, offset: int, limit: int) -> list[ModerationActionPublic]:
    """Every action, newest first: never who reported."""
    return await _entries(db, True, offset=offset, limit=limit)


async def log_count(db: AsyncSession) -> int:
    from sqlalchemy import func

    return (await rows(db, core_select(func.count()).select_from(ModerationAction))).one()[0]


@dataclass(frozen=True)
class QueueItem:
    """A target with its open reports, as the moderators' queue shows it."""

    target: Target
    content: str  # a post's or comment's text; a person's name
    author: str
    reports: list[dict[str, Any]]
    first_at: datetime


QUEUE_REPORTS = 500


async def queue(db: AsyncSession) -> list[QueueItem]:
    """Open reports grouped by target, the target reported first first; a
    target gone since is left out."""
    statement = (
        core_select(
            col(Report.id),
            col(Report.target_type),
            col(Report.target_id),
            col(Report.reason),
            col(Report.note),
            col(Report.created_at),
            col(User.username),
        )
        .join(User, col(User.id) == col(Report.reporter_id))
        .where(col(Report.status) == "open")
        .order_by(col(Report.created_at), col(Report.id))
        .limit(QUEUE_REPORTS)
    )
    grouped: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in await rows(db, statement):
        grouped.setdefault((row.target_type, row.target_id), []).append(
            {
                "id": row.id,
                "reason": row.reason,
                "note": row.note,
                "reporter": row.username,
                "created_at": row.created_at,
            }
        )
    items = []
    for (kind, target_id), reports in grouped.items():
        try:
            target = await find_target(db, kind, target_id)
        except (PostNotFound, CommentNotFound, UserNotFound):
            continue
        content, author = await _content(db, target)
        items.append(QueueItem(target, content, author, reports, reports[0]["created_at"]))
    return items


async def _content(db: AsyncSession, target: Target) -> tuple[str, str]:
    author = (
        await rows(db, core_select(col(User.username)).where(col(User.id) == target.owner_id))
    ).one()[0]
    if target.kind == "post":
        text = core_select(col(Post.content)).where(col(Post.id) == target.id)
    elif target.kind == "comment":
        text = core_select(col(Comment.content)).where(col(Comment.id) == target.id)
    else:
        return target.label, author
    return (await rows(db, text)).one()[0], author


async def reports_list(db: AsyncSession, *, status: str, offset: int, limit: int) -> list[Report]:
    statement = (
        core_select(Report)
        .where(col(Report.status) == status)
        .order_by(col(Report.created_at), col(Report.id))
        .offset(offset)
        .limit(limit)
    )
    return [row[0] for row in await rows(db, statement)]


async def report_target(db: AsyncSession, report_id: int) -> tuple[str, int] | None:
    """The target of a report: (its kind, its id)."""
    if not 0 < report_id <= MAX_ID:
        return None
    statement: Any = core_select(col(Report.target_type), col(Report.target_id)).where(
        col(Report.id) == report_id
    )
    row: Any = (await rows(db, statement)).first()
    return None if row is None else (row[0], row[1])

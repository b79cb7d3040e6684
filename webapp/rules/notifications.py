"""Notifications: someone liked your post, commented on it, or followed you.

They are written by the change they tell of, in its own transaction (`webapp.rules.likes`,
`webapp.rules.comments`, `webapp.rules.follows` call `notify`), never for one's own action.
Taking a like back or unfollowing tells nobody, and takes back the notification
of it (`withdraw`), so that liking and unliking does not pile them up; comments
in a row from one person on one post are one unread notification
(`notify_once_unread`). A
notification whose actor, post or comment is deleted goes with it (the database
cascades).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Delete, Insert, and_, delete, func, insert, update
from sqlalchemy import select as core_select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.models import (
    Notification,
    NotificationKind,
    NotificationPublic,
    Post,
    User,
    UserPublic,
    utcnow,
)


def notify(
    recipient_id: int,
    kind: NotificationKind,
    actor_id: int,
    *,
    post_id: int | None = None,
    comment_id: int | None = None,
) -> Insert | None:
    """The statement that tells `recipient_id` of `actor_id`'s action, or None
    when the two are one person."""
    if recipient_id == actor_id:
        return None
    return insert(Notification).values(
        recipient_id=recipient_id,
        kind=kind,
        actor_id=actor_id,
        post_id=post_id,
        comment_id=comment_id,
        created_at=utcnow(),
        read=False,
    )


async def notify_once_unread(
    db: AsyncSession,
    recipient_id: int,
    kind: NotificationKind,
    actor_id: int,
    *,
    post_id: int,
    comment_id: int,
) -> None:
    """Tell of a comment, unless the recipient has not yet read one of the same
    kind by the same person on the same post: that one moves up to now, so a
    hundred comments in a row are one unread notification, not a hundred. It
    keeps pointing at the first comment unread, where reading starts. Part of
    the caller's unit of work, which holds the post's lock: two comments of one
    person on one post cannot both find none."""
    told = notify(recipient_id, kind, actor_id, post_id=post_id, comment_id=comment_id)
    if told is None:
        return
    renewed = await db.exec(
        update(Notification)
        .where(
            col(Notification.recipient_id) == recipient_id,
            col(Notification.kind) == kind,
            col(Notification.actor_id) == actor_id,
            col(Notification.post_id) == post_id,
            col(Notification.read).is_(False),
        )
        .values(created_at=utcnow())
    )
    if not renewed.rowcount:
        await db.exec(told)


def withdraw(
    kind: NotificationKind, actor_id: int, *, post_id: int | None = None, recipient_id: int
) -> Delete:
    """The statement that takes back what `notify` said of a like or a follow."""
    statement = delete(Notification).where(
        col(Notification.actor_id) == actor_id,
        col(Notification.kind) == kind,
        col(Notification.recipient_id) == recipient_id,
    )
    if post_id is not None:
        statement = statement.where(col(Notification.post_id) == post_id)
    return statement


def unread_count_of(user_id: Any) -> Any:
    """A scalar subquery: how many unread notifications the user has. It runs
    inside the statement that loads a browser's session (`webapp.rules.sessions`), so
    the header's count costs no statement of its own; the partial index of
    unread rows serves it."""
    return (
        core_select(func.count())
        .select_from(Notification)
        .where(col(Notification.recipient_id) == user_id, col(Notification.read).is_(False))
        .scalar_subquery()
    )


@dataclass(frozen=True)
class NotificationView:
    """A notification with what its sentence names: the person and the post."""

    id: int
    kind: NotificationKind
    actor: UserPublic
    post_id: int | None
    post_title: str | None
    comment_id: int | None
    created_at: datetime
    read: bool

    def public(self) -> NotificationPublic:
        return NotificationPublic(
            id=self.id,
            kind=self.kind,
            actor=self.actor,
            post_id=self.post_id,
            comment_id=self.comment_id,
            created_at=self.created_at,
            read=self.read,
        )


WITH_NAMES = (
    core_select(
        Notification.id,
        Notification.kind,
        Notification.post_id,
        Notification.comment_id,
        Notification.created_at,
        Notification.read,
        col(User.id).label("actor_id"),
        col(User.username).label("actor_username"),
        col(User.created_at).label("actor_created_at"),
        col(Post.title).label("post_title"),
    )
    .join(User, col(User.id) == col(Notification.actor_id))
    .outerjoin(Post, col(Post.id) == col(Notification.post_id))
)
NEWEST_FIRST = (col(Notification.created_at).desc(), col(Notification.id).desc())


async def list_for(
    db: AsyncSession, user_id: int, *, offset: int, limit: int, unread_only: bool = False
) -> list[NotificationView]:
    """The user's notifications, newest first, with names and titles: one statement."""
    condition = col(Notification.recipient_id) == user_id
    if unread_only:
        condition = and_(condition, col(Notification.read).is_(False))
    statement = WITH_NAMES.where(condition).order_by(*NEWEST_FIRST).offset(offset).limit(limit)
    return [
        NotificationView(
            id=row.id,
            kind=row.kind,
            actor=UserPublic.model_construct(
                id=row.actor_id, username=row.actor_username, created_at=row.actor_created_at
            ),
            post_id=row.post_id,
            post_title=row.post_title,
            comment_id=row.comment_id,
            created_at=row.created_at,
            read=row.read,
        )
        for row in await db.exec(statement)
    ]


async def unread_counts(db: AsyncSession, user_ids: list[int]) -> dict[int, int]:
    """How many unread notifications each of these users has (for live
    headers, `webapp.live`): one statement, 0 for those with none."""
    if not user_ids:
        return {}
    statement = (
        core_select(Notification.recipient_id, func.count())
        .where(col(Notification.recipient_id).in_(user_ids), col(Notification.read).is_(False))
        .group_by(Notification.recipient_id)
    )
    counts = dict.fromkeys(user_ids, 0)
    counts.update({row[0]: row[1] for row in await db.exec(statement)})
    return counts


async def count_for(db: AsyncSession, user_id: int) -> int:
    statement = core_select(func.count()).where(col(Notification.recipient_id) == user_id)
    return (await db.exec(statement)).scalar_one()


async def mark_read(db: AsyncSession, user_id: int, ids: list[int] | None = None) -> None:
    """Mark these of the user's notifications read, or all of them."""
    statement = update(Notification).where(
        col(Notification.recipient_id) == user_id, col(Notification.read).is_(False)
    )
    if ids is not None:
        if not ids:
            return
        statement = statement.where(col(Notification.id).in_(ids))
    await db.exec(statement.values(read=True))
    await db.commit()

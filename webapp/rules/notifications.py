"""Notifications: someone liked your post, commented on it, or followed you.

Nobody hears of someone they block or mute: the database drops such a
notification as it is inserted (migration 0016, `webapp.rules.safety`).

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

from sqlalchemy import (
    ColumnElement,
    Delete,
    Insert,
    ScalarSelect,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    update,
)
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select

from webapp.core.db import write_one
from webapp.models import (
    Comment,
    Notification,
    NotificationKind,
    NotificationPublic,
    Post,
    User,
    UserPublic,
    person,
    utcnow,
)
from webapp.rules import notification_rows, safety, suspensions

# Written as the partial index of unread rows (`ix_notifications_unread`) is,
# in words: `NOT read`. Neither database proves that `read IS false` (nor, on
# SQLite, `read = 0`, which is how SQLAlchemy writes `not_` there) implies it,
# so those spellings read every notification of the person to count the
# unread ones (0.6 ms of each logged-in page for someone with 700 of them).
UNREAD: ColumnElement[bool] = literal_column("NOT notifications.read")


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
    if not notification_rows.is_told(recipient_id, actor_id):
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
            UNREAD,
            # One from before a block or a mute does not come back up.
            ~safety.silenced(recipient_id, actor_id),
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


def unread_count_of(user_id: Any) -> ScalarSelect[int]:
    """A scalar subquery: how many unread notifications the user has (`user_id`:
    an id, or the column that holds one). It runs inside the statement that
    loads a browser's session (`webapp.rules.sessions`), so the header's count
    costs no statement of its own; the partial index of unread rows serves it."""
    return (
        select(func.count())
        .select_from(Notification)
        .where(col(Notification.recipient_id) == user_id, UNREAD)
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
    action: str | None = None  # a moderation notification's action and reason
    reason: str | None = None
    # The start of the comment's text, or else of the post's.
    excerpt: str = ""

    def public(self) -> NotificationPublic:
        return NotificationPublic(
            id=self.id,
            kind=self.kind,
            actor=self.actor,
            post_id=self.post_id,
            comment_id=self.comment_id,
            created_at=self.created_at,
            read=self.read,
            action=self.action,
            reason=self.reason,
        )


# A notification quotes a post or a comment (its title, its excerpt) only while
# its recipient may read it: hidden by moderators or by reports, or written by
# someone suspended, it is quoted to its own author alone.
_POST_QUOTED = or_(
    col(Post.owner_id) == col(Notification.recipient_id),
    and_(
        col(Post.hidden).is_(None),
        col(Post.owner_id).not_in(suspensions.SUSPENDED_IDS),
    ),
)
_COMMENT_QUOTED = or_(
    col(Comment.author_id) == col(Notification.recipient_id),
    and_(
        col(Comment.hidden).is_(None),
        col(Comment.author_id).not_in(suspensions.SUSPENDED_IDS),
    ),
)
# What stands for the title of a post its recipient may not read.
HIDDEN_TITLE = "[removed by moderators]"

# More columns than SQLModel's `select` has signatures for (four): the class
# itself, its rows read by position in `_view`.
WITH_NAMES: Select[*tuple[Any, ...]] = (
    Select(
        col(Notification.id),
        col(Notification.kind),
        col(User.id).label("actor_id"),
        col(User.username).label("actor_username"),
        col(User.created_at).label("actor_created_at"),
        col(Notification.post_id),
        case(
            (col(Post.id).is_(None), null()),
            (_POST_QUOTED, col(Post.title)),
            else_=literal(HIDDEN_TITLE),
        ).label("post_title"),
        col(Notification.comment_id),
        col(Notification.created_at),
        col(Notification.read),
        col(Notification.action),
        col(Notification.reason),
        func.coalesce(
            case((_COMMENT_QUOTED, col(Comment.excerpt))),
            case((_POST_QUOTED, col(Post.excerpt))),
            "",
        ).label("excerpt"),
        col(User.display_name),
        col(User.bio_html),
        col(User.website),
        col(User.avatar),
    )
    .join(User, col(User.id) == col(Notification.actor_id))
    .outerjoin(Post, col(Post.id) == col(Notification.post_id))
    .outerjoin(Comment, col(Comment.id) == col(Notification.comment_id))
)
NEWEST_FIRST = (col(Notification.created_at).desc(), col(Notification.id).desc())


async def list_for(
    db: AsyncSession, user_id: int, *, offset: int, limit: int, unread_only: bool = False
) -> list[NotificationView]:
    """The user's notifications, newest first, with names and titles: one statement."""
    condition: ColumnElement[bool] = col(Notification.recipient_id) == user_id
    if unread_only:
        condition = and_(condition, UNREAD)
    statement = WITH_NAMES.where(condition).order_by(*NEWEST_FIRST).offset(offset).limit(limit)
    return [_view(row) for row in await db.exec(statement)]


def _view(row: tuple[Any, ...]) -> NotificationView:
    """A row of `WITH_NAMES` as a notification with its names."""
    notification_id, kind, actor_id, username, actor_created_at, *rest = row
    actor = person(actor_id, username, actor_created_at, *rest[-4:])
    return NotificationView(notification_id, kind, actor, *rest[:-4])


async def unread_counts(db: AsyncSession, user_ids: list[int]) -> dict[int, int]:
    """How many unread notifications each of these users has (for live
    headers, `webapp.live`): one statement, 0 for those with none."""
    if not user_ids:
        return {}
    statement = (
        select(col(Notification.recipient_id), func.count())
        .where(col(Notification.recipient_id).in_(user_ids), UNREAD)
        .group_by(col(Notification.recipient_id))
    )
    counts = dict.fromkeys(user_ids, 0)
    counts.update({user_id: count for user_id, count in await db.exec(statement)})
    return counts


async def count_for(db: AsyncSession, user_id: int) -> int:
    statement = select(func.count()).where(col(Notification.recipient_id) == user_id)
    return (await db.exec(statement)).one()


async def mark_read(db: AsyncSession, user_id: int, ids: list[int] | None = None) -> None:
    """Mark these of the user's notifications read, or all of them."""
    statement = update(Notification).where(col(Notification.recipient_id) == user_id, UNREAD)
    if ids is not None:
        if not ids:
            return
        statement = statement.where(col(Notification.id).in_(ids))
    # One statement, whole by itself: `transaction()`'s BEGIN IMMEDIATE would
    # be one statement more on every page of notifications on SQLite.
    await write_one(db, statement.values(read=True))

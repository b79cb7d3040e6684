"""Suspended accounts: who is suspended now, and what a suspension does.

An account is suspended while `users.suspended_until` is in the future; a
suspension until lifted ends far in the future, and lifting it clears the
column. The condition compares with the database's clock, so a suspension
ends by itself with no job: `SUSPENDED_IDS` is part of what everyone may see
of posts and comments (`webapp.rules.posts.LISTED`,
`webapp.rules.comments.SHOWN`) and of a profile (`ACTIVE`).

The page caches learn of an end from the data version: it counts the
suspension ends passed (`ENDS_PASSED`, one row in `suspension_ends` per
suspension with an end), so it moves by itself when a suspension ends.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, exists, func, insert, literal_column, or_, select, update
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.core.db import rows
from webapp.errors import AccountSuspended
from webapp.models import Comment, MailToken, Post, SuspensionEnd, User, UserSession, utcnow

# A suspension "until lifted" ends here.
FOREVER = datetime(9999, 1, 1, tzinfo=UTC)
MAX_DAYS = 3650


def suspended_now(until: Any) -> ColumnElement[bool]:
    """Whether the person whose `suspended_until` column is `until` (of
    `users`, or of an alias of it) is suspended now."""
    return until > func.current_timestamp()


def active(until: Any) -> ColumnElement[bool]:
    """Whether the person whose `suspended_until` column is `until` is not
    suspended now."""
    return or_(until.is_(None), until <= func.current_timestamp())


SUSPENDED_NOW = suspended_now(col(User.suspended_until))
# The ids of the people suspended now: their posts, comments and profile are
# gone for everyone but moderators.
SUSPENDED_IDS: Any = select(col(User.id)).where(SUSPENDED_NOW)
# A person not suspended now (on a statement that reads `users`).
ACTIVE = active(col(User.suspended_until))
# A post's comment count as shown: the counter kept on its row (comments not
# deleted nor hidden) less those of the people suspended now, counted as the
# statement reads the post, so that they count again the moment a suspension
# ends, with nothing written. Nobody suspended (the common case): the
# uncorrelated EXISTS, read once a statement through ix_users_suspended,
# spares every post the count.
# (Its own aliases of `users`: a statement that reads the post's author from
# `users` must not correlate these with that row.)
_COMMENTER, _ANYONE = aliased(User, name="commenter"), aliased(User, name="anyone")
_SUSPENDED_COMMENTS: Any = (
    select(func.count())
    .select_from(Comment)
    .join(_COMMENTER, col(_COMMENTER.id) == col(Comment.author_id))
    .where(
        col(Comment.post_id) == col(Post.id),
        col(_COMMENTER.suspended_until) > func.current_timestamp(),
        col(Comment.hidden).is_(None),
        col(Comment.deleted).is_(False),
    )
    .correlate(Post)
    .scalar_subquery()
)
_ANYONE_SUSPENDED: Any = exists(
    select(col(_ANYONE.id)).where(col(_ANYONE.suspended_until) > func.current_timestamp())
).correlate_except(_ANYONE)
COMMENT_COUNT: Any = (
    col(Post.comments) - case((_ANYONE_SUSPENDED, _SUSPENDED_COMMENTS), else_=literal_column("0"))
).label("comments")
# How many suspensions have ended by themselves by now: part of the data version.
ENDS_PASSED: Any = (
    select(func.count())
    .select_from(SuspensionEnd)
    .where(col(SuspensionEnd.ends_at) <= func.current_timestamp())
    .scalar_subquery()
)


# A suspension's live events name the person's newest posts (and any a socket
# watches): a feed counting "N new posts" drops theirs; older ones are in no
# feed's count.
NEWEST_ANNOUNCED = 50


@dataclass(frozen=True)
class Shown:
    """What of one person's a worker's sockets may show: their published posts
    among those watched or among their newest, and their shown comments on
    the posts watched (with each post's owner and whether it is published)."""

    posts: list[int]
    comments: list[tuple[int, int, int, bool]]  # id, post, the post's owner, shown to all


# A post everyone may see (`webapp.rules.posts.LISTED`, which imports this
# module): the comments under any other are told to its owner alone.
_SHOWN_POST: Any = and_(
    col(Post.published).is_(True),
    col(Post.hidden).is_(None),
    col(Post.owner_id).not_in(SUSPENDED_IDS),
).label("published")


async def shown_of(db: AsyncSession, user_id: int, watched: list[int]) -> Shown:
    """Two statements; the comments only when posts are watched."""
    newest = (
        select(col(Post.id))
        .where(col(Post.owner_id) == user_id, col(Post.published).is_(True))
        .order_by(col(Post.created_at).desc(), col(Post.id).desc())
        .limit(NEWEST_ANNOUNCED)
    )
    theirs = [row[0] for row in await rows(db, newest)]
    if watched:
        extra = select(col(Post.id)).where(
            col(Post.owner_id) == user_id,
            col(Post.published).is_(True),
            col(Post.id).in_(watched),
        )
        theirs += [row[0] for row in await rows(db, extra) if row[0] not in theirs]
    comments: list[tuple[int, int, int, bool]] = []
    if watched:
        statement: Any = (
            select(col(Comment.id), col(Comment.post_id), col(Post.owner_id), _SHOWN_POST)
            .join(Post, col(Post.id) == col(Comment.post_id))
            .where(
                col(Comment.author_id) == user_id,
                col(Comment.post_id).in_(watched),
                col(Comment.hidden).is_(None),
                col(Comment.deleted).is_(False),
            )
        )
        comments = [
            (row.id, row.post_id, row.owner_id, bool(row.published))
            for row in await rows(db, statement)
        ]
    return Shown(theirs, comments)


async def anyone_suspended(db: AsyncSession) -> bool:
    """Whether anyone is suspended now (then comment counts read from a post's
    row alone are not the ones shown: `COMMENT_COUNT`)."""
    return bool((await rows(db, select(_ANYONE_SUSPENDED))).one()[0])


async def notice(db: AsyncSession, user_id: int) -> str | None:
    """What a moderator reads on a suspended person's profile (None: not
    suspended now)."""
    statement = select(col(User.suspended_until), col(User.suspension_reason)).where(
        col(User.id) == user_id, SUSPENDED_NOW
    )
    row: Any = (await rows(db, statement)).first()
    return None if row is None else message(row[0], row[1])


def is_suspended(until: datetime | None, now: datetime | None = None) -> bool:
    return until is not None and until > (now or utcnow())


def message(until: datetime, reason: str | None) -> str:
    """What a suspended person reads when they log in with the right password."""
    when = "it is lifted" if until >= FOREVER else until.strftime("%Y-%m-%d %H:%M UTC")
    return f"This account is suspended until {when}: {reason or 'no reason given'}"


def end_of(days: int | None, now: datetime) -> datetime:
    """When a suspension of this many days (None: until lifted) ends."""
    return FOREVER if days is None else now + timedelta(days=days)


async def suspend(db: AsyncSession, user_id: int, *, until: datetime, reason: str) -> bool:
    """Suspend the account, inside the caller's unit of work: True when it was
    not suspended. Its sessions end (their sockets close on every host, the
    rows' triggers tell them), its API tokens and mailed links die with a new
    security stamp. A suspension already under way changes nothing."""
    now = utcnow()
    statement = (
        update(User)
        .where(
            col(User.id) == user_id,
            or_(col(User.suspended_until).is_(None), col(User.suspended_until) <= now),
        )
        .values(
            suspended_until=until,
            suspension_reason=reason,
            security_stamp=_new_stamp(),
        )
        .returning(col(User.id))
    )
    if (await db.exec(statement)).first() is None:
        return False
    await db.exec(delete(UserSession).where(col(UserSession.user_id) == user_id))
    await db.exec(
        delete(MailToken).where(col(MailToken.user_id) == user_id, col(MailToken.used_at).is_(None))
    )
    if until < FOREVER:
        await db.exec(insert(SuspensionEnd).values(ends_at=until))
    return True


async def unsuspend(db: AsyncSession, user_id: int) -> bool:
    """Lift the suspension, inside the caller's unit of work: True when there was one."""
    statement = (
        update(User)
        .where(col(User.id) == user_id, col(User.suspended_until) > utcnow())
        .values(suspended_until=None, suspension_reason=None)
        .returning(col(User.id))
    )
    return (await db.exec(statement)).first() is not None


async def check_may_log_in(db: AsyncSession, user_id: int) -> None:
    """Before a session starts, inside its unit of work: the account's row is
    read with a share lock, so that a suspension committing meanwhile either
    waits for the new session (and ends it) or is seen here (AccountSuspended)."""
    statement = (
        select(col(User.suspended_until), col(User.suspension_reason))
        .where(col(User.id) == user_id)
        .with_for_update(read=True)
    )
    row: Any = (await rows(db, statement)).first()
    if row is not None and is_suspended(row[0]):
        raise AccountSuspended(message(row[0], row[1]))


def _new_stamp() -> str:
    return secrets.token_hex(16)

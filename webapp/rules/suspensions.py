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
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.core.db import rows
from webapp.errors import AccountSuspended
from webapp.models import MailToken, SuspensionEnd, User, UserSession, utcnow

# A suspension "until lifted" ends here.
FOREVER = datetime(9999, 1, 1, tzinfo=UTC)
MAX_DAYS = 3650

SUSPENDED_NOW = col(User.suspended_until) > func.current_timestamp()
# The ids of the people suspended now: their posts, comments and profile are
# gone for everyone but moderators.
SUSPENDED_IDS: Any = select(col(User.id)).where(SUSPENDED_NOW)
# A person not suspended now (on a statement that reads `users`).
ACTIVE = or_(
    col(User.suspended_until).is_(None), col(User.suspended_until) <= func.current_timestamp()
)
# How many suspensions have ended by themselves by now: part of the data version.
ENDS_PASSED: Any = (
    select(func.count())
    .select_from(SuspensionEnd)
    .where(col(SuspensionEnd.ends_at) <= func.current_timestamp())
    .scalar_subquery()
)


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

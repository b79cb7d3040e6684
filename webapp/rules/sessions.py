"""Browser sessions kept on the server.

The signed cookie carries only a random key of 256 bits; the database keeps its
hash with the user, the CSRF token and the times. Ending a session is deleting
its row, so a copied cookie stops working at once. The cookie itself is the
page door's (`webapp.web.login_cookie`): here are the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Delete, bindparam, delete, func, insert, update
from sqlalchemy import select as core_select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.core.db import rows, transaction
from webapp.core.security import hash_token, new_token
from webapp.models import SiteState, User, UserPublic, UserSession, person, utcnow
from webapp.rules import notifications, safety, suspensions

# Writing "last seen" on every request would turn each page view into a write.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class LoadedSession:
    """A live session as plain values, and the data version read with it."""

    id: int
    csrf_token: str
    user: UserPublic
    # (version, likes, removals), see webapp.core.page_cache
    data_version: tuple[int | None, int | None, int | None]
    unread: int  # notifications not yet seen, for the header
    expires_at: datetime  # when a live socket of this session closes (`webapp.live.hub`)
    role: str = "member"  # read with the session: a role taken away counts at once
    # Whom the user blocks and mutes, and whether their address is confirmed:
    # read with the session, so a change counts on their next page anywhere.
    shield: safety.Shield = safety.NOBODY
    email_confirmed: bool = True


@dataclass(frozen=True)
class SessionInfo:
    """One of an account's sessions, as the settings page lists them."""

    id: int
    user_agent: str
    created_at: datetime
    last_seen_at: datetime


def _site_state(column: Any) -> Any:
    """A data version: the sum of a column of `site_state`'s rows (on
    PostgreSQL a commit moves any row no other commit holds, migration 0011)."""
    return core_select(func.sum(column)).scalar_subquery()


# Built once, with the key as a parameter: every page runs it.
LOAD: Any = (
    core_select(
        col(UserSession.id),
        col(UserSession.csrf_token),
        col(UserSession.expires_at),
        col(UserSession.last_seen_at),
        col(User.id).label("user_id"),
        col(User.username),
        col(User.created_at).label("user_created_at"),
        col(User.role),
        col(User.display_name),
        col(User.avatar),
        (_site_state(SiteState.version) + suspensions.ENDS_PASSED).label("data_version"),
        _site_state(SiteState.likes).label("likes_version"),
        _site_state(SiteState.removals).label("removals_version"),
        notifications.unread_count_of(User.id).label("unread"),
        col(User.email_confirmed),
        safety.ids_of(User.id, muted=False).label("blocked"),
        safety.ids_of(User.id, muted=True).label("muted"),
    )
    .join(User, col(User.id) == col(UserSession.user_id))
    .where(col(UserSession.key_hash) == bindparam("key_hash"))
)


async def load(db: AsyncSession, key: str) -> LoadedSession | None:
    """The session of a cookie's key, its user, their unread notification
    count and the current data version: one statement, on the request's own
    connection (two, once a minute, to note when it was last seen; an expired
    session's row goes). None for a key that holds no live session."""
    row = (await rows(db, LOAD, {"key_hash": hash_token(key)})).first()
    now = utcnow()
    if row is None:
        return None
    if row.expires_at <= now:
        await _write(db, delete(UserSession).where(col(UserSession.id) == row.id))
        return None
    if now - row.last_seen_at >= LAST_SEEN_RESOLUTION:
        seen = update(UserSession).where(col(UserSession.id) == row.id).values(last_seen_at=now)
        await _write(db, seen)
    user = person(
        row.user_id, row.username, row.user_created_at, row.display_name, avatar=row.avatar
    )
    return LoadedSession(
        row.id,
        row.csrf_token,
        user,
        (row.data_version, row.likes_version, row.removals_version),
        row.unread,
        row.expires_at,
        row.role,
        safety.Shield.of(row.blocked, row.muted),
        row.email_confirmed,
    )


async def _write(db: AsyncSession, statement: Any) -> None:
    async def write() -> None:
        await db.exec(statement)

    await transaction(db, write)


async def start(
    db: AsyncSession,
    user_id: int,
    *,
    max_age: int,
    user_agent: str,
    client_ip: str,
    replacing: str | None,
) -> str:
    """Log in: drop the session of the key `replacing` (the browser's, if it
    had one), and start a new one with a new CSRF token; its key, for the
    cookie. One unit of work; expired sessions are swept with it."""
    key = new_token()
    now = utcnow()
    row = {
        "key_hash": hash_token(key),
        "user_id": user_id,
        "csrf_token": new_token(),
        "created_at": now,
        "last_seen_at": now,
        "expires_at": now + timedelta(seconds=max_age),
        "user_agent": user_agent[:300],
        "ip_address": client_ip[:45],
    }

    async def replace() -> None:
        await suspensions.check_may_log_in(db, user_id)  # AccountSuspended
        if replacing is not None:
            await db.exec(_of_key(replacing))
        await db.exec(delete(UserSession).where(col(UserSession.expires_at) <= now))
        await db.exec(insert(UserSession).values(row))

    await transaction(db, replace)
    return key


async def end(db: AsyncSession, key: str) -> None:
    """Log out the session of this key: its row goes, so a copy of the cookie dies too."""
    await _write(db, _of_key(key))


def _of_key(key: str) -> Delete:
    condition: ColumnElement[bool] = col(UserSession.key_hash) == hash_token(key)
    return delete(UserSession).where(condition)


def others_of(user_id: int, keep_id: int | None) -> Delete:
    """The statement that ends a user's sessions but the one kept: part of a
    password change and of "log out everywhere else" (`webapp.rules.accounts`), which
    run it in their own unit of work."""
    statement = delete(UserSession).where(col(UserSession.user_id) == user_id)
    if keep_id is not None:
        statement = statement.where(col(UserSession.id) != keep_id)
    return statement


_ACTIVE = core_select(
    col(UserSession.id),
    col(UserSession.user_agent),
    col(UserSession.created_at),
    col(UserSession.last_seen_at),
)


async def active(db: AsyncSession, user_id: int) -> list[SessionInfo]:
    """The account's live sessions, the one seen last first."""
    statement = _ACTIVE.where(
        col(UserSession.user_id) == user_id, col(UserSession.expires_at) > utcnow()
    ).order_by(col(UserSession.last_seen_at).desc())
    return [SessionInfo(**row._mapping) for row in await rows(db, statement)]

"""Browser sessions kept on the server.

The signed cookie carries only a random key of 256 bits; the database keeps its
hash with the user, the CSRF token and the times. Ending a session is deleting
its row, so a copied cookie stops working at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import Request
from sqlalchemy import Delete, bindparam, delete, insert, update
from sqlalchemy import select as core_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import HTTPConnection

from webapp.core.cookie import ANONYMOUS_CSRF_KEY, FLASH_KEY, SESSION_KEY
from webapp.core.db import read_row, transaction
from webapp.core.security import hash_token, new_token
from webapp.models import SiteState, User, UserPublic, UserSession, utcnow
from webapp.rules import notifications

# Writing "last seen" on every request would turn each page view into a write.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)


def client_ip(request: HTTPConnection) -> str:
    """The client's address, which the throttles count (a trusted proxy's
    client: see FORWARDED_ALLOW_IPS), for a page, an API call or a socket."""
    return request.client.host if request.client else ""


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


def _site_state(column: object) -> Any:
    return core_select(column).where(col(SiteState.id) == 1).scalar_subquery()  # type: ignore[call-overload]


# Built once, with the key as a parameter: every page runs it.
LOAD = (
    core_select(
        UserSession.id,
        UserSession.csrf_token,
        UserSession.expires_at,
        UserSession.last_seen_at,
        User.id.label("user_id"),  # type: ignore[union-attr]
        User.username,
        col(User.created_at).label("user_created_at"),
        _site_state(SiteState.version).label("data_version"),
        _site_state(SiteState.likes).label("likes_version"),
        _site_state(SiteState.removals).label("removals_version"),
        notifications.unread_count_of(User.id).label("unread"),
    )
    .join(User, col(User.id) == col(UserSession.user_id))
    .where(col(UserSession.key_hash) == bindparam("key_hash"))
)


async def load(db: AsyncSession, request: HTTPConnection) -> LoadedSession | None:
    """The browser's session, its user, their unread notification count and
    the current data version: one statement (two, once a minute, to note when
    it was last seen). A page's request, or a live socket's handshake."""
    key = request.session.get(SESSION_KEY)
    if not isinstance(key, str):
        return None
    row = await read_row(db.bind, LOAD, {"key_hash": hash_token(key)})
    now = utcnow()
    if row is None or row.expires_at <= now:
        if row is not None:
            await db.exec(delete(UserSession).where(col(UserSession.id) == row.id))
            await db.commit()
        request.session.pop(SESSION_KEY, None)
        return None
    if now - row.last_seen_at >= LAST_SEEN_RESOLUTION:
        await db.exec(
            update(UserSession).where(col(UserSession.id) == row.id).values(last_seen_at=now)
        )
        await db.commit()
    user = UserPublic(id=row.user_id, username=row.username, created_at=row.user_created_at)
    return LoadedSession(
        row.id,
        row.csrf_token,
        user,
        (row.data_version, row.likes_version, row.removals_version),
        row.unread,
        row.expires_at,
    )


async def start(db: AsyncSession, request: Request, user_id: int, max_age: int) -> None:
    """Log in: drop whatever session the browser had, and start a new key and
    CSRF token (one unit of work; expired sessions are swept with it)."""
    old_key = request.session.get(SESSION_KEY)
    key = new_token()
    now = utcnow()
    row = {
        "key_hash": hash_token(key),
        "user_id": user_id,
        "csrf_token": new_token(),
        "created_at": now,
        "last_seen_at": now,
        "expires_at": now + timedelta(seconds=max_age),
        "user_agent": request.headers.get("user-agent", "")[:300],
        "ip_address": client_ip(request)[:45],
    }

    async def replace() -> None:
        if isinstance(old_key, str):
            await db.exec(
                delete(UserSession).where(col(UserSession.key_hash) == hash_token(old_key))
            )
        await db.exec(delete(UserSession).where(col(UserSession.expires_at) <= now))
        await db.exec(insert(UserSession).values(row))

    await transaction(db, replace)
    flashes = request.session.get(FLASH_KEY)
    request.session.clear()
    request.session[SESSION_KEY] = key
    if flashes:
        request.session[FLASH_KEY] = flashes


async def end(db: AsyncSession, request: Request) -> None:
    """Log out this browser: its session row goes, so a copy of the cookie dies too."""
    key = request.session.get(SESSION_KEY)
    if isinstance(key, str):
        await db.exec(delete(UserSession).where(col(UserSession.key_hash) == hash_token(key)))
        await db.commit()
    request.session.pop(SESSION_KEY, None)
    request.session.pop(ANONYMOUS_CSRF_KEY, None)


def others_of(user_id: int | None, keep_id: int | None) -> Delete:
    """The statement that ends a user's sessions but the one kept: part of a
    password change and of "log out everywhere else" (`webapp.rules.accounts`), which
    run it in their own unit of work."""
    statement = delete(UserSession).where(col(UserSession.user_id) == user_id)
    if keep_id is not None:
        statement = statement.where(col(UserSession.id) != keep_id)
    return statement


async def active(db: AsyncSession, user_id: int) -> list[UserSession]:
    return list(
        await db.exec(
            select(UserSession)
            .where(UserSession.user_id == user_id, UserSession.expires_at > utcnow())
            .order_by(col(UserSession.last_seen_at).desc())
        )
    )

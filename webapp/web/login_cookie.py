"""The login in the signed session cookie: its key to a server-side session
(`webapp.rules.sessions`, which keeps the rows), put in at login and taken
out at logout. Starting a session keeps the cookie's one-time messages and
drops the rest, so that nothing an anonymous visitor had carries over."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import HTTPConnection, Request

from webapp.core import logs
from webapp.core.client_address import client_ip
from webapp.core.cookie import ANONYMOUS_CSRF_KEY, FLASH_KEY, SESSION_KEY
from webapp.rules import sessions


def session_key(connection: HTTPConnection) -> str | None:
    """The key the browser's cookie holds, if any."""
    key = connection.session.get(SESSION_KEY)
    return key if isinstance(key, str) else None


async def load(db: AsyncSession, connection: HTTPConnection) -> sessions.LoadedSession | None:
    """The session of the browser's cookie (a page's request, or a live
    socket's handshake); a key that holds none any more leaves the cookie."""
    key = session_key(connection)
    if key is None:
        return None
    loaded = await sessions.load(db, key)
    if loaded is None:
        connection.session.pop(SESSION_KEY, None)
    else:
        logs.note_account(connection.scope, loaded.user.id)
    return loaded


async def log_in(db: AsyncSession, request: Request, user_id: int, max_age: int) -> None:
    """A new session for this browser, in place of whatever it had, with a
    new key and CSRF token."""
    key = await sessions.start(
        db,
        user_id,
        max_age=max_age,
        user_agent=request.headers.get("user-agent", ""),
        client_ip=client_ip(request),
        replacing=session_key(request),
    )
    flashes = request.session.get(FLASH_KEY)
    request.session.clear()
    request.session[SESSION_KEY] = key
    if flashes:
        request.session[FLASH_KEY] = flashes


async def log_out(db: AsyncSession, request: Request) -> None:
    """End this browser's session, and take its key and token out of the cookie."""
    key = session_key(request)
    if key is not None:
        await sessions.end(db, key)
    request.session.pop(SESSION_KEY, None)
    request.session.pop(ANONYMOUS_CSRF_KEY, None)

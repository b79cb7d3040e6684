"""What each worker keeps in memory: the data of the busiest pages (feeds,
searches, posts, profiles as strangers see them) and, for anonymous visitors,
their finished HTML.

Everything held is valid for one version of the posts. `site_state.version`
moves with every change to the posts table, in the same transaction (a trigger,
migration 0003), so nothing can change a post without moving it. A worker
learns the version two ways:

- a logged-in visitor's session is read with it, in the same statement, so a
  writer's next page is always current, whichever worker serves it;
- otherwise the worker reads it again when its last reading is older than
  `max_staleness` (half a second), so a change made on another worker or host
  shows to anonymous visitors within that time.

When the version moves, everything is dropped.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.responses import HTMLResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from webapp.db import new_session
from webapp.sessions import FLASH_KEY, SESSION_KEY

T = TypeVar("T")
_MISSING: Any = object()


class PageCache:
    def __init__(
        self, engine: AsyncEngine, *, max_entries: int = 1000, max_staleness: float = 0.5
    ) -> None:
        self.engine = engine
        self.max_entries = max_entries
        self.max_staleness = max_staleness
        self.version: int | None = None
        self._read_at = float("-inf")
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()

    def observe(self, version: int | None) -> None:
        """A version just read from the database."""
        self._read_at = time.monotonic()
        if version != self.version:
            self._entries.clear()
            self.version = version

    async def check(self) -> None:
        """Read the version again if the last reading is too old (one small
        statement, at most every `max_staleness` seconds per worker)."""
        if time.monotonic() - self._read_at < self.max_staleness:
            return
        # Requests that come while this one reads keep the version they have.
        self._read_at = time.monotonic()
        async with new_session(self.engine) as db:
            result = await db.exec(text("SELECT version FROM site_state WHERE id = 1"))
            self.observe(result.scalar())

    async def fetch(self, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
        """The cached value for `key`, or `load()`'s, kept for the next request.
        The version must be current: the visitor dependency sees to it."""
        value = self.get(key, _MISSING)
        if value is _MISSING:
            version = self.version
            value = await load()
            self.put(key, value, version)
        return value

    def get(self, key: Hashable, default: Any = None) -> Any:
        entry = self._entries.get(key)
        if entry is None:
            return default
        value, expires_at = entry
        if expires_at is not None and time.monotonic() >= expires_at:
            del self._entries[key]
            return default
        self._entries.move_to_end(key)
        return value

    def put(
        self, key: Hashable, value: Any, version: int | None, *, ttl: float | None = None
    ) -> None:
        """Keep a value that was read at `version`, unless that is already past;
        with `ttl`, for that many seconds at most."""
        if version != self.version:
            return
        expires_at = None if ttl is None else time.monotonic() + ttl
        self._entries[key] = (value, expires_at)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


# Set in a request's state once the version has been checked for it.
CHECKED = "data_version_checked"


def shared_key(path: str, query_string: bytes) -> Hashable:
    """Where an anonymous page's HTML is kept: its address, as sent."""
    return ("html", path, query_string)


class SharedPageMiddleware:
    """Answers an anonymous GET from the HTML the page cache holds for its address,
    before routing, dependencies or the database: the page was built once by its
    view (`webapp.templating.shared_page`) and is the same for every anonymous
    visitor. Runs inside the session middleware, which has read the cookie."""

    def __init__(self, app: ASGIApp, cache: PageCache) -> None:
        self.app = app
        self.cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and _is_anonymous(scope):
            try:
                await self.cache.check()
            except DBAPIError:
                # The database is away: the app answers (503) with its error page.
                await self.app(scope, receive, send)
                return
            scope.setdefault("state", {})[CHECKED] = True
            html = self.cache.get(shared_key(scope["path"], scope["query_string"]))
            if html is not None:
                await HTMLResponse(html)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _is_anonymous(scope: Scope) -> bool:
    """No login and no message waiting to be shown."""
    session = scope.get("session") or {}
    return SESSION_KEY not in session and FLASH_KEY not in session

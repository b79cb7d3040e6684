"""What each worker keeps in memory: the data of the busiest pages (feeds,
searches, posts, profiles as strangers see them) and, for anonymous visitors,
their finished HTML.

Everything held is valid for one version of the posts. `site_state` moves with
every change to the posts and follows tables, in the same transaction
(triggers, migrations 0003 and 0005), so nothing can change a post without
moving it: `likes` when only like or comment counts changed, `version` for
anything else. A worker learns both two ways:

- a logged-in visitor's session is read with it, in the same statement, so a
  writer's next page is always current, whichever worker serves it;
- otherwise the worker reads it again in the background once its last reading
  is a fifth of `max_staleness` old, and a request waits for a reading only
  when the last one is older than `max_staleness` (half a second): a change
  made on another worker or host shows to anonymous visitors within that time,
  and no request served from memory waits on the database while it answers
  in time. (On a busy machine a process woken by a socket may wait its turn
  for the CPU for a long while; a request that waited on such a round trip
  would be the slowest of thousands.)

When `version` moves, everything is retired. When only `likes` moves, what
shows like counts is retired (who likes what, rendered HTML, the counts kept
beside each list) and the lists themselves stay: their counts are read again in
one statement. When `removals` moves (a post deleted or made a draft, a
comment or an account deleted: migration 0010), everything is forgotten at
once, retired values included.

Retired is not forgotten at once: until `grace` (half a second) after it was
built, a value retired may still be served to a request that may see the site
as it was a moment ago (`may_be_stale`): an anonymous visitor, or a logged-in
one who has not sent a form in the last few seconds. So under a stream of
likes a busy page is rebuilt at most twice a second, not after every like,
while a quiet page is rebuilt at the first request after a change; and a
change shows to everyone within a second (at most `max_staleness` until a
worker reads the new version, then less than `grace`). Whoever made the
change never sees the page from before it: their browser's cookie says they
just wrote (`wrote_lately`), and their next page is built from what is
current.

What takes something away shows at once to everyone, on every worker and
host: it has no grace, and its answer waits until every worker must have read
the versions again (`webapp.core.removals`).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from contextvars import ContextVar
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.responses import HTMLResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from webapp.core.cookie import FLASH_KEY, SESSION_KEY, WROTE_KEY
from webapp.core.db import read_row

T = TypeVar("T")
READ_VERSION = text("SELECT version, likes, removals FROM site_state WHERE id = 1")
# The data versions a value was read at: (version, likes, removals).
Seen = tuple[int | None, int | None, int | None]
_MISSING: Any = object()
# How long others keep getting an expired value while one caller rebuilds it.
REBUILD_GRACE = 1.0


# How long after it was built a value, once retired, may still be served to a
# request that may see the site as it was a moment ago.
GRACE = 0.5

# Whether this request may be served a retired value (see `grace`): set for
# each request by the visitor dependency (`webapp.web.deps`).
may_be_stale: ContextVar[bool] = ContextVar("may_be_stale", default=False)


# A browser that sent a form this recently is shown only what is current, not
# what was retired a moment ago: its own change, at once. Longer than a change
# takes to show everywhere, with room for a slow request.
WRITER_SECONDS = 5


def wrote_lately(session: dict[str, Any]) -> bool:
    """Whether the browser of this session cookie sent a form in the last
    `WRITER_SECONDS` (`WROTE_KEY`, set by the page door's CSRF check)."""
    wrote = session.get(WROTE_KEY)
    return isinstance(wrote, int) and 0 <= time.time() - wrote < WRITER_SECONDS


def _seen_by_someone(reading: asyncio.Future[None]) -> None:
    """A reading in the background may fail with nobody waiting for it: the
    next request waits for its own, and reports the error."""
    if not reading.cancelled():
        reading.exception()


class _LoadFailed(Exception):
    """The load that others waited for raised (the raiser reports the error)."""


class PageCache:
    def __init__(
        self, engine: AsyncEngine, *, max_entries: int = 500, max_staleness: float = 0.5
    ) -> None:
        self.engine = engine
        self.max_entries = max_entries
        self.max_staleness = max_staleness
        self.grace = GRACE
        self.version: int | None = None
        self.likes: int | None = None
        self.removals: int | None = None
        # When the reading the versions come from started (or the statement of
        # a session, which reads them too).
        self._read_at = float("-inf")
        # The reading under way, and when it started.
        self._reading: asyncio.Future[None] | None = None
        self._reading_since = float("-inf")
        # key -> (value, expires_at or None, whether it shows like counts, kept at)
        self._entries: OrderedDict[Hashable, tuple[Any, float | None, bool, float]] = OrderedDict()
        # key -> (value, served until): retired by a change, until `grace` after it was built
        self._retired: dict[Hashable, tuple[Any, float]] = {}
        # key -> (the load under way, the removals it started at)
        self._loading: dict[Hashable, tuple[asyncio.Future[Any], int | None]] = {}

    def seen(self) -> Seen:
        """The versions now: what a value about to be read will be valid for."""
        return self.version, self.likes, self.removals

    def observe(
        self,
        version: int | None,
        likes: int | None,
        removals: int | None = None,
        read_at: float | None = None,
    ) -> None:
        """Versions read from the database by a statement started at `read_at`
        (`time.monotonic()`; by default, now). A reading older than the last
        one observed is ignored: it may be from before a change that one saw."""
        read_at = time.monotonic() if read_at is None else read_at
        if read_at < self._read_at:
            return
        self._read_at = read_at
        if removals != self.removals:
            self.clear()  # what was taken away is served to nobody, not even for a moment
        elif version != self.version:
            self._retire(list(self._entries))
        elif likes != self.likes:
            self._retire([key for key, entry in self._entries.items() if entry[2]])
        self.version, self.likes, self.removals = version, likes, removals

    def _retire(self, keys: list[Hashable]) -> None:
        now = time.monotonic()
        for key in [key for key, (_, end) in self._retired.items() if end <= now]:
            del self._retired[key]
        for key in keys:
            value, _, _, kept_at = self._entries.pop(key)
            # Served on until `grace` after it was built: a page rebuilt at most
            # that often under a stream of changes, and a quiet one at once.
            if kept_at + self.grace > now:
                self._retired[key] = (value, kept_at + self.grace)

    async def check(self) -> None:
        """See that the versions are recent enough: read them again in the
        background when the last reading is a fifth of `max_staleness` old, and
        wait for a reading only when it is older than `max_staleness`. One small
        statement, a few times a second per worker while requests come."""
        now = time.monotonic()
        age = now - self._read_at
        if age < self.max_staleness / 5:
            return
        reading = self._reading
        # A reading under way will do if it started recently enough (and on
        # this event loop: the tests run one per client).
        if (
            reading is None
            or reading.get_loop() is not asyncio.get_running_loop()
            or now - self._reading_since >= self.max_staleness
        ):
            reading = self._reading = asyncio.ensure_future(self._read(now))
            reading.add_done_callback(_seen_by_someone)
            self._reading_since = now
        if age < self.max_staleness:
            return
        await asyncio.shield(reading)

    async def _read(self, started: float) -> None:
        try:
            row = await read_row(self.engine, READ_VERSION)
        except Exception:
            # Unreachable from here, the database may still change through other
            # hosts: nothing held can be trusted until it answers again.
            self.clear()
            self.version = self.likes = None
            self._read_at = float("-inf")
            raise
        finally:
            if self._reading_since == started:
                self._reading = None
        self.observe(*(row or (None, None, None)), read_at=started)

    async def fetch(
        self, key: Hashable, load: Callable[[], Awaitable[T]], *, likes: bool = False
    ) -> T:
        """The cached value for `key`, or `load()`'s, kept for the next request;
        `likes`: it shows like counts. The versions must be current: the visitor
        dependency sees to it.

        Requests that miss the same key at the same moment (right after the
        version moved) wait for the first one's load instead of each running
        the same statements.
        """
        value = self.get(key, _MISSING)
        if value is not _MISSING:
            return value
        loop = asyncio.get_running_loop()
        pending, removals = self._loading.get(key, (None, None))
        # A load that started before a removal this request knows of may show
        # what was removed: not joined.
        if pending is not None and pending.get_loop() is loop and removals == self.removals:
            try:
                return await asyncio.shield(pending)
            except _LoadFailed:
                pass  # the first one failed: try once more, for this request
        seen = self.seen()
        future: asyncio.Future[Any] = loop.create_future()
        self._loading[key] = (future, self.removals)
        try:
            value = await load()
        except BaseException:
            future.set_exception(_LoadFailed())
            future.exception()  # nobody may be waiting: mark it seen
            raise
        else:
            future.set_result(value)
        finally:
            if self._loading.get(key, (None, None))[0] is future:
                del self._loading[key]
        self.put(key, value, seen, likes=likes)
        return value

    def get(self, key: Hashable, default: Any = None, *, stale: bool | None = None) -> Any:
        """The value kept for `key`, or `default`. When a value with a `ttl`
        expires, the first caller gets `default` (and builds a new one) while
        the others get the old value for up to a second more, instead of all
        building the same page at once. `stale`: whether a retired value will do
        (until `grace` after it was built; by default, what the request's
        visitor may see: `may_be_stale`)."""
        entry = self._entries.get(key)
        if entry is None:
            if stale if stale is not None else may_be_stale.get():
                retired = self._retired.get(key)
                if retired is not None and time.monotonic() < retired[1]:
                    return retired[0]
            return default
        value, expires_at, with_likes, kept_at = entry
        if expires_at is not None:
            now = time.monotonic()
            if now >= expires_at:
                self._entries[key] = (value, now + REBUILD_GRACE, with_likes, kept_at)
                return default
        self._entries.move_to_end(key)
        return value

    def put(
        self,
        key: Hashable,
        value: Any,
        seen: Seen,
        *,
        likes: bool = False,
        ttl: float | None = None,
    ) -> None:
        """Keep a value read at the versions `seen`, unless they are already past;
        `likes`: it shows like counts; with `ttl`, for that many seconds at most."""
        if seen[0] != self.version or seen[2] != self.removals:
            return
        if likes and seen[1] != self.likes:
            return
        expires_at = None if ttl is None else time.monotonic() + ttl
        self._retired.pop(key, None)
        self._entries[key] = (value, expires_at, likes, time.monotonic())
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()
        self._retired.clear()


# Set in a request's state once the version has been checked for it.
CHECKED = "data_version_checked"


def shared_key(path: str, query_string: bytes) -> Hashable:
    """Where an anonymous page's HTML is kept: its address, as sent."""
    return ("html", path, query_string)


class SharedPageMiddleware:
    """Answers an anonymous GET from the HTML the page cache holds for its address,
    before routing, dependencies or the database: the page was built once by its
    view (`webapp.web.listing.shared_page`) and is the same for every anonymous
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
            stale = not wrote_lately(scope.get("session") or {})
            html = self.cache.get(shared_key(scope["path"], scope["query_string"]), stale=stale)
            if html is not None:
                await HTMLResponse(html)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _is_anonymous(scope: Scope) -> bool:
    """No login and no message waiting to be shown."""
    session = scope.get("session") or {}
    return SESSION_KEY not in session and FLASH_KEY not in session

"""What each worker keeps in memory, and how long it may serve it: a cache
of values (lists, pages, their finished HTML) that knows nothing of what they
show, only which versions of the data they were read at.

Three numbers say where the data is, read together from the database by a
`VersionReader` the app gives the cache: `version` moves with every change;
`minor` with changes that only some values show (each value says whether it
is one of them: `minor=True`); `removals` with a change that takes something
away. A worker learns them two ways:

- a statement the app runs anyway may read them too and hand them to
  `observe`, so that a writer's next request can be current, whichever
  worker serves it;
- otherwise the worker reads them again in the background once its last
  reading is a fifth of `max_staleness` old, and a request waits for a
  reading only when the last one is older than `max_staleness` (half a
  second): a change made on another worker or host shows within that time,
  and no request served from memory waits on the database while it answers
  in time. (On a busy machine a process woken by a socket may wait its turn
  for the CPU for a long while; a request that waited on such a round trip
  would be the slowest of thousands.) The readings go on in the background
  for `keep_fresh` seconds after the last request, not only while requests
  come, so that the first request after a pause shorter than that does not
  wait for one either (after a pause of one second, every connection's first
  request used to wait for the reading: 10 to 125 ms each on a busy machine).

When `version` moves, everything is retired. When only `minor` moves, the
values kept with `minor=True` are retired and the others stay. When
`removals` moves, everything is forgotten at once, retired values included.

Retired is not forgotten at once: until `grace` (half a second) after it was
built, a retired value may still be served to a caller that says it may see
the data as it was a moment ago (`stale=True`). So under a stream of changes
a busy value is rebuilt at most twice a second, not after every change, while
a quiet one is rebuilt at the first request after a change; and a change shows
to everyone within a second (at most `max_staleness` until a worker reads the
new versions, then less than `grace`). Who may be served a retired value is
the caller's policy, not the cache's.

What takes something away has no grace, and its answer waits until every
worker must have read the versions again (`webapp.core.removals`).

A value kept with a `ttl` ends with the clock, not with a change: nothing it
shows is wrong, only old. The first caller who finds it expired rebuilds it
while everyone else is served it for up to `REBUILD_GRACE` more. A caller
that can hand the cache a `rebuild` (the shared pages) is served it too, and
the rebuild runs in the background, once: no visitor waits on it (if it has
not replaced the value by the end of the grace, the next caller rebuilds it in
its own request). A change still retires the value, expired or not, and a
removal still makes the cache forget it at once: what is served while a
rebuild runs is only ever a value valid for the versions the cache holds.

Values of one item among very many (a post's page, a profile, a search:
`one_of_many`) take at most `max_many` of the `max_entries` places, and their
text (a page's HTML, a list's cards) at most `max_many_bytes`, the least
recently used going first: a stream of random posts or searches, each read
once, pushes out only others like it, never the lists that everyone reads
again, and the memory it holds stays small (a hundred profiles' pages of
20 KB would be 2 MB of each worker's; a hundred posts' of 5 KB fit in the
budget).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Hashable
from typing import Any, NamedTuple, TypeVar

from webapp.core import metrics

T = TypeVar("T")
# The data versions a value was read at: (version, minor, removals).
Seen = tuple[int | None, int | None, int | None]
# Reads the versions from the database (None: it holds none yet).
VersionReader = Callable[[], Awaitable[Seen | None]]
# Rebuilds an expired value in the background, putting it in the cache itself.
Rebuild = Callable[[], Coroutine[Any, Any, object]]
_MISSING: Any = object()
# How long others keep getting an expired value while one caller rebuilds it.
REBUILD_GRACE = 1.0
# How long after the last request the versions go on being read in the
# background (as often as while requests come: a fifth of `max_staleness`).
KEEP_FRESH = 10.0

_log = logging.getLogger("webapp.page_cache")


# The most text (bytes of HTML, characters of cards) the values of one of many
# hold together: a profile's page is about 20 KB, a long Markdown post's 75 KB.
MANY_BYTES = 512 * 1024


# How long after it was built a value, once retired, may still be served to a
# caller that may see the data as it was a moment ago.
GRACE = 0.5


def _seen_by_someone(reading: asyncio.Future[None]) -> None:
    """A reading in the background may fail with nobody waiting for it: the
    next request waits for its own, and reports the error."""
    if not reading.cancelled():
        reading.exception()


class _LoadFailed(Exception):
    """The load that others waited for raised (the raiser reports the error)."""


class _Entry(NamedTuple):
    value: Any
    expires_at: float | None
    minor: bool  # whether the minor version retires it
    kept_at: float
    # Whether a rebuild of this value, expired, was started in the background:
    # one only; if it has not replaced the value by the end of the grace, the
    # next caller rebuilds it in its own request.
    rebuilding: bool = False


class PageCache:
    def __init__(
        self,
        read_versions: VersionReader,
        *,
        max_entries: int = 200,
        max_many: int = 100,
        max_many_bytes: int = MANY_BYTES,
        max_staleness: float = 0.5,
        keep_fresh: float = KEEP_FRESH,
    ) -> None:
        self.read_versions = read_versions
        self.max_entries = max_entries
        self.max_many = max_many
        self.max_many_bytes = max_many_bytes
        self.max_staleness = max_staleness
        self.keep_fresh = keep_fresh
        # When a request last asked for the versions (`check`), and the reading
        # planned in the background until `keep_fresh` after it.
        self._asked_at = float("-inf")
        self._keeper: asyncio.TimerHandle | None = None
        self.grace = GRACE
        self.version: int | None = None
        self.minor: int | None = None
        self.removals: int | None = None
        # When the reading the versions come from started (or the statement
        # that read them and was `observe`d).
        self._read_at = float("-inf")
        # The reading under way, and when it started.
        self._reading: asyncio.Future[None] | None = None
        self._reading_since = float("-inf")
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        # The keys of the entries kept as `one_of_many`, least recently used
        # first, with the length of their text, and its sum.
        self._many: OrderedDict[Hashable, int] = OrderedDict()
        self._many_bytes = 0
        # key -> (value, served until): retired by a change, until `grace` after it was built
        self._retired: dict[Hashable, tuple[Any, float]] = {}
        # key -> (the load under way, the removals it started at)
        self._loading: dict[Hashable, tuple[asyncio.Future[Any], int | None]] = {}
        # The rebuilds of expired values running in the background.
        self._rebuilding: set[asyncio.Task[object]] = set()

    def seen(self) -> Seen:
        """The versions now: what a value about to be read will be valid for."""
        return self.version, self.minor, self.removals

    def observe(
        self,
        version: int | None,
        minor: int | None,
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
        elif minor != self.minor:
            self._retire([key for key, entry in self._entries.items() if entry[2]])
        self.version, self.minor, self.removals = version, minor, removals

    def _retire(self, keys: list[Hashable]) -> None:
        now = time.monotonic()
        for key in [key for key, (_, end) in self._retired.items() if end <= now]:
            del self._retired[key]
        for key in keys:
            value, _, _, kept_at, _ = self._entries.pop(key)
            self._forget_many(key)
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
        self._asked_at = now
        age = now - self._read_at
        if age < self.max_staleness / 5:
            return
        reading = self._start_reading(now)
        if age < self.max_staleness:
            return
        await asyncio.shield(reading)

    def _start_reading(self, now: float) -> asyncio.Future[None]:
        """The reading under way, if it started recently enough (and on this
        event loop: the tests run one per client), else a new one."""
        reading = self._reading
        if (
            reading is None
            or reading.get_loop() is not asyncio.get_running_loop()
            or now - self._reading_since >= self.max_staleness
        ):
            reading = self._reading = asyncio.ensure_future(self._read(now))
            reading.add_done_callback(_seen_by_someone)
            self._reading_since = now
        return reading

    def _keep_fresh(self) -> None:
        """Read the versions again in the background once the last reading is a
        fifth of `max_staleness` old, as a request would, while the last
        request is less than `keep_fresh` old: the next request, even after a
        pause, finds them recent and waits for no reading."""
        self._keeper = None
        now = time.monotonic()
        if now - self._asked_at >= self.keep_fresh:
            return  # quiet: the next request starts the readings again
        if self._reading is not None and not self._reading.done():
            return  # the reading under way plans the next when it ends
        if now - self._read_at < self.max_staleness / 5:
            self._plan_reading()  # read since (or the timer was early): later
            return
        self._start_reading(now)

    def _plan_reading(self) -> None:
        """The next reading in the background, when the last is a fifth of
        `max_staleness` old (one planned at a time)."""
        if self.keep_fresh <= 0 or self.max_staleness <= 0:
            return
        if self._keeper is not None:
            self._keeper.cancel()
        wait = self._read_at + self.max_staleness / 5 - time.monotonic()
        loop = asyncio.get_running_loop()
        self._keeper = loop.call_later(max(wait, 0.001), self._keep_fresh)

    async def _read(self, started: float) -> None:
        try:
            row = await self.read_versions()
        except Exception:
            # Unreachable from here, the database may still change through other
            # hosts: nothing held can be trusted until it answers again.
            self.clear()
            self.version = self.minor = None
            self._read_at = float("-inf")
            raise
        finally:
            if self._reading_since == started:
                self._reading = None
        self.observe(*(row or (None, None, None)), read_at=started)
        self._plan_reading()

    async def fetch(
        self,
        key: Hashable,
        load: Callable[[], Awaitable[T]],
        *,
        minor: bool = False,
        stale: bool = False,
        one_of_many: bool = False,
        ttl: float | None = None,
    ) -> T:
        """The cached value for `key`, or `load()`'s, kept for the next request
        (with `ttl`, that many seconds at most); `minor`: the minor version
        retires it; `stale`: a retired value will do (see `get`). The versions
        must be current: the caller has seen to it (`check`, or `observe`).

        Requests that miss the same key at the same moment (right after the
        version moved) wait for the first one's load instead of each running
        the same statements.
        """
        value = self.get(key, _MISSING, stale=stale)
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
        self.put(key, value, seen, minor=minor, ttl=ttl, one_of_many=one_of_many)
        return value

    def get(
        self,
        key: Hashable,
        default: Any = None,
        *,
        stale: bool = False,
        rebuild: Rebuild | None = None,
    ) -> Any:
        """The value kept for `key`, or `default`. When a value with a `ttl`
        expires, the first caller gets `default` (and builds a new one) while
        the others get the old value for up to `REBUILD_GRACE` more, instead of
        all building the same page at once; with `rebuild`, the first caller
        gets the old value too, and `rebuild()` runs in the background (once: if
        the value is still the old one at the end of the grace, the next caller
        builds). `stale`: whether a retired value will do (until `grace` after
        it was built)."""
        entry = self._entries.get(key)
        if entry is None:
            if stale:
                retired = self._retired.get(key)
                if retired is not None and time.monotonic() < retired[1]:
                    metrics.cache_lookup(hit=True)
                    return retired[0]
            metrics.cache_lookup(hit=False)
            return default
        value, expires_at, with_minor, kept_at, rebuilding = entry
        if expires_at is not None:
            now = time.monotonic()
            if now >= expires_at:
                in_background = rebuild is not None and not rebuilding
                self._entries[key] = _Entry(
                    value, now + REBUILD_GRACE, with_minor, kept_at, rebuilding or in_background
                )
                if rebuild is None or not in_background:
                    metrics.cache_lookup(hit=False)
                    return default
                self._rebuild(key, rebuild)
        self._entries.move_to_end(key)
        if key in self._many:
            self._many.move_to_end(key)
        metrics.cache_lookup(hit=True)
        return value

    def _rebuild(self, key: Hashable, rebuild: Rebuild) -> None:
        task = asyncio.get_running_loop().create_task(rebuild())
        self._rebuilding.add(task)  # the loop keeps a task only weakly

        def done(task: asyncio.Task[object]) -> None:
            self._rebuilding.discard(task)
            if not task.cancelled() and task.exception() is not None:
                _log.error("rebuilding %r failed", key, exc_info=task.exception())

        task.add_done_callback(done)

    def put(
        self,
        key: Hashable,
        value: Any,
        seen: Seen,
        *,
        minor: bool = False,
        ttl: float | None = None,
        one_of_many: bool = False,
    ) -> None:
        """Keep a value read at the versions `seen`, unless they are already past;
        `minor`: the minor version retires it; with `ttl`, for that many seconds
        at most; `one_of_many`: in one of the `max_many` places."""
        if seen[0] != self.version or seen[2] != self.removals:
            return
        if minor and seen[1] != self.minor:
            return
        expires_at = None if ttl is None else time.monotonic() + ttl
        self._retired.pop(key, None)
        self._entries[key] = _Entry(value, expires_at, minor, time.monotonic())
        self._entries.move_to_end(key)
        self._forget_many(key)  # a value kept again is measured again
        if one_of_many:
            size = len(value) if isinstance(value, (bytes, str)) else 0
            self._many[key] = size
            self._many_bytes += size
            while len(self._many) > self.max_many or self._many_bytes > self.max_many_bytes:
                oldest, size = self._many.popitem(last=False)
                self._many_bytes -= size
                self._entries.pop(oldest, None)
        while len(self._entries) > self.max_entries:
            self._forget_many(self._entries.popitem(last=False)[0])

    def _forget_many(self, key: Hashable) -> None:
        self._many_bytes -= self._many.pop(key, 0)

    def clear(self) -> None:
        self._entries.clear()
        self._many.clear()
        self._many_bytes = 0
        self._retired.clear()

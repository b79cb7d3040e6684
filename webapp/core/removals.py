"""What takes something away shows at once to everyone: once a change that
removes what others could see has been answered, no answer from any worker
or host shows what it removed.

Each worker's page cache serves what it holds while its last reading of the
data versions started less than `max_staleness` ago, and a removal makes it
forget everything at once (`webapp.core.page_cache`). So the answer to a
request that removed something is held until `max_staleness` after its commit:
by then, whatever any worker serves comes from a reading that started after
the commit, which saw the removal. No message between hosts is needed, and no
request that removed nothing waits.

Whoever commits such a change calls `taken_away()` once its transaction has
committed; the request's middleware (`webapp.core.middleware.Gate`) watches
each request with `Removals` and holds the answer.
"""

from __future__ import annotations

import asyncio
import time
from contextvars import ContextVar, Token

from webapp.core.page_cache import PageCache

# The moments this request's changes that took something away were committed.
_committed: ContextVar[list[float] | None] = ContextVar("removals_committed", default=None)


def taken_away() -> None:
    """Say that this request has just committed a change that took something
    away, so that its answer waits until every worker must have seen it."""
    moments = _committed.get()
    if moments is not None:
        moments.append(time.monotonic())


class Removals:
    """Holds the answer of a request that took something away until every
    worker's page cache must have read the versions again since."""

    def __init__(self, cache: PageCache) -> None:
        self.cache = cache

    def watch(self) -> tuple[list[float], Token[list[float] | None]]:
        """Start noting what this request takes away: the moments it commits
        such changes, to give `hold`, and the token that `unwatch` takes."""
        moments: list[float] = []
        return moments, _committed.set(moments)

    def unwatch(self, token: Token[list[float] | None]) -> None:
        _committed.reset(token)

    async def hold(self, moments: list[float]) -> None:
        """Wait, before the answer starts, until every worker must have seen
        the last of the request's removals."""
        if moments:
            wait = moments[-1] + self.cache.max_staleness - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)

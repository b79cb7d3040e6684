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

A rule calls `taken_away()` once its transaction has committed; the
middleware holds the answer.
"""

from __future__ import annotations

import asyncio
import time
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from webapp.core.page_cache import PageCache

# The moments this request's changes that took something away were committed.
_committed: ContextVar[list[float] | None] = ContextVar("removals_committed", default=None)


def taken_away() -> None:
    """Say that this request has just committed a change that took something
    away, so that its answer waits until every worker must have seen it."""
    moments = _committed.get()
    if moments is not None:
        moments.append(time.monotonic())


class RemovalBarrierMiddleware:
    """Holds the answer of a request that took something away until every
    worker's page cache must have read the versions again since."""

    def __init__(self, app: ASGIApp, cache: PageCache) -> None:
        self.app = app
        self.cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        moments: list[float] = []
        token = _committed.set(moments)

        async def send_when_seen(message: Message) -> None:
            if message["type"] == "http.response.start" and moments:
                wait = moments[-1] + self.cache.max_staleness - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
            await send(message)

        try:
            await self.app(scope, receive, send_when_seen)
        finally:
            _committed.reset(token)

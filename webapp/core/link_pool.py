"""The request engine's pool on PostgreSQL: SQLAlchemy's queue pool, with the
connections that `Link`s gave back kept checked out, ready for the next one.

Taking a connection through the queue pool makes a new `_ConnectionFairy`
(with a `weakref.finalize`), gets its record from the queue, on a greenlet,
and giving it back finalizes the fairy and puts the record back; for a
request whose statements take a few hundred µs, that was a tenth of its
Python. A connection kept here is taken and given back by a list's `pop`
and `append`, its fairy reused as it is.

What the pool promises still holds:

- Its size: a kept connection is checked out, as the pool counts, so there
  are never more of them than the pool allows, and a request that finds none
  kept and the pool exhausted waits in the pool's queue, its timeout as
  before.
- First come, first served: checkouts that wait in the pool's queue get the
  connections given back in the order they came, each handed straight to
  the one that has waited longest, never taken by a request that has only
  just arrived (`FairQueue`).
- Nothing waits for one kept: a checkout through the pool (an ORM session's,
  or a Link's that found none kept) that finds the queue empty takes a kept
  one first; and while any checkout is inside the pool, a connection given
  back goes to the queue, where it wakes the one waiting, not here.
- Only a sound connection is kept: the caller keeps none that is mid-answer,
  in a transaction or closed (`Link.give_back`); one that was invalidated, or
  whose pool was invalidated since it connected (a restarted database), or
  that carries a setting to reset on its return, is given back to the pool.
- Its listeners hear the same: a connection kept is a `checkin` to them, one
  taken from here a `checkout` (the metrics' gauge of connections in use);
  while anyone listens to `reset`, nothing is kept.
- `dispose` puts the kept ones back in the queue and closes them with the
  rest; `checkedout` and `checkedin` count them as idle.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.util.concurrency import await_
from sqlalchemy.util.queue import AsyncAdaptedQueue, Empty


class FairQueue(AsyncAdaptedQueue[Any]):
    """The pool's queue of idle connections, first come, first served.

    SQLAlchemy's asyncio queue lets a checkout take an idle connection
    whenever one is in the queue: one given back wakes the checkout that has
    waited longest, but until that task runs (the next turn of a busy event
    loop) the connection sits in the queue, where a request that has only
    just arrived takes it first; the one woken finds the queue empty again
    and waits anew, at the back. Here a connection given back while anyone
    waits goes straight to the one that has waited longest, in its future,
    so that a connection in the queue means nobody waits for it; a waiter
    whose wait ends (its timeout, a cancelled request) after it was handed
    one passes it on to the next. Its waits also need no task of their own
    (`asyncio.wait_for` makes one for each on Python 3.11)."""

    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        super().__init__(maxsize, use_lifo)
        self.waiters: deque[asyncio.Future[Any]] = deque()

    def put_nowait(self, item: Any) -> None:
        waiters = self.waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(item)
                return
        super().put_nowait(item)

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        # The queue holds every connection of a pool without overflow (the
        # only kind that keeps any: `LinkPool._keeps`), so a put never waits.
        self.put_nowait(item)

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        # Nobody waits while the queue holds one (`put_nowait`): take it.
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            if not block:
                raise Empty() from None
        try:
            return await_(self._wait(timeout))
        except TimeoutError as error:
            raise Empty() from error

    async def _wait(self, timeout: float | None) -> Any:
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.put_nowait(waiter.result())  # handed over too late: to the next
            else:
                waiter.cancel()
                with contextlib.suppress(ValueError):
                    self.waiters.remove(waiter)
            raise


class LinkPool(AsyncAdaptedQueuePool):
    """An async queue pool that keeps, checked out, the connections given back
    to it by `keep`, for `take` to hand out again (the module's docstring),
    and hands those given back to it to its waiters in the order they came
    (`FairQueue`)."""

    _queue_class = FairQueue

    def __init__(self, creator: Any, **kw: Any) -> None:
        super().__init__(creator, **kw)
        # Last in, first out: the connection used last is the one warm in
        # the server's caches. None once the pool is disposed.
        self.kept: list[Any] | None = []
        # Checkouts inside the pool's own `_do_get` (waiting in its queue, or
        # connecting): while there are any, nothing given back is kept.
        self.waiting = 0
        # Kept at all only where the pool checks nothing at each checkout,
        # and opens none beyond its size: then every record fits its queue,
        # and putting one back there is never I/O (`_release`).
        self._keeps = not self._pre_ping and self._recycle < 0 and self._max_overflow == 0

    def take(self) -> Any | None:
        """A connection kept here (a checked-out `_ConnectionFairy`), or None:
        then check one out of the pool."""
        kept = self.kept
        while kept:
            fairy = kept.pop()
            record = fairy._connection_record
            if record._is_hard_or_soft_invalidated():
                # The pool was invalidated since it connected: back to the
                # queue, where its next checkout connects it again.
                self._release(fairy)
                continue
            if self.dispatch.checkout:
                try:
                    self.dispatch.checkout(fairy.dbapi_connection, record, fairy)
                except Exception:
                    # A listener refused it (a disconnect it found): the
                    # pool's own checkout deals with that.
                    self._release(fairy)
                    return None
            return fairy
        return None

    def keep(self, fairy: Any) -> bool:
        """Keep a connection given back, idle and outside any transaction, for
        the next `take`; False: give it back to the pool instead."""
        kept = self.kept
        if kept is None or self.waiting or not self._keeps:
            return False
        record = fairy._connection_record
        if (
            record is None
            or fairy.dbapi_connection is None
            or record.finalize_callback
            or record._is_hard_or_soft_invalidated()
            or self.dispatch.reset
        ):
            return False
        if self.dispatch.checkin:
            self.dispatch.checkin(fairy.dbapi_connection, record)
        kept.append(fairy)
        return True

    def _release(self, fairy: Any) -> None:
        """A kept connection's record back into the queue, as the pool's
        checkin puts it there, without its events: its listeners heard the
        checkin when it was kept. No I/O: the queue has room for every
        record of a pool without overflow."""
        record = fairy._connection_record
        fairy._finalizer.detach()
        fairy.dbapi_connection = None
        fairy._connection_record = None
        record.fairy_ref = None
        self._return_conn(record)

    def _do_get(self) -> Any:
        kept = self.kept
        if kept and self._pool.empty():
            self._release(kept.pop())  # for this checkout, rather than wait or connect
        self.waiting += 1
        try:
            return super()._do_get()
        finally:
            self.waiting -= 1

    def dispose(self) -> None:
        kept, self.kept = self.kept, None
        for fairy in kept or ():
            self._release(fairy)
        super().dispose()

    def checkedin(self) -> int:
        return super().checkedin() + len(self.kept or ())

    def checkedout(self) -> int:
        return super().checkedout() - len(self.kept or ())

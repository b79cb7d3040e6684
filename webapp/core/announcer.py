"""The live events of a worker's committed writes, on their way out.

A like or a new post on PostgreSQL commits in one statement that holds its
live events back (`agora.live_later`, migration 0011) and returns them; the
request hands them here (`Announcer.hand_over`) and answers at once, after
that one round trip, its connection back in the pool. The announcer sends
what it holds with one `agora_live_announce` statement (migration 0022: a
transaction of its own that does not wait for the disk, and takes
PostgreSQL's server-wide NOTIFY lock once for all of them), on a connection
of its own: when it is idle an event goes at once; while a statement is out,
what arrives waits for it and goes in the next one, so a busy worker sends
one statement for many writes, and never more than one at a time.

- Order: one worker's events leave in the order they were handed over, each
  after its write committed (it is handed over once its statement returned).
- Failure: a statement that fails (a lost database, an error) is logged, as
  `core.db.announce` did, and its events are lost, not the answers (live
  pages read the counts again once their worker hears the database again);
  the next batch is sent all the same. A deadlock or a serialization failure
  is run again (`transaction_of_one`). No request ever waits here.
- Shutdown: the app's lifespan flushes what is pending (`close`) before the
  engines go. An event loop that ends under it (a test client's, one a
  request) has the statement it cut off sent again, and what is left, first.

One announcer for each request engine (`for_engine`, made with the app's
services), with one queue for each event loop that hands it events: a worker
has one. Its connections come from an engine of its own on the same
database, one connection a worker (none where the request engine opens one
a use: then one a statement), so that it never queues behind requests for
theirs, and their statements and checkouts are theirs alone.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.core.db import (
    ANNOUNCE,
    Link,
    _closed_by_server,
    open_link,
    transaction_of_one,
    utc_sessions,
)
from webapp.core.db import announce as send_now

log = logging.getLogger("webapp.db")


class _Queue:
    """One event loop's events waiting to go, the task sending them, and the
    connection it keeps for them between statements."""

    __slots__ = ("link", "pending", "sending")

    def __init__(self) -> None:
        self.pending: list[str] = []
        self.sending: asyncio.Task[None] | None = None
        self.link: Link | None = None


class Announcer:
    """The live events a worker's writes have handed over, sent in batches of
    one statement each on `engine`, one statement at a time."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # A pooled connection is kept from one statement to the next (a
        # checkout and a return cost a batch more Python calls than its
        # statement); one opened for each use is closed after it.
        self._keeps = not isinstance(engine.sync_engine.pool, NullPool)
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue] = (
            weakref.WeakKeyDictionary()
        )
        # The last loop's queue, found without a lookup (a worker has one
        # loop). One tuple, replaced whole: threads that each run a loop of
        # their own (the tests' clients) must never read one loop with
        # another's queue, whose task would then run on the wrong loop.
        self._last: tuple[asyncio.AbstractEventLoop | None, _Queue] = (None, _Queue())

    def hand_over(self, events: str) -> None:
        """Events of a committed write (payloads one a line), to be sent: at
        once when nothing is being sent, else with the next statement."""
        loop = asyncio.get_running_loop()
        last_loop, queue = self._last
        if last_loop is not loop:
            queue = self._queue_of(loop)
        queue.pending.append(events)
        if queue.sending is None:
            queue.sending = loop.create_task(self._send_all(queue))

    def _queue_of(self, loop: asyncio.AbstractEventLoop) -> _Queue:
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues[loop] = _Queue()
        self._last = (loop, queue)
        return queue

    async def _send_all(self, queue: _Queue) -> None:
        """Until nothing is left: all that is pending, in one statement. When
        the loop ends under it (this task is cancelled, as a test client's
        loop cancels what is left when its request is done), the statement
        cut off is sent again on a new connection (at worst its events are
        told twice: each says what the database holds), and what is left
        after it, before the cancellation goes on."""
        cancelled: asyncio.CancelledError | None = None
        try:
            while queue.pending:
                batch = "\n".join(queue.pending)
                queue.pending = []
                try:
                    await self._send(queue, batch)
                except asyncio.CancelledError as error:
                    cancelled = error
                    await self._send(queue, batch)
        finally:
            queue.sending = None
        if cancelled is not None:
            raise cancelled

    async def _send(self, queue: _Queue, batch: str) -> None:
        """One statement. The connection kept is looked at first (one poll,
        no round trip): one the server has closed meanwhile (a restart) is
        dropped and another taken, so that no batch is lost to it; one that
        fails is dropped (`give_back`: a statement cut off, a dead one)."""
        link, queue.link = queue.link, None
        try:
            if link is not None and _closed_by_server(link.driver):
                await link.give_back()
                link = None
            if link is None:
                link = await open_link(self.engine)
            await transaction_of_one(link, ANNOUNCE, (batch,))
        except BaseException as error:
            if link is not None:
                await link.give_back()
            if not isinstance(error, Exception):
                raise  # cancelled: `_send_all` sends it again
            # A lost database, or anything else: logged, and the next batch goes.
            log.warning("live events of a committed change not sent: %s", error)
            return
        if self._keeps:
            queue.link = link
        else:
            await link.give_back()

    async def flush(self) -> None:
        """Wait until this loop's events have been sent (or given up)."""
        queue = self._queues.get(asyncio.get_running_loop())
        while queue is not None and queue.sending is not None:
            await asyncio.shield(queue.sending)

    async def close(self) -> None:
        """Flush, then close the announcer's connections."""
        await self.flush()
        queue = self._queues.get(asyncio.get_running_loop())
        if queue is not None and queue.link is not None:
            link, queue.link = queue.link, None
            await link.give_back()
        await self.engine.dispose()


# Each request engine's announcer, by the engine's sync face (which a `Link`
# holds): kept only as long as the engine is.
_announcers: weakref.WeakKeyDictionary[Engine, Announcer] = weakref.WeakKeyDictionary()


def for_engine(requests: AsyncEngine) -> Announcer:
    """The announcer of the writes on `requests` (a PostgreSQL engine), made
    on the first call (the app's services): an engine of its own on the same
    database, autocommitted, one connection kept (or one a statement, where
    `requests` opens one a use: each request on an event loop of its own,
    as the tests' clients run them). Its first connection is guarded, as
    every engine's, by an asyncio lock of SQLAlchemy's, which only one event
    loop may wait on: where several loops of one process write at once (the
    tests' clients), it is made before they start, as the request engine's
    is (`tests.support.app.first_connect`)."""
    sync = requests.sync_engine
    announcer = _announcers.get(sync)
    if announcer is None:
        url = requests.url
        pool: dict[str, Any] = (
            {"poolclass": NullPool}
            if isinstance(sync.pool, NullPool)
            else {"pool_size": 1, "max_overflow": 0}
        )
        engine = create_async_engine(
            url,
            isolation_level="AUTOCOMMIT",
            connect_args=utc_sessions(url.render_as_string(hide_password=False)),
            **pool,
        )
        announcer = _announcers[sync] = Announcer(engine)
    return announcer


def of(engine: Engine) -> Announcer | None:
    """The announcer made for the request engine whose sync face this is."""
    return _announcers.get(engine)


async def announce(db: AsyncSession | Link, events: str | None) -> None:
    """The live events a PostgreSQL write returned once it had committed:
    handed to its engine's announcer, or, on an engine that has none (made
    outside the app: a script's), sent on `db` itself (`core.db.announce`)."""
    if not events:
        return
    announcer = _announcers.get(db.engine if isinstance(db, Link) else db.get_bind())  # type: ignore[arg-type]  # a request session is bound to an engine
    if announcer is None:
        await send_now(db, events)
    else:
        announcer.hand_over(events)

"""How a worker hears of the changes made anywhere on the site: each source
hands the payloads of migration 0006's triggers to a callback, in the order
they were committed, and only once they are committed.

- PostgreSQL: one connection per worker LISTENs on `agora_live`; `pg_notify`
  delivers at commit to every listener of every host.
- SQLite: the triggers append to `live_events` in the writing transaction; each
  worker reads the rows past the last id it saw, every `interval` seconds, and
  sweeps rows older than a few minutes now and then. One host only: the file
  is on it.

A source that loses its database reconnects with backoff and then calls
`resync`: what changed meanwhile was not heard, so the hub reads the current
values again.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import Protocol

import psycopg
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine

from webapp.core.config import Settings

log = logging.getLogger("webapp.live")

CHANNEL = "agora_live"
# Reconnection: doubling from the first pause to the last, with jitter.
FIRST_PAUSE, LAST_PAUSE = 0.5, 10.0


class Source(Protocol):
    async def run(
        self, deliver: Callable[[str], None], ready: asyncio.Event, resync: Callable[[], None]
    ) -> None:
        """Hand every payload to `deliver`, forever; set `ready` once listening
        (so a socket accepted after it misses nothing); call `resync` after a
        reconnection."""
        ...


def source_for(settings: Settings, engine: AsyncEngine) -> Source:
    if settings.is_sqlite:
        return SqliteSource(engine)
    url = make_url(settings.sqlalchemy_url).set(drivername="postgresql")
    return PostgresSource(url.render_as_string(hide_password=False))


async def _pause(attempt: int) -> None:
    delay = min(LAST_PAUSE, FIRST_PAUSE * 2**attempt)
    await asyncio.sleep(random.uniform(delay / 2, delay))  # noqa: S311 (jitter)


class PostgresSource:
    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo

    async def run(
        self, deliver: Callable[[str], None], ready: asyncio.Event, resync: Callable[[], None]
    ) -> None:
        failures = 0
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True
                ) as connection:
                    await connection.execute(f"LISTEN {CHANNEL}")
                    if failures:
                        log.warning("live events: listening again")
                        resync()
                    failures = 0
                    ready.set()
                    async for notification in connection.notifies():
                        deliver(notification.payload)
            except psycopg.Error as error:
                if not failures:
                    log.warning("live events: lost the database (%s); reconnecting", error)
                await _pause(failures)
                failures += 1


SWEEP_EVERY = 60.0  # seconds
KEEP_FOR = 300.0  # seconds: far longer than any worker's pause between reads

LAST_ID = text("SELECT coalesce(max(id), 0) FROM live_events")
SINCE = text("SELECT id, payload FROM live_events WHERE id > :last ORDER BY id LIMIT 1000")
SWEEP = text("DELETE FROM live_events WHERE created_at < julianday('now') - :days")


class SqliteSource:
    def __init__(self, engine: AsyncEngine, interval: float = 0.1) -> None:
        self.engine = engine
        self.interval = interval

    async def run(
        self, deliver: Callable[[str], None], ready: asyncio.Event, resync: Callable[[], None]
    ) -> None:
        last: int | None = None
        swept_at = time.monotonic()
        failures = 0
        while True:
            try:
                async with self.engine.connect() as connection:
                    if last is None:
                        last = (await connection.execute(LAST_ID)).scalar_one()
                        ready.set()
                    rows = (await connection.execute(SINCE, {"last": last})).all()
                    if time.monotonic() - swept_at > SWEEP_EVERY:
                        swept_at = time.monotonic()
                        await connection.execute(SWEEP, {"days": KEEP_FOR / 86_400})
                        await connection.commit()
            except Exception as error:  # a locked or vanished file: wait, try again
                if not failures:
                    log.warning("live events: cannot read them (%s); trying again", error)
                await _pause(failures)
                failures += 1
                continue
            if failures:
                failures = 0
                resync()
            for row in rows:
                deliver(row.payload)
                last = row.id
            if len(rows) < 1000:
                await asyncio.sleep(self.interval)

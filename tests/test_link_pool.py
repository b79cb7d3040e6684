"""The request pool on PostgreSQL keeps the connections Links give back,
checked out, for the next Link (`webapp.core.link_pool.LinkPool`): one given
back is taken again without a checkout through the pool; one dead, holding a
transaction, or from before the pool was invalidated is not; ORM sessions
and Links waiting in the pool are never left waiting while connections sit
kept, and get the connections given back in the order they came, none taken
by a later arrival (`FairQueue`); the pool's size still bounds them;
`dispose` closes them."""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError

from tests.support.app import on_own_loop
from tests.test_write_link import terminate
from webapp.core.config import Settings
from webapp.core.db import (
    POOL_SIZE,
    Link,
    create_async_db_engine,
    link_to,
    new_session,
    open_link,
)
from webapp.core.link_pool import LinkPool

pytestmark = pytest.mark.postgres


def test_a_connection_given_back_is_taken_again_without_a_checkout_through_the_pool(
    settings: Settings,
) -> None:
    async def run() -> tuple[bool, bool, int, int, int]:
        engine = create_async_db_engine(settings)
        pool = engine.sync_engine.pool
        assert isinstance(pool, LinkPool)
        gets: list[object] = []
        queue_get = pool._do_get
        pool._do_get = lambda: gets.append(1) or queue_get()  # type: ignore[method-assign]
        try:
            async with link_to(engine) as link:
                first, (pid,) = link._fairy, await link.row("SELECT pg_backend_pid()", ()) or (0,)
            idle = pool.checkedin(), pool.checkedout()
            async with link_to(engine) as link:
                same_fairy = link._fairy is first
                same_backend = link.driver.info.backend_pid == pid
        finally:
            await engine.dispose()
        return same_fairy, same_backend, len(gets), *idle

    # One checkout through the pool, the first; given back, it counts as idle.
    assert on_own_loop(run()) == (True, True, 1, 1, 0)


def test_a_kept_connection_the_server_closed_is_not_taken_again(settings: Settings) -> None:
    async def run() -> tuple[bool, bool]:
        engine = create_async_db_engine(settings)
        try:
            async with link_to(engine) as link:
                (first,) = await link.row("SELECT pg_backend_pid()", ()) or (0,)
            await terminate(settings, first)
            async with link_to(engine) as link:
                replaced = link.driver.info.backend_pid != first
                answered = await link.row("SELECT 1", (), resend=False) == (1,)
        finally:
            await engine.dispose()
        return replaced, answered

    assert on_own_loop(run()) == (True, True)


def test_a_connection_closed_under_its_link_is_given_back_to_the_pool_not_kept(
    settings: Settings,
) -> None:
    async def run() -> tuple[bool, int]:
        engine = create_async_db_engine(settings)
        pool = engine.sync_engine.pool
        assert isinstance(pool, LinkPool)
        try:
            link = await open_link(engine)
            await link.driver.close()
            await link.give_back()
            kept = len(pool.kept or ())
            async with link_to(engine) as link:
                answered = await link.row("SELECT 1", (), resend=False) == (1,)
        finally:
            await engine.dispose()
        return answered, kept

    assert on_own_loop(run()) == (True, 0)


def test_a_link_holding_a_transaction_is_rolled_back_through_the_pool_never_kept(
    settings: Settings,
) -> None:
    async def run() -> tuple[int, bool, object]:
        engine = create_async_db_engine(settings)
        pool = engine.sync_engine.pool
        assert isinstance(pool, LinkPool)
        try:
            async with link_to(engine) as link:
                await link.driver.execute("BEGIN")  # a transaction left open
                await link.driver.execute("CREATE TEMPORARY TABLE left_open (n integer)")
                fairy = link._fairy
            kept = len(pool.kept or ())
            async with link_to(engine) as link:
                fresh_fairy = link._fairy is not fairy
                # The transaction was rolled back: its table is gone.
                found = await link.row("SELECT to_regclass('pg_temp.left_open')", ())
        finally:
            await engine.dispose()
        return kept, fresh_fairy, found

    assert on_own_loop(run()) == (0, True, (None,))


def test_a_connection_kept_from_before_the_pool_was_invalidated_connects_again(
    settings: Settings,
) -> None:
    """A statement of a session that met a dead connection invalidates the
    whole pool (the database restarted): a kept connection, older, is
    connected again as the pool's own idle ones are."""

    async def run() -> bool:
        engine = create_async_db_engine(settings)
        pool = engine.sync_engine.pool
        try:
            async with link_to(engine) as link:
                (first,) = await link.row("SELECT pg_backend_pid()", ()) or (0,)
            time.sleep(0.02)  # the pool compares times
            pool._invalidate(None)  # type: ignore[arg-type]  # as a disconnect does
            async with link_to(engine) as link:
                (again,) = await link.row("SELECT pg_backend_pid()", ()) or (0,)
        finally:
            await engine.dispose()
        return again != first

    assert on_own_loop(run()) is True


def test_dispose_closes_the_kept_connections(settings: Settings) -> None:
    async def run() -> tuple[int, list[bool], int]:
        engine = create_async_db_engine(settings)
        pool = engine.sync_engine.pool
        assert isinstance(pool, LinkPool)
        links = [await open_link(engine) for _ in range(3)]
        drivers = [link.driver for link in links]
        for link in links:
            await link.give_back()
        kept = len(pool.kept or ())
        await engine.dispose()
        return kept, [driver.closed for driver in drivers], pool.checkedout()

    assert on_own_loop(run()) == (3, [True, True, True], 0)


def test_the_pool_size_bounds_the_connections_and_one_more_link_waits_its_turn(
    settings: Settings,
) -> None:
    """POOL_SIZE Links at once hold every connection; one more waits in the
    pool's queue (it opens no other), and gets the first given back at once,
    not after the pool's timeout."""

    async def run() -> tuple[int, bool, bool, float, int]:
        before = await count_backends(settings)
        engine = create_async_db_engine(settings)
        try:
            held = [await open_link(engine) for _ in range(POOL_SIZE)]
            for link in held[:2]:  # two kept, and taken again below
                await link.give_back()
            held[:2] = [await open_link(engine) for _ in range(2)]
            backends = {link.driver.info.backend_pid for link in held}
            one_more = asyncio.ensure_future(open_link(engine))
            await asyncio.sleep(0.3)
            waited = not one_more.done()
            started = time.monotonic()
            await held.pop().give_back()
            last = await asyncio.wait_for(one_more, 5)
            after = time.monotonic() - started
            reused = last.driver.info.backend_pid in backends
            held.append(last)
            opened = await count_backends(settings) - before
            for link in held:
                await link.give_back()
        finally:
            await engine.dispose()
        return len(backends), waited, reused, after, opened

    backends, waited, reused, after, opened = on_own_loop(run())
    assert (backends, waited, reused, opened) == (POOL_SIZE, True, True, POOL_SIZE)
    assert after < 1


def test_waiting_checkouts_get_connections_in_the_order_they_came_none_taken_by_a_later_one(
    settings: Settings,
) -> None:
    """With every connection held, three Links wait in turn; a fourth arrives
    in the same turn of the loop as a connection is given back, and so runs
    before the first waiter is woken: the connection is the first waiter's
    all the same, and the late one waits behind the other two."""

    async def run() -> tuple[list[str], list[str]]:
        engine = create_async_db_engine(settings)
        done: list[str] = []

        async def checkout(name: str) -> Link:
            link = await open_link(engine)
            done.append(name)
            return link

        try:
            held = [await open_link(engine) for _ in range(POOL_SIZE)]
            waiting = []
            for name in ("first", "second", "third"):
                waiting.append(asyncio.ensure_future(checkout(name)))
                await asyncio.sleep(0.05)  # each in the queue before the next
            late = asyncio.ensure_future(checkout("late"))  # scheduled, not run yet
            await held.pop().give_back()
            await asyncio.sleep(0.05)
            after_one = list(done)
            for _ in range(3):
                await held.pop().give_back()
                await asyncio.sleep(0.05)
            for task in [*waiting, late]:
                held.append(await task)
            for link in held:
                await link.give_back()
        finally:
            await engine.dispose()
        return after_one, done

    assert on_own_loop(run()) == (["first"], ["first", "second", "third", "late"])


def test_a_waiter_that_gives_up_after_it_was_handed_a_connection_passes_it_on(
    settings: Settings,
) -> None:
    """A checkout cancelled (its request ended) in the turn it was handed a
    connection gives it to the next waiter, and one whose wait outlasts the
    pool's timeout fails as before, the pool still whole after both."""

    async def run() -> tuple[bool, bool, bool, int]:
        engine = create_async_db_engine(settings)
        pool = engine.sync_engine.pool
        assert isinstance(pool, LinkPool)
        try:
            held = [await open_link(engine) for _ in range(POOL_SIZE)]
            first = asyncio.ensure_future(open_link(engine))
            await asyncio.sleep(0.05)
            second = asyncio.ensure_future(open_link(engine))
            await asyncio.sleep(0.05)
            await held.pop().give_back()  # handed to the first, which has not run yet
            first.cancel()
            held.append(await asyncio.wait_for(second, 5))
            cancelled = first.cancelled()
            pool._timeout = 0.1
            with pytest.raises(SQLAlchemyTimeoutError):
                await open_link(engine)
            nobody_waits = pool.waiting == 0 and not pool._pool.waiters
            for link in held:
                await link.give_back()
            async with link_to(engine) as link:
                answered = await link.row("SELECT 1", ()) == (1,)
            whole = pool.checkedin()
        finally:
            await engine.dispose()
        return cancelled, nobody_waits, answered, whole

    assert on_own_loop(run()) == (True, True, True, POOL_SIZE)


def test_sessions_take_the_connections_links_keep_without_waiting(settings: Settings) -> None:
    """Every connection of the pool kept by Links, as many sessions at once
    still each get one at once, the pool's own."""

    async def run() -> tuple[int, int, int]:
        engine = create_async_db_engine(settings)
        pool = engine.sync_engine.pool
        assert isinstance(pool, LinkPool)
        sessions = []
        try:
            links = [await open_link(engine) for _ in range(POOL_SIZE)]
            for link in links:
                await link.give_back()
            kept = len(pool.kept or ())
            sessions = [new_session(engine) for _ in range(POOL_SIZE)]
            pids = await asyncio.wait_for(
                asyncio.gather(
                    *(db.exec(text("SELECT pg_backend_pid()")) for db in sessions)  # type: ignore[call-overload]
                ),
                5,
            )
            left = len(pool.kept or ())
        finally:
            for db in sessions:
                await db.close()
            await engine.dispose()
        return kept, len({result.scalar_one() for result in pids}), left

    assert on_own_loop(run()) == (POOL_SIZE, POOL_SIZE, 0)


def test_a_session_waiting_in_the_pool_gets_the_connection_a_link_gives_back(
    settings: Settings,
) -> None:
    """While a checkout waits in the pool's queue, a Link's connection goes
    back there, where it wakes it, rather than into the kept ones."""

    async def run() -> tuple[bool, int, float]:
        engine = create_async_db_engine(settings)
        pool = engine.sync_engine.pool
        assert isinstance(pool, LinkPool)
        db = new_session(engine)
        try:
            held = [await open_link(engine) for _ in range(POOL_SIZE)]
            read = asyncio.ensure_future(db.exec(text("SELECT pg_backend_pid()")))  # type: ignore[call-overload]
            await asyncio.sleep(0.3)
            waited = not read.done()
            started = time.monotonic()
            await held.pop().give_back()
            await asyncio.wait_for(read, 5)
            after = time.monotonic() - started
            kept = len(pool.kept or ())
            for link in held:
                await link.give_back()
        finally:
            await db.close()
            await engine.dispose()
        return waited, kept, after

    waited, kept, after = on_own_loop(run())
    assert (waited, kept) == (True, 0)
    assert after < 1


def test_the_pools_listeners_hear_a_kept_connection_go_and_come_back(settings: Settings) -> None:
    """The metrics' gauge of connections in use counts from the pool's
    `checkout` and `checkin`: a connection kept is back, one taken out."""

    async def run() -> list[int]:
        engine = create_async_db_engine(settings)
        pool = engine.sync_engine.pool
        out = [0]
        seen: list[int] = []
        event.listen(pool, "checkout", lambda *_: out.__setitem__(0, out[0] + 1))
        event.listen(pool, "checkin", lambda *_: out.__setitem__(0, out[0] - 1))
        try:
            for _ in range(2):
                async with link_to(engine):
                    seen.append(out[0])
                seen.append(out[0])
            async with new_session(engine) as db:  # takes the kept one, through the pool
                await db.exec(text("SELECT 1"))  # type: ignore[call-overload]
                seen.append(out[0])
            seen.append(out[0])
        finally:
            await engine.dispose()
        return seen

    assert on_own_loop(run()) == [1, 0, 1, 0, 1, 0]


async def count_backends(settings: Settings) -> int:
    """The database's backends other than the one counting them."""
    url = settings.sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as other:
        cursor = await other.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        found = await cursor.fetchone()
    return int(found[0]) if found else 0

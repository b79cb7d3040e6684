"""The connection a write through the API holds from the write (which checks
its caller) to its live events (`webapp.core.db.Link`, PostgreSQL): one the
server closed in the pool is replaced before the first statement, a dead one
met by a first read is replaced then, a write is never sent twice, a lost
database is a 503, a failed statement leaves the connection usable, and one
cut off mid-statement never goes back to the pool."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import _queries as psycopg_queries
from psycopg import adapt as psycopg_adapt
from sqlalchemy import Integer, String, bindparam, event, func, select, text
from sqlalchemy.exc import DBAPIError

from tests.support.api import Caller, sign_up, write
from tests.support.app import TEST_DATABASE_URL, make_settings, on_own_loop
from tests.test_fast_pages import Outage
from webapp.app import create_app
from webapp.core.config import Settings
from webapp.core.db import (
    ANNOUNCE,
    DriverStatement,
    PreparedForm,
    atomic,
    create_async_db_engine,
    link_to,
    new_session,
    transaction_of_one,
)
from webapp.models import utcnow
from webapp.rules import likes
from webapp.rules.posts import NEW_POST

pytestmark = pytest.mark.postgres


def test_an_api_write_after_a_restart_is_answered_on_a_new_connection(database_url: str) -> None:
    parts = urlsplit(TEST_DATABASE_URL)
    outage = Outage((parts.hostname or "127.0.0.1", parts.port or 5432))
    relayed = parts._replace(netloc=f"{parts.username}@127.0.0.1:{outage.port}").geturl()
    app = create_app(make_settings(relayed))  # pooled, as in production
    try:
        with TestClient(app, follow_redirects=False) as client:
            alice, bob = sign_up(client, "alice"), sign_up(client, "bob")
            first, second = write(client, alice)["id"], write(client, alice)["id"]
            assert like(client, bob.headers, first).status_code == 201

            outage.stop()
            down = like(client, bob.headers, second)
            assert down.status_code == 503
            assert down.headers["retry-after"] == "5"

            outage.start()
            # The pool's connections died with the old server: they are left
            # out before the like, the first statement, is sent.
            assert like(client, bob.headers, second).status_code == 201
            outage.stop()
            outage.start()
            sent = {"title": "After", "content": "the restart"}
            assert client.post("/api/posts", json=sent, headers=bob.headers).status_code == 201
            assert client.get(f"/api/posts/{second}").json()["votes"] == 1
    finally:
        outage.close()


def like(client: TestClient, headers: dict[str, str], post_id: int):  # type: ignore[no-untyped-def]
    return client.post("/api/vote", json={"post_id": post_id, "dir": 1}, headers=headers)


def test_a_failed_statement_leaves_the_connection_in_use(settings: Settings) -> None:
    async def run() -> list[object]:
        engine = create_async_db_engine(settings)
        dropped: list[object] = []
        event.listen(engine.sync_engine, "invalidate", lambda *args: dropped.append(args))
        try:
            async with link_to(engine) as link:
                with pytest.raises(DBAPIError):
                    await link.row("SELECT 1 / %s", (0,))
                assert await link.row("SELECT %s::integer + 1", (1,)) == (2,)
        finally:
            await engine.dispose()
        return dropped

    assert on_own_loop(run()) == []


def test_a_link_cut_off_mid_statement_drops_its_connection(settings: Settings) -> None:
    async def run() -> tuple[int, bool]:
        engine = create_async_db_engine(settings)
        dropped: list[object] = []
        event.listen(engine.sync_engine, "invalidate", lambda *args: dropped.append(args))
        try:

            async def slow() -> None:
                async with link_to(engine) as link:
                    await link.row("SELECT pg_sleep(5)", ())

            async with link_to(engine) as link:
                sleeping = await link.row("SELECT pg_backend_pid()", ())
            task = asyncio.create_task(slow())
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            async with link_to(engine) as link:
                after = await link.row("SELECT pg_backend_pid()", ())
        finally:
            await engine.dispose()
        return len(dropped), sleeping == after

    # The next write is on another backend: the one that slept was closed.
    assert on_own_loop(run()) == (1, False)


def test_the_writes_of_one_connection_send_on_its_one_cursor(settings: Settings) -> None:
    """A cursor is kept with its connection for every Link that holds it, and
    a connection that replaced a dead one makes its own."""

    async def run() -> tuple[bool, bool]:
        engine = create_async_db_engine(settings)
        try:
            async with link_to(engine) as link:
                (first,) = await link.row("SELECT pg_backend_pid()", ()) or (0,)
                kept = link._cursor
            async with link_to(engine) as link:
                (again,) = await link.row("SELECT pg_backend_pid()", ()) or (0,)
                shared = again == first and link._cursor is kept
            await terminate(settings, first)
            async with link_to(engine) as link:
                (other,) = await link.row("SELECT pg_backend_pid()", ()) or (0,)
                own = other != first and link._cursor is not kept
                own = own and link._cursor.connection is link.driver
        finally:
            await engine.dispose()
        return shared, own

    assert on_own_loop(run()) == (True, True)


def test_a_read_on_a_link_is_prepared_once_on_its_connection(settings: Settings) -> None:
    """A `DriverStatement` on a Link runs as a prepared statement of its
    connection: prepared on its first run and run by name after that, its
    values and rows as the cursor's; a connection that replaced a dead one
    prepares its own."""
    statement = DriverStatement(
        select(
            func.upper(bindparam("word", type_=String)).label("word"),
            (bindparam("n", type_=Integer) + 1).label("next"),
        )
    )
    prepared = "SELECT count(*) FROM pg_prepared_statements WHERE starts_with(name, '_agora_')"

    async def run() -> list[object]:
        engine = create_async_db_engine(settings)
        seen: list[object] = []
        try:
            async with link_to(engine) as link:
                seen.append(await statement.rows(link, {"word": "a", "n": 1}))
                seen.append(await statement.rows(link, {"word": "b", "n": 40_000}))
                seen.append(await link.row(prepared, ()))
                (pid,) = await link.row("SELECT pg_backend_pid()", ()) or (0,)
            async with link_to(engine) as link:
                seen.append(await statement.rows(link, {"word": "c", "n": 2}))
                seen.append(await link.row(prepared, ()))
            await terminate(settings, pid)
            async with link_to(engine) as link:
                seen.append(await statement.rows(link, {"word": "d", "n": 3}))
                seen.append(await link.row(prepared, ()))
        finally:
            await engine.dispose()
        return seen

    # 40,000 is sent as another type than 1 (int4, not int2): a second one.
    assert on_own_loop(run()) == [
        [("A", 2)],
        [("B", 40_001)],
        (2,),
        [("C", 3)],
        (2,),
        [("D", 4)],
        (1,),
    ]


def test_a_dead_connection_is_replaced_at_the_first_statement_alone(settings: Settings) -> None:
    """The first statement on a connection that died in the pool is sent again
    on a new one; a later one is not (what ran before it may have committed)."""

    async def run() -> tuple[bool, bool]:
        engine = create_async_db_engine(settings)
        try:
            async with link_to(engine) as link:
                (first,) = await link.row("SELECT pg_backend_pid()", ()) or (0,)
            await terminate(settings, first)
            async with link_to(engine) as link:
                (second,) = await link.row("SELECT pg_backend_pid()", ()) or (0,)
                await terminate(settings, second)
                with pytest.raises(DBAPIError) as lost:
                    await link.row("SELECT 1", ())
        finally:
            await engine.dispose()
        return second != first, lost.value.connection_invalidated

    assert on_own_loop(run()) == (True, True)


async def terminate(settings: Settings, pid: int) -> None:
    """End a backend from a connection outside the engine's pool."""
    url = settings.sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as other:
        await other.execute("SELECT pg_terminate_backend(%s)", (pid,))
    await asyncio.sleep(0.1)  # the backend gone


def test_a_write_is_never_sent_twice_but_goes_on_a_connection_the_server_had_not_closed(
    settings: Settings,
) -> None:
    """A connection the server closed while it was in the pool is left out
    before anything is sent on it. One that dies under a write (a prepared
    statement, `transaction_of_one`) is dropped and not sent the write
    again, even as its first statement: it may have committed before its
    answer was lost."""

    async def run() -> tuple[bool, bool, bool]:
        engine = create_async_db_engine(settings)
        try:
            async with link_to(engine) as link:
                (first,) = await link.row("SELECT pg_backend_pid()", ()) or (0,)
            await terminate(settings, first)
            async with link_to(engine) as link:
                replaced = link.driver.info.backend_pid != first
                await terminate(settings, link.driver.info.backend_pid)
                with pytest.raises(DBAPIError) as lost:
                    await transaction_of_one(link, "SELECT 1", ())
            async with link_to(engine) as link:
                answered = await transaction_of_one(link, "SELECT 1", ()) == (1,)
        finally:
            await engine.dispose()
        return replaced, lost.value.connection_invalidated, answered

    assert on_own_loop(run()) == (True, True, True)


def test_a_read_prepared_on_a_connection_is_prepared_again_when_the_server_forgot_it(
    settings: Settings,
) -> None:
    """psycopg sends `DEALLOCATE ALL` when a transaction rolls back on a
    connection where it prepared statements of its own (a refused write after
    a statement its session ran six times): the reads a Link had prepared
    there are gone from the server, and are prepared again, not refused."""
    statement = DriverStatement(select((bindparam("n", type_=Integer) + 1).label("next")))
    backend = DriverStatement(select(func.pg_backend_pid().label("pid")))

    async def run() -> list[object]:
        engine = create_async_db_engine(settings)
        seen: list[object] = []
        try:
            async with new_session(engine) as db:  # no connection held: one from the pool
                seen.append(await statement.rows(db, {"n": 1}))
                (first,) = await backend.rows(db, {})
            async with new_session(engine) as db:
                for _ in range(6):  # psycopg prepares it: it has names of its own
                    await db.exec(text("SELECT 1"))
                with pytest.raises(LookupError):
                    async with atomic(db):
                        await db.exec(text("SELECT 2"))
                        raise LookupError("a write refused inside its transaction")
            async with new_session(engine) as db:
                seen.append(await statement.rows(db, {"n": 2}))
                (again,) = await backend.rows(db, {})
            seen.append(again == first)  # on the connection that lost them
        finally:
            await engine.dispose()
        return seen

    assert on_own_loop(run()) == [[(2,)], [(3,)], True]


# The statements a Link prepared on its connection, by the text it sent.
PREPARED_RUNS = (
    "SELECT count(*), coalesce(sum(generic_plans + custom_plans), 0)::integer"
    " FROM pg_prepared_statements WHERE starts_with(statement, %s)"
)


def test_a_write_is_a_prepared_statement_of_its_connection_past_the_cursor(
    client: TestClient, settings: Settings, alice_api: Caller, bob_api: Caller
) -> None:
    """A like (and its live events) runs as a statement prepared on its
    connection at its first run, and by name after that, past the cursor;
    the engine's listeners hear each one, and the like is done as ever."""
    post = write(client, alice_api)

    async def run() -> list[object]:
        engine = create_async_db_engine(settings)
        heard: list[str] = []
        event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: heard.append(a[2]))
        try:
            async with link_to(engine) as link:
                await likes._in_database(link, post["id"], bob_api.id, "add")
                await likes._in_database(link, post["id"], bob_api.id, "toggle")
                await likes._in_database(link, post["id"], bob_api.id, "toggle")
                no_cursor = link._cursor is None
                runs = await link.row(PREPARED_RUNS, ("SELECT caller, done, events FROM",))
                announced = await link.row(PREPARED_RUNS, ("SELECT agora_live_announce(",))
        finally:
            await engine.dispose()
        return [no_cursor, runs, announced, heard.count(likes.LIKE), heard.count(ANNOUNCE)]

    # One prepared statement each, run three times (no live event left out).
    assert on_own_loop(run()) == [True, (1, 3), (1, 3), 3, 3]
    assert client.get(f"/api/posts/{post['id']}").json()["votes"] == 1


FLAKY = """
CREATE TEMPORARY SEQUENCE tries;
CREATE FUNCTION pg_temp.flaky(p_n integer) RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
    IF nextval('tries') < 3 THEN
        RAISE EXCEPTION 'deadlock detected (a test''s)' USING ERRCODE = 'deadlock_detected';
    END IF;
    RETURN p_n + 1;
END
$$;
CREATE FUNCTION pg_temp.refuse(p_why text) RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'refused: %', p_why;
END
$$;
"""


def test_a_prepared_write_the_server_refuses_is_sqlalchemys_error_and_a_deadlock_runs_again(
    settings: Settings,
) -> None:
    """A unit of work the database aborted for a deadlock is run again, as a
    prepared statement like its first try; any other refusal is a
    `DBAPIError` with the server's own error and message, sent once, and the
    connection stays in use."""

    async def run() -> list[object]:
        engine = create_async_db_engine(settings)
        heard: list[str] = []
        event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: heard.append(a[2]))
        dropped: list[object] = []
        event.listen(engine.sync_engine, "invalidate", lambda *args: dropped.append(args))
        try:
            async with link_to(engine) as link:
                await link.driver.execute(FLAKY)
                answer = await transaction_of_one(link, "SELECT pg_temp.flaky(%s)", (41,))
                with pytest.raises(DBAPIError) as refused:
                    await transaction_of_one(link, "SELECT pg_temp.refuse(%s)", ("no way",))
                runs = await link.row(PREPARED_RUNS, ("SELECT pg_temp.flaky(",))
                tries = await link.row("SELECT last_value FROM tries", ())
        finally:
            await engine.dispose()
        error = refused.value.orig
        return [
            answer,
            tries,
            runs,
            heard.count("SELECT pg_temp.flaky(%s)"),
            heard.count("SELECT pg_temp.refuse(%s)"),
            type(error),
            "refused: no way" in str(refused.value),
            refused.value.connection_invalidated,
            dropped,
        ]

    # Two aborted runs and the third: each heard, each a run of the one
    # statement prepared.
    assert on_own_loop(run()) == [
        (42,),
        (3,),
        (1, 3),
        3,
        1,
        psycopg.errors.RaiseException,
        True,
        False,
        [],
    ]


def test_a_prepared_write_sends_nulls_empty_arrays_and_their_later_values_typed_alike(
    client: TestClient, settings: Settings, alice_api: Caller, bob_api: Caller
) -> None:
    """A new post with no caller to check (None), no tags and no mentions
    (empty arrays), then one with both, on one connection: each is the post
    it says, whichever prepared statement (the values' types) it ran as."""
    now = utcnow()

    def post(tags: list[str], mentioned: list[int]) -> tuple[object, ...]:
        # title, content, published, owner, stamp, must confirm, time, HTML,
        # excerpt, tags, mentioned, posts an hour.
        return ("T", "C", True, alice_api.id, None, False, now, "<p>C</p>", "C", tags, mentioned, 0)

    async def run() -> list[tuple[Any, ...] | None]:
        engine = create_async_db_engine(settings)
        try:
            async with link_to(engine) as link:
                bare = await transaction_of_one(link, NEW_POST, post([], []))
                full = await transaction_of_one(link, NEW_POST, post(["prepared"], [bob_api.id]))
                again = await transaction_of_one(link, NEW_POST, post([], []))
                runs = await link.row(PREPARED_RUNS, ("SELECT caller, post_id",))
        finally:
            await engine.dispose()
        return [bare, full, again, runs]

    bare, full, again, runs = on_own_loop(run())
    assert bare is not None and full is not None and again is not None
    assert runs == (2, 3)  # the empty arrays' types, then an int2[] of ids
    assert [bare[0], full[0], again[0]] == [None, None, None]  # no caller refused
    shown = [client.get(f"/api/posts/{row[1]}").json() for row in (bare, full, again)]
    assert [answer["tags"] for answer in shown] == [[], ["prepared"], []]
    mentions = client.get("/api/notifications", headers=bob_api.headers).json()
    assert [n["post_id"] for n in mentions if n["kind"] == "mention"] == [full[1]]


def test_a_prepared_write_sends_its_values_as_the_cursor_would(settings: Settings) -> None:
    """The values of a write run prepared are dumped as psycopg's cursor
    dumps them (the same bytes, types and formats), the kept dumper of its
    statement reused from one run to the next whatever the values were:
    small and large numbers, None, times with and without a zone, empty
    and filled arrays."""
    now = utcnow()
    sent = [
        ("T", "C", True, 5, None, False, now, "<p>", "e", [], [], 0),
        ("T", "C", False, 50_000, "stamp", True, now, "<p>", "e", ["a", "b"], [1, 2], 10),
        ("T", "C", True, 5, None, False, now, "<p>", "e", ["x"], [70_000], 0),
        ("T", "C", True, 5, None, False, now.replace(tzinfo=None), "", "", [], [3], 2**40),
        ("T", "C", True, 5, None, False, now, "<p>", "e", [], [], 0),
    ]
    url = settings.sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url) as connection:
        form = PreparedForm(NEW_POST, connection.info.encoding)
        kept = psycopg_adapt.Transformer(connection)
        for values in sent:
            cursors = psycopg_queries.PostgresQuery(psycopg_adapt.Transformer(connection))
            cursors.convert(NEW_POST, values)
            dumped = kept.dump_sequence(form.values(values), form.formats)
            assert form.query == cursors.query
            assert dumped == cursors.params
            assert (kept.types, kept.formats) == (cursors.types, cursors.formats)
        with pytest.raises(psycopg.ProgrammingError):
            form.values(sent[0][:-1])  # a value short, as the cursor refuses it

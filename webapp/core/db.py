"""The engines, database sessions, and the migrations runner.

Requests run on the async engine (psycopg's async connections on PostgreSQL,
aiosqlite on SQLite), so a page's queries never hop threads. The command line
(migrate, seed) and the tests' own checks use a plain sync engine on the same URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import select
import sys
import time
import weakref
from collections import namedtuple
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg
import psycopg.abc
from psycopg import _queries as psycopg_queries
from psycopg import adapt as psycopg_adapt
from psycopg import errors as psycopg_errors
from psycopg import generators as psycopg_generators
from psycopg.pq import DiagnosticField, ExecStatus
from sqlalchemy import Connection, Engine, Executable, Result, Row, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool, QueuePool
from sqlalchemy.sql.dml import Insert, UpdateBase
from sqlalchemy.util.concurrency import greenlet_spawn
from sqlmodel import Session, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.core.config import Settings
from webapp.core.greenlets import run_kept
from webapp.core.link_pool import LinkPool

if TYPE_CHECKING:
    from alembic.config import Config

T = TypeVar("T")
log = logging.getLogger("webapp.db")

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# Indexes that only a migration creates, because the models cannot say them
# portably (a PostgreSQL trigram index); schema comparisons leave them out.
DATABASE_ONLY_INDEXES = frozenset({"ix_posts_search", "ix_posts_fulltext"})
# Columns the same way, by table: PostgreSQL's full-text document of a post
# (migration 0022_search), which SQLite keeps in a table of its own.
DATABASE_ONLY_COLUMNS = frozenset({("posts", "search")})
# Tables the same way: SQLite's queue of live events (migration 0006), which
# PostgreSQL's notifications make needless there.
DATABASE_ONLY_TABLES = frozenset({"live_events"})
# SQLite's full-text table of the posts, and the tables FTS5 keeps for it.
DATABASE_ONLY_TABLE_PREFIXES = ("posts_fts",)

# Any constant will do: it names the lock that migrating workers queue on.
MIGRATION_LOCK_ID = 0x41474F5241


def utc_sessions(url: str) -> dict[str, Any]:
    """The `connect_args` that start every PostgreSQL session in UTC (a
    startup option, no statement), after the URL's own `options`. psycopg
    then reads times as `datetime.UTC` ones; under a server's zone such as
    `Etc/UTC` it reads them in a `ZoneInfo`, through which every time a page
    prints (`iso_time`, `time_ago`) is converted again: a tenth of a random
    profile's instructions. The app stores and shows UTC alone either way."""
    given = make_url(url).query.get("options", "")
    given = given if isinstance(given, str) else " ".join(given)
    return {"options": f"{given} -c TimeZone=UTC".strip()}


def create_db_engine(settings: Settings, *, for_migrations: bool = False) -> Engine:
    """The sync engine: migrations, seeding, tests."""
    url = settings.sqlalchemy_url
    if settings.is_sqlite:
        _prepare_sqlite_file(settings)
        engine = create_engine(
            url,
            # Wait for another worker's write instead of failing at once.
            connect_args={"timeout": 15, "check_same_thread": False},
            pool_size=10,
            max_overflow=20,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        if for_migrations:
            _take_exclusive_transactions(engine)
        return engine
    kwargs: dict[str, Any] = {}
    if not for_migrations:
        kwargs = {"pool_size": 10, "max_overflow": 10, "pool_timeout": 10}
    return create_engine(url, connect_args=utc_sessions(url), **kwargs)


# The connections each worker's requests share on PostgreSQL, and how long a
# request waits for one before it fails.
POOL_SIZE = 10
POOL_TIMEOUT = 30


def create_async_db_engine(settings: Settings, *, pooled: bool = True) -> RequestEngine:
    """The engine requests run on.

    No pre-ping: a round trip on every checkout costs more than the queries of a
    page. A connection that a restarted database dropped raises a disconnect
    error instead; SQLAlchemy then invalidates the whole pool, and
    `RetryingSession` runs the failed first statement once more on a new one.

    `pooled=False` opens a connection per use: for a caller that runs each
    request on an event loop of its own (the tests' clients), since a pooled
    connection belongs to the loop it was opened on.
    """
    pool: dict[str, Any] = (
        {"pool_size": 10, "max_overflow": 20} if pooled else {"poolclass": NullPool}
    )
    if settings.is_sqlite:
        _prepare_sqlite_file(settings)
        engine = create_async_engine(
            settings.sqlalchemy_url.replace("sqlite://", "sqlite+aiosqlite://", 1),
            connect_args={"timeout": 15},
            **pool,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return RequestEngine(engine.sync_engine)
    if pooled:
        # A queue, not an overflow: a request takes one connection (and never a
        # second while it holds it), so one beyond the pool would be opened
        # and closed again for a single request, which costs the database a
        # new backend each time; a request waits its turn instead.
        pool = {"pool_size": POOL_SIZE, "max_overflow": 0, "pool_timeout": POOL_TIMEOUT}
        # Keeping the connections that Links give back, checked out, for the
        # next Link: past the queue pool's checkout and checkin (`LinkPool`).
        pool["poolclass"] = LinkPool
    # Autocommit: a read is one round trip, not BEGIN, SELECT and ROLLBACK.
    # Statements that must land together run in `transaction()`.
    engine = create_async_engine(
        settings.sqlalchemy_url,
        isolation_level="AUTOCOMMIT",
        connect_args=utc_sessions(settings.sqlalchemy_url),
        **pool,
    )
    return RequestEngine(engine.sync_engine)


class WriterQueue:
    """SQLite lets one connection write at a time, and a connection that finds
    the file locked sleeps in growing steps (up to 100 ms each) before it looks
    again, so under a stream of writes a transaction could wait far longer than
    the ones before it took. A worker's writers queue here instead, each woken
    as the one before it commits; only other processes' writers meet SQLite's
    busy handler. One queue per event loop (the tests run several)."""

    def __init__(self) -> None:
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def turn(self) -> asyncio.Lock:
        """The lock this event loop's writers take turns on."""
        return self._locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())


class RequestEngine(AsyncEngine):
    """The async engine, carrying the queue its own SQLite writers wait in
    (`atomic`): the queue lives and dies with the engine it serves."""

    __slots__ = ("writers",)

    def __init__(self, sync_engine: Engine) -> None:
        super().__init__(sync_engine)
        self.writers = WriterQueue()


def _prepare_sqlite_file(settings: Settings) -> None:
    """Make the database's folder, and the file itself when it is not there yet,
    readable by its owner alone (on POSIX; the secret key beside it is too).
    SQLite would create it world-readable (0644 less the umask), and it gives
    the -wal and -shm files it makes beside it the database file's mode, so
    those follow. An existing file keeps the mode its owner gave it."""
    path = settings.sqlite_path
    if path is None or str(path).startswith("file:"):
        return  # in memory, or a URI filename (`?uri=true`) that SQLite reads itself
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: of several workers starting at once, one creates it.
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


class RetryingSession(Session):
    """A session whose first statement is tried twice when the connection it got
    turns out to be dead (the database restarted since the pool opened it).

    Only the first statement of a transaction is retried: nothing else has run
    on the lost connection, so running it again on a fresh one is safe.
    """

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        return self._retry_first(super().execute, args, kwargs)

    def exec(self, *args: Any, **kwargs: Any) -> Any:
        return self._retry_first(super().exec, args, kwargs)

    def _retry_first(self, run: Any, args: Any, kwargs: Any) -> Any:
        first = not self.in_transaction()
        try:
            return run(*args, **kwargs)
        except DBAPIError as error:
            if not (first and error.connection_invalidated):
                raise
            self.rollback()
            return run(*args, **kwargs)


async def read_row(
    engine: AsyncEngine, statement: Executable, params: dict[str, Any] | None = None
) -> Row[Any] | None:
    """The first row of one read, on a pooled connection of its own, past the ORM
    session: for the statements that nearly every request runs (its session, the
    data version). Tried twice when the pooled connection turns out to be dead."""
    for attempt in (1, 2):
        try:
            async with engine.connect() as connection:
                return (await connection.execute(statement, params)).first()
        except DBAPIError as error:
            if attempt == 2 or not error.connection_invalidated:
                raise
    return None  # unreachable: the second attempt returns or raises


def new_session(engine: AsyncEngine) -> AsyncSession:
    """A unit of work for one request. It takes a connection from the pool at its
    first statement only, so a page served from the cache takes none."""
    return AsyncSession(engine, expire_on_commit=False, sync_session_class=RetryingSession)


async def rows(
    db: AsyncSession, statement: Executable, params: Mapping[str, Any] | None = None
) -> Result[Any]:
    """The result of a Core statement run through the request's session: its
    connection, its transaction, and its second try of a first statement on a
    dead connection (`RetryingSession`). For the statements sqlmodel's `exec`
    cannot type (a select of more than four columns, a subquery's columns);
    its `execute` warns at every call that `exec` is meant."""
    result: Result[Any] = await db.exec(statement, params=params)  # type: ignore[call-overload]  # sqlmodel types only its own selects; it runs any statement
    return result


def dialect_name(db: AsyncSession | Link) -> str:
    """The database's dialect, `postgresql` or `sqlite`: for what the two say differently."""
    if isinstance(db, Link):
        return db.dialect_name
    return db.get_bind().dialect.name


async def highest_id(db: AsyncSession, table: str) -> int:
    """The highest id the table has ever given a row (0: none yet), deleted
    rows' included: PostgreSQL's sequence of its `id` (a SERIAL column), or
    SQLite's AUTOINCREMENT counter. `table` is one of our own names, never
    input."""
    if dialect_name(db) == "postgresql":
        statement = text(
            "SELECT pg_sequence_last_value(CAST(pg_get_serial_sequence(:table, 'id') AS regclass))"
        ).bindparams(table=table)
    else:
        statement = text("SELECT seq FROM sqlite_sequence WHERE name = :table").bindparams(
            table=table
        )
    found = (await rows(db, statement)).first()
    return int(found[0]) if found is not None and found[0] is not None else 0


def insert_ignoring_duplicates(db: AsyncSession, model: type[SQLModel]) -> Insert:
    """INSERT into `model`'s table that does nothing where a unique index
    already holds the row (ON CONFLICT DO NOTHING, which both PostgreSQL and
    SQLite say alike, but through their own dialect's statement). Add
    `.values(...)`, and `.returning(...)` to learn whether a row went in:
    SQLAlchemy keeps no rowcount for an INSERT, and a row ignored returns none."""
    dialect_insert = postgresql.insert if dialect_name(db) == "postgresql" else sqlite.insert
    return dialect_insert(model).on_conflict_do_nothing()


@asynccontextmanager
async def atomic(db: AsyncSession) -> AsyncIterator[AsyncSession]:
    """Run the statements inside as one transaction: all of them or none.

    On PostgreSQL the requests' connections autocommit each statement; this
    takes a connection in a real transaction (READ COMMITTED) for the block.
    SQLite's driver would begin only at the first write, after the reads that
    decide it (is the post still there, was this comment just sent): the block
    takes the write lock first instead, so that its reads and writes are one.
    """
    await db.commit()  # whatever ran before stands on its own
    if dialect_name(db) == "postgresql":
        await db.connection(execution_options={"isolation_level": "READ COMMITTED"})
        async with _committed(db):
            yield db
        return
    async with _writer_turn(db):
        await (await db.connection()).exec_driver_sql("BEGIN IMMEDIATE")
        async with _committed(db):
            yield db


@asynccontextmanager
async def _committed(db: AsyncSession) -> AsyncIterator[None]:
    try:
        yield
    except BaseException:
        await db.rollback()
        raise
    await db.commit()


def _writer_turn(db: AsyncSession) -> contextlib.AbstractAsyncContextManager[object]:
    """The turn of this worker's SQLite writers (`WriterQueue`); an engine made
    elsewhere than `create_async_db_engine` has no queue, and leaves waiting
    to SQLite's busy handler."""
    if isinstance(db.bind, RequestEngine):
        return db.bind.writers.turn()
    return contextlib.nullcontext()


# deadlock detected, serialization failure: the database gave up on one of two
# transactions so that the other could go on; running it again is the answer.
RETRYABLE_SQLSTATES = {"40P01", "40001"}
TRANSACTION_ATTEMPTS = 4


def is_retryable(error: DBAPIError) -> bool:
    if getattr(error.orig, "sqlstate", None) in RETRYABLE_SQLSTATES:
        return True
    # SQLite: a lock it could not take within busy_timeout, or a deferred
    # transaction that could not become a writer. (Where the driver was never
    # loaded, none of its errors can have come.)
    sqlite3 = sys.modules.get("sqlite3")
    return (
        sqlite3 is not None
        and isinstance(error.orig, sqlite3.OperationalError)
        and "locked" in str(error.orig)
    )


async def transaction(db: AsyncSession, work: Callable[[], Awaitable[T]]) -> T:
    """Run `work` as one transaction (`atomic`), and run it again, a few times
    at most and after a short random pause, when the database aborts it for a
    deadlock or a serialization failure. `work` must read what it needs inside
    and change rows with statements (not ORM objects, which a rollback expires),
    so that a second run starts from the state of the database at that time."""
    for attempt in range(1, TRANSACTION_ATTEMPTS + 1):
        try:
            async with atomic(db):
                return await work()
        except DBAPIError as error:
            if attempt == TRANSACTION_ATTEMPTS or not is_retryable(error):
                raise
        await asyncio.sleep(random.uniform(0.005, 0.02) * 2**attempt)  # noqa: S311 (jitter)
    raise AssertionError("unreachable: the last attempt returns or raises")


async def driver_row(
    db: AsyncSession, sql: str, params: Sequence[Any], *, first_try_again: bool = False
) -> tuple[Any, ...] | None:
    """The first row of one PostgreSQL statement (psycopg's `%s` placeholders),
    sent on the request session's connection by the driver itself: past
    SQLAlchemy's execution layers and its thread-hopping adapter, which cost
    more Python time than the round trip's own. For the few statements that
    every write runs. Listeners of `before_cursor_execute` (the statement
    counts) still hear it. A driver error becomes SQLAlchemy's (a
    `DBAPIError` of the same kind, `connection_invalidated` when the
    connection died, which is then dropped from the pool);
    `first_try_again`: a statement that is the session's first is sent once
    more on a fresh connection when the pooled one was dead (as
    `RetryingSession` does)."""
    for attempt in (1, 2):
        fresh = not db.in_transaction()
        connection, driver = await _driver_connection(db)
        sync = _told(connection, sql, params)
        try:
            cursor = await driver.execute(sql, params)
            row: tuple[Any, ...] | None = await cursor.fetchone()
        except psycopg.Error as error:
            dead = sync.dialect.is_disconnect(error, driver, None)  # type: ignore[arg-type]  # psycopg's errors are the dialect's DBAPI errors
            if dead:
                await connection.invalidate()
            await db.rollback()
            wrapped = DBAPIError.instance(
                sql, params, error, psycopg.Error, connection_invalidated=dead
            )
            if not (dead and fresh and first_try_again and attempt == 1):
                raise wrapped from error
        else:
            return row
    raise AssertionError("unreachable: the second attempt returns or raises")


class Link:
    """One pooled PostgreSQL connection, held by one write request from its
    first statement (the write, which checks its caller) to its last (the
    write's live events) and given back once: its statements go to the
    driver itself, past the ORM session. A session's connection costs such a
    request more Python calls than its statements (the session, its
    transaction, its `Connection` and their events, made and closed again).

    Every statement is autocommitted (the request engine's setting), as on a
    session outside `atomic`; the engine's `before_cursor_execute` listeners
    (the statement counts) hear each one; a driver error becomes SQLAlchemy's,
    as through a session; a pooled connection the server had closed is
    dropped before the first statement (`open_link`), and a read that is the
    first statement on a connection found dead is sent again on a new one (as
    `RetryingSession` does; a write is not: `row`). A write and its live
    events (`transaction_of_one`), like a page's reads, run as statements
    prepared on the connection, past psycopg's cursor (`_run_prepared`).
    Made by `link_to`."""

    __slots__ = ("_cursor", "_dead", "_fairy", "_prepared", "_sent", "busy", "driver", "engine")

    dialect_name = "postgresql"

    def __init__(self, engine: Engine, fairy: Any) -> None:
        self.engine = engine
        self._take(fairy)

    def _take(self, fairy: Any) -> None:
        driver = fairy.driver_connection
        if not isinstance(driver, psycopg.AsyncConnection) or not driver.autocommit:
            raise TypeError("a Link needs the request engine's autocommitted psycopg connections")
        self._fairy = fairy
        self.driver: psycopg.AsyncConnection[Any] = driver
        # Found on the first statement that needs it: a page's reads and a
        # write's statements run as prepared statements, without one.
        self._cursor: psycopg.AsyncCursor[Any] | None = None
        self._prepared = _prepared_on(fairy, driver)
        self._sent = False  # whether a statement has run on this connection
        self._dead = False
        self.busy = False  # inside a statement: the connection may be mid-answer

    def _told(self, sql: str, params: Any) -> None:
        if self.engine.dispatch.before_cursor_execute:
            self.engine.dispatch.before_cursor_execute(None, None, sql, params, None, False)

    async def _fetch(
        self,
        sql: str,
        params: Any,
        fetch: Callable[[Any], Awaitable[T]],
        prepare: bool | None,
        resend: bool = True,
        form: PreparedForm | None = None,
    ) -> T:
        """`form`: the statement's prepared form, run as such (`_run_prepared`),
        its rows given as `fetch` would have read them from the cursor.
        `resend=False`: never sent again on a new connection (see `row`)."""
        for attempt in (1, 2):
            first = not self._sent
            self._told(sql, params)
            self.busy = True
            try:
                if form is None:
                    cursor = self._cursor
                    if cursor is None:
                        cursor = self._cursor = _kept_cursor(self._fairy, self.driver)
                    await cursor.execute(sql, params, prepare=prepare)
                    found = await fetch(cursor)
                else:
                    found = await self._run_prepared(form, params)
            except psycopg.Error as error:
                self.busy = False
                dead = self.engine.dialect.is_disconnect(error, self.driver, None)  # type: ignore[arg-type]  # psycopg's errors are the dialect's DBAPI errors
                wrapped = DBAPIError.instance(
                    sql, params, error, psycopg.Error, connection_invalidated=dead
                )
                if not dead:
                    raise wrapped from error
                await greenlet_spawn(self._fairy.invalidate)
                if not (first and attempt == 1 and resend):
                    raise wrapped from error
                self._take(await _checkout(self.engine))
                continue
            self.busy = False
            self._sent = True
            return found
        raise AssertionError("unreachable: the second attempt returns or raises")

    async def _run_prepared(
        self, form: PreparedForm, params: Sequence[Any] | Mapping[str, Any]
    ) -> Any:
        """The rows of a statement run as a prepared statement of this
        connection's, past the cursor: what `execute` and `fetchall` do for
        one that psycopg has prepared (the same values dumped as the same
        types, the same statements sent, the rows loaded the same way), with
        none of the cursor's bookkeeping, which was half the Python calls of
        each statement of a page. Prepared on its first run here, where
        psycopg prepares one on its sixth: PostgreSQL plans each of the first
        five runs of a prepared statement for its own values, as it plans a
        statement that is not prepared, so the plans are the same."""
        driver = self.driver
        pgconn = driver.pgconn
        prepared = self._prepared
        # One for each statement on a connection, as a cursor keeps one while
        # it runs the same statement: it keeps the loaders of its columns.
        transformer = prepared.transformers.get(form.query)
        if transformer is None:
            transformer = prepared.transformers[form.query] = psycopg_adapt.Transformer(driver)
        values = transformer.dump_sequence(form.values(params), form.formats)
        types = transformer.types or ()
        key = (form.query, types)
        for attempt in (1, 2):
            name = prepared.names.get(key)
            if name is None:
                # Never named twice on a connection: a preparation cut off may
                # have left its name taken.
                made = b"_agora_%d" % prepared.made
                prepared.made += 1
                pgconn.send_prepare(made, form.query, param_types=types)
                for result in await driver.wait(psycopg_generators.execute(pgconn)):
                    if result.status == ExecStatus.FATAL_ERROR:
                        raise psycopg_errors.error_from_result(result, encoding=form.encoding)
                name = prepared.names[key] = made
            pgconn.send_query_prepared(name, values, param_formats=transformer.formats)
            results = await driver.wait(psycopg_generators.execute(pgconn))
            result = results[-1]
            if result.status == ExecStatus.TUPLES_OK:
                break
            if result.status != ExecStatus.FATAL_ERROR:
                raise psycopg.InternalError(f"unexpected result status {result.status!r}")
            if attempt == 1 and result.error_field(DiagnosticField.SQLSTATE) in _FORGOTTEN:
                # The server no longer has it: psycopg sends DEALLOCATE ALL
                # when a transaction rolls back on a connection where it had
                # prepared statements of its own, and a table changed under a
                # plan leaves it unusable. Prepared again, once.
                prepared.names.clear()
                continue
            raise psycopg_errors.error_from_result(result, encoding=form.encoding)
        transformer.set_pgresult(result)
        return transformer.load_rows(0, result.ntuples, tuple)

    async def row(
        self,
        sql: str,
        params: Sequence[Any] | Mapping[str, Any],
        *,
        resend: bool = True,
        prepared: bool = False,
    ) -> tuple[Any, ...] | None:
        """The first row of one statement in the driver's own SQL (`%s`
        placeholders), or None. `resend=False`: a write, never sent a second
        time, even as the first statement on a connection that died (the
        first may have committed before its answer was lost); `open_link`
        has left out the connections the server had closed in the pool.
        `prepared`: run as a prepared statement of the connection's, past
        the cursor (`_run_prepared`), as a page's reads are: for the few
        fixed statements that are each a write's whole unit of work
        (`transaction_of_one`), which PostgreSQL plans alike for any values."""
        if prepared and len(self._prepared.names) < MAX_PREPARED:
            form = prepared_form(sql, self.driver.info.encoding)
            found = await self._fetch(sql, params, _fetchall, None, resend, form)
            return found[0] if found else None
        # Not prepared, or as many as a connection keeps: the cursor's way.
        return await self._fetch(sql, params, _fetchone, None, resend)

    async def all(
        self,
        sql: str,
        params: Sequence[Any] | Mapping[str, Any],
        prepare: bool | None = None,
        form: PreparedForm | None = None,
    ) -> list[tuple[Any, ...]]:
        """`form`: run as a prepared statement, past the cursor
        (`_run_prepared`)."""
        if form is not None and (
            form.encoding != self.driver.info.encoding or len(self._prepared.names) >= MAX_PREPARED
        ):
            form = None  # as many as a connection keeps: the cursor's way
        return await self._fetch(sql, params, _fetchall, prepare, form=form)

    async def exec(self, statement: Executable, params: Mapping[str, Any] | None = None) -> Any:
        """A statement of SQLAlchemy's, through SQLAlchemy, on this connection:
        for the statements a write seldom runs (a mention's accounts). Its
        rows are read whole."""
        self._sent = True
        connection = Connection(self.engine, connection=self._fairy)
        return await greenlet_spawn(_buffered, connection, statement, params)

    async def give_back(self) -> None:
        """Back to the pool; dropped instead when a statement was cut off
        mid-answer (the request was cancelled), or the connection died. A
        connection that holds no transaction (autocommit: none is ever left
        open) is kept, still checked out, for the next Link, when the pool
        is the request engine's (`LinkPool.keep`); else it goes back without
        the pool's ROLLBACK, which the driver would skip after taking its
        lock and the adapter's turns; into a queue pool's queue, that is no
        I/O at all, and it is done here rather than in a greenlet
        (`returns_without_io`)."""
        fairy, self._fairy = self._fairy, None
        if fairy is None:
            return
        if self.busy:
            await asyncio.shield(greenlet_spawn(fairy.invalidate))
            return
        driver = self.driver
        idle = driver.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE
        pool = fairy._pool
        if (
            idle
            and type(pool) is LinkPool
            and driver.autocommit
            and not driver.closed
            and pool.keep(fairy)
        ):
            return  # kept, checked out, for the next Link
        if idle and returns_without_io(self.engine.pool):
            fairy._checkin(True)
            return
        await greenlet_spawn(fairy._checkin, idle)


def returns_without_io(pool: Any) -> bool:
    """Whether a connection that holds no transaction goes back into `pool`
    with no I/O, so without a greenlet: into a queue pool's queue, with no
    connection beyond its size to close (NullPool, the tests', closes it)."""
    return isinstance(pool, QueuePool) and pool.overflow() <= 0


# Where a pooled connection keeps the cursor its Links send statements on
# (the info of its pool record, which lives as long as the connection does).
_CURSOR = "agora.link_cursor"


def _kept_cursor(fairy: Any, driver: psycopg.AsyncConnection[Any]) -> psycopg.AsyncCursor[Any]:
    """The connection's one cursor for Links, made on the first statement
    that is not run prepared past it (`Link.row`'s, `Link.all`'s without a
    form): a cursor made and closed for each statement cost a write's three
    statements a tenth of their Python calls. A cursor holds no more than
    its last result, and a statement run on it replaces that; one of an
    earlier connection (the record reconnected) is never taken."""
    info = fairy.info
    cursor: psycopg.AsyncCursor[Any] | None = info.get(_CURSOR)
    if cursor is None or cursor.connection is not driver or cursor.closed:
        cursor = info[_CURSOR] = driver.cursor()
    return cursor


# Where a pooled connection keeps the statements Links prepared on it
# (`Link._run_prepared`), beside its cursor.
_PREPARED = "agora.link_prepared"
# At most this many on a connection (psycopg's own `prepared_max`): the
# statements run this way are a few fixed ones, each with a type or two for
# its values.
MAX_PREPARED = 100


# What a prepared statement answers when the server has forgotten it
# (invalid_sql_statement_name) or its plan can no longer run (a table changed
# its result type: feature_not_supported).
_FORGOTTEN = (b"26000", b"0A000")


class PreparedStatements:
    """The statements prepared on one connection by Links: their names by
    (query, types of the values), how many names were made, and the
    `Transformer` each query's values and rows go through."""

    __slots__ = ("driver", "made", "names", "transformers")

    def __init__(self, driver: psycopg.AsyncConnection[Any]) -> None:
        self.driver = driver
        self.names: dict[tuple[bytes, tuple[int, ...]], bytes] = {}
        self.made = 0
        self.transformers: dict[bytes, psycopg.abc.Transformer] = {}


def _prepared_on(fairy: Any, driver: psycopg.AsyncConnection[Any]) -> PreparedStatements:
    """Those of this connection (not of one the pool's record held before it
    reconnected: a new connection has none)."""
    info = fairy.info
    prepared: PreparedStatements | None = info.get(_PREPARED)
    if prepared is None or prepared.driver is not driver:
        prepared = info[_PREPARED] = PreparedStatements(driver)
    return prepared


async def _fetchone(cursor: Any) -> Any:
    return await cursor.fetchone()


async def _fetchall(cursor: Any) -> Any:
    return await cursor.fetchall()


def _buffered(connection: Connection, statement: Executable, params: Any) -> Any:
    return connection.execute(statement, params).freeze()()


async def _checkout(engine: Engine) -> Any:
    """A connection from the pool, or SQLAlchemy's error (a database that
    cannot be reached is an `OperationalError`: a 503), as `connect` raises:
    one a Link gave back, when the pool kept it (`LinkPool.take`), else
    checked out of the pool on a kept greenlet (`run_kept`): a new one for
    each checkout cost the kernel a chunk of frame stack each time."""
    pool = engine.pool
    if type(pool) is LinkPool:
        fairy = pool.take()  # one a Link gave back, still checked out
        if fairy is not None:
            return fairy
    try:
        return await run_kept(engine.raw_connection)
    except engine.dialect.loaded_dbapi.Error as error:
        Connection._handle_dbapi_exception_noconnection(error, engine.dialect, engine)
        raise


async def open_link(engine: AsyncEngine) -> Link:
    """A `Link`, its connection taken from the pool: the caller gives it back
    (`give_back`), whatever happens, or uses `link_to`. A pooled connection
    the server has closed (it restarted, or ended the backend) is dropped
    and another taken, before any statement goes: a write can then be its
    first statement, which is never sent twice (`Link.row`)."""
    fairy = await _checkout(engine.sync_engine)
    for _ in range(POOL_SIZE):
        if not _closed_by_server(fairy.driver_connection):
            break
        await greenlet_spawn(fairy.invalidate)  # back to the pool, to connect again
        fairy = await _checkout(engine.sync_engine)
    try:
        return Link(engine.sync_engine, fairy)
    except BaseException:
        await greenlet_spawn(fairy.close)
        raise


def _closed_by_server(driver: Any) -> bool:
    """Whether an idle pooled connection is gone: psycopg knows it broken, or
    it has something to read, when nothing was asked on it, so that is the
    server's farewell (a fatal error, the end of the stream). One `poll` of
    its socket that does not wait; at worst a message nobody waits for costs
    the connection."""
    if not isinstance(driver, psycopg.AsyncConnection):
        return False
    if driver.closed:
        return True  # already known broken
    watch = select.poll()
    watch.register(driver.pgconn.socket, select.POLLIN)
    return bool(watch.poll(0))


@asynccontextmanager
async def link_to(engine: AsyncEngine) -> AsyncIterator[Link]:
    """A `Link`: one connection from the pool for the block, given back after it."""
    link = await open_link(engine)
    try:
        yield link
    finally:
        await link.give_back()


async def _read_link(engine: Engine) -> Link | None:
    """A `Link` for a read on a connection taken from the pool (the session
    holds none), or None when its connections do not autocommit (then the
    session reads). Not `open_link`: a read met by a dead connection is sent
    again on a new one (`Link._fetch`), so it needs no poll first."""
    fairy = await _checkout(engine)
    try:
        return Link(engine, fairy)
    except TypeError:  # not autocommitted
        await greenlet_spawn(fairy.close)
        return None


async def _driver_connection(
    db: AsyncSession,
) -> tuple[AsyncConnection, psycopg.AsyncConnection[Any]]:
    """The session's connection and the driver's under it. Found once for each
    of the session's transactions (in autocommit, the time it holds one
    connection), and kept in the session's `info` with that transaction: a
    later one may hold another connection."""
    held = db.info.get(_DRIVER)
    transaction = db.sync_session.get_transaction()
    if held is not None and transaction is not None and held[0] is transaction:
        return held[1], held[2]
    connection = await db.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    assert isinstance(driver, psycopg.AsyncConnection)
    db.info[_DRIVER] = (db.sync_session.get_transaction(), connection, driver)
    return connection, driver


_DRIVER = "agora.driver_connection"


async def unprepared(db: AsyncSession, statement: Executable) -> Any:
    """A statement's result through the session, the statement never
    prepared on PostgreSQL (see `DriverStatement`'s `prepare`): for one whose
    best plan depends on its values."""
    if dialect_name(db) != "postgresql":
        return await db.exec(statement)  # type: ignore[call-overload]  # any select
    _, driver = await _driver_connection(db)
    threshold = driver.prepare_threshold
    driver.prepare_threshold = None
    try:
        return await db.exec(statement)  # type: ignore[call-overload]  # any select
    finally:
        driver.prepare_threshold = threshold


def _told(connection: AsyncConnection, sql: str, params: Any) -> Connection:
    """Tell the engine's `before_cursor_execute` listeners (the statement
    counts) of a statement about to go to the driver, as SQLAlchemy would;
    the sync connection they are told of."""
    sync = connection.sync_connection
    assert sync is not None  # the session's connection is open
    if sync._has_events or sync.engine._has_events:
        sync.dispatch.before_cursor_execute(sync, None, sql, params, None, False)
    return sync


async def transaction_of_one(
    db: AsyncSession | Link, sql: str, params: Sequence[Any]
) -> tuple[Any, ...] | None:
    """A PostgreSQL statement that is a whole unit of work by itself (a
    function of the database's that runs several, an INSERT … RETURNING):
    its first row, or None. Autocommitted, the transaction is one round trip,
    without a BEGIN and a COMMIT of its own, and it runs again, as
    `transaction` would, after a deadlock or a serialization failure. Sent
    by the driver itself (`driver_row`), or on a Link as a prepared statement
    of its connection's, past the cursor (`Link.row`); SQLite runs its units
    of work in `transaction`."""
    # What ran before on this session was committed as it ran (autocommit).
    for attempt in range(1, TRANSACTION_ATTEMPTS + 1):
        try:
            # Committed by the database as it ran: the session keeps its
            # connection for what the request runs next.
            if isinstance(db, Link):
                return await db.row(sql, params, resend=False, prepared=True)
            return await driver_row(db, sql, params)
        except DBAPIError as error:
            if attempt == TRANSACTION_ATTEMPTS or not is_retryable(error):
                raise
        await asyncio.sleep(random.uniform(0.005, 0.02) * 2**attempt)  # noqa: S311 (jitter)
    raise AssertionError("unreachable: the last attempt returns or raises")


ANNOUNCE = "SELECT agora_live_announce(%s)"


async def announce(db: AsyncSession | Link, events: str | None) -> None:
    """Send the live events that a PostgreSQL unit of work held back until
    after its commit (its payloads, one a line: migration 0011), in a
    transaction of their own that does not wait for the disk, on `db`: the
    app's announcer sends batches of them so (`webapp.core.announcer`), and
    a write on an engine that has none. Run again after a deadlock; nothing
    to send, no statement. The change they tell of
    has committed whatever happens here: a database lost in between loses
    the events (logged), not the answer, and live pages read their counts
    again once their worker hears the database again."""
    if not events:
        return
    try:
        await transaction_of_one(db, ANNOUNCE, (events,))
    except DBAPIError as error:
        log.warning("live events of a committed change not sent: %s", error)


async def write_one(db: AsyncSession, statement: UpdateBase) -> None:
    """One statement that changes rows and is whole by itself, committed as it
    runs: the one-statement counterpart of `transaction`, without its BEGIN.
    PostgreSQL's autocommit has committed it when it returns; on SQLite this
    ends the transaction the driver began for it."""
    await db.exec(statement)
    await db.commit()


def transaction_in_thread(engine: Engine, work: Callable[[Connection], T]) -> T:
    """`transaction` for a thread without an event loop (the postman's): `work`
    runs its statements on one connection as one transaction, begun as a
    writer on SQLite, and runs again after a deadlock or a serialization
    failure. What it returns must be plain values: the connection is gone
    once it has."""
    for attempt in range(1, TRANSACTION_ATTEMPTS + 1):
        try:
            with engine.connect() as connection:
                if connection.dialect.name == "sqlite":
                    connection.exec_driver_sql("BEGIN IMMEDIATE")
                result = work(connection)
                connection.commit()
                return result
        except DBAPIError as error:
            if attempt == TRANSACTION_ATTEMPTS or not is_retryable(error):
                raise
        time.sleep(random.uniform(0.005, 0.02) * 2**attempt)  # noqa: S311 (jitter)
    raise AssertionError("unreachable: the last attempt returns or raises")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Imported here: a worker on PostgreSQL never loads SQLite's driver and
    # library (about 1 MB a worker).
    import sqlite3

    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside one writer, so several workers can share the file.
    # Switching a new file to WAL needs a lock that SQLite does not wait for (no
    # busy handler), so a worker that meets another's migration retries.
    for attempt in range(150):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or attempt == 149:
                raise
            time.sleep(0.1)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.close()


def _take_exclusive_transactions(engine: Engine) -> None:
    """Make SQLite transactions real and exclusive, so DDL is transactional and
    a second migrating worker waits, then sees the finished schema."""

    @event.listens_for(engine, "connect")
    def _no_implicit_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        # SQLite changes a table by making it anew and dropping the old one,
        # which would delete, by cascade, every row that refers to it: its
        # procedure turns foreign keys off (outside the transaction, the only
        # place where it counts), and `migrate` checks them before committing.
        dbapi_connection.execute("PRAGMA foreign_keys=OFF")

    @event.listens_for(engine, "begin")
    def _begin_exclusive(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN EXCLUSIVE")


def include_in_comparison(name: str | None, type_: str, parent_names: object) -> bool:
    if type_ == "table":
        return name not in DATABASE_ONLY_TABLES and not (name or "").startswith(
            DATABASE_ONLY_TABLE_PREFIXES
        )
    if type_ == "column" and isinstance(parent_names, dict):
        return (parent_names.get("table_name"), name) not in DATABASE_ONLY_COLUMNS
    return not (type_ == "index" and name in DATABASE_ONLY_INDEXES)


def alembic_config() -> Config:
    # Imported here: Alembic (with Mako and Pygments) is about 10 MB that a
    # worker serving pages never needs once `serve` has migrated.
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def earlier_migration(name: str) -> Any:
    """An earlier migration's module, loaded from its file (`versions/` is not a
    package): a later one reads the SQL texts it must put back on downgrade
    from the migration that wrote them, instead of keeping a copy."""
    import importlib.util

    path = MIGRATIONS_DIR / "versions" / name
    spec = importlib.util.spec_from_file_location(f"agora_migration_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def migrate(settings: Settings, revision: str = "head") -> None:
    """Upgrade the database; safe when several workers start at the same time."""
    from alembic import command

    engine = create_db_engine(settings, for_migrations=True)
    try:
        with engine.connect() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            if connection.dialect.name == "postgresql":
                with _migration_lock(connection):
                    command.upgrade(config, revision)
                return
            with connection.begin():
                command.upgrade(config, revision)
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"a migration broke foreign keys: {broken[:5]}")
    finally:
        engine.dispose()


# How often a worker waiting for another's migration looks whether it is done.
MIGRATION_LOCK_POLL = 0.2


@contextmanager
def _migration_lock(connection: Connection) -> Iterator[None]:
    """Hold the migrations' lock for this session, outside any transaction, so
    that a migration may commit part of its work and build an index
    concurrently (which waits for every transaction older than it). A worker
    waiting its turn asks again and again instead of waiting inside a
    statement: a statement waiting would be such a transaction, and the build
    would wait for it as it waits for the lock."""
    locked = text("SELECT pg_try_advisory_lock(:id)")
    while True:
        taken = connection.execute(locked, {"id": MIGRATION_LOCK_ID}).scalar_one()
        connection.commit()
        if taken:
            break
        time.sleep(MIGRATION_LOCK_POLL)
    try:
        yield
    finally:
        if connection.in_transaction():
            connection.rollback()
        connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
        connection.commit()


async def database_answers(engine: AsyncEngine) -> bool:
    try:
        await read_row(engine, text("SELECT 1"))  # tried twice after a restart, as pages are
    except Exception:
        return False
    return True


# psycopg keeps the conversion of a statement's `%(name)s` placeholders only
# for texts up to 4 KB, and parses longer ones again on every run: a post's
# thread statement is 5 KB, and its parse took 0.1 ms of every post page. Its
# cache holds 128 statements, so this bounds it at 1 MB.
psycopg_queries.MAX_CACHED_STATEMENT_LENGTH = max(psycopg_queries.MAX_CACHED_STATEMENT_LENGTH, 8192)


class PreparedForm:
    """A statement in PostgreSQL's own form (`$1` placeholders), to run as a
    prepared statement past the cursor (`Link._run_prepared`): the query, its
    parameters' names in order (None: `%s` placeholders, its values a
    sequence in their order) and their formats, for one client encoding."""

    __slots__ = ("encoding", "formats", "order", "query")

    def __init__(self, sql: str, encoding: str) -> None:
        query, formats, order, _ = psycopg_queries._query2pg_nocache(sql.encode(encoding), encoding)
        self.query: bytes = query
        self.formats = formats
        # No placeholder at all: no values, whatever they were given as.
        self.order: list[str] | None = order if formats else []
        self.encoding = encoding

    def values(self, params: Sequence[Any] | Mapping[str, Any]) -> Sequence[Any]:
        """The values in the placeholders' order, as the cursor would check
        and order them (psycopg's `validate_and_reorder_params`)."""
        if self.order is not None:
            return [params[name] for name in self.order]  # type: ignore[call-overload]  # a mapping: the form names its values
        if len(params) != len(self.formats):
            raise psycopg.ProgrammingError(
                f"the query has {len(self.formats)} placeholders but"
                f" {len(params)} parameters were passed"
            )
        return params  # type: ignore[return-value]  # `%s` placeholders: a sequence, as psycopg's


@functools.lru_cache(maxsize=32)
def prepared_form(sql: str, encoding: str) -> PreparedForm:
    """The prepared form of a statement of the driver's own SQL that
    `transaction_of_one` sends on a Link (a few fixed texts)."""
    return PreparedForm(sql, encoding)


class DriverStatement:
    """A Core select run on the driver's own cursor, for the reads that nearly
    every uncached page runs: compiled once per dialect into the driver's SQL,
    with its result columns' converters found once, so a request pays neither
    SQLAlchemy's cache key (a walk of the whole statement) nor its result
    machinery, only the driver. Rows come back as named tuples, converted as
    SQLAlchemy would (its `UTCDateTime`, ...).

    On PostgreSQL only, and outside a transaction (an autocommitted read):
    SQLite's driver returns text where SQLAlchemy parses values, and a read
    inside a write's transaction must fail with it; those run through the
    session as any statement does. The engine's `before_cursor_execute`
    listeners still hear it, and a driver error sends it through the session
    again, where SQLAlchemy retries a dead connection and raises its own
    error types.
    """

    def __init__(self, statement: Executable, *, prepare: bool | None = None) -> None:
        """`prepare=False`: never a prepared statement, so that PostgreSQL
        plans every run for its own values (psycopg prepares a statement run
        five times, and PostgreSQL may then plan it once for any values: a
        generic plan, ruinous where the best plan depends on them, as a
        search's does on how many posts hold its words)."""
        self.statement = statement
        self.prepare = prepare
        self._compiled: tuple[Any, str, Any, list[tuple[int, Any]]] | None = None
        # Its prepared form, for a Link (PostgreSQL's alone).
        self._form: PreparedForm | None = None

    def _for(self, dialect: Any) -> tuple[Any, str, Any, list[tuple[int, Any]]]:
        """The compiled statement, its SQL, the rows' type and the converters
        of the columns that have one, with their places."""
        if self._compiled is None:
            compiled = self.statement.compile(dialect=dialect)  # type: ignore[attr-defined]  # every Executable here is a select
            columns = compiled._result_columns
            keys = [column.keyname for column in columns]
            convert = [
                None
                if getattr(column.type, "aware_from_postgresql", False)
                else column.type._cached_result_processor(dialect, None)
                for column in columns
            ]
            row_type = namedtuple("Row", keys, rename=True)  # type: ignore[misc]  # built at run time
            converted = [(place, to) for place, to in enumerate(convert) if to is not None]
            self._compiled = (compiled, str(compiled), row_type, converted)
        return self._compiled

    async def first_on(
        self, engine: AsyncEngine, params: Mapping[str, Any] | None = None
    ) -> Any | None:
        """The first row, read on a pooled connection of its own, past the
        ORM session (or None): for a statement that runs on its own, outside
        any request's (the page cache's data versions). On PostgreSQL as a
        page's one statement runs (`rows`): a prepared statement past the
        cursor, on a connection checked out on a kept greenlet; elsewhere
        through SQLAlchemy (`read_row`). Either way a dead pooled connection
        is dropped and the statement sent once more on a new one."""
        sync = engine.sync_engine
        link = await _read_link(sync) if sync.dialect.name == "postgresql" else None
        if link is None:
            return await read_row(engine, self.statement, dict(params or {}))
        try:
            found = await self.rows(link, params or {})
        finally:
            await link.give_back()
        return found[0] if found else None

    async def rows(self, db: AsyncSession | Link, params: Mapping[str, Any]) -> list[Any]:
        if isinstance(db, Link):
            compiled, sql, row_type, converted = self._for(db.engine.dialect)
            form = None
            if self.prepare is not False:
                form = self._form
                if form is None:
                    form = self._form = PreparedForm(sql, db.driver.info.encoding)
            found = await db.all(sql, compiled.construct_params(params), self.prepare, form)
            return self._converted(row_type, converted, found)
        bind = db.get_bind()
        if bind.dialect.name != "postgresql":
            return list(await db.exec(self.statement, params=params))  # type: ignore[call-overload]  # any select
        if isinstance(bind, Engine) and not db.in_transaction():
            # The session holds no connection yet (an anonymous page's only
            # statement): one from the pool for this statement alone, where
            # it runs as a prepared statement past the cursor (a `Link`).
            link = await _read_link(bind)
            if link is None:
                return list(await db.exec(self.statement, params=params))  # type: ignore[call-overload]  # any select
            try:
                return await self.rows(link, params)
            finally:
                await link.give_back()
        connection, driver = await _driver_connection(db)
        if not driver.autocommit:
            # Inside a transaction (a write reading back what it wrote): an
            # error must end it, through the session, never be read around.
            return list(await db.exec(self.statement, params=params))  # type: ignore[call-overload]  # any select
        compiled, sql, row_type, converted = self._for(connection.dialect)
        values = compiled.construct_params(params)
        try:
            _told(connection, sql, values)
            async with driver.cursor() as cursor:
                await cursor.execute(sql, values, prepare=self.prepare)
                found = await cursor.fetchall()
        except psycopg.Error:
            # Through the session instead: a dead connection is dropped and
            # the statement tried on a new one, or SQLAlchemy's error raised.
            await connection.invalidate()
            await db.rollback()
            return list(await db.exec(self.statement, params=params))  # type: ignore[call-overload]  # any select
        return self._converted(row_type, converted, found)

    @staticmethod
    def _converted(row_type: Any, converted: list[tuple[int, Any]], found: list[Any]) -> list[Any]:
        make = row_type._make
        if not converted:
            return [make(row) for row in found]
        rows = []
        # Only the few columns with a converter are touched (a page of posts
        # is 20 rows of 30 columns, and 3 of them are times).
        for row in found:
            values = list(row)
            for place, to in converted:
                values[place] = to(values[place])
            rows.append(make(values))
        return rows

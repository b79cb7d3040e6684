"""The engine, database sessions, and the migrations runner."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text

from webapp.config import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Indexes that only a migration creates, because the models cannot say them
# portably (a PostgreSQL trigram index); schema comparisons leave them out.
DATABASE_ONLY_INDEXES = frozenset({"ix_posts_search"})

# Any constant will do: it names the lock that migrating workers queue on.
MIGRATION_LOCK_ID = 0x41474F5241


def create_db_engine(settings: Settings, *, for_migrations: bool = False) -> Engine:
    url = settings.sqlalchemy_url
    if settings.is_sqlite:
        path = settings.sqlite_path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
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
    # pre_ping: a restarted database is picked up again instead of failing once.
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
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

    @event.listens_for(engine, "begin")
    def _begin_exclusive(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN EXCLUSIVE")


def include_in_comparison(name: str | None, type_: str, parent_names: object) -> bool:
    return not (type_ == "index" and name in DATABASE_ONLY_INDEXES)


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def migrate(settings: Settings, revision: str = "head") -> None:
    """Upgrade the database; safe when several workers start at the same time."""
    engine = create_db_engine(settings, for_migrations=True)
    try:
        with engine.connect() as connection, connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID}
                )
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def database_answers(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False

"""The migrations build exactly the schema the models describe, on either database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.schema import CreateIndex
from sqlmodel import SQLModel

from tests.support.app import ON_POSTGRES, TEST_DATABASE_URL, make_settings
from webapp.core.config import Settings
from webapp.core.db import alembic_config, create_db_engine, include_in_comparison, migrate


@pytest.fixture
def empty_settings(tmp_path: Path) -> Iterator[Settings]:
    """A database with nothing in it: a new file, or a new PostgreSQL database."""
    if not ON_POSTGRES:
        yield make_settings(f"sqlite:///{tmp_path}/fresh.db")
        return
    name = f"agora_migrations_{uuid.uuid4().hex[:8]}"
    admin = create_db_engine(make_settings(TEST_DATABASE_URL))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    base = make_settings(TEST_DATABASE_URL).sqlalchemy_url.rsplit("/", 1)[0]
    yield make_settings(f"{base}/{name}")
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def schema_differences(engine: Engine) -> list:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": include_in_comparison}
        )
        return compare_metadata(context, SQLModel.metadata)


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def test_the_migrated_schema_equals_the_models(empty_settings: Settings) -> None:
    migrate(empty_settings)
    engine = create_db_engine(empty_settings)
    try:
        assert schema_differences(engine) == []
        assert current_revision(engine) == head_revision()
        if engine.dialect.name == "sqlite":
            # SQLite cannot reflect expression indexes, so autogenerate skips the
            # case-insensitive unique indexes there: compare their SQL instead.
            with engine.connect() as connection:
                stored = set(connection.scalars(text("SELECT sql FROM sqlite_master")))
            for table in SQLModel.metadata.sorted_tables:
                for index in table.indexes:
                    if any(not hasattr(expr, "name") for expr in index.expressions):
                        sql = str(CreateIndex(index).compile(dialect=sqlite.dialect()))
                        assert sql.strip() in stored
    finally:
        engine.dispose()


def test_the_case_insensitive_unique_indexes_exist(empty_settings: Settings) -> None:
    migrate(empty_settings)
    engine = create_db_engine(empty_settings)
    try:
        with engine.begin() as connection:
            row = {"e": "Ada@Example.com", "h": "x", "s": "s", "t": "2026-01-01"}
            insert = text(
                "INSERT INTO users (username, email, password_hash, security_stamp, created_at) "
                "VALUES (:u, :e, :h, :s, :t)"
            )
            connection.execute(insert, {**row, "u": "Ada"})
        for clash in (
            {"u": "ADA", "e": "other@example.com"},
            {"u": "Other", "e": "ada@EXAMPLE.com"},
        ):
            with pytest.raises(Exception, match=r"(?i)unique"), engine.begin() as connection:
                connection.execute(insert, {**row, **clash})
    finally:
        engine.dispose()


def test_migrations_go_down_to_nothing_and_up_again(empty_settings: Settings) -> None:
    migrate(empty_settings)
    engine = create_db_engine(empty_settings, for_migrations=True)
    try:
        with engine.connect() as connection, connection.begin():
            config = alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    migrate(empty_settings)
    engine = create_db_engine(empty_settings)
    try:
        assert schema_differences(engine) == []
    finally:
        engine.dispose()


def test_workers_migrating_at_the_same_moment_all_succeed(empty_settings: Settings) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: migrate(empty_settings), range(4)))
    assert results == [None] * 4
    engine = create_db_engine(empty_settings)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()

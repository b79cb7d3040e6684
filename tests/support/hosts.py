"""A site's database for the tests that run the real server, and two hosts
of one site on it: `python -m webapp serve` processes on one database
(PostgreSQL with TEST_DATABASE_URL, emptied first; else a copy of the migrated
SQLite file: then two workers of one host)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlmodel import SQLModel

from tests.support.app import ON_POSTGRES, make_settings
from tests.support.server import running_server
from webapp.core.db import create_db_engine


def site_database(migrated_database: str, folder: Path) -> str:
    """The URL of an empty, migrated database for servers to share."""
    if not ON_POSTGRES:
        shutil.copyfile(migrated_database, folder / "site.db")
        return f"sqlite:///{folder / 'site.db'}"
    engine = create_db_engine(make_settings(migrated_database))
    tables = ", ".join(table.name for table in SQLModel.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return migrated_database


def assert_clean_log(log: Path) -> None:
    text_of_log = log.read_text()
    assert "Traceback" not in text_of_log and "ERROR" not in text_of_log, text_of_log


@contextmanager
def two_hosts(migrated_database: str, folder: Path) -> Iterator[list[str]]:
    """Yields the two hosts' URLs; afterwards, their logs must hold no error."""
    url = site_database(migrated_database, folder)
    with (
        running_server(folder, url, name="host-a") as host_a,
        running_server(folder, url, name="host-b") as host_b,
    ):
        yield [host_a, host_b]
    for name in ("host-a", "host-b"):
        assert_clean_log(folder / f"{name}.log")

"""Two hosts of one site for the tests that need them: two `python -m webapp
serve` processes on one database (PostgreSQL with TEST_DATABASE_URL, else one
SQLite file: then two workers of one host), emptied first."""

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


@contextmanager
def two_hosts(migrated_database: str, folder: Path) -> Iterator[list[str]]:
    """Yields the two hosts' URLs; afterwards, their logs must hold no error."""
    if ON_POSTGRES:
        url = migrated_database
        engine = create_db_engine(make_settings(url))
        tables = ", ".join(table.name for table in SQLModel.metadata.sorted_tables)
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()
    else:
        shutil.copyfile(migrated_database, folder / "site.db")
        url = f"sqlite:///{folder / 'site.db'}"
    with (
        running_server(folder, url, name="host-a") as host_a,
        running_server(folder, url, name="host-b") as host_b,
    ):
        yield [host_a, host_b]
    for name in ("host-a", "host-b"):
        log = (folder / f"{name}.log").read_text()
        assert "Traceback" not in log and "ERROR" not in log, log

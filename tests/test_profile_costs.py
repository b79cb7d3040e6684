"""What a profile no cache holds costs: its statement, and the work done for
its cards (a random profile's page is the long tail of the site)."""

from __future__ import annotations

from datetime import UTC

import pytest
from fastapi import FastAPI
from sqlalchemy import text

from tests.support.app import on_own_loop
from webapp.core.db import utc_sessions


def test_sessions_start_in_utc_after_the_urls_own_options() -> None:
    assert utc_sessions("postgresql+psycopg://u@h/db") == {"options": "-c TimeZone=UTC"}
    url = "postgresql+psycopg://u@h/db?options=-c%20statement_timeout%3D5000"
    assert utc_sessions(url) == {"options": "-c statement_timeout=5000 -c TimeZone=UTC"}


@pytest.mark.postgres
def test_times_are_read_in_utc_whatever_the_servers_zone(app: FastAPI) -> None:
    """psycopg reads a time in `datetime.UTC` only when the session's zone is
    named "UTC" (a server's `Etc/UTC` gives a `ZoneInfo`, slower in every
    conversion a page makes)."""

    async def read() -> tuple[object, object]:
        async with app.state.engine.connect() as connection:
            zone = (await connection.execute(text("SHOW TimeZone"))).scalar_one()
            now = (await connection.execute(text("SELECT now()"))).scalar_one()
            return zone, now.tzinfo

    assert on_own_loop(read()) == ("UTC", UTC)

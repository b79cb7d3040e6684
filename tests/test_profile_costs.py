"""What a profile no cache holds costs: its statement, and the work done for
its cards (a random profile's page is the long tail of the site)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.support.app import on_own_loop
from tests.support.pages import Auth, write_post
from tests.support.statements import StatementCounter
from webapp.core.db import new_session, utc_sessions
from webapp.core.templating import long_date
from webapp.rules import follows


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


def test_a_long_date_names_its_month_in_english_whatever_the_locale() -> None:
    assert [long_date(datetime(2026, month, 6, 23, 30, tzinfo=UTC)) for month in (1, 12)] == [
        "6 January 2026",
        "6 December 2026",
    ]
    # In UTC: a moment east of it that is still the 7th there is the 6th here.
    east = timezone(timedelta(hours=5))
    assert long_date(datetime(2026, 5, 7, 2, 0, tzinfo=east)) == "6 May 2026"


@pytest.mark.postgres
def test_a_read_past_the_orm_converts_no_time_on_postgresql(app: FastAPI) -> None:
    """Every time PostgreSQL returns is aware: `UTCDateTime`'s result processor
    (which only makes naive values aware) is skipped, and the times are UTC."""
    statement = follows._ANONYMOUS_PROFILE
    _, _, row_type, converted = statement._for(app.state.engine.sync_engine.dialect)
    assert converted == []
    assert "created_at" in row_type._fields


def test_a_profile_no_cache_holds_is_its_data_version_and_one_statement(
    client: TestClient, new_client, engine
) -> None:
    """A profile with more than a page of posts, read once at each page by an
    anonymous visitor: the data version, then one statement that reads the
    person, their counts and the page of their posts together (no count of
    the posts of its own, no second read of the author)."""
    author = new_client()
    Auth(author).register("prolific")
    for number in range(22):
        write_post(author, f"Post number {number}")
    anonymous = new_client()
    for path in ("/users/1", "/users/1?page=2"):
        with StatementCounter(engine) as counter:
            page = anonymous.get(path)
        assert page.status_code == 200
        assert "22 posts" in page.text
        assert len(counter.statements) == 2, (path, counter.statements)
        profile = [s for s in counter.statements if "FROM posts" in s or "JOIN posts" in s]
        assert len(profile) == 1, (path, counter.statements)
        assert "follows" in profile[0]  # the follower counts ride along


def test_a_profiles_posts_share_one_author(client: TestClient, new_client, app: FastAPI) -> None:
    """The person is each post's author: made once for the page, not once a post."""
    author = new_client()
    Auth(author).register("writer")
    for number in range(3):
        write_post(author, f"Post number {number}")

    async def view() -> follows.ProfileView:
        async with new_session(app.state.engine) as db:
            return await follows.profile_view(db, 1, None, page=1, per_page=20)

    found = on_own_loop(view())
    assert len(found.listing.posts) == 3
    owners = {id(post.owner) for post in found.listing.posts}
    assert len(owners) == 1
    assert found.listing.posts[0].owner.username == "writer"

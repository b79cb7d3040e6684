"""Fast pages: a fixed number of statements per page, the page cache that never
shows a change late, and a database that restarts under the app."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text, update
from sqlalchemy.dialects import postgresql

from tests.support.api import sign_up
from tests.support.app import TEST_DATABASE_URL, dispose, first_connect, make_settings, on_own_loop
from tests.support.pages import Auth, post_form, write_post
from tests.support.statements import StatementCounter
from webapp.app import create_app
from webapp.core.config import Settings
from webapp.core.db import create_db_engine
from webapp.core.page_cache import PageCache
from webapp.models import Post
from webapp.rules import post_list


def like_counts(html: str) -> list[str]:
    return re.findall(r'<span class="likes">(\d+ likes?)', html)


PAGES = ["/", "/?page=2", "/?q=author", "/posts/1", "/users/2", "/users/2?page=2"]


def test_an_anonymous_page_runs_a_fixed_number_of_statements(
    busy_site: list[TestClient], new_client, engine
) -> None:
    """The data version, then the page's own reads (ids, then rows joined with
    their authors; a profile: its person, count and rows). Served again, it
    comes from the page cache: the data version alone."""
    anonymous = new_client()
    for path in PAGES:
        with StatementCounter(engine) as first:
            assert anonymous.get(path).status_code == 200
        # A post or a profile: the data version, then one statement.
        assert first.count <= (4 if path.startswith("/?") or path == "/" else 2), (
            path,
            first.statements,
        )
        with StatementCounter(engine) as again:
            assert anonymous.get(path).status_code == 200
        assert again.count <= 1, (path, again.statements)


def test_a_logged_in_page_runs_a_fixed_number_of_statements(
    busy_site: list[TestClient], engine, app: FastAPI
) -> None:
    """The session (with the data version), the page's reads, and the
    visitor's likes among the posts shown. Served again: session and likes."""
    viewer = busy_site[0]
    viewer.get("/")  # settle "last seen"
    app.state.page_cache.clear()
    for path in PAGES:
        with StatementCounter(engine) as first:
            page = viewer.get(path)
        assert page.status_code == 200
        assert first.count <= (5 if path.startswith("/?") or path == "/" else 2), (
            path,
            first.statements,
        )
        with StatementCounter(engine) as again:
            assert viewer.get(path).text == page.text
        assert again.count <= 2, (path, again.statements)


def test_the_home_page_shows_the_visitors_own_likes(busy_site: list[TestClient]) -> None:
    page = busy_site[0].get("/").text
    assert "(including you)" in page
    assert "(including you)" not in busy_site[10].get("/").text


def test_an_anonymous_page_sets_no_cookie_and_is_shared(
    busy_site: list[TestClient], new_client
) -> None:
    first, second = new_client().get("/"), new_client().get("/")
    assert "set-cookie" not in first.headers
    assert first.text == second.text


def test_a_page_with_a_form_gives_each_anonymous_visitor_their_own_token(new_client) -> None:
    tokens = set()
    for _ in range(2):
        page = new_client().get("/login")
        tokens.update(re.findall(r'name="csrf_token" value="([^"]+)"', page.text))
        assert "set-cookie" in page.headers
    assert len(tokens) == 2


# --- a write shows at once, on every worker -------------------------------------


@pytest.fixture
def second_worker(settings: Settings) -> Iterator[FastAPI]:
    """Another app on the same database, as another worker or host would be,
    with the production setting: it looks at the data version twice a second."""
    other = create_app(settings, pooled=False)
    on_own_loop(first_connect(other))
    yield other
    dispose(other)


def test_a_like_shows_at_once_on_the_writers_next_page_on_any_worker(
    client: TestClient, new_client, second_worker: FastAPI
) -> None:
    Auth(client).register("alice")
    post_id = write_post(client, "Cached")
    with TestClient(second_worker, follow_redirects=False, cookies=client.cookies) as elsewhere:
        assert like_counts(elsewhere.get("/").text) == ["0 likes"]  # now in its cache
        assert like_counts(client.get("/").text) == ["0 likes"]

        post_form(client, f"/posts/{post_id}/vote", {"dir": "1"})
        # The writer's next page, on this worker or the other one: the session is
        # read with the data version, so neither cache can serve the old page.
        assert like_counts(client.get("/").text) == ["1 like"]
        assert like_counts(elsewhere.get("/").text) == ["1 like"]
        assert "1 like" in elsewhere.get(f"/posts/{post_id}").text


def test_a_new_post_reaches_anonymous_visitors_of_another_worker_within_a_second(
    client: TestClient, new_client, second_worker: FastAPI
) -> None:
    Auth(client).register("alice")
    write_post(client, "First")
    # A worker serves every request on one event loop: its readings of the
    # version run in the background, between requests.
    with TestClient(second_worker, follow_redirects=False) as stranger:
        assert "First" in stranger.get("/").text
        assert "First" in stranger.get("/").text  # served from its cache now

        write_post(client, "Second")
        written = time.monotonic()
        while "Second" not in stranger.get("/").text:
            assert time.monotonic() - written < 1.0, "the other worker still shows the old page"
            time.sleep(0.05)


def test_a_change_made_outside_the_app_reaches_the_cache_too(
    client: TestClient, new_client, db
) -> None:
    """The version moves with the posts table itself (a trigger), whoever writes."""
    Auth(client).register("alice")
    write_post(client, "Before")
    anonymous = new_client()
    assert "Before" in anonymous.get("/").text
    db.exec(update(Post).values(title="After"))
    db.commit()
    assert "After" in anonymous.get("/").text


@pytest.mark.postgres
def test_a_write_locks_the_data_version_only_while_it_commits(
    client: TestClient, settings: Settings
) -> None:
    """Every write moves site_state; a write that holds its row from its first
    statement to its commit makes every other write wait through its round
    trips. On PostgreSQL the version moves at commit (migration 0008), once
    a transaction."""
    Auth(client).register("alice")
    for title in ("One", "Two", "Three"):
        write_post(client, title)
    engine = create_db_engine(settings)
    try:
        with engine.connect() as writer, engine.connect() as other:
            before = writer.execute(text("SELECT version, likes FROM site_state")).one()
            writer.execute(text("UPDATE posts SET votes = votes + 1"))  # three rows, uncommitted
            other.execute(text("SET lock_timeout = '200ms'"))
            # Not blocked: another write moves the version meanwhile.
            other.execute(text("UPDATE site_state SET version = version + 1"))
            other.commit()
            writer.commit()
            after = writer.execute(text("SELECT version, likes FROM site_state")).one()
    finally:
        engine.dispose()
    assert after.version == before.version + 1  # the other's
    assert after.likes == before.likes + 1  # the three posts' counts, moved once


# --- the database restarts under the app ----------------------------------------


class Outage:
    """A TCP relay between the app and PostgreSQL that can go down: it drops
    every connection and refuses new ones, as a stopped server does."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                end.close()

    def stop(self) -> None:
        self.up = False
        with self.lock:
            for end in self.sockets:
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()
            self.sockets.clear()

    def start(self) -> None:
        self.up = True

    def close(self) -> None:
        self.stop()
        self.listener.close()


@pytest.mark.postgres
def test_a_restarted_database_is_a_503_then_served_again_without_a_restart(
    database_url: str,
) -> None:
    parts = urlsplit(TEST_DATABASE_URL)
    outage = Outage((parts.hostname or "127.0.0.1", parts.port or 5432))
    relayed = parts._replace(netloc=f"{parts.username}@127.0.0.1:{outage.port}").geturl()
    app = create_app(make_settings(relayed))  # pooled, as in production
    try:
        with TestClient(app, follow_redirects=False) as client:
            Auth(client).register("alice")
            write_post(client, "Still here")
            assert client.get("/healthz").status_code == 200
            assert client.get("/users/1").status_code == 200

            stranger = TestClient(app, follow_redirects=False)
            assert stranger.get("/users/1").status_code == 200  # now in the page cache

            outage.stop()
            down = client.get("/users/1")
            assert down.status_code == 503
            assert "briefly unavailable" in down.text
            assert client.get("/healthz").status_code == 503
            # Other hosts may still write: the cache is not trusted without the database.
            app.state.page_cache.max_staleness = 0
            assert stranger.get("/users/1").status_code == 503

            outage.start()
            # Pooled connections died with the old server: the first statement is
            # tried again on a new connection, so nobody sees an error.
            assert client.get("/healthz").status_code == 200
            page = client.get("/users/1")
            assert page.status_code == 200
            assert "Still here" in page.text

            outage.stop()  # a restart between two requests: the pool holds dead connections
            outage.start()
            assert client.get("/users/1").status_code == 200
            assert client.get("/healthz").status_code == 200
    finally:
        outage.close()


def test_a_like_reads_only_the_counts_again(
    busy_site: list[TestClient], new_client, engine
) -> None:
    """A like moves the likes version alone: the lists stay cached, and the next
    page reads their like counts (and the visitor's likes) in two statements."""
    viewer, liker = busy_site[0], busy_site[1]
    before = viewer.get("/").text
    post_form(liker, "/posts/20/vote", {"dir": "1"})
    with StatementCounter(engine) as after:
        page = viewer.get("/").text
    assert after.count <= 3, after.statements  # session, counts, the visitor's likes
    assert not any("FROM posts \nWHERE posts.published" in s for s in after.statements)
    assert like_counts(page)[0] == "1 like" and like_counts(before)[0] == "0 likes"
    assert like_counts(new_client().get("/").text)[0] == "1 like"


def test_a_profile_asked_for_before_its_person_joined_shows_once_they_do(
    client: TestClient, new_client
) -> None:
    stranger = new_client()
    assert stranger.get("/users/1").status_code == 404
    Auth(client).register("alice")
    assert stranger.get("/users/1").status_code == 200


# --- reading the version without making anyone wait ----------------------------


class SlowDatabase:
    """Stands in for the database the versions are read from: each reading
    waits for `answer()`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.version = 1
        self.readings = 0
        self.fail = False
        self.gate = asyncio.Event()

    async def read_versions(self) -> tuple[int, int, int]:
        self.readings += 1
        version = self.version  # what was committed when the statement started
        await self.gate.wait()
        if self.fail:
            raise RuntimeError("the database is away")
        return version, 1, 0

    def answer(self) -> None:
        self.gate.set()
        self.gate = asyncio.Event()


async def never_read() -> None:
    raise AssertionError("these tests hand the cache its versions")


async def settle() -> None:
    """Let the tasks that can run, run."""
    for _ in range(5):
        await asyncio.sleep(0)


async def first_reading(cache: PageCache, database: SlowDatabase) -> None:
    waiting = asyncio.ensure_future(cache.check())
    await settle()
    database.answer()
    await waiting


def test_a_page_served_from_memory_does_not_wait_for_the_version_while_it_is_recent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario() -> None:
        database = SlowDatabase(monkeypatch)
        cache = PageCache(database.read_versions, max_staleness=0.5)
        first = asyncio.ensure_future(cache.check())  # nothing read yet: it waits
        await settle()
        assert not first.done()
        database.answer()
        await first
        assert cache.seen() == (1, 1, 0)

        database.version = 2  # another worker changes something
        await asyncio.sleep(0.15)  # past a fifth of max_staleness
        await asyncio.wait_for(cache.check(), 0.05)  # answered at once...
        await settle()
        assert database.readings == 2  # ...while the version is read in the background
        await asyncio.wait_for(cache.check(), 0.05)
        await settle()
        assert database.readings == 2  # one reading at a time
        assert cache.seen() == (1, 1, 0)
        database.answer()
        await settle()
        assert cache.seen() == (2, 1, 0)

    on_own_loop(scenario())


def test_a_request_waits_for_the_version_once_the_last_reading_is_too_old(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario() -> None:
        database = SlowDatabase(monkeypatch)
        cache = PageCache(database.read_versions, max_staleness=0.2)
        await first_reading(cache, database)
        database.version = 2
        await asyncio.sleep(0.25)  # past max_staleness: what is held may be too old
        waiting = asyncio.ensure_future(cache.check())
        await settle()
        assert not waiting.done()
        database.answer()
        await waiting
        assert cache.seen() == (2, 1, 0)

    on_own_loop(scenario())


def test_the_versions_stay_fresh_for_a_while_after_the_last_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario() -> None:
        database = SlowDatabase(monkeypatch)
        cache = PageCache(database.read_versions, max_staleness=0.2, keep_fresh=0.6)
        await first_reading(cache, database)
        database.version = 2
        for _ in range(4):  # a pause past max_staleness, the readings answered
            await asyncio.sleep(0.08)
            database.answer()
        assert database.readings > 2  # read again in the background, with no request
        assert cache.seen() == (2, 1, 0)
        # The first request after the pause is answered at once.
        await asyncio.wait_for(cache.check(), 0.05)

        # Quiet for longer than keep_fresh: the readings stop...
        for _ in range(10):
            await asyncio.sleep(0.08)
            database.answer()
        readings = database.readings
        await asyncio.sleep(0.3)
        assert database.readings == readings
        # ...and the next request waits for its own.
        waiting = asyncio.ensure_future(cache.check())
        await settle()
        assert not waiting.done()
        database.answer()
        await waiting

    on_own_loop(scenario())


def test_a_failed_reading_in_the_background_empties_the_cache_and_the_next_request_waits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario() -> None:
        database = SlowDatabase(monkeypatch)
        cache = PageCache(database.read_versions, max_staleness=0.5)
        await first_reading(cache, database)
        cache.put("page", "html", cache.seen())
        await asyncio.sleep(0.15)
        database.fail = True
        await cache.check()  # starts a reading, which fails with nobody waiting
        await settle()
        database.answer()
        await settle()
        assert cache.get("page", stale=True) is None
        waiting = asyncio.ensure_future(cache.check())
        await settle()
        assert not waiting.done()  # nothing is trusted until the database answers
        database.answer()
        with pytest.raises(RuntimeError):
            await waiting

    on_own_loop(scenario())


# --- a moment's grace under a stream of changes --------------------------------


def test_a_retired_value_serves_those_who_may_wait_until_half_a_second_after_it_was_built() -> None:
    cache = PageCache(never_read)
    cache.observe(1, 1)
    cache.put("page", "before", cache.seen(), minor=True)
    cache.observe(1, 2)  # a like: the page is retired
    assert cache.get("page", stale=False) is None  # the writer, or anyone who must be current
    assert cache.get("page", stale=True) == "before"  # anyone else, for a moment
    cache.put("page", "after", cache.seen(), minor=True)
    assert cache.get("page", stale=True) == "after"
    cache.observe(2, 2)
    time.sleep(cache.grace)
    assert cache.get("page", stale=True) is None  # past the grace: built again


def test_the_writer_sees_a_like_at_once_and_others_within_a_second(
    app: FastAPI, client: TestClient, new_client
) -> None:
    app.state.page_cache.grace = 0.5  # as in production
    Auth(client).register("alice")
    post_id = write_post(client, "Busy")
    stranger = new_client()
    assert like_counts(stranger.get("/").text) == ["0 likes"]  # kept, for every stranger

    post_form(client, f"/posts/{post_id}/vote", {"dir": "1"})
    liked = time.monotonic()
    assert like_counts(client.get("/").text) == ["1 like"]
    while like_counts(stranger.get("/").text) != ["1 like"]:
        assert time.monotonic() - liked < 1.0, "a stranger still sees the page from before"
        time.sleep(0.05)


# --- what no cache holds: a page read once -------------------------------------------


def statements_of(engine, browser: TestClient, path: str, **kwargs: object) -> list[str]:
    with StatementCounter(engine) as counter:
        response = browser.get(path, **kwargs)
    assert response.status_code == 200, (path, response.text)
    return counter.statements


def reading(statements: list[str], table: str) -> list[str]:
    return [s for s in statements if f"FROM {table}" in s or f"JOIN {table}" in s]


def test_a_post_page_no_cache_holds_runs_one_statement(
    busy_site: list[TestClient], new_client, engine, app: FastAPI
) -> None:
    """A post read once (a random one of many): the data version (or, logged
    in, the session with it), then one statement for the post, its author,
    its counts, the visitor's like and its comments (with comments, the same:
    test_comments_pages.py). Each post is asked for once, as a stream of
    random ones would be."""
    viewer = busy_site[0]
    viewer.get("/")  # settle "last seen"
    anonymous = new_client()
    for post_id in range(1, 21):
        browser, who = (anonymous, "anonymous") if post_id % 2 else (viewer, "logged in")
        statements = statements_of(engine, browser, f"/posts/{post_id}")
        assert len(statements) == 2, (who, statements)
        assert len(reading(statements, "posts")) == 1, (who, statements)
        assert len(reading(statements, "comments")) == 1, (who, statements)


def test_a_profile_no_cache_holds_runs_one_statement(
    busy_site: list[TestClient], new_client, engine
) -> None:
    """The data version (or the session), then one statement: the person with
    their counts, a page of their posts, the visitor's likes and follow."""
    viewer = busy_site[0]
    viewer.get("/")
    anonymous = new_client()
    for user_id in range(2, 21):
        browser, who = (anonymous, "anonymous") if user_id % 2 else (viewer, "logged in")
        statements = statements_of(engine, browser, f"/users/{user_id}")
        assert len(statements) == 2, (who, statements)


def test_the_api_reads_one_statement_a_request(
    busy_site: list[TestClient], client: TestClient, engine
) -> None:
    """A post, a page of the list (at any depth), a post's comments: one
    statement each; with a token, each reads the caller's account first (a
    post and its comments may be the caller's draft; the list leaves out the
    people the caller blocks or mutes)."""
    caller = sign_up(client, "reader")
    paths = [
        *((f"/api/posts/{post_id}", True) for post_id in (1, 7, 20)),
        *((f"/api/posts?limit=20&skip={skip}", True) for skip in (0, 5, 19)),
        *((f"/api/posts/{post_id}/comments", True) for post_id in (2, 9)),
    ]
    for headers in ({}, caller.headers):
        for path, reads_caller in paths:
            statements = statements_of(engine, client, path, headers=headers)
            caller_read = 1 if headers and reads_caller else 0
            assert len(statements) == caller_read + 1, (path, statements)
            assert len(reading(statements, "posts")) == 1, (path, statements)


@pytest.mark.postgres
def test_the_api_lists_newest_page_is_planned_once_a_connection(
    busy_site: list[TestClient], database_url: str
) -> None:
    """PostgreSQL plans a prepared statement for its values on each of its
    first five runs, then keeps the plan made for any values when that costs
    no more. The newest page's does (its ids capped at a number written in,
    no OFFSET): a connection stops planning it, where planning it cost twice
    as much as running it. (Bound, the page's LIMIT and OFFSET were guessed
    at a tenth of all posts in the generic plan, which then lost to a new
    plan every time: a few thousand posts show it.)"""
    sql = str(post_list._NEWEST.statement.compile(dialect=postgresql.psycopg.dialect()))  # type: ignore[attr-defined]
    with psycopg.connect(database_url.replace("+psycopg", ""), autocommit=True) as connection:
        connection.execute(
            "INSERT INTO posts (published, title, content, owner_id, created_at, updated_at,"
            " votes, comments) SELECT true, 'Older', 'Text', 1 + n % 20,"
            " now() - n * interval '1 minute', now() - n * interval '1 minute', 0, 0"
            " FROM generate_series(1, 3000) AS n"
        )
        connection.execute("ANALYZE posts")
        for _ in range(8):
            assert len(connection.execute(sql, {"limit": 20}, prepare=True).fetchall()) == 20
        plans = connection.execute("SELECT generic_plans FROM pg_prepared_statements").fetchall()
    assert plans == [(3,)]

"""Fixtures: a fresh database for each test (built by the migrations), an app,
a client, and helpers that act as a person would."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlmodel import Session, SQLModel

from tests.support.api import Caller, sign_up
from tests.support.app import (
    ON_POSTGRES,
    REQUIRE_POSTGRES,
    TEST_DATABASE_URL,
    dispose,
    first_connect,
    make_settings,
    on_own_loop,
)
from tests.support.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    browser_missing,
    running_server,
    skip_or_fail,
)
from tests.support.pages import Auth, post_form, write_post
from tests.support.server import free_port
from tests.support.smtp import Inbox, SmtpServer
from webapp.app import create_app
from webapp.core.config import Settings
from webapp.core.db import create_db_engine, migrate

if browser_missing() is None:
    from playwright.sync_api import Browser, BrowserContext, sync_playwright


def pytest_configure(config: pytest.Config) -> None:
    if REQUIRE_POSTGRES and not ON_POSTGRES:
        raise pytest.UsageError("REQUIRE_POSTGRES=1 needs TEST_DATABASE_URL=postgresql+psycopg://…")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if ON_POSTGRES:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: set TEST_DATABASE_URL to run it")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Build the schema once through the migrations; tests then start from a copy
    (SQLite) or from emptied tables (PostgreSQL)."""
    if ON_POSTGRES:
        engine = create_db_engine(make_settings(TEST_DATABASE_URL))
        try:
            with engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
        except Exception as error:  # the server is not there
            if REQUIRE_POSTGRES:
                raise
            pytest.skip(f"PostgreSQL at TEST_DATABASE_URL does not answer: {error}")
        finally:
            engine.dispose()
        migrate(make_settings(TEST_DATABASE_URL))
        return TEST_DATABASE_URL
    template = tmp_path_factory.mktemp("template") / "agora.db"
    migrate(make_settings(f"sqlite:///{template}"))
    return str(template)


@pytest.fixture
def database_url(migrated_database: str, tmp_path: Path) -> str:
    if ON_POSTGRES:
        tables = ", ".join(table.name for table in SQLModel.metadata.sorted_tables)
        engine = create_db_engine(make_settings(migrated_database))
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()
        return migrated_database
    path = tmp_path / "agora.db"
    shutil.copyfile(migrated_database, path)
    return f"sqlite:///{path}"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, media_root=str(tmp_path / "media"))


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    # Each request of a TestClient runs on an event loop of its own.
    application = create_app(settings, pooled=False)
    # Tests change rows behind the app's back and look at once: read the data
    # version on every request instead of every half second.
    application.state.page_cache.max_staleness = 0
    # And serve nobody a page from before a change: the tests of that grace
    # turn it on themselves (test_fast_pages.py).
    application.state.page_cache.grace = 0
    on_own_loop(first_connect(application))
    yield application
    dispose(application)


@pytest.fixture
def engine(app: FastAPI) -> Engine:
    """The app's engine, as the sync face that events (statement counts) attach to."""
    return app.state.engine.sync_engine


@pytest.fixture
def db(settings: Settings) -> Iterator[Session]:
    """The test's own connection to the app's database, to look behind the pages."""
    engine = create_db_engine(settings)
    with Session(engine, expire_on_commit=False) as session:
        yield session
    engine.dispose()


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    # Not entered as a context manager: the lifespan's shutdown would dispose of
    # the engine while the `db` fixture may still hold a connection; the `app`
    # fixture disposes of it once everything that uses it is done.
    return TestClient(app, follow_redirects=False)


@pytest.fixture
def auth(client: TestClient) -> Auth:
    return Auth(client)


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    """A real SMTP server on a free port, and what it received (a test module
    points SMTP_URL at it by overriding `settings`)."""
    with SmtpServer(free_port()) as received:
        yield received


@pytest.fixture
def browsers() -> Iterator[Callable[[str], httpx2.Client]]:
    """Opens browsers (HTTP clients with cookies) on a host (a real server's
    URL); closes them after."""
    opened: list[httpx2.Client] = []

    def open_on(host: str) -> httpx2.Client:
        browser = httpx2.Client(base_url=host, timeout=10)
        opened.append(browser)
        return browser

    yield open_on
    for browser in opened:
        browser.close()


@pytest.fixture
def new_client(app: FastAPI):
    """Another browser: its own cookies, the same server."""
    return lambda: TestClient(app, follow_redirects=False)


# People, as the tests meet them: a browser on the pages (a TestClient holding
# their session cookie) or an API caller (holding a bearer token).


@pytest.fixture
def alice_browser(client: TestClient) -> TestClient:
    """Alice, registered and logged in on the pages, in the `client` browser."""
    Auth(client).register("alice")
    return client


@pytest.fixture
def bob_browser(new_client) -> TestClient:
    """Bob, registered and logged in, in a browser of his own."""
    browser = new_client()
    Auth(browser).register("bob")
    return browser


@pytest.fixture
def carol_browser(new_client) -> TestClient:
    """Carol, a third person, logged in in a browser of her own."""
    browser = new_client()
    Auth(browser).register("carol")
    return browser


@pytest.fixture
def alice_api(client: TestClient) -> Caller:
    """Alice, registered through the API, with a bearer token."""
    return sign_up(client, "alice")


@pytest.fixture
def bob_api(client: TestClient) -> Caller:
    return sign_up(client, "bob")


@pytest.fixture
def busy_site(client: TestClient, new_client) -> list[TestClient]:
    """20 posts by 20 authors, some liked: a full first page."""
    browsers = []
    for number in range(20):
        browser = new_client()
        Auth(browser).register(f"author{number}")
        write_post(browser, f"Post by author {number}")
        browsers.append(browser)
    for browser in browsers[:5]:
        for post_id in range(1, 21, 3):
            post_form(browser, f"/posts/{post_id}/vote", {"dir": "1"})
    return browsers


# Real-browser tests (test_browser.py, test_live_browser.py): one Chromium and one
# server for the whole session, since Playwright's sync API runs once a process.


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    reason = browser_missing()
    if reason:
        skip_or_fail(reason)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def server(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_server(tmp_path_factory.mktemp("browser")) as base_url:
        yield base_url


@pytest.fixture
def new_context(browser: Browser, server: str) -> Iterator[Callable[..., BrowserContext]]:
    """Open browser contexts on the server (each a browser of its own); all are
    closed after the test."""
    contexts: list[BrowserContext] = []

    def make(**options: Any) -> BrowserContext:
        options.setdefault("viewport", DESKTOP)
        context = browser.new_context(base_url=server, **options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()

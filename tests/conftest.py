"""Fixtures: a fresh database for each test (built by the migrations), an app,
a client, and helpers that act as a person would."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlmodel import Session, SQLModel

from webapp.app import create_app
from webapp.config import Settings
from webapp.db import create_db_engine, migrate

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES") == "1"
ON_POSTGRES = TEST_DATABASE_URL.startswith(("postgresql", "postgres:"))
SECRET = "test-secret-key-that-is-long-enough-0123456789"


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


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "secret_key": SECRET,
        "bcrypt_rounds": 4,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


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
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    # Each request of a TestClient runs on an event loop of its own.
    application = create_app(settings, pooled=False)
    # Tests change rows behind the app's back and look at once: read the data
    # version on every request instead of every half second.
    application.state.page_cache.max_staleness = 0
    on_own_loop(first_connect(application))
    yield application
    dispose(application)


async def first_connect(application: FastAPI) -> None:
    """SQLAlchemy guards an engine's first connection with an asyncio lock. Clients
    in several threads (each with its own event loop) racing for it would wait on
    a lock of another loop forever, so the first connection is made here."""
    async with application.state.engine.connect():
        pass


def dispose(application: FastAPI) -> None:
    """Close the app's connections (its async engine)."""
    on_own_loop(application.state.engine.dispose())
    application.state.hasher.close()


def on_own_loop(coroutine: Coroutine[Any, Any, Any]) -> None:
    """Run a coroutine to its end on a new event loop, in a thread of its own:
    Playwright's sync API keeps a loop running in the test's thread."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(coroutine)
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


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


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client: TestClient, path: str = "/") -> str:
    """The token a page's forms carry, as a browser would find it."""
    page = client.get(path)
    if page.status_code == 303:  # e.g. /login when already logged in
        page = client.get("/")
    match = CSRF_RE.search(page.text)
    assert match, f"no csrf_token on {path} ({page.status_code})"
    return match.group(1)


def post_form(client: TestClient, path: str, data: dict[str, str], page: str = "/"):
    """Send a form the way the browser does: with the page's CSRF token."""
    return client.post(path, data={"csrf_token": csrf_token(client, page), **data})


PASSWORD = "correct horse battery"


class Auth:
    """What a person does with the account pages, one line per action."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def register(
        self,
        username: str = "alice",
        email: str | None = None,
        password: str = PASSWORD,
        confirm: str | None = None,
    ):
        return post_form(
            self.client,
            "/register",
            {
                "username": username,
                "email": email or f"{username}@example.com",
                "password": password,
                "password_confirm": password if confirm is None else confirm,
            },
            page="/register",
        )

    def login(self, username: str = "alice", password: str = PASSWORD, next: str | None = None):
        data = {"username": username, "password": password}
        if next is not None:
            data["next"] = next
        return post_form(self.client, "/login", data, page="/login")

    def logout(self):
        return post_form(self.client, "/logout", {})


@pytest.fixture
def auth(client: TestClient) -> Auth:
    return Auth(client)


@pytest.fixture
def new_client(app: FastAPI):
    """Another browser: its own cookies, the same server."""
    return lambda: TestClient(app, follow_redirects=False)


def session_cookie(client: TestClient) -> dict:
    """What the signed cookie carries, read without the key (it is signed, not secret)."""
    import base64
    import json

    value = client.cookies.get("agora_session")
    assert value, "no session cookie"
    payload = value.split(".", 1)[0]
    return json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))


def write_post(
    client: TestClient, title: str = "Hello", content: str = "Some text.", published: bool = True
) -> int:
    """Write a post through the form; returns its id."""
    data = {"title": title, "content": content}
    if published:
        data["published"] = "on"
    response = post_form(client, "/posts", data, page="/posts/new")
    assert response.status_code == 303, response.text
    return int(response.headers["location"].rsplit("/", 1)[1])


class StatementCounter:
    """Counts the SQL statements an engine runs while it is active."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.statements: list[str] = []

    def _count(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.statements.append(statement)

    def __enter__(self) -> StatementCounter:
        from sqlalchemy import event

        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc: object) -> None:
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self._count)

    @property
    def count(self) -> int:
        return len(self.statements)


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

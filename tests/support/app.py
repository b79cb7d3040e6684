"""The app under test: settings for it, and running its async pieces from the
sync tests (each TestClient request runs on an event loop of its own)."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from fastapi import FastAPI

from webapp.core import announcer
from webapp.core.config import Settings

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES") == "1"
ON_POSTGRES = TEST_DATABASE_URL.startswith(("postgresql", "postgres:"))
SECRET = "test-secret-key-that-is-long-enough-0123456789"
PASSWORD = "correct horse battery"


T = TypeVar("T")


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "secret_key": SECRET,
        "bcrypt_rounds": 4,
        # Many tests register more accounts than an hour allows from the one
        # address of the test client; tests of the limit set one.
        "registrations_per_hour": 0,
        # So do posts and comments, past their hourly limits.
        "posts_per_hour": 0,
        "comments_per_hour": 0,
        # A reset's job runs at once: the tests wait for its mail.
        "reset_mail_delay": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


async def first_connect(application: FastAPI) -> None:
    """SQLAlchemy guards an engine's first connection with an asyncio lock. Clients
    in several threads (each with its own event loop) racing for it would wait on
    a lock of another loop forever, so the first connection is made here: the
    request engine's, and on PostgreSQL the live announcer's (an engine of its
    own, which the racing writes' events would otherwise open first, each on its
    request's loop: a waiter that another thread's release wakes without waking
    its loop, so that loop never finished closing)."""
    engine = application.state.engine
    async with engine.connect():
        pass
    announcing = announcer.of(engine.sync_engine)
    if announcing is not None:
        async with announcing.engine.connect():
            pass


def dispose(application: FastAPI) -> None:
    """Close the app's connections (its engines) and threads."""
    on_own_loop(application.state.engine.dispose())
    application.state.hasher.close()
    if application.state.postman is not None:
        application.state.postman.close()
    application.state.mail_engine.dispose()


def on_own_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end on a new event loop, in a thread of its own
    (Playwright's sync API keeps a loop running in the test's thread); its
    result."""
    errors: list[BaseException] = []
    results: list[T] = []

    def run() -> None:
        try:
            results.append(asyncio.run(coroutine))
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return results[0]

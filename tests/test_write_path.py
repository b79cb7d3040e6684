"""The path an API write takes: routed before the pages, sent by the driver,
sent again when the pooled connection it got had died."""

from __future__ import annotations

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import make_url
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from tests.support.api import sign_up, write
from webapp.api.routes import ApiFirst
from webapp.app import create_app
from webapp.core.config import Settings
from webapp.core.db import POOL_SIZE, create_async_db_engine


class Recorded(BaseRoute):
    """A stand-in for the API's routes that notes every path it is asked about."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        self.asked.append(scope["path"])
        return Match.FULL, {}


def scope_of(path: str, kind: str = "http") -> Scope:
    return {"type": kind, "path": path, "root_path": "", "method": "GET"}


def test_the_api_is_asked_first_about_its_own_paths_only() -> None:
    api = Recorded()
    first = ApiFirst(api)
    for path in ("/", "/posts/1", "/apiary", "/static/site.css", "/login"):
        assert first.matches(scope_of(path)) == (Match.NONE, {})
    assert first.matches(scope_of("/api/vote", "websocket"))[0] == Match.NONE
    assert api.asked == []
    assert first.matches(scope_of("/api/vote"))[0] == Match.FULL
    assert first.matches(scope_of("/api"))[0] == Match.FULL
    assert api.asked == ["/api/vote", "/api"]


def test_pages_and_the_api_answer_as_before(client: TestClient) -> None:
    alice = sign_up(client, "alice")
    post = write(client, alice)
    assert client.get("/").status_code == 200
    assert client.get(f"/posts/{post['id']}").status_code == 200
    liked = client.post("/api/vote", json={"post_id": post["id"], "dir": 1}, headers=alice.headers)
    assert (liked.status_code, liked.json()) == (201, {"message": "Liked"})
    taken = client.post("/api/vote", json={"post_id": post["id"], "dir": 0}, headers=alice.headers)
    assert (taken.status_code, taken.json()) == (200, {"message": "Like removed"})
    assert client.get("/api/nowhere").status_code == 404
    assert client.get("/apiary").status_code == 404


@pytest.mark.postgres
def test_the_request_pool_queues_instead_of_overflowing(settings: Settings) -> None:
    engine = create_async_db_engine(settings)
    try:
        pool = engine.sync_engine.pool
        assert pool.size() == POOL_SIZE  # type: ignore[attr-defined]
        assert pool._max_overflow == 0  # type: ignore[attr-defined]
    finally:
        engine.sync_engine.dispose()


@pytest.mark.postgres
def test_an_api_write_whose_pooled_connection_died_is_sent_on_a_fresh_one(
    settings: Settings,
) -> None:
    app = create_app(settings)  # pooled, as in production: the dead connection stays pooled
    with TestClient(app, follow_redirects=False) as client:
        alice = sign_up(client, "alice")
        post = write(client, alice)
        url = make_url(settings.sqlalchemy_url).set(drivername="postgresql")
        with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as admin:
            ended = admin.execute(
                # Waits (up to 5 s) for each backend to end: its farewell is then
                # on the pooled connection's socket, as `open_link` looks for it.
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000))"
                " FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND state = 'idle' AND query NOT LIKE 'LISTEN%'"
            ).fetchone()
        assert ended is not None and ended[0] >= 1
        liked = client.post(
            "/api/vote", json={"post_id": post["id"], "dir": 1}, headers=alice.headers
        )
        assert liked.status_code == 201, liked.text
        assert write(client, alice, title="After")["title"] == "After"

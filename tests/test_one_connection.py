"""A logged-in request reads its session, and the data version with it, on
the connection its other statements use: one connection from the pool per
page, not a second one for the session alone."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from tests.support.pages import Auth, write_post
from webapp.app import create_app
from webapp.core.config import Settings


@pytest.mark.parametrize("path", ["/", "/posts/1", "/users/1", "/settings", "/notifications"])
def test_a_logged_in_page_takes_one_connection_from_the_pool(settings: Settings, path: str) -> None:
    app = create_app(settings)  # pooled, as in production
    engine = app.state.engine.sync_engine
    checkouts: list[object] = []

    def checked_out(*args: object) -> None:
        checkouts.append(args)

    with TestClient(app, follow_redirects=False) as client:
        Auth(client).register("alice")
        write_post(client, "A post")
        app.state.page_cache.clear()  # the page reads the database, not the cache
        event.listen(engine, "checkout", checked_out)
        try:
            assert client.get(path).status_code == 200
        finally:
            event.remove(engine, "checkout", checked_out)
    assert len(checkouts) == 1

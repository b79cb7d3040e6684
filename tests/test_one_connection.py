"""A logged-in request reads its session, and the data version with it, on
the connection its other statements use: one connection from the pool per
page, not a second one for the session alone."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from tests.support.pages import Auth, post_form, write_post
from webapp.app import create_app
from webapp.core.config import Settings


@pytest.mark.parametrize("path", ["/", "/posts/1", "/users/1", "/settings", "/notifications"])
def test_a_logged_in_page_takes_one_connection_from_the_pool(settings: Settings, path: str) -> None:
    app = create_app(settings)  # pooled, as in production
    # The page cache's readings of the versions in the background (they go on
    # for a while after each request) take connections of their own: what is
    # counted here is the page's.
    app.state.page_cache.keep_fresh = 0
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


@pytest.mark.parametrize("comments", [0, 2])
def test_an_anonymous_post_page_reads_the_post_and_its_comments_in_one_statement(
    settings: Settings, comments: int
) -> None:
    app = create_app(settings)  # pooled, as in production
    # The page cache's readings of the versions in the background (they go on
    # for a while after each request) take connections of their own: what is
    # counted here is the page's.
    app.state.page_cache.keep_fresh = 0
    engine = app.state.engine.sync_engine
    checkouts: list[object] = []
    statements: list[str] = []

    def checked_out(*args: object) -> None:
        checkouts.append(args)

    def sent(_connection: object, _cursor: object, sql: str, *_: object) -> None:
        statements.append(sql)

    with TestClient(app, follow_redirects=False) as client:
        Auth(client).register("alice")
        post_id = write_post(client, "A post")
        for number in range(comments):
            page = f"/posts/{post_id}"
            post_form(client, f"{page}/comments", {"content": f"Comment {number}"}, page=page)
        Auth(client).logout()
        client.cookies.clear()
        for _ in range(2):  # the second time, on a connection that ran it before
            app.state.page_cache.clear()  # the page reads the database, not the cache
            checkouts.clear()
            statements.clear()
            event.listen(engine, "checkout", checked_out)
            event.listen(engine, "before_cursor_execute", sent)
            try:
                page = client.get(f"/posts/{post_id}")
            finally:
                event.remove(engine, "checkout", checked_out)
                event.remove(engine, "before_cursor_execute", sent)
            assert page.status_code == 200
            assert "A post" in page.text
            assert page.text.count('class="comment"') == comments
            # The data versions' check, when one is due, reads on a connection
            # of its own (`webapp.core.page_cache`): the page's reads take one.
            versions = sum("sum(version)" in sql for sql in statements)
            assert len(checkouts) - versions == 1
            assert len(statements) - versions == 1

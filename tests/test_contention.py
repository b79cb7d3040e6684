"""Writes that race each other on the same rows: every request gets a normal
answer, and the counts come out exact. And when a request fails after its
transaction rolled back, the error page still knows who is logged in."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, func, text
from sqlmodel import Session, select

from tests.support.app import on_own_loop
from tests.support.concurrency import at_the_same_time
from tests.support.pages import Auth, csrf_token, write_post
from webapp.core.db import new_session, transaction
from webapp.models import Like, Post
from webapp.rules import likes
from webapp.web import error_pages

ROUNDS = 20


def race(*sends: Callable[[], int]) -> list[int]:
    """Start every request at the same moment; their statuses, in order."""
    return at_the_same_time(sends)


def form(browser: TestClient, path: str, token: str, **fields: str) -> Callable[[], int]:
    return lambda: browser.post(path, data={"csrf_token": token, **fields}).status_code


def browsers(app: FastAPI, count: int) -> list[tuple[TestClient, str]]:
    """People logged in, each with the CSRF token of their session."""
    people = []
    for number in range(count):
        browser = TestClient(app, follow_redirects=False)
        Auth(browser).register(f"liker{number}")
        people.append((browser, csrf_token(browser)))
    return people


def counts_agree(db: Session) -> None:
    """Every post's kept like count equals its like rows."""
    db.expire_all()
    rows = dict(db.exec(select(Like.post_id, func.count()).group_by(Like.post_id)).all())
    for post in db.exec(select(Post)).all():
        assert post.votes == rows.get(post.id, 0), f"post {post.id}"


def clicks(browser: TestClient, path: str, token: str, times: int) -> Callable[[], int]:
    """One person clicking the like button again and again; the worst status."""

    def send() -> int:
        return max(browser.post(path, data={"csrf_token": token}).status_code for _ in range(times))

    return send


def test_likes_racing_the_posts_deletion_all_get_normal_answers(
    app: FastAPI, alice_browser: TestClient, db: Session
) -> None:
    owner_token = csrf_token(alice_browser)
    likers = browsers(app, 6)
    for _ in range(ROUNDS):
        post_id = write_post(alice_browser, "Going soon")
        likes = [clicks(b, f"/posts/{post_id}/vote", t, 3) for b, t in likers]
        delete = form(alice_browser, f"/posts/{post_id}/delete", owner_token)
        *like_statuses, delete_status = race(*likes, delete)
        assert delete_status == 303
        # Liked before the deletion (303), or found it gone (404): nothing else.
        assert set(like_statuses) <= {303, 404}, like_statuses
        db.expire_all()
        assert db.get(Post, post_id) is None
        assert db.exec(select(Like).where(Like.post_id == post_id)).all() == []
    counts_agree(db)


def test_two_edits_racing_a_deletion_all_get_normal_answers(
    alice_browser: TestClient, app: FastAPI, db: Session
) -> None:
    token = csrf_token(alice_browser)
    tab = TestClient(app, follow_redirects=False, cookies=alice_browser.cookies)
    for number in range(ROUNDS):
        post_id = write_post(alice_browser, "Draft of a thought")
        path = f"/posts/{post_id}"
        edit = {"title": f"Edit {number}", "content": "changed", "published": "on"}
        statuses = race(
            form(alice_browser, path + "/edit", token, **edit),
            form(tab, path + "/edit", token, **edit),
            form(tab, path + "/delete", token),
        )
        assert statuses[2] == 303
        assert set(statuses[:2]) <= {303, 404}, statuses
        db.expire_all()
        assert db.get(Post, post_id) is None


def test_one_persons_racing_toggles_take_turns(
    alice_browser: TestClient, app: FastAPI, db: Session
) -> None:
    token = csrf_token(alice_browser)
    tab = TestClient(app, follow_redirects=False, cookies=alice_browser.cookies)
    post_id = write_post(alice_browser, "Click twice")
    path = f"/posts/{post_id}/vote"
    for _ in range(ROUNDS):
        assert race(form(alice_browser, path, token), form(tab, path, token)) == [303, 303]
        # Two toggles: the second undoes the first, whichever came first.
        db.expire_all()
        assert db.exec(select(Like).where(Like.post_id == post_id)).all() == []
    counts_agree(db)


def test_many_people_liking_and_unliking_keep_the_count_exact(
    app: FastAPI, alice_browser: TestClient, db: Session
) -> None:
    post_id = write_post(alice_browser, "Popular")
    likers = browsers(app, 6)
    for direction in ("1", "0", "1") * 3:
        statuses = race(*(form(b, f"/posts/{post_id}/vote", t, dir=direction) for b, t in likers))
        assert statuses == [303] * len(likers)
        counts_agree(db)
    db.expire_all()
    post = db.get(Post, post_id)
    assert post is not None and post.votes == len(likers)


# --- failing after a rollback -------------------------------------------------------


@pytest.fixture
def failing_likes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A like that rolls its transaction back and then fails: what a bug, or a
    database error nobody expected, looks like from the page's side."""

    async def add(db, *, post_id: int, user_id: int) -> bool:
        await db.rollback()
        raise RuntimeError("failed after the rollback")

    monkeypatch.setattr(likes, "add", add)


def test_a_failure_after_a_rollback_shows_the_500_page_with_the_header(
    app: FastAPI, alice_browser: TestClient, failing_likes: None
) -> None:
    post_id = write_post(alice_browser, "Unlucky")
    browser = TestClient(
        app, follow_redirects=False, cookies=alice_browser.cookies, raise_server_exceptions=False
    )
    response = browser.post(
        f"/posts/{post_id}/vote", data={"csrf_token": csrf_token(browser), "dir": "1"}
    )
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "Something went wrong on our side" in response.text
    assert 'href="/users/1">alice</a>' in response.text
    assert "content-security-policy" in response.headers


def test_when_even_the_error_page_fails_a_plain_500_page_is_sent(
    app: FastAPI,
    alice_browser: TestClient,
    failing_likes: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:

    def broken_render(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the template is broken too")

    monkeypatch.setattr(error_pages, "render", broken_render)
    post_id = write_post(alice_browser, "Unluckier")
    browser = TestClient(
        app, follow_redirects=False, cookies=alice_browser.cookies, raise_server_exceptions=False
    )
    token = csrf_token(browser)
    response = browser.post(f"/posts/{post_id}/vote", data={"csrf_token": token, "dir": "1"})
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "500 Internal Server Error" in response.text
    assert "content-security-policy" in response.headers
    assert "x-content-type-options" in response.headers


def test_on_sqlite_a_workers_writers_queue_for_each_other_not_for_the_file(
    app: FastAPI, database_url: str
) -> None:
    """SQLite's busy handler sleeps in growing steps while the file is locked; two
    transactions of one worker take turns on a lock of their own instead: the
    second begins only once the first has committed."""
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL transactions run side by side")
    engine = app.state.engine
    began: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.startswith(("BEGIN", "SELECT 'first done'")):
            began.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", note)

    async def first() -> None:
        async with new_session(engine) as db:

            async def work() -> None:
                await asyncio.sleep(0.05)  # holding the transaction while the second starts
                await db.exec(text("SELECT 'first done'"))

            await transaction(db, work)

    async def second() -> None:
        async with new_session(engine) as db:
            await transaction(db, lambda: asyncio.sleep(0))

    async def both() -> None:
        running = asyncio.create_task(first())
        await asyncio.sleep(0.01)
        await second()
        await running

    on_own_loop(both())
    event.remove(engine.sync_engine, "before_cursor_execute", note)
    assert began == ["BEGIN IMMEDIATE", "SELECT 'first done'", "BEGIN IMMEDIATE"]

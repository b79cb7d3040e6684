"""Posting limits: POSTS_PER_HOUR and COMMENTS_PER_HOUR per account, pages and
API together, counted in the database so that they hold across workers;
past them a 429 with Retry-After, and the page keeps what was typed."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import delete, update
from sqlmodel import Session, col, func, select

from tests.support.api import login, register
from tests.support.app import dispose, first_connect, make_settings, on_own_loop
from tests.support.pages import Auth, post_form, write_post
from webapp.app import create_app
from webapp.core.config import Settings
from webapp.models import Comment, Post, utcnow

POSTS, COMMENTS = 3, 2


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, posts_per_hour=POSTS, comments_per_hour=COMMENTS)


def token_of(client: TestClient, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {login(client, name).json()['access_token']}"}


def test_posts_count_across_pages_and_api_and_the_form_keeps_the_text(
    client: TestClient, db: Session
) -> None:
    Auth(client).register("alice")
    headers = token_of(client, "alice")
    write_post(client, "One")
    write_post(client, "Two")
    made = client.post("/api/posts", json={"title": "Three", "content": "x"}, headers=headers)
    assert made.status_code == 201
    data = {"title": "Four, carefully typed", "content": "A long text I keep", "published": "on"}
    refused = post_form(client, "/posts", data, page="/posts/new")
    assert refused.status_code == 429
    assert 3500 < int(refused.headers["Retry-After"]) <= 3600
    assert "Four, carefully typed" in refused.text and "A long text I keep" in refused.text
    assert "as many posts as an hour allows" in refused.text
    over = client.post("/api/posts", json={"title": "Five", "content": "x"}, headers=headers)
    assert over.status_code == 429 and int(over.headers["Retry-After"]) > 0
    assert db.exec(select(func.count()).select_from(Post)).one() == POSTS
    # An hour later, one more.
    db.exec(update(Post).values(created_at=utcnow() - timedelta(minutes=61)))
    db.commit()
    assert (
        client.post(
            "/api/posts", json={"title": "Six", "content": "x"}, headers=headers
        ).status_code
        == 201
    )


def test_comments_count_across_pages_and_api_and_the_form_keeps_the_text(
    client: TestClient, db: Session
) -> None:
    Auth(client).register("alice")
    headers = token_of(client, "alice")
    post_id = write_post(client, "A post")
    said = post_form(
        client, f"/posts/{post_id}/comments", {"content": "first"}, f"/posts/{post_id}"
    )
    assert said.status_code == 303
    api = client.post(f"/api/posts/{post_id}/comments", json={"content": "second"}, headers=headers)
    assert api.status_code == 201
    refused = post_form(
        client, f"/posts/{post_id}/comments", {"content": "third, kept"}, f"/posts/{post_id}"
    )
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert "third, kept" in refused.text
    over = client.post(f"/api/posts/{post_id}/comments", json={"content": "4"}, headers=headers)
    assert over.status_code == 429 and "Retry-After" in over.headers
    assert db.exec(select(func.count()).select_from(Comment)).one() == COMMENTS


@pytest.fixture
def second_worker(settings: Settings) -> Iterator[FastAPI]:
    """Another app on the same database: what a second worker or host is."""
    application = create_app(settings, pooled=False)
    on_own_loop(first_connect(application))
    yield application
    dispose(application)


def test_racing_posts_on_two_workers_let_exactly_the_limit_through(
    client: TestClient, second_worker: FastAPI, db: Session
) -> None:
    assert register(client, "alice").status_code == 201
    headers = token_of(client, "alice")
    other = TestClient(second_worker)

    def send(number: int) -> int:
        worker = client if number % 2 else other
        body = {"title": f"Race {number}", "content": "x"}
        return worker.post("/api/posts", json=body, headers=headers).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(send, range(8)))
    assert statuses == [201] * POSTS + [429] * (8 - POSTS)
    assert db.exec(select(func.count()).select_from(Post)).one() == POSTS


def test_racing_comments_let_exactly_the_limit_through(
    client: TestClient, second_worker: FastAPI, db: Session
) -> None:
    assert register(client, "alice").status_code == 201
    headers = token_of(client, "alice")
    post_id = client.post(
        "/api/posts", json={"title": "t", "content": "x"}, headers=headers
    ).json()["id"]
    other = TestClient(second_worker)

    def send(number: int) -> int:
        worker = client if number % 2 else other
        body = {"content": f"comment {number}"}
        return worker.post(f"/api/posts/{post_id}/comments", json=body, headers=headers).status_code

    with ThreadPoolExecutor(6) as pool:
        statuses = sorted(pool.map(send, range(6)))
    assert statuses == [201] * COMMENTS + [429] * (6 - COMMENTS)
    assert db.exec(select(func.count()).select_from(Comment)).one() == COMMENTS


def test_posts_written_any_other_way_count_and_a_deleted_one_does_not(
    client: TestClient, db: Session
) -> None:
    """PostgreSQL counts the hour only for a writer whose tally of posts ever
    written reaches the limit (migration 0026): posts put straight into the
    table, or moved to the writer from someone else, are in the tally too."""
    alice = register(client, "alice").json()["id"]
    bob = register(client, "bob").json()["id"]
    headers = token_of(client, "alice")
    now = utcnow()
    db.add_all(
        Post(title=f"Imported {n}", content="x", owner_id=alice, created_at=now, updated_at=now)
        for n in range(POSTS - 1)
    )
    db.add(Post(title="Bob's", content="x", owner_id=bob, created_at=now, updated_at=now))
    db.commit()
    db.exec(update(Post).where(col(Post.owner_id) == bob).values(owner_id=alice))
    db.commit()
    over = client.post("/api/posts", json={"title": "One more", "content": "x"}, headers=headers)
    assert over.status_code == 429
    db.exec(delete(Post).where(col(Post.title) == "Bob's"))
    db.commit()
    again = client.post("/api/posts", json={"title": "Now", "content": "x"}, headers=headers)
    assert again.status_code == 201
    refused = client.post("/api/posts", json={"title": "Not now", "content": "x"}, headers=headers)
    assert refused.status_code == 429
    assert db.exec(select(func.count()).select_from(Post)).one() == POSTS

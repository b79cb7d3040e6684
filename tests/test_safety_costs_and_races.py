"""What blocks and mutes cost a reader, and how they settle races: a feed read
by someone who blocks and mutes 50 people runs the statements of anyone
else's; a block racing the other person's follow, like or comment ends with
the block in force and every count exact."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import insert
from sqlmodel import Session, func, select

from tests.support.api import sign_up, write
from tests.support.concurrency import at_the_same_time
from tests.support.pages import Auth, write_post
from tests.support.statements import StatementCounter
from webapp.models import Block, Comment, Follow, Like, Mute, Post, User, utcnow

PAGES = ["/", "/?q=post", "/following", "/tags/news", "/users/1/followers", "/users/1/following"]


def statements_of(viewer: TestClient, engine, app: FastAPI, path: str) -> tuple[int, int]:
    app.state.page_cache.clear()
    with StatementCounter(engine) as first:
        assert viewer.get(path).status_code == 200
    with StatementCounter(engine) as again:
        assert viewer.get(path).status_code == 200
    return first.count, again.count


def test_a_reader_who_blocks_and_mutes_50_people_runs_the_same_statements(
    busy_site: list[TestClient], new_client, engine, app: FastAPI, db: Session
) -> None:
    plain, shielded = new_client(), new_client()
    Auth(plain).register("plain")
    Auth(shielded).register("shielded")
    write_post(busy_site[0], "A post on #news")
    people = [
        User(username=f"quiet{n}", email=f"quiet{n}@example.com", password_hash="x")
        for n in range(50)
    ]
    db.add_all(people)
    db.commit()
    me = db.exec(select(User.id).where(User.username == "shielded")).one()
    ids = [person.id for person in people]
    now = utcnow()
    db.exec(
        insert(Block).values(
            [{"blocker_id": me, "blocked_id": i, "created_at": now} for i in ids[:25]]
        )
    )
    db.exec(
        insert(Mute).values([{"muter_id": me, "muted_id": i, "created_at": now} for i in ids[25:]])
    )
    db.commit()
    for viewer in (plain, shielded):
        viewer.get("/")  # settle "last seen"
    for path in PAGES:
        assert statements_of(shielded, engine, app, path) == statements_of(
            plain, engine, app, path
        ), path


def test_a_block_racing_follows_likes_and_comments_ends_in_force_with_exact_counts(
    client: TestClient, db: Session
) -> None:
    alice, bob = sign_up(client, "alice"), sign_up(client, "bob")
    posts = [write(client, alice, title=f"Post {n}")["id"] for n in range(3)]
    for round_number in range(4):
        client.delete(f"/api/users/me/blocks/{bob.id}", headers=alice.headers)
        sends = [
            lambda: client.put(f"/api/users/me/blocks/{bob.id}", headers=alice.headers),
            lambda: client.put(f"/api/users/me/following/{alice.id}", headers=bob.headers),
            lambda: client.put(f"/api/users/me/following/{bob.id}", headers=alice.headers),
            *(
                (
                    lambda post=post: client.post(
                        "/api/vote", json={"post_id": post, "dir": 1}, headers=bob.headers
                    )
                )
                for post in posts
            ),
            *(
                (
                    lambda post=post, text=f"r{round_number}": client.post(
                        f"/api/posts/{post}/comments",
                        json={"content": text},
                        headers=bob.headers,
                    )
                )
                for post in posts
            ),
        ]
        statuses = [response.status_code for response in at_the_same_time(sends)]
        assert all(status < 500 for status in statuses), statuses
        db.expire_all()
        assert db.exec(select(Follow)).all() == [], round_number
        assert db.exec(select(Block)).one().blocked_id == bob.id
    for post_id in posts:
        post = db.get(Post, post_id)
        assert post is not None
        likes = db.exec(select(func.count()).select_from(Like).where(Like.post_id == post_id)).one()
        comments = db.exec(
            select(func.count()).select_from(Comment).where(Comment.post_id == post_id)
        ).one()
        assert (post.votes, post.comments) == (likes, comments)

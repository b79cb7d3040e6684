"""The command line as a person uses it: serve, migrate, seed."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlmodel import Session, col
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.support.app import SECRET, make_settings
from tests.support.pages import Auth
from webapp.app import create_app
from webapp.core.db import create_db_engine, migrate
from webapp.models import Comment, CommentCreate, Follow, Like, Notification, Post, User
from webapp.seed import DEMO_PASSWORD, spread
from webapp.seed import seed as run_seed


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: int = 120):
    return subprocess.run(
        [sys.executable, "-m", "webapp", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_production_without_a_secret_stops_with_one_clear_line(tmp_path: Path) -> None:
    result = run_cli("serve", cwd=tmp_path, env={"WEBAPP_ENV": "production", "SECRET_KEY": "short"})
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "agora: SECRET_KEY must be at least 32 characters when WEBAPP_ENV=production"
    ]


def test_migrate_creates_the_schema_in_the_working_directory(tmp_path: Path) -> None:
    env = {"DATABASE_URL": "sqlite:///./agora.db", "SECRET_KEY": SECRET}
    result = run_cli("migrate", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "agora.db").exists()


SEED_SIZE = {"users": 5, "posts": 40, "votes": 30, "follows": 12, "comments": 25}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, str]]:
    """A database seeded once by the command, and what the command wrote to stderr."""
    folder = tmp_path_factory.mktemp("seeded")
    url = f"sqlite:///{folder}/seed.db"
    env = {"DATABASE_URL": url, "SECRET_KEY": SECRET, "BCRYPT_ROUNDS": "4"}
    sizes = [part for name, n in SEED_SIZE.items() for part in (f"--{name}", str(n))]
    result = run_cli("seed", *sizes, cwd=folder, env=env)
    assert result.returncode == 0, result.stderr
    engine = create_db_engine(make_settings(url))
    yield engine, result.stderr
    engine.dispose()


def count(db: Session, model: type, *where: Any) -> int:
    return db.scalar(select(func.count()).select_from(model).where(*where)) or 0


def test_seed_fills_the_database(seeded: tuple[Engine, str]) -> None:
    engine, stderr = seeded
    for step in ("users", "posts", "follows", "likes", "comments", "notifications"):
        assert f"{step}: 100%" in stderr  # the progress bars
    with Session(engine) as db:
        assert count(db, User) == 5
        assert count(db, Post) == 40
        assert count(db, Like) == 30
        assert count(db, Follow) == 12
        assert count(db, Comment) == 25
        assert db.scalar(select(func.sum(Post.votes))) == 30
        assert db.scalar(select(func.sum(Post.comments))) == 25


def test_every_seeded_post_counts_its_likes_and_comments_exactly(
    seeded: tuple[Engine, str],
) -> None:
    engine, _ = seeded
    likes = select(func.count()).where(col(Like.post_id) == col(Post.id)).scalar_subquery()
    comments = select(func.count()).where(col(Comment.post_id) == col(Post.id)).scalar_subquery()
    with Session(engine) as db:
        rows = db.execute(select(Post.id, Post.votes, likes, Post.comments, comments)).all()
    assert len(rows) == 40
    assert [(row[1], row[3]) for row in rows] == [(row[2], row[4]) for row in rows]


def test_seeded_comments_are_valid_and_come_after_their_posts(
    seeded: tuple[Engine, str],
) -> None:
    engine, _ = seeded
    with Session(engine) as db:
        rows = db.execute(
            select(Comment.content, Comment.created_at, Post.created_at, Post.published).join(
                Post, col(Post.id) == col(Comment.post_id)
            )
        ).all()
    for content, commented_at, posted_at, published in rows:
        assert CommentCreate.model_validate({"content": content}).content == content
        assert commented_at > posted_at
        assert published  # nobody else sees a draft to answer it


def test_seeded_follows_likes_and_comments_tell_the_other_person(
    seeded: tuple[Engine, str],
) -> None:
    engine, _ = seeded
    with Session(engine) as db:
        follows = db.execute(select(Follow.followed_id, Follow.follower_id)).all()
        likes = db.execute(
            select(Post.owner_id, Like.user_id, Like.post_id)
            .join(Post, col(Post.id) == col(Like.post_id))
            .where(col(Like.user_id) != col(Post.owner_id))
        ).all()
        comments = db.execute(
            select(Post.owner_id, Comment.author_id, Comment.post_id, Comment.id)
            .join(Post, col(Post.id) == col(Comment.post_id))
            .where(col(Comment.author_id) != col(Post.owner_id))
        ).all()
        told = db.execute(
            select(
                Notification.kind,
                Notification.recipient_id,
                Notification.actor_id,
                Notification.post_id,
                Notification.comment_id,
                Notification.read,
            )
        ).all()
    assert all(follower != followed for followed, follower in follows)
    assert sorted(row[:5] for row in told) == sorted(
        [("follow", *pair, None, None) for pair in follows]
        + [("like", *like, None) for like in likes]
        + [("comment", *comment) for comment in comments]
    )
    unread = [row for row in told if not row.read]
    assert 0 < len(unread) < len(told) / 2  # mostly read, a few new


def test_the_seed_follows_a_few_people_much_more_than_most(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path}/skew.db")
    migrate(settings)
    run_seed(settings, users=100, posts=300, votes=0, follows=2_000, comments=0, seed=7)
    engine = create_db_engine(settings)
    with Session(engine) as db:
        followers = sorted(
            db.scalars(select(func.count()).select_from(Follow).group_by(col(Follow.followed_id))),
            reverse=True,
        )
    engine.dispose()
    assert sum(followers) == 2_000
    assert followers[0] == 99  # everyone else
    assert sum(followers[:10]) > 0.3 * 2_000  # the top tenth has a third of the follows
    assert followers[len(followers) // 2] < 20  # the median person, a handful


def test_spread_draws_the_total_and_fills_nothing_past_its_cap() -> None:
    counts = spread(random.Random(1), [100.0, 1.0, 1.0, 1.0], 20, [5, 10, 10, 10])
    assert sum(counts) == 20
    assert counts[0] == 5
    assert all(n <= cap for n, cap in zip(counts, [5, 10, 10, 10], strict=True))
    assert sum(spread(random.Random(1), [1.0, 1.0], 50, [3, 4])) == 7  # no more than fits


def test_serve_answers_on_its_port_and_takes_it_for_the_site_address(tmp_path: Path) -> None:
    port = free_port()
    env = {"DATABASE_URL": "sqlite:///./served.db", "BCRYPT_ROUNDS": "4"}
    env.pop("SECRET_KEY", None)
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "webapp", "serve", "--port", str(port), "--workers", "2"],
        cwd=tmp_path,
        env={
            **{k: v for k, v in os.environ.items() if k != "SECRET_KEY"},
            "PYTHONPATH": str(Path(__file__).parent.parent),
            **env,
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        statuses = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not statuses:
            try:
                for path in ("/healthz", "/", "/docs"):
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                        statuses[path] = r.status
            except OSError:
                statuses = {}
                time.sleep(0.3)
        assert statuses == {"/healthz": 200, "/": 200, "/docs": 200}, (
            tmp_path / "server.log"
        ).read_text()
        # Development without SECRET_KEY: a key kept beside the database.
        assert (tmp_path / ".agora-secret-key").exists()
        # Without SITE_URL, the site is where it is served: a page of the
        # default port is another origin.
        socket_url = f"ws://127.0.0.1:{port}/ws"
        with connect(socket_url, origin=f"http://127.0.0.1:{port}", open_timeout=5):  # type: ignore[arg-type]
            pass
        with pytest.raises(InvalidStatus) as refused:
            connect(socket_url, origin="http://127.0.0.1:8000", open_timeout=5)  # type: ignore[arg-type]
        assert refused.value.response.status_code == 403
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:  # pragma: no cover
            process.kill()
            pytest.fail("the server did not stop")
        finally:
            log.close()


def test_seeded_users_log_in_with_the_documented_password(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/seed.db"
    env = {"DATABASE_URL": url, "SECRET_KEY": SECRET, "BCRYPT_ROUNDS": "4"}
    result = run_cli("seed", "--users", "2", "--posts", "3", "--votes", "0", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    settings = make_settings(url)
    engine = create_db_engine(settings)
    with Session(engine) as db:
        name = db.scalar(select(User.username))
    engine.dispose()
    with TestClient(create_app(settings), follow_redirects=False) as client:
        assert Auth(client).login(name, DEMO_PASSWORD).status_code == 303

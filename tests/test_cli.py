"""The command line as a person uses it: serve, migrate, seed."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.support.app import SECRET, make_settings
from tests.support.cli import run_cli, run_python
from tests.support.pages import Auth
from webapp.__main__ import own_listener, parse
from webapp.app import create_app
from webapp.core.config import DEFAULT_PORT, Settings
from webapp.core.db import create_db_engine, migrate
from webapp.core.logs import SocketAccessLines
from webapp.models import Comment, CommentCreate, Follow, Like, Notification, Post, User
from webapp.rules.comments import path_step
from webapp.seed import DEMO_PASSWORD, spread
from webapp.seed import seed as run_seed


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


# What `serve` does before uvicorn starts its workers, in a fresh interpreter
# (this one has long imported everything).
BEFORE_THE_WORKERS = """
import sys
from uvicorn import _subprocess
from webapp.__main__ import fork_workers, in_a_child
from webapp.core.config import Settings
from webapp.core.db import migrate

settings = Settings()
assert in_a_child(migrate, settings)
assert "alembic" not in sys.modules
assert not in_a_child(lambda settings: sys.exit(3), settings)
fork_workers()
assert _subprocess.spawn.get_start_method() == "fork"
assert _subprocess.subprocess_started.__name__ == "own_listeners"
import webapp.app
assert "webapp.rules.posts" in sys.modules and "served" not in vars(webapp.app)
# FastAPI's check for pydantic.v1 models finds none without importing it, and the
# OpenAPI document's models are built at the first /openapi.json, not before.
assert sys.modules["pydantic.v1"] is None
from fastapi.openapi.models import OpenAPI
from pydantic import BaseModel
from pydantic._internal._mock_val_ser import MockValSer
assert isinstance(OpenAPI.__pydantic_validator__, MockValSer)
assert "defer_build" not in BaseModel.model_config
print("ok")
"""


@pytest.mark.skipif(sys.platform == "win32", reason="no fork on Windows: all runs in one process")
def test_serve_migrates_in_a_child_and_forks_its_workers_with_the_app_imported_not_built(
    tmp_path: Path,
) -> None:
    """Alembic is never in a worker, and a worker starts with the pages of
    code its parent holds shared rather than loading them again; each builds
    its own app (engines, threads) after the fork."""
    env = {"DATABASE_URL": "sqlite:///./agora.db", "SECRET_KEY": SECRET}
    result = run_python("-c", BEFORE_THE_WORKERS, cwd=tmp_path, env=env)
    assert result.stdout.strip() == "ok", result.stderr
    assert (tmp_path / "agora.db").exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel spreads them on Linux")
def test_each_worker_listens_on_a_socket_of_its_own_and_connections_spread_over_them() -> None:
    """The workers' sockets share the supervisor's address, and connections
    opened at once go to both, not all to whichever worker woke first; the
    supervisor's socket, which nobody listens on, gets none."""
    import uvicorn

    shared = uvicorn.Config("webapp.app:served", host="127.0.0.1", port=0).bind_socket()
    # What each forked worker holds: its own copy of the supervisor's socket.
    workers = [own_listener(shared.dup()) for _ in range(2)]
    try:
        for own in workers:
            assert own.fileno() != shared.fileno()
            assert own.getsockname() == shared.getsockname()
            assert own.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) != 0
            own.listen()
            own.setblocking(False)
        clients = [socket.create_connection(shared.getsockname()) for _ in range(64)]
        accepted = [0, 0]
        deadline = time.monotonic() + 5
        while sum(accepted) < len(clients) and time.monotonic() < deadline:
            for i, own in enumerate(workers):
                with contextlib.suppress(BlockingIOError):
                    own.accept()[0].close()
                    accepted[i] += 1
        for client in clients:
            client.close()
        assert sum(accepted) == 64 and min(accepted) > 0, accepted
    finally:
        for own in workers:
            own.close()
        shared.close()


def test_a_socket_not_tcp_is_listened_on_as_it_is(tmp_path: Path) -> None:
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        unix.bind(str(tmp_path / "agora.sock"))
        assert own_listener(unix) is unix
    finally:
        unix.close()


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
        # Demo people can post at once, even where addresses must be confirmed.
        assert count(db, User, col(User.email_confirmed).is_(True)) == 5
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
    """Each once a comment: the author a reply answers, then the post's owner."""
    engine, _ = seeded
    parent = aliased(Comment)
    with Session(engine) as db:
        follows = db.execute(select(Follow.followed_id, Follow.follower_id)).all()
        likes = db.execute(
            select(Post.owner_id, Like.user_id, Like.post_id)
            .join(Post, col(Post.id) == col(Like.post_id))
            .where(col(Like.user_id) != col(Post.owner_id))
        ).all()
        comments = db.execute(
            select(Post.owner_id, Comment.author_id, Comment.post_id, Comment.id, parent.author_id)
            .join(Post, col(Post.id) == col(Comment.post_id))
            .outerjoin(parent, col(parent.id) == col(Comment.parent_id))
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
    replies = [
        ("reply", answered, author, post_id, comment_id)
        for _, author, post_id, comment_id, answered in comments
        if answered is not None and answered != author
    ]
    assert replies  # the seed threads some of its comments
    expected_comments = [
        ("comment", owner, author, post_id, comment_id)
        for owner, author, post_id, comment_id, answered in comments
        if owner != author and answered != owner
    ]
    assert sorted(row[:5] for row in told) == sorted(
        [("follow", *pair, None, None) for pair in follows]
        + [("like", *like, None) for like in likes]
        + expected_comments
        + replies
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


@contextmanager
def serving(folder: Path, *options: str, host: str = "127.0.0.1") -> Iterator[tuple[str, Path]]:
    """`python -m webapp serve --host host --port P *options` in development with
    no SECRET_KEY nor SITE_URL, as a newcomer starts it: its address and log."""
    port = free_port()
    log = folder / "server.log"
    environment = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "SITE_URL")}
    command = ["serve", "--host", host, "--port", str(port), *options]
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "webapp", *command],
            cwd=folder,
            env={
                **environment,
                "PYTHONPATH": str(Path(__file__).parent.parent),
                "DATABASE_URL": "sqlite:///./served.db",
                "BCRYPT_ROUNDS": "4",
                "RESET_MAIL_DELAY": "0",
            },
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        address = f"http://{host}:{port}"
        try:
            deadline = time.monotonic() + 90  # a start that waits for a busy machine
            while True:
                try:
                    assert status_of(f"{address}/healthz") == 200
                    break
                except OSError:
                    assert time.monotonic() < deadline, log.read_text()
                    assert process.poll() is None, log.read_text()
                    time.sleep(0.3)
            yield address, log
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:  # pragma: no cover
                process.kill()
                pytest.fail("the server did not stop")


def status_of(url: str, body: dict[str, Any] | None = None) -> int:
    """GET the URL, or POST `body` to it as JSON: the answer's status."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 (http://, our server)
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (the same)
        return answer.status


def test_serve_answers_on_its_port_and_takes_it_for_the_site_address(tmp_path: Path) -> None:
    with serving(tmp_path, "--workers", "2") as (address, log):
        for path in ("/healthz", "/", "/docs"):
            assert status_of(f"{address}{path}") == 200, log.read_text()
        # Development without SECRET_KEY: a key kept beside the database.
        assert (tmp_path / ".agora-secret-key").exists()
        # Without SITE_URL, the site is where it is served: a page of the
        # default port is another origin.
        socket_url = address.replace("http", "ws") + "/ws"
        with connect(socket_url, origin=address, open_timeout=5):  # type: ignore[arg-type]
            pass
        with pytest.raises(InvalidStatus) as refused:
            connect(socket_url, origin="http://127.0.0.1:8000", open_timeout=5)  # type: ignore[arg-type]
        assert refused.value.response.status_code == 403


def test_serve_mails_links_to_the_host_and_port_it_serves(tmp_path: Path) -> None:
    with serving(tmp_path, host="localhost") as (address, log):
        account = {"username": "ada", "email": "ada@example.com", "password": "analytical engine"}
        assert status_of(f"{address}/api/users", account) == 201
        assert status_of(f"{address}/api/password-reset", {"email": "ada@example.com"}) == 202
        deadline = time.monotonic() + 20
        while not list((tmp_path / "outbox").glob("*")):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    (mail,) = (tmp_path / "outbox").iterdir()
    assert f"{address}/password-reset/" in mail.read_text()
    assert address.startswith("http://localhost:") and not address.endswith(":8000")


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "http://127.0.0.1:8437"),
        ("localhost", "http://localhost:8437"),
        ("0.0.0.0", "http://127.0.0.1:8437"),  # noqa: S104 (every interface: this machine's is one)
        ("::", "http://127.0.0.1:8437"),
        ("::1", "http://[::1]:8437"),
    ],
)
def test_the_development_site_address_is_the_host_and_port_served(host: str, address: str) -> None:
    settings = Settings(_env_file=None, served_host=host, served_port=8437)  # type: ignore[call-arg]
    assert settings.public_url == address


def open_and_refuse_sockets(address: str) -> None:
    socket_url = address.replace("http", "ws") + "/ws"
    with connect(socket_url, origin=address, open_timeout=5):  # type: ignore[arg-type]
        pass
    with pytest.raises(InvalidStatus):
        connect(socket_url, origin="http://elsewhere.example", open_timeout=5)  # type: ignore[arg-type]
    assert status_of(f"{address}/") == 200


def test_without_access_logs_a_socket_logs_nothing(tmp_path: Path) -> None:
    with serving(tmp_path, "--workers", "2") as (address, log):
        open_and_refuse_sockets(address)
        time.sleep(0.5)  # the closing lines come after the client has gone
        written = log.read_text()
    assert "Application startup complete" in written  # the log is there, and kept
    assert "WebSocket" not in written
    assert "connection open" not in written and "connection closed" not in written
    assert '"GET / HTTP' not in written


def test_with_access_logs_each_request_has_a_line_without_its_path(tmp_path: Path) -> None:
    with serving(tmp_path, "--access-log") as (address, log):
        open_and_refuse_sockets(address)
        with contextlib.suppress(urllib.error.HTTPError):  # a link that holds nothing: 400
            status_of(f"{address}/password-reset/a-secret-token")
        time.sleep(0.5)
        written = log.read_text()
    assert re.search(r"GET / 200 [0-9.]+ ms id=[0-9a-f]{32} account=-", written)
    assert "GET /password-reset/{token}" in written
    assert "a-secret-token" not in written
    assert '"GET / HTTP' not in written  # uvicorn's own line, path and all, is off


def test_the_socket_filter_keeps_errors_and_other_lines() -> None:
    lines = SocketAccessLines()

    def kept(message: str, level: int = logging.INFO, *args: object) -> bool:
        record = logging.LogRecord("uvicorn.error", level, __file__, 1, message, args, None)
        return lines.filter(record)

    assert not kept('%s - "WebSocket %s" [accepted]', logging.INFO, "1.2.3.4:5", "/ws")
    assert not kept("connection open")
    assert kept("Application startup complete.")
    assert kept("connection open", logging.WARNING)
    assert kept('%s - "WebSocket %s" [accepted]', logging.ERROR, "1.2.3.4:5", "/ws")


def test_no_command_is_serve_with_its_own_defaults() -> None:
    assert vars(parse([])) == vars(parse(["serve"]))
    assert parse([]).port == DEFAULT_PORT


def test_seeded_users_log_in_with_the_documented_password(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/seed.db"
    env = {"DATABASE_URL": url, "SECRET_KEY": SECRET, "BCRYPT_ROUNDS": "4"}
    result = run_cli("seed", "--users", "5", "--posts", "3", "--votes", "0", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    # The summary names a few of the people made, and the password.
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("agora: log in as ") and last.endswith(DEMO_PASSWORD), last
    settings = make_settings(url)
    engine = create_db_engine(settings)
    with Session(engine) as db:
        names = list(db.scalars(select(User.username).order_by(col(User.id))))
    engine.dispose()
    named = last.removeprefix("agora: log in as ").split(" or ")[0].split(", ")
    assert named == names[:3]
    with TestClient(create_app(settings), follow_redirects=False) as client:
        assert Auth(client).login(named[0], DEMO_PASSWORD).status_code == 303


def test_seeded_replies_sit_in_their_threads(seeded: tuple[Engine, str]) -> None:
    """Each seeded reply answers an older comment of the same post, and carries
    the thread and path a reply written on the site would."""
    engine, _ = seeded
    with Session(engine) as db:
        rows = {row.id: row for row in db.scalars(select(Comment)).all()}
    replies = [row for row in rows.values() if row.parent_id is not None]
    assert replies
    for row in replies:
        parent = rows[row.parent_id]
        assert parent.post_id == row.post_id and parent.created_at < row.created_at
        assert row.root_id == (parent.root_id or parent.id)
        assert row.path == parent.path + path_step(row.id)

"""The command line as a person uses it: serve, migrate, seed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import Session

from tests.support.app import SECRET, make_settings
from tests.support.pages import Auth
from webapp.app import create_app
from webapp.core.db import create_db_engine
from webapp.models import Post, User, Vote
from webapp.seed import DEMO_PASSWORD


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


def test_seed_fills_the_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/seed.db"
    env = {"DATABASE_URL": url, "SECRET_KEY": SECRET, "BCRYPT_ROUNDS": "4"}
    result = run_cli(
        "seed", "--users", "5", "--posts", "40", "--votes", "30", cwd=tmp_path, env=env
    )
    assert result.returncode == 0, result.stderr
    assert "posts" in result.stderr  # the progress bars
    engine = create_db_engine(make_settings(url))
    with Session(engine) as db:
        assert db.scalar(select(func.count()).select_from(User)) == 5
        assert db.scalar(select(func.count()).select_from(Post)) == 40
        assert db.scalar(select(func.count()).select_from(Vote)) == 30
        assert db.scalar(select(func.sum(Post.votes))) == 30
    engine.dispose()


def test_serve_answers_health_home_and_docs(tmp_path: Path) -> None:
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

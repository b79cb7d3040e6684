"""Limits that keep the site from being abused or read: so many accounts an
hour from one address, titles that show something, and a SQLite database that
only its owner can read."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, text, update
from sqlmodel import Session, select

from tests.support.api import Caller, register, write
from tests.support.app import SECRET, dispose, first_connect, make_settings, on_own_loop
from tests.support.concurrency import at_the_same_time
from tests.support.pages import Auth, post_form
from webapp.app import create_app
from webapp.core.config import Settings
from webapp.core.db import create_db_engine, migrate
from webapp.models import Post, Registration, User, utcnow

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 3
ANOTHER_ADDRESS = ("203.0.113.7", 50000)


# --- so many accounts an hour from one address ----------------------------------------


class TestRegistrationLimit:
    @pytest.fixture
    def settings(self, database_url: str) -> Settings:
        return make_settings(database_url, registrations_per_hour=LIMIT)

    def test_one_address_gets_429_after_registrations_per_hour_accounts(
        self, client: TestClient, db: Session
    ) -> None:
        for number in range(LIMIT):
            assert Auth(client).register(f"user{number}").status_code == 303
            Auth(client).logout()
        refused = Auth(client).register("onemore")
        assert refused.status_code == 429
        assert 3500 < int(refused.headers["retry-after"]) <= 3600
        # The form comes back, with what was typed and a message.
        assert 'name="username" type="text" value="onemore"' in refused.text
        assert "Too many accounts" in refused.text
        assert "try again in 60 minutes" in refused.text
        assert db.exec(select(func.count()).select_from(User)).one() == LIMIT
        assert client.get("/register").status_code == 200  # the form is still shown

    def test_the_api_gets_429_with_a_detail_and_retry_after(self, client: TestClient) -> None:
        for number in range(LIMIT):
            assert register(client, f"user{number}").status_code == 201
        refused = register(client, "onemore")
        assert refused.status_code == 429
        assert 3500 < int(refused.headers["retry-after"]) <= 3600
        assert "Too many accounts" in refused.json()["detail"]

    def test_pages_and_the_api_count_together(self, client: TestClient) -> None:
        assert register(client, "api1").status_code == 201
        assert Auth(client).register("page1").status_code == 303
        Auth(client).logout()
        assert register(client, "api2").status_code == 201
        assert Auth(client).register("page2").status_code == 429
        assert register(client, "api3").status_code == 429

    def test_other_addresses_are_not_limited(self, client: TestClient, app: FastAPI) -> None:
        for number in range(LIMIT):
            register(client, f"user{number}")
        assert register(client, "onemore").status_code == 429
        elsewhere = TestClient(app, follow_redirects=False, client=ANOTHER_ADDRESS)
        assert register(elsewhere, "onemore").status_code == 201

    def test_registrations_that_fail_do_not_count(self, client: TestClient) -> None:
        assert register(client, "alice").status_code == 201
        for _ in range(LIMIT + 2):
            assert register(client, "alice").status_code == 409  # taken
            assert register(client, "bo").status_code == 422  # too short
            assert Auth(client).register("alice").status_code == 422  # taken, on the page
        for number in range(1, LIMIT):
            assert register(client, f"user{number}").status_code == 201
        assert register(client, "onemore").status_code == 429

    def test_the_count_lives_in_the_database(self, client: TestClient, settings: Settings) -> None:
        for number in range(LIMIT):
            register(client, f"user{number}")
        restarted = create_app(settings, pooled=False)
        try:
            assert register(TestClient(restarted), "onemore").status_code == 429
        finally:
            dispose(restarted)

    def test_the_limit_ends_an_hour_after_the_oldest_registration(
        self, client: TestClient, db: Session
    ) -> None:
        for number in range(LIMIT):
            register(client, f"user{number}")
        assert register(client, "onemore").status_code == 429
        oldest = Registration.id == db.exec(select(func.min(Registration.id))).one()
        an_hour_ago = utcnow() - timedelta(minutes=61)
        db.exec(update(Registration).where(oldest).values(created_at=an_hour_ago))
        db.commit()
        assert register(client, "onemore").status_code == 201
        assert register(client, "twomore").status_code == 429
        # The row that left the window was swept when the next one was written.
        assert db.exec(select(func.count()).select_from(Registration)).one() == LIMIT

    def test_registrations_racing_from_one_address_stop_at_the_limit(
        self, new_client, db: Session
    ) -> None:
        clients = [new_client() for _ in range(LIMIT + 4)]
        statuses = at_the_same_time(
            [lambda i=i: register(clients[i], f"racer{i}").status_code for i in range(len(clients))]
        )
        assert sorted(statuses) == [201] * LIMIT + [429] * 4
        assert db.exec(select(func.count()).select_from(User)).one() == LIMIT

    def test_the_api_documents_the_429(self, client: TestClient) -> None:
        operation = client.get("/openapi.json").json()["paths"]["/api/users"]["post"]
        assert "Retry-After" in operation["responses"]["429"]["headers"]


def test_registrations_per_hour_0_turns_the_limit_off(database_url: str, db: Session) -> None:
    app = create_app(make_settings(database_url, registrations_per_hour=0), pooled=False)
    on_own_loop(first_connect(app))
    try:
        client = TestClient(app, follow_redirects=False)
        for number in range(25):
            assert register(client, f"user{number}").status_code == 201
        assert db.exec(select(func.count()).select_from(Registration)).one() == 0
    finally:
        dispose(app)


def test_the_default_is_20_an_hour() -> None:
    assert Settings(_env_file=None).registrations_per_hour == 20


# --- titles that show something ------------------------------------------------------

INVISIBLE_TITLES = [
    "\u200b",  # zero width space
    "\u200b\u200c\u200d\u2060",  # zero width (non-)joiners, word joiner
    "\ufeff",  # byte order mark
    "\u00ad",  # soft hyphen
    "\u3164",  # Hangul filler
    "\u115f\u1160",  # Hangul choseong and jungseong fillers
    "\uffa0",  # halfwidth Hangul filler
    "\u2800",  # Braille pattern blank
    " \u3000\u2003 ",  # ideographic and em spaces
    "\u034f",  # combining grapheme joiner
    "\u0301",  # a combining accent with nothing to sit on
    "\U000e0041\U000e007f",  # tag characters
    "\u2028",  # line separator
    "\ue000",  # private use
    "\u0378",  # unassigned
]
VISIBLE_TITLES = ["e\u0301", "\u200bHi", "ㅎ", "한", "\u2801", "😀", "👩\u200d💻", "·", "\u0e01"]


def title_error(html: str) -> str | None:
    match = re.search(r'id="title-error">([^<]*)<', html)
    return match.group(1) if match else None


@pytest.mark.parametrize("title", INVISIBLE_TITLES)
def test_a_title_without_a_visible_character_is_refused_on_the_pages(
    alice_browser: TestClient, db: Session, title: str
) -> None:
    response = post_form(alice_browser, "/posts", {"title": title, "content": "text"})
    assert response.status_code == 422
    assert title_error(response.text) == "Must not be only spaces."
    assert db.exec(select(Post)).first() is None


@pytest.mark.parametrize("title", INVISIBLE_TITLES)
def test_a_title_without_a_visible_character_is_refused_by_the_api(
    client: TestClient, alice_api: Caller, title: str
) -> None:
    post = write(client, alice_api, title="Visible")
    for method, path in (("POST", "/api/posts"), ("PUT", f"/api/posts/{post['id']}")):
        response = client.request(
            method, path, json={"title": title, "content": "c"}, headers=alice_api.headers
        )
        assert response.status_code == 422, (method, response.text)
        assert "only spaces" in response.json()["detail"][0]["msg"]
    patched = client.patch(
        f"/api/posts/{post['id']}", json={"title": title}, headers=alice_api.headers
    )
    assert patched.status_code == 422
    assert client.get(f"/api/posts/{post['id']}").json()["title"] == "Visible"


@pytest.mark.parametrize("title", VISIBLE_TITLES)
def test_a_title_with_a_visible_character_is_accepted(
    client: TestClient, alice_api: Caller, title: str
) -> None:
    assert write(client, alice_api, title=title)["title"] == title


# --- a SQLite database only its owner can read -----------------------------------------

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most systems give (022): files are world-readable unless made otherwise."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def database_files(path: Path) -> list[Path]:
    """The database and whichever of its -wal and -shm files are there now."""
    candidates = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    return [candidate for candidate in candidates if candidate.exists()]


@posix_only
@pytest.mark.usefixtures("usual_umask")
def test_the_app_creates_the_database_and_its_wal_and_shm_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "agora.db"
    settings = make_settings(f"sqlite:///{path}")
    app = create_app(settings, migrate_on_start=True, pooled=False)
    try:
        with TestClient(app, follow_redirects=False) as client:
            assert register(client, "alice").status_code == 201
            # While a connection is open after a write, SQLite keeps -wal and -shm.
            engine = create_db_engine(settings)
            with engine.connect() as connection:
                connection.execute(text("SELECT count(*) FROM users"))
                files = database_files(path)
                assert len(files) == 3, files
                assert {file.name: mode(file) for file in files} == {
                    file.name: 0o600 for file in files
                }
            engine.dispose()
    finally:
        dispose(app)


@posix_only
@pytest.mark.usefixtures("usual_umask")
def test_migrate_creates_an_owner_only_database(tmp_path: Path) -> None:
    path = tmp_path / "agora.db"
    migrate(make_settings(f"sqlite:///{path}"))
    for file in database_files(path):
        assert mode(file) == 0o600, file


@posix_only
@pytest.mark.usefixtures("usual_umask")
@pytest.mark.parametrize(
    "command", [["migrate"], ["seed", "--users", "2", "--posts", "2", "--votes", "0"]]
)
def test_the_command_line_creates_an_owner_only_database(
    tmp_path: Path, command: list[str]
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": "sqlite:///./agora.db",
        "SECRET_KEY": SECRET,
        "BCRYPT_ROUNDS": "4",
        "PYTHONPATH": str(ROOT),
    }
    result = subprocess.run(
        [sys.executable, "-m", "webapp", *command],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    files = database_files(tmp_path / "agora.db")
    assert files
    for file in files:
        assert mode(file) == 0o600, file


@posix_only
@pytest.mark.usefixtures("usual_umask")
def test_an_existing_database_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "agora.db"
    path.touch(mode=0o640)
    path.chmod(0o640)
    migrate(make_settings(f"sqlite:///{path}"))
    assert mode(path) == 0o640

"""What a worker's live sockets may cost it: a cap per client address and per
worker, refused before anything is made for the socket; sockets that end with
their session; and a subscription to as many posts as a socket may watch.

The caps are tried on a real `serve` (its database: PostgreSQL with
TEST_DATABASE_URL, else a SQLite file), with sockets from several loopback
addresses, as the `websockets` package opens them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, select
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.support.app import make_settings
from tests.support.hosts import assert_clean_log, site_database
from tests.support.pages import Auth
from tests.support.server import running_server
from tests.test_live import FakeSocket, run_hub, subscribe
from tests.test_live_hosts import close_code, no_message, socket
from webapp.core import config
from webapp.core.db import create_db_engine
from webapp.live.hub import MAX_WATCHED, Hub
from webapp.live.places import PER_ADDRESS, WORKER_FULL, Places
from webapp.models import Post, User, UserSession, utcnow

WORKER_CAP = PER_ADDRESS + 5
CLOSED_WITHIN = 0.5  # seconds for the server to hear that a client closed


@pytest.fixture(scope="module")
def served(
    migrated_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """One `serve` worker with room for WORKER_CAP sockets: its URL, and its
    database's."""
    folder = tmp_path_factory.mktemp("limits")
    url = site_database(migrated_database, folder)
    settings = {"MAX_SOCKETS_PER_WORKER": str(WORKER_CAP)}
    with running_server(folder, url, settings=settings) as host:
        yield host, url
    assert_clean_log(folder / "server.log")


@pytest.fixture
def host(served: tuple[str, str]) -> Iterator[str]:
    """The server; after the test, the time for it to hear its sockets close."""
    yield served[0]
    time.sleep(CLOSED_WITHIN)


@contextmanager
def socket_from(host: str, address: str, **options: object) -> Iterator[ClientConnection]:
    """An anonymous socket on `host`, connected from `address` (any 127.x.y.z)."""
    url = host.replace("http://", "ws://") + "/ws"
    with connect(url, open_timeout=5, source_address=(address, 0), **options) as opened:  # type: ignore[arg-type]
        yield opened


def is_open(socket: ClientConnection) -> bool:
    no_message(socket, "anything", within=0.2)  # a closed socket raises
    return True


def test_an_address_past_its_cap_is_refused_while_another_connects(host: str) -> None:
    with ExitStack() as sockets, httpx2.Client(base_url=host, timeout=5) as pages:
        for _ in range(PER_ADDRESS):
            sockets.enter_context(socket_from(host, "127.0.1.1"))
        with socket_from(host, "127.0.1.1") as refused:
            assert close_code(refused) == 1008
        assert pages.get("/").status_code == 200
        with socket_from(host, "127.0.1.2") as welcome:
            assert is_open(welcome)
        assert pages.get("/").status_code == 200


def test_a_full_worker_refuses_with_try_again_later(host: str) -> None:
    with ExitStack() as sockets, httpx2.Client(base_url=host, timeout=5) as pages:
        held = [sockets.enter_context(socket_from(host, f"127.0.2.{n}")) for n in range(WORKER_CAP)]
        with socket_from(host, "127.0.2.200") as refused:
            assert close_code(refused) == 1013
        assert pages.get("/").status_code == 200  # pages still answer
        assert is_open(held[0])


def test_closing_sockets_frees_their_places(host: str) -> None:
    for _ in range(2):  # the cap twice over, in two rounds
        with ExitStack() as sockets:
            held = [
                sockets.enter_context(socket_from(host, "127.0.3.1")) for _ in range(PER_ADDRESS)
            ]
            assert is_open(held[-1])
        time.sleep(CLOSED_WITHIN)


def test_a_handshake_that_fails_midway_gives_its_place_back(host: str) -> None:
    """Refused for its origin after it took its place: the place is free again."""
    for _ in range(PER_ADDRESS + 1):
        with (
            pytest.raises(InvalidStatus),
            socket_from(host, "127.0.4.1", origin="http://evil.example"),
        ):
            pass
    time.sleep(CLOSED_WITHIN)
    with ExitStack() as sockets:
        held = [sockets.enter_context(socket_from(host, "127.0.4.1")) for _ in range(PER_ADDRESS)]
        assert is_open(held[-1])


def test_a_workers_socket_cap_is_sized_to_its_file_descriptors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Half of them by default, bounded; uvicorn's connection cap lies above
    it, so that pages answer while the sockets are full."""
    for files, sockets in [(1024, 512), (256, 128), (20, 16), (1_048_576, 10_000)]:
        monkeypatch.setattr(config, "open_files_limit", lambda files=files: files)
        settings = make_settings("sqlite://")
        assert settings.socket_cap == sockets
        assert settings.connection_cap >= settings.socket_cap + config.HTTP_ROOM
    assert make_settings("sqlite://", max_sockets_per_worker=3).socket_cap == 3


# --- subscriptions --------------------------------------------------------------


def test_subscribing_to_100_posts_keeps_the_socket_open_and_sends_their_counts(
    alice_browser: TestClient, db: Session
) -> None:
    """The answer (`subscribed`, then a `post.changed` for each post) is no
    flood, however many posts it names."""
    alice = db.exec(select(User)).one()
    db.add_all(Post(title=f"Post {n}", content="Many.", owner_id=alice.id) for n in range(100))
    db.commit()
    post_ids = sorted(db.exec(select(Post.id)))
    assert len(post_ids) == MAX_WATCHED
    with alice_browser.websocket_connect("/ws") as socket:
        assert subscribe(socket, post_ids) == post_ids  # each id's counts follow
        assert subscribe(socket, post_ids[::-1]) == post_ids[::-1]  # and it is still open


# --- sessions that expire -------------------------------------------------------------


def test_a_socket_closes_when_its_session_expires(host: str, served: tuple[str, str]) -> None:
    """The end is read at the handshake, so the row is moved to a second and a
    half from now before the socket opens; the socket closes then, with no
    login or sweep to delete the row."""
    with httpx2.Client(base_url=host, timeout=10) as someone:
        assert Auth(someone).register(f"expiring{time.monotonic_ns()}").status_code == 303
        engine = create_db_engine(make_settings(served[1]))
        with engine.begin() as connection:
            soon = utcnow() + timedelta(seconds=1.5)
            connection.execute(update(UserSession).values(expires_at=soon))
        engine.dispose()
        with socket(host, someone) as ws:
            no_message(ws, "anything", within=0.5)  # not before its end
            assert close_code(ws, within=3.0) == 1008


def test_a_hubs_one_timer_closes_each_session_at_its_end() -> None:
    """No task per socket: a thousand idle sockets of sessions that end later
    add none."""

    async def scenario(hub: Hub) -> None:
        soon, later = FakeSocket(), FakeSocket()
        hub.join(soon, 1, 10, utcnow() + timedelta(seconds=0.2))  # type: ignore[arg-type]
        hub.join(later, 2, 11, utcnow() + timedelta(hours=1))  # type: ignore[arg-type]
        tasks = len(asyncio.all_tasks())
        for number in range(1_000):
            hub.join(FakeSocket(), 3, 100 + number, utcnow() + timedelta(hours=2))  # type: ignore[arg-type]
        assert len(asyncio.all_tasks()) == tasks
        await asyncio.sleep(0.4)
        assert (soon.closed, later.closed) == (1008, None)

    run_hub(scenario)


def test_a_session_that_left_and_came_back_closes_at_its_end_once() -> None:
    async def scenario(hub: Hub) -> None:
        first = hub.join(FakeSocket(), 1, 10, utcnow() + timedelta(seconds=0.2))  # type: ignore[arg-type]
        hub.leave(first)
        again = FakeSocket()
        hub.join(again, 1, 10, utcnow() + timedelta(seconds=0.2))  # type: ignore[arg-type]
        await asyncio.sleep(0.4)
        assert again.closed == 1008

    run_hub(scenario)


def test_places_count_down_as_sockets_end() -> None:
    places = Places(total=3)
    assert [places.take("a"), places.take("a"), places.take("b")] == [None, None, None]
    assert places.take("c") == WORKER_FULL
    places.give_back("a")
    places.give_back("b")
    assert (places.taken, places.held_by("a"), places.held_by("b")) == (1, 1, 0)
    places.give_back("b")  # one too many: no place goes below nothing
    assert places.taken == 1


def test_serve_gives_uvicorn_a_connection_cap_above_the_sockets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import uvicorn

    from webapp import __main__ as command_line
    from webapp.core import db

    ran: dict[str, Any] = {}
    monkeypatch.chdir(tmp_path)  # its .env and database, none
    monkeypatch.setenv("MAX_SOCKETS_PER_WORKER", "100")
    monkeypatch.setattr(db, "migrate", lambda settings: None)
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: ran.update(options))
    assert command_line.main(["serve"]) == 0
    assert ran["limit_concurrency"] >= 100 + config.HTTP_ROOM

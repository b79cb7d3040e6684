"""The live events of likes and new posts on PostgreSQL leave through the
worker's announcer (`webapp.core.announcer`): after the write has answered,
on a connection of the announcer's, several writes' events in one statement,
and what is pending at shutdown before the worker goes."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import httpx2
import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event

from tests.support.api import Caller, write
from tests.support.app import on_own_loop
from tests.support.statements import StatementCounter
from webapp.core import announcer
from webapp.core.config import Settings
from webapp.core.db import create_async_db_engine

pytestmark = pytest.mark.postgres


@contextmanager
def listening(settings: Settings) -> Iterator[psycopg.Connection]:
    """A client of the database listening to the live channel, as each
    worker's live source does."""
    url = settings.sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url, autocommit=True) as listener:
        listener.execute("LISTEN agora_live")
        yield listener


def heard(listener: psycopg.Connection, count: int) -> list[dict[str, object]]:
    """The next `count` different events, in the order first heard (fewer if
    they do not come within 2 s). An event heard again is not counted twice:
    when a test client's event loop ends under the announcer's statement, the
    announcer sends that statement again, and its events may be told twice
    (each says what the database holds: `announcer._send_all`)."""
    events: list[dict[str, object]] = []
    for notify in listener.notifies(timeout=2):
        event = json.loads(notify.payload)
        if event not in events:
            events.append(event)
        if len(events) == count:
            break
    return events


def changed(post_id: int, votes: int, owner: int) -> dict[str, object]:
    return {
        "t": "changed",
        "id": post_id,
        "votes": votes,
        "comments": 0,
        "owner": owner,
        "published": True,
    }


def told(post_id: int) -> str:
    """A like's event as the database holds it back (the announcement reads
    the counts again)."""
    return json.dumps({"t": "changed", "id": post_id})


def test_a_likes_live_event_reaches_a_listener_after_the_like_answered(
    client: TestClient, app: FastAPI, settings: Settings, alice_api: Caller, bob_api: Caller
) -> None:
    post = write(client, alice_api)
    requests = StatementCounter(app.state.engine.sync_engine)
    with listening(settings) as listener, requests:
        answer = client.post(
            "/api/vote", json={"post_id": post["id"], "dir": 1}, headers=bob_api.headers
        )
        assert answer.status_code == 201
        assert heard(listener, 2) == [
            changed(post["id"], 1, alice_api.id),
            {"t": "unread", "user": alice_api.id},  # the like's notification
        ]
    assert requests.count == 1  # the like; its announcement went on the announcer's connection


def test_a_new_posts_live_event_reaches_a_listener(
    client: TestClient, settings: Settings, alice_api: Caller
) -> None:
    with listening(settings) as listener:
        post = write(client, alice_api)
        assert heard(listener, 1) == [{"t": "created", "id": post["id"], "author": alice_api.id}]


def test_writes_at_once_are_announced_together_in_fewer_statements(
    client: TestClient, app: FastAPI, settings: Settings, alice_api: Caller, bob_api: Caller
) -> None:
    """While one announcement is out, the events of the writes that commit
    meanwhile wait for it, and leave together in the next: one statement
    for several writes, never two at a time, in the order they came."""
    posts = [write(client, alice_api)["id"] for _ in range(6)]
    announcing = announcer.of(app.state.engine.sync_engine)
    assert announcing is not None

    async def like_all() -> list[int]:
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
            answers = await asyncio.gather(
                *(
                    http.post(
                        "/api/vote", json={"post_id": post, "dir": 1}, headers=bob_api.headers
                    )
                    for post in posts
                )
            )
            await announcing.flush()
        return [answer.status_code for answer in answers]

    with listening(settings) as listener, StatementCounter(announcing.engine.sync_engine) as sent:
        assert on_own_loop(like_all()) == [201] * len(posts)
        events = [json.loads(n.payload) for n in listener.notifies(timeout=1)]
    likes = sorted(event["id"] for event in events if event["t"] == "changed")
    assert likes == sorted(posts)
    assert 1 <= sent.count < len(posts), sent.statements


def test_events_handed_over_together_leave_in_one_statement_in_their_order(
    client: TestClient, app: FastAPI, settings: Settings, alice_api: Caller
) -> None:
    posts = [write(client, alice_api)["id"] for _ in range(3)]
    announcing = announcer.of(app.state.engine.sync_engine)
    assert announcing is not None

    async def hand_over() -> None:
        for post in posts:
            announcing.hand_over(told(post))
        await announcing.flush()

    with listening(settings) as listener, StatementCounter(announcing.engine.sync_engine) as sent:
        on_own_loop(hand_over())
        events = heard(listener, len(posts))
    assert sent.count == 1, sent.statements
    assert events == [changed(post, 0, alice_api.id) for post in posts]


def test_an_announcement_that_fails_is_logged_and_the_next_one_still_goes(
    client: TestClient,
    app: FastAPI,
    settings: Settings,
    alice_api: Caller,
    caplog: pytest.LogCaptureFixture,
) -> None:
    post = write(client, alice_api)["id"]
    announcing = announcer.of(app.state.engine.sync_engine)
    assert announcing is not None

    async def fail_then_send() -> None:
        announcing.hand_over("not an event")  # the database cannot read it
        await announcing.flush()
        announcing.hand_over(told(post))
        await announcing.flush()

    with listening(settings) as listener, caplog.at_level(logging.WARNING, "webapp.db"):
        on_own_loop(fail_then_send())
        events = heard(listener, 1)
    assert "live events of a committed change not sent" in caplog.text
    assert events == [changed(post, 0, alice_api.id)]


def test_what_is_pending_at_shutdown_is_sent_before_the_worker_ends(
    client: TestClient, app: FastAPI, settings: Settings, alice_api: Caller
) -> None:
    post = write(client, alice_api)["id"]
    announcing = announcer.of(app.state.engine.sync_engine)
    assert announcing is not None

    async def hand_over() -> None:
        announcing.hand_over(told(post))  # not sent yet: the loop has not turned

    with listening(settings) as listener, StatementCounter(announcing.engine.sync_engine) as sent:
        with TestClient(app) as running:  # its lifespan: the shutdown closes the announcer
            assert running.portal is not None
            running.portal.call(hand_over)
        assert sent.count == 1
        assert heard(listener, 1) == [changed(post, 0, alice_api.id)]


def test_closing_the_announcer_waits_for_what_it_holds(
    client: TestClient, app: FastAPI, alice_api: Caller
) -> None:
    post = write(client, alice_api)["id"]
    announcing = announcer.of(app.state.engine.sync_engine)
    assert announcing is not None

    async def hand_over_and_close() -> int:
        with StatementCounter(announcing.engine.sync_engine) as sent:
            announcing.hand_over(told(post))
            await asyncio.sleep(0)  # the first statement is on its way
            announcing.hand_over(told(post))  # waits for it
            await announcing.close()
            return sent.count

    assert on_own_loop(hand_over_and_close()) == 2


LAST_ANNOUNCED = (
    "SELECT pid FROM pg_stat_activity WHERE starts_with(query, 'SELECT agora_live_announce')"
    " AND datname = current_database() AND pid <> pg_backend_pid()"
)


def test_a_worker_keeps_one_connection_for_its_announcements_and_replaces_a_lost_one(
    client: TestClient, settings: Settings, alice_api: Caller
) -> None:
    """Pooled, as in production: the announcer keeps its connection from one
    statement to the next; one the server closed meanwhile (a restart, an
    administrator) is replaced before the next batch, which is not lost."""
    post = write(client, alice_api)["id"]

    async def announce_around_a_lost_connection() -> tuple[int, list[int]]:
        requests = create_async_db_engine(settings)  # pooled
        announcing = announcer.for_engine(requests)
        checkouts: list[object] = []
        sync = announcing.engine.sync_engine
        event.listen(sync, "checkout", lambda *args: checkouts.append(args))
        backends = []
        try:
            for _ in range(3):
                announcing.hand_over(told(post))
                await announcing.flush()
            kept_for_three = len(checkouts)
            async with requests.connect() as other:  # the announcer's one is kept
                kept = await other.exec_driver_sql(LAST_ANNOUNCED)
                backends = [row[0] for row in kept]
                for pid in backends:
                    await other.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
            await asyncio.sleep(0.2)
            announcing.hand_over(told(post))
            await announcing.flush()
        finally:
            await announcing.close()
            await requests.dispose()
        return kept_for_three, backends

    with listening(settings) as listener:
        kept_for_three, backends = on_own_loop(announce_around_a_lost_connection())
        events = [json.loads(n.payload) for n in listener.notifies(timeout=1)]
    assert len(backends) == 1
    assert events == [changed(post, 0, alice_api.id)] * 4
    assert kept_for_three == 1  # one checkout for the three first batches

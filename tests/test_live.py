"""Live sockets in one process: who a socket is for, what it may subscribe to,
what closes it, and how one worker's hub fans events out. (Across processes
and hosts: test_live_hosts.py; in a real browser: test_live_browser.py.)"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.support.app import on_own_loop
from tests.support.pages import post_form, write_post
from webapp.live import hub as live_hub
from webapp.live.hub import Hub
from webapp.live.places import Places
from webapp.rules.safety import Shield

OWN_ORIGIN = {"origin": "http://testserver"}


def subscribe(socket: Any, posts: list[Any]) -> list[int]:
    """The ids accepted; their current counts, which follow, are checked too."""
    socket.send_json({"type": "subscribe", "posts": posts})
    reply = socket.receive_json()
    assert reply["type"] == "subscribed"
    for post_id in reply["posts"]:
        counts = socket.receive_json()
        assert (counts["type"], counts["id"]) == ("post.changed", post_id)
    return reply["posts"]


def closed_with(socket: Any) -> int:
    with pytest.raises(WebSocketDisconnect) as closed:
        while True:
            socket.receive_json()
    return closed.value.code


# --- who the socket is for --------------------------------------------------------


def test_an_anonymous_socket_is_told_of_the_posts_anyone_may_see(
    alice_browser: TestClient, new_client
) -> None:
    published = write_post(alice_browser, "Out in the open")
    draft = write_post(alice_browser, "Not yet", published=False)
    post_form(alice_browser, f"/posts/{published}/vote", {"dir": "1"})
    with new_client().websocket_connect("/ws") as socket:
        socket.send_json({"type": "subscribe", "posts": [published, draft, 999]})
        assert socket.receive_json() == {"type": "subscribed", "posts": [published]}
        assert socket.receive_json() == {
            "type": "post.changed",
            "id": published,
            "votes": 1,
            "comments": 0,
        }


def test_from_the_sites_own_pages_the_socket_is_the_visitors(alice_browser: TestClient) -> None:
    draft = write_post(alice_browser, "Mine alone", published=False)
    with alice_browser.websocket_connect("/ws", headers=OWN_ORIGIN) as socket:
        assert socket.receive_json() == {"type": "notifications", "unread": 0}
        assert subscribe(socket, [draft]) == [draft]


def test_without_an_origin_the_cookie_counts_for_nothing(alice_browser: TestClient) -> None:
    """Not a browser: public events only, whatever cookie it sends."""
    draft = write_post(alice_browser, "Mine alone", published=False)
    with alice_browser.websocket_connect("/ws") as socket:
        assert subscribe(socket, [draft]) == []  # and no unread count came first


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "http://testserver.evil.example", "null", "http://testserver:81"],
)
def test_a_socket_opened_by_another_site_is_refused(alice_browser: TestClient, origin: str) -> None:
    connecting = alice_browser.websocket_connect("/ws", headers={"origin": origin})
    with pytest.raises(WebSocketDisconnect) as refused, connecting:
        pass
    assert refused.value.code == 1008


def test_an_unknown_host_cannot_open_a_socket(client: TestClient) -> None:
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect("ws://evil.example/ws"),
    ):
        pass
    assert refused.value.code == 1008


# --- what it may ask ----------------------------------------------------------------


def test_only_the_first_100_ids_count_and_what_is_not_an_id_is_left_out(
    alice_browser: TestClient, client: TestClient
) -> None:
    post = write_post(alice_browser, "One of many")
    junk = [True, "1", 1.0, -1, 0, 2**31, None, [post], {"id": post}]
    with client.websocket_connect("/ws") as socket:
        assert subscribe(socket, [*junk, post]) == [post]
        assert subscribe(socket, [10_000 + n for n in range(100)] + [post]) == []
        assert subscribe(socket, []) == []


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (b'{"type": "subscribe", "posts": []}', 1003),  # a binary frame
        ("not json", 1003),
        ("[" * 40_000, 1003),  # nested too deep to read
        ('{"type": "hello"}', 1008),
        ('["subscribe"]', 1008),
        ('{"type": "subscribe", "posts": "1,2"}', 1008),
        ('{"type": "subscribe"}', 1008),
        (json.dumps({"type": "subscribe", "posts": [1] * 30_000}), 1009),  # over 64 KB
        ("é" * 40_000, 1009),  # 80,000 bytes in 40,000 characters
    ],
)
def test_a_bad_message_closes_the_socket_with_a_policy_code(
    client: TestClient, frame: str | bytes, code: int, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), client.websocket_connect("/ws") as socket:
        if isinstance(frame, bytes):
            socket.send_bytes(frame)
        else:
            socket.send_text(frame)
        assert closed_with(socket) == code
    # The client's fault: nothing in the server's log. (The test client's event
    # loop ends with the socket, and its pool may then complain of closing.)
    ours = ("webapp", "fastapi", "starlette", "uvicorn")
    assert [record for record in caplog.records if record.name.startswith(ours)] == []


def test_a_flood_of_subscriptions_closes_the_socket(client: TestClient) -> None:
    with client.websocket_connect("/ws") as socket:
        for _ in range(live_hub.MAX_WATCHED):
            socket.send_json({"type": "subscribe", "posts": [1]})
        assert closed_with(socket) == 1008


# --- one worker's hub -----------------------------------------------------------


class FakeSocket:
    """What the hub writes to: the messages sent, or a client that never reads."""

    def __init__(self, reads: bool = True) -> None:
        self.reads = reads
        self.sent: list[dict[str, Any]] = []
        self.closed: int | None = None

    async def send_text(self, text: str) -> None:
        if not self.reads:
            await asyncio.Event().wait()  # the socket's buffers are full: forever
        self.sent.append(json.loads(text))

    async def close(self, code: int, reason: str = "") -> None:
        self.closed = code


class NoSource:
    async def run(self, deliver: Any, ready: asyncio.Event, resync: Any) -> None:
        ready.set()
        await asyncio.Event().wait()


def changed(post_id: int, votes: int, owner: int = 1, published: bool = True) -> str:
    return json.dumps(
        {
            "t": "changed",
            "id": post_id,
            "votes": votes,
            "comments": 0,
            "owner": owner,
            "published": published,
        }
    )


def run_hub(scenario: Any) -> None:
    async def main() -> None:
        hub = Hub(engine=None, source=NoSource(), places=Places(100))  # type: ignore[arg-type]
        await hub.start()
        try:
            await scenario(hub)
        finally:
            await hub.stop()

    on_own_loop(main())  # a loop of its own: Playwright's may be running in this thread


def watching(hub: Hub, socket: FakeSocket, post_ids: list[int], user_id: int | None = None) -> Any:
    client = hub.join(socket, user_id, None)  # type: ignore[arg-type]
    hub._watch(client, post_ids)
    return client


def test_a_burst_of_likes_reaches_a_watcher_as_the_latest_counts_once() -> None:
    async def scenario(hub: Hub) -> None:
        socket, elsewhere = FakeSocket(), FakeSocket()
        watching(hub, socket, [7])
        watching(hub, elsewhere, [8])
        for votes in range(1, 1001):
            hub.deliver(changed(7, votes))
        await asyncio.sleep(live_hub.WINDOW * 3)
        assert socket.sent == [{"type": "post.changed", "id": 7, "votes": 1000, "comments": 0}]
        assert elsewhere.sent == []

    run_hub(scenario)


def test_a_drafts_counts_reach_its_owner_alone() -> None:
    async def scenario(hub: Hub) -> None:
        owner, stranger, anonymous = FakeSocket(), FakeSocket(), FakeSocket()
        watching(hub, owner, [7], user_id=1)
        watching(hub, stranger, [7], user_id=2)
        watching(hub, anonymous, [7])
        hub.deliver(changed(7, 1, owner=1, published=False))
        await asyncio.sleep(live_hub.WINDOW * 3)
        assert [m["votes"] for m in owner.sent] == [1]
        assert stranger.sent == anonymous.sent == []

    run_hub(scenario)


def test_new_and_deleted_posts_reach_every_socket_at_once() -> None:
    async def scenario(hub: Hub) -> None:
        sockets = [FakeSocket() for _ in range(3)]
        for socket in sockets:
            hub.join(socket, None, None)  # type: ignore[arg-type]
        hub.deliver(json.dumps({"t": "created", "id": 9, "author": 4}))
        hub.deliver(json.dumps({"t": "deleted", "id": 9}))
        hub.deliver('{"t": "from a newer schema"}')  # ignored, not an error
        await asyncio.sleep(0.01)
        for socket in sockets:
            assert socket.sent == [
                {"type": "post.created", "id": 9, "author": 4},
                {"type": "post.deleted", "id": 9},
            ]

    run_hub(scenario)


def test_a_new_post_is_not_announced_to_those_who_block_or_mute_its_author() -> None:
    """The feed's "N new posts" counts only what that visitor's feed will show."""

    async def scenario(hub: Hub) -> None:
        shielded, other = FakeSocket(), FakeSocket()
        hub.join(shielded, 1, None, None, Shield(frozenset({4})))  # type: ignore[arg-type]
        hub.join(other, 2, None)  # type: ignore[arg-type]
        hub.deliver(json.dumps({"t": "created", "id": 9, "author": 4}))
        hub.deliver(json.dumps({"t": "created", "id": 10, "author": 5}))
        for _ in range(100):
            if len(other.sent) == 2:
                break
            await asyncio.sleep(0.01)
        assert [message["id"] for message in shielded.sent] == [10]
        assert [message["id"] for message in other.sent] == [9, 10]

    run_hub(scenario)


def test_blocks_and_unblocks_apply_in_the_order_they_were_made_on_a_host_that_lags() -> None:
    """Each event says whom the person blocks after it: the hub never reads a
    later state (it has no database here) for an earlier event."""

    def shield(blocked: str | None, muted: str | None = None) -> str:
        return json.dumps({"t": "shield", "user": 1, "blocked": blocked, "muted": muted})

    async def scenario(hub: Hub) -> None:
        reader, other = FakeSocket(), FakeSocket()
        hub.join(reader, 1, None)  # type: ignore[arg-type]
        hub.join(other, 2, None)  # type: ignore[arg-type]
        for payload in (
            shield("4"),
            json.dumps({"t": "created", "id": 9, "author": 4}),
            shield("4", "5"),
            json.dumps({"t": "created", "id": 10, "author": 5}),
            shield(None, "5"),
            json.dumps({"t": "created", "id": 11, "author": 4}),
            json.dumps({"t": "created", "id": 12, "author": 5}),
        ):
            hub.deliver(payload)
        for _ in range(100):
            if len(other.sent) == 4:
                break
            await asyncio.sleep(0.01)
        assert [message["id"] for message in reader.sent] == [11]
        assert [message["id"] for message in other.sent] == [9, 10, 11, 12]

    run_hub(scenario)


def test_a_shield_event_that_is_not_ids_is_ignored() -> None:
    from webapp.live import events

    assert events.parse('{"t": "shield", "user": 1, "blocked": "4 x", "muted": null}') is None
    assert events.parse('{"t": "shield", "user": 1, "blocked": "²", "muted": null}') is None
    assert events.parse('{"t": "shield", "user": 1}') == events.ShieldChanged(1)


def test_a_client_that_does_not_read_is_disconnected() -> None:
    async def scenario(hub: Hub) -> None:
        slow, reader = FakeSocket(reads=False), FakeSocket()
        slow_client = hub.join(slow, None, None)  # type: ignore[arg-type]
        hub.join(reader, None, None)  # type: ignore[arg-type]
        for post_id in range(live_hub.QUEUE_SIZE + 2):
            hub.deliver(json.dumps({"t": "created", "id": post_id + 1, "author": 1}))
            await asyncio.sleep(0)
        await asyncio.sleep(0.01)
        assert slow_client.closed and slow.closed == 1008
        assert len(reader.sent) == live_hub.QUEUE_SIZE + 2

    run_hub(scenario)


def test_an_ended_session_closes_its_sockets_only() -> None:
    async def scenario(hub: Hub) -> None:
        ended, other = FakeSocket(), FakeSocket()
        hub.join(ended, 1, 10)  # type: ignore[arg-type]
        hub.join(other, 1, 11)  # type: ignore[arg-type]
        hub.deliver(json.dumps({"t": "ended", "session": 10}))
        await asyncio.sleep(0.01)
        assert (ended.closed, other.closed) == (1008, None)

    run_hub(scenario)

"""Live updates across processes: two `python -m webapp serve` hosts on one
database (PostgreSQL with TEST_DATABASE_URL, else one SQLite file: two workers
of one host), people acting on host A, sockets held by host B, as a client
no one here wrote (the `websockets` package) holds them."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.support.hosts import two_hosts
from tests.support.pages import Auth, post_form, write_post
from tests.support.server import running_server

PROFILE_LINK = re.compile(r'href="/users/(\d+)">([^<]+)</a>')
# An event caused on one host reaches the sockets of every host within 2 s.
WITHIN = 2.0


@pytest.fixture(scope="module")
def hosts(migrated_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    with two_hosts(migrated_database, tmp_path_factory.mktemp("live")) as urls:
        yield urls


_names = iter(range(1, 10_000))


@pytest.fixture
def person(browsers: Any) -> Any:
    """Someone new, registered and logged in on the pages of a host."""

    def register_on(host: str) -> httpx2.Client:
        browser = browsers(host)
        response = Auth(browser).register(f"live{next(_names)}")
        assert response.status_code == 303, response.text
        return browser

    return register_on


def who(browser: httpx2.Client) -> tuple[int, str]:
    """The id and name of the person logged in, from their header's profile link."""
    found = PROFILE_LINK.search(browser.get("/settings").text)
    assert found, "no profile link in the header"
    return int(found.group(1)), found.group(2)


@contextmanager
def socket(host: str, browser: httpx2.Client | None = None) -> Iterator[ClientConnection]:
    """A socket on `host`: a page's (its origin, with the person's cookie) or,
    without `browser`, anonymous."""
    url = host.replace("http://", "ws://") + "/ws"
    if browser is None:
        with connect(url, open_timeout=5) as opened:
            yield opened
        return
    cookie = f"agora_session={browser.cookies['agora_session']}"
    with connect(url, origin=host, additional_headers={"Cookie": cookie}, open_timeout=5) as opened:  # type: ignore[arg-type]
        assert next_message(opened, "notifications")["unread"] >= 0  # told on connecting
        yield opened


def next_message(ws: ClientConnection, kind: str, within: float = WITHIN) -> dict[str, Any]:
    """The next message of this type, skipping others; fails after `within` s."""
    deadline = time.monotonic() + within
    while True:
        message = json.loads(ws.recv(timeout=max(0.0, deadline - time.monotonic())))
        if message["type"] == kind:
            return message


def no_message(ws: ClientConnection, kind: str, within: float = 1.0) -> None:
    deadline = time.monotonic() + within
    while (left := deadline - time.monotonic()) > 0:
        try:
            message = json.loads(ws.recv(timeout=left))
        except TimeoutError:
            return
        assert message["type"] != kind, message


def watch(ws: ClientConnection, *post_ids: int) -> None:
    ws.send(json.dumps({"type": "subscribe", "posts": list(post_ids)}))
    assert next_message(ws, "subscribed")["posts"] == list(post_ids)


def close_code(ws: ClientConnection, within: float = WITHIN) -> int:
    deadline = time.monotonic() + within
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            ws.recv(timeout=max(0.0, deadline - time.monotonic()))
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


def like(browser: httpx2.Client, post_id: int, direction: str = "1") -> None:
    response = post_form(browser, f"/posts/{post_id}/vote", {"dir": direction})
    assert response.status_code == 303


def test_a_like_on_one_host_reaches_a_socket_on_the_other_within_2_seconds(
    hosts: list[str], person: Any
) -> None:
    host_a, host_b = hosts
    author, reader = person(host_a), person(host_a)
    post = write_post(author, "Liked from afar")
    with socket(host_b) as watcher:
        watch(watcher, post)
        next_message(watcher, "post.changed")  # the counts now
        started = time.monotonic()
        like(reader, post)
        assert next_message(watcher, "post.changed") == {
            "type": "post.changed",
            "id": post,
            "votes": 1,
            "comments": 0,
        }
        assert time.monotonic() - started < WITHIN


def test_a_comment_is_counted_for_watchers_and_told_to_the_author_alone(
    hosts: list[str], person: Any
) -> None:
    host_a, host_b = hosts
    author, commenter = person(host_a), person(host_a)
    post = write_post(author, "Talk to me")
    with (
        socket(host_b, author) as authors,
        socket(host_b, commenter) as commenters,
        socket(host_b) as strangers,
    ):
        for ws in (authors, commenters, strangers):
            watch(ws, post)
        response = post_form(commenter, f"/posts/{post}/comments", {"content": "Hello!"})
        assert response.status_code == 303
        for ws in (authors, commenters, strangers):
            assert next_message(ws, "post.changed")["comments"] in (0, 1)
        assert next_message(authors, "notifications") == {"type": "notifications", "unread": 1}
        no_message(commenters, "notifications")
        no_message(strangers, "notifications")
        # Reading them on host A is heard on host B too.
        assert author.get("/notifications").status_code == 200
        assert next_message(authors, "notifications") == {"type": "notifications", "unread": 0}


def test_new_posts_are_announced_everywhere_and_drafts_never(hosts: list[str], person: Any) -> None:
    host_a, host_b = hosts
    author = person(host_a)
    with socket(host_b) as stranger, socket(host_b, author) as own:
        draft = write_post(author, "A secret", published=False)
        public = write_post(author, "For everyone")
        for ws in (stranger, own):
            assert next_message(ws, "post.created")["id"] == public  # the draft came first: unheard
        response = post_form(author, f"/posts/{public}/delete", {})
        assert response.status_code == 303
        assert next_message(stranger, "post.deleted") == {"type": "post.deleted", "id": public}
        assert draft != public


def test_a_new_post_is_marked_followed_for_the_authors_followers_alone(
    hosts: list[str], person: Any
) -> None:
    host_a, host_b = hosts
    author, follower, other = person(host_a), person(host_a), person(host_a)
    author_id, _ = who(author)
    response = post_form(follower, f"/users/{author_id}/follow", {})
    assert response.status_code == 303, response.text
    with socket(host_b, follower) as followers, socket(host_b, other) as others:
        post = write_post(author, "For my followers")
        assert next_message(followers, "post.created") == {
            "type": "post.created",
            "id": post,
            "author": author_id,
            "followed": True,
        }
        assert next_message(others, "post.created") == {
            "type": "post.created",
            "id": post,
            "author": author_id,
        }


def test_a_drafts_counts_never_leave_its_owner(hosts: list[str], person: Any) -> None:
    host_a, host_b = hosts
    author = person(host_a)
    draft = write_post(author, "Liked by me alone", published=False)
    with socket(host_b) as stranger, socket(host_b, author) as own:
        stranger.send(json.dumps({"type": "subscribe", "posts": [draft]}))
        assert next_message(stranger, "subscribed")["posts"] == []
        watch(own, draft)
        like(author, draft)
        assert next_message(own, "post.changed")["votes"] in (0, 1)
        no_message(stranger, "post.changed")


def test_logging_out_on_one_host_closes_that_sessions_sockets_on_the_other(
    hosts: list[str], person: Any, browsers: Any
) -> None:
    host_a, host_b = hosts
    someone = person(host_a)
    _, name = who(someone)
    elsewhere = browsers(host_a)  # the same person, another browser
    assert Auth(elsewhere).login(name).status_code == 303
    with socket(host_b, someone) as leaving, socket(host_b, elsewhere) as staying:
        assert Auth(someone).logout().status_code == 303
        assert close_code(leaving) == 1008
        no_message(staying, "no such message", within=0.5)  # still open


def test_a_password_change_closes_the_other_sessions_sockets(
    hosts: list[str], person: Any, browsers: Any
) -> None:
    host_a, host_b = hosts
    someone = person(host_a)
    _, name = who(someone)
    elsewhere = browsers(host_a)
    assert Auth(elsewhere).login(name).status_code == 303
    with socket(host_b, elsewhere) as other:
        form = {
            "current_password": "correct horse battery",
            "new_password": "another long passphrase",
            "new_password_confirm": "another long passphrase",
        }
        changed = post_form(someone, "/settings/password", form, page="/settings")
        assert changed.status_code == 303, changed.text
        assert close_code(other) == 1008


def test_deleting_the_account_closes_its_sockets(hosts: list[str], person: Any) -> None:
    host_a, host_b = hosts
    someone = person(host_a)
    with socket(host_b, someone) as ws:
        response = post_form(
            someone,
            "/settings/delete",
            {"password": "correct horse battery"},
            page="/settings",
        )
        assert response.status_code == 303, response.text
        assert close_code(ws) == 1008


def test_a_worker_that_stops_closes_its_sockets_cleanly(tmp_path: Path) -> None:
    with ExitStack() as sockets:
        with running_server(tmp_path) as host:
            ws = sockets.enter_context(socket(host))
            watch(ws)
        # The server has stopped, the socket not yet.
        assert close_code(ws) in (1001, 1012)  # going away, or restarting
    log = (tmp_path / "server.log").read_text()
    assert "Traceback" not in log and "ERROR" not in log, log


def comment_ids_of(browser: httpx2.Client, post: int) -> list[int]:
    return [
        int(found)
        for found in re.findall(r'id="comment-(\d+)"', browser.get(f"/posts/{post}").text)
    ]


def test_comments_written_and_removed_on_one_host_reach_the_watchers_of_the_other(
    hosts: list[str], person: Any
) -> None:
    host_a, host_b = hosts
    author, commenter = person(host_a), person(host_a)
    post = write_post(author, "Threads from afar")
    with socket(host_b) as stranger, socket(host_b, author) as own:
        for ws in (stranger, own):
            watch(ws, post)
        started = time.monotonic()
        response = post_form(commenter, f"/posts/{post}/comments", {"content": "Parent"})
        assert response.status_code == 303
        [parent] = comment_ids_of(author, post)
        for ws in (stranger, own):
            assert next_message(ws, "comment.created") == {
                "type": "comment.created",
                "post_id": post,
                "id": parent,
            }
        assert time.monotonic() - started < WITHIN
        reply = {"content": "Reply", "parent_id": str(parent)}
        assert post_form(author, f"/posts/{post}/comments", reply).status_code == 303
        [_, child] = comment_ids_of(author, post)
        assert next_message(stranger, "comment.created")["id"] == child
        # Deleted with a reply: its placeholder stays, and watchers are told.
        assert post_form(commenter, f"/comments/{parent}/delete", {}).status_code == 303
        assert next_message(stranger, "comment.removed") == {
            "type": "comment.removed",
            "post_id": post,
            "id": parent,
        }
        # The last reply gone, the placeholder goes with it: both are told.
        assert post_form(author, f"/comments/{child}/delete", {}).status_code == 303
        removed = {next_message(stranger, "comment.removed")["id"] for _ in range(2)}
        assert removed == {parent, child}


def test_a_drafts_comments_are_told_to_its_owner_alone(hosts: list[str], person: Any) -> None:
    host_a, host_b = hosts
    author = person(host_a)
    draft = write_post(author, "Notes to self", published=False)
    public = write_post(author, "Public")
    with socket(host_b) as stranger, socket(host_b, author) as own:
        watch(own, draft, public)
        stranger.send(json.dumps({"type": "subscribe", "posts": [draft, public]}))
        assert next_message(stranger, "subscribed")["posts"] == [public]
        assert post_form(author, f"/posts/{draft}/comments", {"content": "hush"}).status_code == 303
        assert next_message(own, "comment.created")["post_id"] == draft
        no_message(stranger, "comment.created")


def test_a_block_or_mute_made_while_a_socket_is_open_stops_the_news_of_their_posts(
    hosts: list[str], person: Any
) -> None:
    host_a, host_b = hosts
    reader, blocked, muted = person(host_a), person(host_a), person(host_a)
    blocked_id, _ = who(blocked)
    muted_id, _ = who(muted)
    with socket(host_b, reader) as own, socket(host_b) as stranger:
        assert post_form(reader, f"/users/{blocked_id}/block", {}).status_code == 303
        assert post_form(reader, f"/users/{muted_id}/mute", {}).status_code == 303
        unheard = [write_post(blocked, "Not for the reader"), write_post(muted, "Nor this")]
        assert post_form(reader, f"/users/{blocked_id}/unblock", {}).status_code == 303
        heard = write_post(blocked, "Anyone's")
        assert next_message(own, "post.created")["id"] == heard  # the first it hears of
        assert [next_message(stranger, "post.created")["id"] for _ in range(3)] == [
            *unheard,
            heard,
        ]


def test_a_blocked_persons_post_is_not_the_blockers_to_watch(hosts: list[str], person: Any) -> None:
    """Its page is a 404 for the blocker: its counts do not reach them either.
    A muted person's post is still theirs to open, and to watch."""
    host_a, host_b = hosts
    reader, blocked, muted = person(host_a), person(host_a), person(host_a)
    blocked_id, _ = who(blocked)
    muted_id, _ = who(muted)
    theirs, quiet = write_post(blocked, "Blocked"), write_post(muted, "Muted")
    assert post_form(reader, f"/users/{blocked_id}/block", {}).status_code == 303
    assert post_form(reader, f"/users/{muted_id}/mute", {}).status_code == 303
    with socket(host_b, reader) as own, socket(host_b) as stranger:
        own.send(json.dumps({"type": "subscribe", "posts": [theirs, quiet]}))
        assert next_message(own, "subscribed")["posts"] == [quiet]
        stranger.send(json.dumps({"type": "subscribe", "posts": [theirs, quiet]}))
        assert next_message(stranger, "subscribed")["posts"] == [theirs, quiet]

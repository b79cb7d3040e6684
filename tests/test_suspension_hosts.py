"""Moderation across hosts: two `python -m webapp serve` processes on one
database; a moderator suspends someone through host A, and that person's
socket on host B closes and their API token stops working there; what a
moderator hides, or a suspension takes away, leaves the pages open on host B
(and comes back with a restore or the suspension lifted)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import text
from websockets.sync.client import ClientConnection

from tests.support.app import PASSWORD, make_settings
from tests.support.hosts import assert_clean_log, site_database
from tests.support.pages import Auth, post_form, write_post
from tests.support.server import running_server
from tests.test_live_hosts import (
    close_code,
    comment_ids_of,
    next_message,
    no_message,
    socket,
    watch,
    who,
)
from webapp.core.db import create_db_engine


@pytest.fixture(scope="module")
def site(
    migrated_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, list[str]]]:
    folder: Path = tmp_path_factory.mktemp("suspension")
    url = site_database(migrated_database, folder)
    with (
        running_server(folder, url, name="host-a") as host_a,
        running_server(folder, url, name="host-b") as host_b,
    ):
        yield url, [host_a, host_b]
    for name in ("host-a", "host-b"):
        assert_clean_log(folder / f"{name}.log")


def make_moderator(url: str, user_id: int) -> None:
    engine = create_db_engine(make_settings(url))
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE users SET role = 'moderator' WHERE id = :id"), {"id": user_id}
        )
    engine.dispose()


def token_on(host: str, name: str) -> dict[str, str]:
    answer = httpx2.post(f"{host}/api/login", data={"username": name, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def test_a_suspension_closes_sockets_and_ends_tokens_on_every_host(
    site: tuple[str, list[str]], browsers: Any
) -> None:
    url, (host_a, host_b) = site
    moderator, member = browsers(host_a), browsers(host_a)
    assert Auth(moderator).register("hostmod").status_code == 303
    assert Auth(member).register("hostben").status_code == 303
    moderator_id, _ = who(moderator)
    member_id, _ = who(member)
    make_moderator(url, moderator_id)
    ben_token = token_on(host_b, "hostben")
    assert httpx2.get(f"{host_b}/api/users/me", headers=ben_token).status_code == 200
    with socket(host_b, member) as ws:
        done = httpx2.post(
            f"{host_a}/api/moderation/actions",
            json={
                "action": "suspend",
                "target_type": "user",
                "target_id": member_id,
                "reason": "Flooding",
                "days": 2,
            },
            headers=token_on(host_a, "hostmod"),
        )
        assert done.status_code == 201, done.text
        assert close_code(ws) == 1008
    assert httpx2.get(f"{host_b}/api/users/me", headers=ben_token).status_code == 401
    refused = httpx2.post(f"{host_b}/api/login", data={"username": "hostben", "password": PASSWORD})
    assert refused.status_code == 403 and "Flooding" in refused.json()["detail"]


def moderate(host: str, token: dict[str, str], action: str, kind: str, target: int) -> None:
    body = {"action": action, "target_type": kind, "target_id": target, "reason": "Live"}
    if action == "suspend":
        body["days"] = 1
    done = httpx2.post(f"{host}/api/moderation/actions", json=body, headers=token)
    assert done.status_code == 201, done.text


def test_hidden_and_suspended_content_leaves_open_pages_on_every_host(
    site: tuple[str, list[str]], browsers: Any
) -> None:
    url, (host_a, host_b) = site
    moderator, author, rude, spammer = (browsers(host_a) for _ in range(4))
    for browser, name in (
        (moderator, "livemod"),
        (author, "liveauthor"),
        (rude, "liverude"),
        (spammer, "livespam"),
    ):
        assert Auth(browser).register(name).status_code == 303
    make_moderator(url, who(moderator)[0])
    spammer_id, _ = who(spammer)
    token = token_on(host_a, "livemod")
    post = write_post(author, "Watched from afar")
    spam_post = write_post(spammer, "Buy things")
    assert post_form(rude, f"/posts/{post}/comments", {"content": "Rude"}).status_code == 303
    assert post_form(spammer, f"/posts/{post}/comments", {"content": "Spam"}).status_code == 303
    rude_comment, spam_comment = comment_ids_of(author, post)
    with socket(host_b) as stranger:
        watch(stranger, post)
        assert next_message(stranger, "post.changed")["comments"] == 2
        moderate(host_a, token, "hide", "comment", rude_comment)
        gone = {"type": "comment.removed", "post_id": post, "id": rude_comment}
        assert next_message(stranger, "comment.removed") == gone
        assert next_message(stranger, "post.changed")["comments"] == 1
        moderate(host_a, token, "restore", "comment", rude_comment)
        back = {"type": "comment.created", "post_id": post, "id": rude_comment}
        assert next_message(stranger, "comment.created") == back
        assert next_message(stranger, "post.changed")["comments"] == 2
        # A suspension takes the person's posts from every feed's news, and
        # their comments from the pages watching them; the counts follow.
        moderate(host_a, token, "suspend", "user", spammer_id)
        assert next_message(stranger, "post.deleted") == {"type": "post.deleted", "id": spam_post}
        gone = {"type": "comment.removed", "post_id": post, "id": spam_comment}
        assert next_message(stranger, "comment.removed") == gone
        assert next_message(stranger, "post.changed")["comments"] == 1
        # A like now: the count it sends leaves the suspended person's comment out.
        assert post_form(rude, f"/posts/{post}/vote", {"dir": "1"}).status_code == 303
        changed = next_message(stranger, "post.changed")
        assert (changed["votes"], changed["comments"]) == (1, 1)
        moderate(host_a, token, "unsuspend", "user", spammer_id)
        back = {"type": "comment.created", "post_id": post, "id": spam_comment}
        assert next_message(stranger, "comment.created") == back
        assert next_message(stranger, "post.changed")["comments"] == 2
        no_message(stranger, "post.created")  # an old post is no news


def test_what_is_hidden_tells_nothing_to_the_sockets_that_watched_it_before(
    site: tuple[str, list[str]], browsers: Any
) -> None:
    """A socket that subscribed to a post before it was hidden, or before its
    author was suspended, hears nothing more of it: not the author's comment
    or like, not a moderator's action on its comments, not a commenter let
    back. Its author's own socket still does."""
    url, (host_a, host_b) = site
    moderator, author, commenter, spammer, bystander = (browsers(host_a) for _ in range(5))
    for browser, name in (
        (moderator, "quietmod"),
        (author, "quietauthor"),
        (commenter, "quietcommenter"),
        (spammer, "quietspam"),
        (bystander, "quietbystander"),
    ):
        assert Auth(browser).register(name).status_code == 303
    make_moderator(url, who(moderator)[0])
    commenter_id, _ = who(commenter)
    spammer_id, _ = who(spammer)
    token = token_on(host_a, "quietmod")
    hidden = write_post(author, "Soon hidden")
    suspended = write_post(spammer, "Soon suspended")
    public = write_post(bystander, "Still here")
    for post in (hidden, suspended):
        answer = post_form(commenter, f"/posts/{post}/comments", {"content": "First"})
        assert answer.status_code == 303
    [on_hidden] = comment_ids_of(author, hidden)
    [on_suspended] = comment_ids_of(spammer, suspended)
    with socket(host_b) as stranger, socket(host_b, author) as own:
        watch(stranger, hidden, suspended, public)
        watch(own, hidden)
        moderate(host_a, token, "hide", "post", hidden)
        moderate(host_a, token, "suspend", "user", spammer_id)
        for post in (hidden, suspended):
            assert next_message(stranger, "post.deleted") == {"type": "post.deleted", "id": post}
        assert next_message(own, "post.deleted") == {"type": "post.deleted", "id": hidden}

        # Its author comments on it and likes it: told to the author alone.
        reply = post_form(author, f"/posts/{hidden}/comments", {"content": "Still mine"})
        assert reply.status_code == 303
        written = next_message(own, "comment.created")
        assert written["post_id"] == hidden and written["id"] != on_hidden
        assert post_form(author, f"/posts/{hidden}/vote", {"dir": "1"}).status_code == 303
        messages_until(own, {"type": "post.changed", "id": hidden, "votes": 1})
        # Moderators act on the comments under both, and let a commenter back.
        for comment in (on_hidden, on_suspended):
            moderate(host_a, token, "hide", "comment", comment)
            moderate(host_a, token, "restore", "comment", comment)
        moderate(host_a, token, "suspend", "user", commenter_id)
        moderate(host_a, token, "unsuspend", "user", commenter_id)

        # Then something the stranger may hear of: nothing of the others came
        # before it, nor in the second after it.
        assert post_form(bystander, f"/posts/{public}/vote", {"dir": "1"}).status_code == 303
        heard = messages_until(stranger, {"type": "post.changed", "id": public})
        heard += messages_within(stranger, 1.0)
        gone = (hidden, suspended)
        assert [m for m in heard if m.get("post_id") in gone or m.get("id") in gone] == []


def messages_until(ws: ClientConnection, wanted: dict[str, Any]) -> list[dict[str, Any]]:
    """Every message up to the first that holds all of `wanted`'s fields."""
    deadline = time.monotonic() + 5.0
    heard = []
    while True:
        message = json.loads(ws.recv(timeout=max(0.0, deadline - time.monotonic())))
        heard.append(message)
        if all(message.get(key) == value for key, value in wanted.items()):
            return heard


def messages_within(ws: ClientConnection, seconds: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + seconds
    heard = []
    while (left := deadline - time.monotonic()) > 0:
        try:
            heard.append(json.loads(ws.recv(timeout=left)))
        except TimeoutError:
            break
    return heard

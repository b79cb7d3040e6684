"""What takes something away shows at once to everyone: once a deletion or a
post made a draft has been answered on one host, no page of another host
shows what it removed, although that host's page cache held it a moment ago.
The hosts run as in production: the page cache's
half second of staleness and its grace are on."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import httpx2
import pytest
from fastapi.testclient import TestClient

from tests.support.api import sign_up, write
from tests.support.app import PASSWORD, SECRET, make_settings, on_own_loop
from tests.support.hosts import two_hosts
from tests.support.pages import Auth, post_form, write_post
from webapp.app import create_app
from webapp.core import removals
from webapp.core.config import Settings
from webapp.core.middleware import Gate, SessionCookie
from webapp.core.page_cache import PageCache

_names = itertools.count(1)


@pytest.fixture(scope="module")
def hosts(migrated_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    with two_hosts(migrated_database, tmp_path_factory.mktemp("removals")) as urls:
        yield urls


def someone_on(browsers: Callable[[str], httpx2.Client], host: str) -> tuple[httpx2.Client, str]:
    client = browsers(host)
    name = f"someone{next(_names)}"
    assert Auth(client).register(name).status_code == 303
    return client, name


def shows(client: httpx2.Client, path: str, text: str) -> bool:
    page = client.get(path)
    return page.status_code == 200 and text in page.text


def held_by(client: httpx2.Client, paths: list[str], text: str) -> None:
    """Wait until the other host shows `text` on every path (a new thing shows
    within a second), then ask once more: now its page cache holds them."""
    deadline = time.monotonic() + 3
    while not all(shows(client, path, text) for path in paths):
        assert time.monotonic() < deadline, f"{text!r} never showed on {paths}"
        time.sleep(0.05)
    assert all(shows(client, path, text) for path in paths)


def test_a_post_made_a_draft_is_gone_from_the_other_host_once_answered(
    hosts: list[str], browsers: Callable[[str], httpx2.Client]
) -> None:
    author, _ = someone_on(browsers, hosts[0])
    reader, _ = someone_on(browsers, hosts[1])
    stranger = browsers(hosts[1])
    post_id = write_post(author, "Soon a draft")
    paths = [f"/posts/{post_id}", "/", "/?q=draft"]
    held_by(stranger, paths, "Soon a draft")
    held_by(reader, paths, "Soon a draft")

    edit = {"title": "Soon a draft", "content": "Some text."}  # no `published`: a draft
    assert post_form(author, f"/posts/{post_id}/edit", edit).status_code == 303

    for visitor in (stranger, reader):
        assert visitor.get(f"/posts/{post_id}").status_code == 404
        assert "Soon a draft" not in visitor.get("/").text
        assert "Soon a draft" not in visitor.get("/?q=draft").text


def test_a_deleted_post_is_gone_from_the_other_host_once_answered(
    hosts: list[str], browsers: Callable[[str], httpx2.Client]
) -> None:
    author, _ = someone_on(browsers, hosts[0])
    stranger = browsers(hosts[1])
    post_id = write_post(author, "Soon deleted")
    held_by(stranger, [f"/posts/{post_id}", "/"], "Soon deleted")

    assert post_form(author, f"/posts/{post_id}/delete", {}).status_code == 303

    assert stranger.get(f"/posts/{post_id}").status_code == 404
    assert "Soon deleted" not in stranger.get("/").text


def test_a_post_made_a_draft_through_the_api_is_gone_from_the_other_host(
    hosts: list[str], browsers: Callable[[str], httpx2.Client]
) -> None:
    api = browsers(hosts[0])
    caller = sign_up(api, f"someone{next(_names)}")  # type: ignore[arg-type]
    post = write(api, caller, title="Drafted by API")  # type: ignore[arg-type]
    stranger = browsers(hosts[1])
    held_by(stranger, [f"/posts/{post['id']}", "/"], "Drafted by API")

    patched = api.patch(
        f"/api/posts/{post['id']}", json={"published": False}, headers=caller.headers
    )
    assert patched.status_code == 200

    assert stranger.get(f"/posts/{post['id']}").status_code == 404
    assert "Drafted by API" not in stranger.get("/").text


def test_a_deleted_comment_is_gone_from_the_other_host_once_answered(
    hosts: list[str], browsers: Callable[[str], httpx2.Client]
) -> None:
    author, _ = someone_on(browsers, hosts[0])
    post_id = write_post(author, "Commented")
    sent = post_form(author, f"/posts/{post_id}/comments", {"content": "Soon retracted"})
    comment_id = sent.headers["location"].rsplit("#comment-", 1)[1]
    stranger = browsers(hosts[1])
    held_by(stranger, [f"/posts/{post_id}"], "Soon retracted")

    assert post_form(author, f"/comments/{comment_id}/delete", {}).status_code == 303

    assert "Soon retracted" not in stranger.get(f"/posts/{post_id}").text


def test_a_deleted_account_is_gone_from_the_other_host_once_answered(
    hosts: list[str], browsers: Callable[[str], httpx2.Client]
) -> None:
    author, name = someone_on(browsers, hosts[0])
    post_id = write_post(author, "Leaving soon")
    profile = author.get("/settings").text.split('href="/users/', 1)[1].split('"', 1)[0]
    stranger = browsers(hosts[1])
    held_by(stranger, [f"/posts/{post_id}", f"/users/{profile}", "/"], "Leaving soon")

    assert post_form(author, "/settings/delete", {"password": PASSWORD}).status_code == 303

    assert stranger.get(f"/posts/{post_id}").status_code == 404
    assert stranger.get(f"/users/{profile}").status_code == 404
    assert name not in stranger.get("/").text


# --- the parts ---------------------------------------------------------------


async def never_read() -> None:
    raise AssertionError("these tests hand the cache its versions")


def test_a_removal_forgets_even_what_the_grace_would_serve() -> None:
    cache = PageCache(never_read)
    cache.observe(1, 1, 0)
    cache.put("page", "with the post", cache.seen())
    cache.observe(2, 1, 0)  # a change that removed nothing: a moment's grace
    assert cache.get("page", stale=True) == "with the post"
    cache.observe(3, 1, 1)  # a removal
    assert cache.get("page", stale=True) is None


def test_a_value_read_before_a_removal_is_not_kept_after_it() -> None:
    cache = PageCache(never_read)
    cache.observe(1, 1, 0)
    seen = cache.seen()
    cache.observe(1, 2, 1)  # a comment deleted meanwhile moves likes and removals
    cache.put("comments", "with the comment", seen)
    assert cache.get("comments", stale=True) is None


def test_a_load_under_way_before_a_removal_is_not_joined_after_it() -> None:
    async def scenario() -> None:
        cache = PageCache(never_read)
        cache.observe(1, 1, 0)
        gate = asyncio.Event()
        loads = []

        async def load(what: str) -> str:
            loads.append(what)
            await gate.wait()
            return what

        first = asyncio.ensure_future(cache.fetch("page", lambda: load("before")))
        await asyncio.sleep(0)
        cache.observe(2, 1, 1)  # the next request's reading saw a removal
        second = asyncio.ensure_future(cache.fetch("page", lambda: load("after")))
        await asyncio.sleep(0)
        gate.set()
        assert await first == "before"  # its request began before the removal
        assert await second == "after"
        assert loads == ["before", "after"]

    on_own_loop(scenario())


def test_no_removal_holds_a_database_connection_while_its_answer_waits(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pool's connections are few: an answer held for half a second must
    not keep one, through either door."""
    app = create_app(settings)  # pooled, and waiting for removals, as in production
    # The page cache's readings of the versions in the background, which go on
    # for a while after each request, take a connection of their own for a
    # moment: what is counted here is the removal's.
    app.state.page_cache.keep_fresh = 0
    held: list[int] = []

    async def wait(seconds: float) -> None:
        held.append(app.state.engine.sync_engine.pool.checkedout())

    monkeypatch.setattr(removals, "asyncio", SimpleNamespace(sleep=wait))
    with TestClient(app, follow_redirects=False) as client:
        Auth(client).register("alice")
        caller = sign_up(client, "bob")
        drafted, deleted = write_post(client, "To draft"), write_post(client, "To delete")
        sent = post_form(client, f"/posts/{drafted}/comments", {"content": "To retract"})
        comment_id = sent.headers["location"].rsplit("#comment-", 1)[1]
        api_post = write(client, caller)["id"]
        api_comment = client.post(
            f"/api/posts/{api_post}/comments", json={"content": "Mine"}, headers=caller.headers
        ).json()["id"]

        post_form(client, f"/comments/{comment_id}/delete", {})
        post_form(client, f"/posts/{drafted}/edit", {"title": "To draft", "content": "x"})
        post_form(client, f"/posts/{deleted}/delete", {})
        client.delete(f"/api/comments/{api_comment}", headers=caller.headers)
        client.patch(f"/api/posts/{api_post}", json={"published": False}, headers=caller.headers)
        client.delete(f"/api/posts/{api_post}", headers=caller.headers)  # a draft: no wait
        post_form(client, "/settings/delete", {"password": PASSWORD})

    assert held == [0] * 6


async def refuse_nothing(*args: object) -> None:
    raise AssertionError("nothing here is refused")


class Answer:
    """An app whose request may take something away; records what it sends."""

    def __init__(self, removes: bool) -> None:
        self.removes = removes

    async def __call__(self, scope: object, receive: object, send: Callable) -> None:
        if self.removes:
            removals.taken_away()
        await send({"type": "http.response.start", "status": 303, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@pytest.mark.parametrize("removes", [True, False])
def test_only_an_answer_that_took_something_away_waits_for_every_worker(
    removes: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = PageCache(never_read, max_staleness=0.5)
    barrier = Gate(
        Answer(removes),
        settings=make_settings("sqlite://"),
        session_cookie=SessionCookie(SECRET, "session", 60, secure=False),
        session_key="sid",
        refuse=refuse_nothing,
        removals=removals.Removals(cache),
    )
    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(removals, "asyncio", SimpleNamespace(sleep=sleep))
    sent: list[str] = []

    async def send(message: dict) -> None:
        sent.append(message["type"])

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [(b"host", b"testserver")]}
    on_own_loop(barrier(scope, None, send))  # type: ignore[arg-type]
    assert sent == ["http.response.start", "http.response.body"]
    if removes:
        assert len(waits) == 1 and 0.4 < waits[0] <= 0.5  # max_staleness after its commit
    else:
        assert waits == []

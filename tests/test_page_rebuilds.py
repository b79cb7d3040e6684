"""A page that only the clock ended (a ranked order, relative times) is served
from memory while one rebuild runs in the background; what a change or a
removal ended is never served again."""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.support.app import on_own_loop
from tests.support.pages import post_form
from webapp.core import page_cache
from webapp.core.page_cache import REBUILD_GRACE, PageCache
from webapp.web import cache_policy, posts

TOP_WEEK = "/?sort=top&t=week"


class Clock:
    """The page cache's clock, moved by hand."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = time.monotonic()
        monkeypatch.setattr(page_cache, "time", SimpleNamespace(monotonic=lambda: self.now))


async def never_read() -> None:
    raise AssertionError("these tests hand the cache its versions")


def holding_old() -> PageCache:
    """A cache at versions (1, 1, 0) holding "old" for 10 s."""
    cache = PageCache(never_read)
    cache.observe(1, 1, 0)
    cache.put("page", "old", cache.seen(), ttl=10)
    return cache


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


class Rebuilds:
    """A rebuild that waits to be let go, and how many ran."""

    def __init__(self, cache: PageCache, value: str) -> None:
        self.cache = cache
        self.value = value
        self.started = 0
        self.go = asyncio.Event()

    async def __call__(self) -> None:
        self.started += 1
        seen = self.cache.seen()  # read before its statements, as a page's
        await self.go.wait()
        self.cache.put("page", self.value, seen, ttl=10)


def test_an_expired_value_is_served_while_one_rebuild_runs_in_the_background(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock(monkeypatch)

    async def scenario() -> None:
        cache = holding_old()
        rebuild = Rebuilds(cache, "new")
        clock.now += 10
        assert cache.get("page", rebuild=rebuild) == "old"  # the first caller too
        await settle()
        assert cache.get("page", rebuild=rebuild) == "old"
        assert rebuild.started == 1
        rebuild.go.set()
        await settle()
        assert cache.get("page", rebuild=rebuild) == "new"
        assert rebuild.started == 1

    on_own_loop(scenario())


def test_a_caller_without_a_rebuild_builds_while_the_others_are_served_the_old_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock(monkeypatch)
    cache = holding_old()
    clock.now += 10
    assert cache.get("page") is None  # this caller builds it
    assert cache.get("page") == "old"
    clock.now += REBUILD_GRACE
    assert cache.get("page") is None  # no new value yet: the next one builds


def test_a_rebuild_that_has_not_landed_by_the_end_of_the_grace_is_not_waited_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock(monkeypatch)

    async def scenario() -> None:
        cache = holding_old()
        rebuild = Rebuilds(cache, "new")
        clock.now += 10
        assert cache.get("page", rebuild=rebuild) == "old"
        clock.now += REBUILD_GRACE
        assert cache.get("page", rebuild=rebuild) is None  # this caller builds it
        assert cache.get("page", rebuild=rebuild) == "old"  # the others, a moment more
        await settle()
        assert rebuild.started == 1
        rebuild.go.set()

    on_own_loop(scenario())


@pytest.mark.parametrize("change", ["removal", "change"])
def test_what_a_change_ended_while_it_was_rebuilt_is_never_served(
    change: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(monkeypatch)

    async def scenario() -> None:
        cache = PageCache(never_read)
        cache.grace = 0.5  # as in production
        cache.observe(1, 1, 0)
        cache.put("page", "old", cache.seen(), ttl=10)
        rebuild = Rebuilds(cache, "read before the change")
        clock.now += 10
        assert cache.get("page", rebuild=rebuild) == "old"
        await settle()
        cache.observe(1, 1, 1) if change == "removal" else cache.observe(2, 1, 0)
        assert cache.get("page", stale=True, rebuild=rebuild) is None
        rebuild.go.set()
        await settle()
        assert cache.get("page", stale=True, rebuild=rebuild) is None  # its put is refused
        assert rebuild.started == 1

    on_own_loop(scenario())


# --- through the app ---------------------------------------------------------------------


class HeldFeed:
    """The home page's list, read (from the database or the cache) and then held
    before the page is made and kept, when asked to: a rebuild caught midway.
    Counts how often the list was asked for."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self.hold = threading.Event()  # hold the next one
        self.reached = threading.Event()  # one is held
        self.go = threading.Event()  # let it go
        self.done = threading.Event()  # it has made its page
        feed = posts.feed

        async def held(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            result = await feed(*args, **kwargs)
            if self.hold.is_set():
                self.hold.clear()
                self.reached.set()
                waited_until = time.monotonic() + 10  # a visitor held here is a failure, not a hang
                while not self.go.is_set() and time.monotonic() < waited_until:
                    await asyncio.sleep(0.01)
                self.done.set()
            return result

        monkeypatch.setattr(posts, "feed", held)


def test_an_expired_ranked_page_is_served_from_memory_while_it_is_rebuilt(
    app: FastAPI, busy_site: list[TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(monkeypatch)
    feed = HeldFeed(monkeypatch)
    # One event loop for every request, as a worker has: the rebuild runs on it.
    with TestClient(app, follow_redirects=False) as anonymous:
        page = anonymous.get(TOP_WEEK).text
        assert feed.calls == 1
        assert anonymous.get(TOP_WEEK).text == page  # kept
        clock.now += max(cache_policy.SHARED_HTML_SECONDS, cache_policy.RANKED_SECONDS)

        feed.hold.set()
        assert anonymous.get(TOP_WEEK).text == page  # expired: served, and rebuilt
        assert feed.reached.wait(10)
        assert anonymous.get(TOP_WEEK).text == page
        assert not feed.done.is_set()  # both served while the rebuild is held
        assert feed.calls == 2  # one rebuild

        feed.go.set()
        assert feed.done.wait(10)
        time.sleep(0.2)  # the rebuild keeps its page
        assert anonymous.get(TOP_WEEK).text == page
        assert feed.calls == 2  # served from the page it kept


def test_a_post_deleted_while_its_page_is_rebuilt_is_never_served_again(
    app: FastAPI, busy_site: list[TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(monkeypatch)
    feed = HeldFeed(monkeypatch)
    title = "Post by author 0"  # post 1, the most liked
    with TestClient(app, follow_redirects=False) as anonymous:
        assert title in anonymous.get(TOP_WEEK).text
        clock.now += max(cache_policy.SHARED_HTML_SECONDS, cache_policy.RANKED_SECONDS)
        feed.hold.set()
        assert title in anonymous.get(TOP_WEEK).text  # expired: served, and rebuilt
        assert feed.reached.wait(10)  # the rebuild has read the list, post 1 in it
        assert not feed.done.is_set()

        assert post_form(busy_site[0], "/posts/1/delete", {}).status_code == 303
        assert title not in anonymous.get(TOP_WEEK).text

        feed.go.set()  # the rebuild makes its page from what it read before
        assert feed.done.wait(10)
        time.sleep(0.2)
        assert title not in anonymous.get(TOP_WEEK).text

"""Moderation in a real browser: a member reports a post, a moderator hides it
from the queue, and then neither the member nor a stranger sees it while its
author reads why; axe finds nothing serious on the queue and the log."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import (
    axe_violations,
    browser_missing,
    flash_text,
    register,
    serve_axe,
    unique_name,
    write_post,
)
from tests.support.server import running_server

pytestmark = pytest.mark.browser

if browser_missing() is None:
    from playwright.sync_api import Browser, BrowserContext


@pytest.fixture(scope="module")
def site(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A server of this module's own, on a SQLite file the test can reach to
    make a moderator (the first one is made on the command line, not by a page)."""
    folder = tmp_path_factory.mktemp("moderation-browser")
    with running_server(folder) as base_url:
        yield base_url, folder / "browser.db"


@pytest.fixture
def server(site: tuple[str, Path]) -> str:
    return site[0]


def make_moderator(database: Path, name: str) -> None:
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE users SET role = 'moderator' WHERE username = ?", (name,))


def test_a_report_hidden_from_the_queue(
    site: tuple[str, Path], new_context: Callable[..., BrowserContext]
) -> None:
    _, database = site
    author = new_context().new_page()
    register(author, unique_name("author"))
    title = f"Rude words {unique_name('post')}"
    post_id = write_post(author, title, "Something nobody should read.")

    member = new_context().new_page()
    register(member, unique_name("member"))
    member.goto(f"/posts/{post_id}")
    member.get_by_role("link", name="Report", exact=True).click()
    member.get_by_label("Spam").check()
    member.get_by_label("A note for the moderators (optional)").fill("Selling things")
    member.get_by_role("button", name="Send the report").click()
    member.wait_for_load_state()
    assert member.url.endswith(f"/posts/{post_id}")
    assert flash_text(member)

    moderator_context = new_context()
    serve_axe(moderator_context)
    moderator = moderator_context.new_page()
    moderator_name = unique_name("mod")
    register(moderator, moderator_name)
    make_moderator(database, moderator_name)
    moderator.goto("/moderation")
    item = moderator.locator("li.card", has_text=title)
    assert "Selling things" in item.inner_text()
    assert axe_violations(moderator) == []
    item.get_by_label("Reason").first.fill("Advertising is not allowed")
    item.get_by_role("button", name="Hide").click()
    moderator.wait_for_load_state()
    assert "Hidden" in flash_text(moderator)
    assert "No open reports." in moderator.locator("main").inner_text()

    # Gone for the member who reported it and for a stranger, everywhere.
    stranger = new_context().new_page()
    for page in (member, stranger):
        answer: Any = page.goto(f"/posts/{post_id}")
        assert answer.status == 404
        page.goto("/")
        assert title not in page.locator("main").inner_text()
    # Its author reads why.
    author.goto(f"/posts/{post_id}")
    assert "Hidden by moderators: Advertising is not allowed" in author.locator("main").inner_text()
    # So does the moderator, who still reads the post to judge it.
    moderator.goto(f"/posts/{post_id}")
    shown = moderator.locator("main").inner_text()
    assert "Something nobody should read." in shown
    assert "Hidden by moderators: Advertising is not allowed" in shown
    assert axe_violations(moderator) == []

    moderator.goto("/moderation/log")
    log = moderator.locator("main").inner_text()
    assert title in log and "Advertising is not allowed" in log and moderator_name in log
    assert "Selling things" not in log
    assert axe_violations(moderator) == []

"""The feed you act from, in a real browser (Chromium): the header's height on
a phone, its menu by keyboard, the cards a desktop screen holds, and likes
from the cards with and without JavaScript."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support.browser import (
    DESKTOP,
    PASSWORD,
    PHONE,
    axe_violations,
    browser_missing,
    horizontal_overflow,
    register,
    serve_axe,
    unique_name,
)

pytestmark = pytest.mark.browser

if browser_missing() is None:
    from playwright.sync_api import BrowserContext, Page, expect

# A phone's header may take this share of the screen's height at most.
HEADER_SHARE = 0.15
CARDS_ON_A_DESKTOP = 8


@pytest.fixture(scope="module")
def author(server: str, browser: Any) -> dict[str, Any]:
    """Someone with a dozen posts, written through the API: enough to fill a
    desktop screen."""
    context = browser.new_context(base_url=server)
    try:
        name = unique_name("writer")
        created = context.request.post(
            "/api/users",
            data={"username": name, "email": f"{name}@example.com", "password": PASSWORD},
        )
        assert created.ok, created.text()
        token = context.request.post(
            "/api/login", form={"username": name, "password": PASSWORD}
        ).json()["access_token"]
        ids = []
        for number in range(12):
            post = context.request.post(
                "/api/posts",
                data={
                    "title": f"Card number {number}",
                    "content": "A paragraph long enough to be cut short on the card. " * 4,
                },
                headers={"Authorization": f"Bearer {token}"},
            )
            assert post.ok, post.text()
            ids.append(post.json()["id"])
        return {"name": name, "ids": ids}
    finally:
        context.close()


def logged_in(new_context: Callable[..., BrowserContext], **options: Any) -> Page:
    page = new_context(**options).new_page()
    register(page, unique_name("reader"))
    return page


def header_height(page: Page) -> float:
    return float(page.evaluate("document.querySelector('.site-header').offsetHeight"))


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_header_fits_a_phone(
    new_context: Callable[..., BrowserContext], author: dict[str, Any], scheme: str
) -> None:
    anonymous = new_context(viewport=PHONE, color_scheme=scheme)
    serve_axe(anonymous)
    page = anonymous.new_page()
    page.goto("/")
    assert header_height(page) <= HEADER_SHARE * PHONE["height"]
    assert horizontal_overflow(page) == 0
    assert axe_violations(page) == []

    member = logged_in(new_context, viewport=PHONE, color_scheme=scheme)
    serve_axe(member.context)
    member.goto("/")
    assert header_height(member) <= HEADER_SHARE * PHONE["height"]
    assert horizontal_overflow(member) == 0
    links = member.get_by_role("navigation", name="Account")
    expect(links).to_be_hidden()
    # The menu opens from the keyboard, and its links are then reachable.
    member.locator(".menu > summary").focus()
    member.keyboard.press("Enter")
    expect(links.get_by_role("link", name="Following")).to_be_visible()
    expect(links.get_by_role("button", name="Log out")).to_be_visible()
    assert axe_violations(member) == []
    # So does the search.
    member.locator(".search-menu > summary").click()
    expect(member.get_by_role("searchbox")).to_be_visible()
    assert header_height(member) <= HEADER_SHARE * PHONE["height"]


def test_the_header_is_one_row_on_a_desktop(new_context: Callable[..., BrowserContext]) -> None:
    page = logged_in(new_context, viewport=DESKTOP)
    page.goto("/")
    links = page.get_by_role("navigation", name="Account")
    for name in ("Following", "Settings"):
        expect(links.get_by_role("link", name=name)).to_be_visible()
    expect(page.get_by_role("searchbox")).to_be_visible()
    expect(page.locator(".menu > summary")).to_be_hidden()
    tops = page.evaluate(
        """() => ['.brand', '.search', '.new-post', '.account']
             .map(s => document.querySelector(s).getBoundingClientRect())
             .map(r => r.top + r.height / 2)"""
    )
    assert max(tops) - min(tops) < 8, tops
    assert header_height(page) < 72


def test_a_desktop_screen_holds_eight_cards_with_no_gap_above_them(
    new_context: Callable[..., BrowserContext], author: dict[str, Any]
) -> None:
    for page in (new_context(viewport=DESKTOP).new_page(), logged_in(new_context)):
        page.goto("/")
        shown = page.evaluate(
            """() => [...document.querySelectorAll('.post-card')]
                 .filter(card => card.getBoundingClientRect().bottom <= innerHeight).length"""
        )
        assert shown >= CARDS_ON_A_DESKTOP
        card = page.locator(".post-card").first
        for part in (".post-excerpt", ".post-meta a[href^='/users/']", "time", ".likes"):
            expect(card.locator(part).first).to_be_visible()
        expect(card.locator("a[href$='#comments'] .comment-count")).to_be_visible()
        gap = page.evaluate(
            """() => document.querySelector('.post-card').getBoundingClientRect().top
                   - document.querySelector('.feed-head').getBoundingClientRect().bottom"""
        )
        assert gap < 16


def test_a_like_from_a_card_happens_in_place(
    new_context: Callable[..., BrowserContext], author: dict[str, Any]
) -> None:
    page = logged_in(new_context)
    page.goto("/?sort=hot")
    page.evaluate("window.notReloaded = true")
    card = page.locator(f'[data-post-id="{author["ids"][-1]}"]')
    button = card.get_by_role("button", name="Like")
    expect(button).to_have_attribute("aria-pressed", "false")
    button.click()
    expect(card.locator(".likes")).to_have_text("1 like (including you)")
    expect(button).to_have_attribute("aria-pressed", "true")
    assert page.evaluate("window.notReloaded") is True
    assert page.url.endswith("/?sort=hot")
    # And back.
    button.click()
    expect(card.locator(".likes")).to_have_text("0 likes")
    expect(button).to_have_attribute("aria-pressed", "false")


def test_a_like_that_fails_says_so(
    new_context: Callable[..., BrowserContext], author: dict[str, Any]
) -> None:
    page = logged_in(new_context)
    page.goto("/")
    page.route("**/posts/*/vote", lambda route: route.fulfill(status=503, body="down"))
    card = page.locator(f'[data-post-id="{author["ids"][-2]}"]')
    card.get_by_role("button", name="Like").click()
    expect(card.get_by_role("alert")).to_contain_text("not saved")
    expect(card.get_by_role("button", name="Like")).to_have_attribute("aria-pressed", "false")


def test_a_like_from_a_card_without_javascript_returns_to_the_same_page(
    new_context: Callable[..., BrowserContext], author: dict[str, Any]
) -> None:
    page = logged_in(new_context, java_script_enabled=False)
    page.goto("/?sort=top&t=all&page=1")
    card = page.locator(f'[data-post-id="{author["ids"][0]}"]')
    card.get_by_role("button", name="Like").click()
    page.wait_for_load_state()
    assert page.url.endswith("/?sort=top&t=all&page=1")
    card = page.locator(f'[data-post-id="{author["ids"][0]}"]')
    expect(card.get_by_role("button", name="Liked")).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".order-choices a[aria-current]").first).to_have_text("Top")

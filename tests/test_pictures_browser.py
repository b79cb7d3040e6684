"""Faces and pictures in a real browser (Chromium): someone sets an avatar
and posts two pictures with alt text through the forms, then sees them on
the feed and on the post's page, on a phone and on a desktop, each picture
with its size set before it loads, and axe finds nothing wrong."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support.browser import (
    DESKTOP,
    PHONE,
    axe_violations,
    browser_missing,
    horizontal_overflow,
    register,
    screenshot,
    serve_axe,
    unique_name,
)
from tests.support.images import jpeg_with_gps_and_orientation, picture

pytestmark = pytest.mark.browser

if browser_missing() is None:
    from playwright.sync_api import BrowserContext, Page, expect

FIELD = picture((2000, 1000), (40, 140, 60), kind="JPEG")
SQUARE = picture((300, 300), (200, 60, 30))


def file(name: str, data: bytes, kind: str) -> dict[str, Any]:
    return {"name": name, "mimeType": kind, "buffer": data}


def loaded(page: Page, selector: str) -> list[dict[str, Any]]:
    """Each matching picture scrolled to (lazy ones load then), once loaded:
    its attributes and its natural size."""
    found = []
    for image in page.locator(selector).all():
        image.scroll_into_view_if_needed()
        expect(image).to_be_visible()
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
        )
        found.append(
            image.evaluate(
                """img => ({src: img.getAttribute('src'), alt: img.getAttribute('alt'),
                           width: img.getAttribute('width'), height: img.getAttribute('height'),
                           naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight,
                           shownWidth: img.getBoundingClientRect().width})"""
            )
        )
    return found


@pytest.fixture(scope="module")
def posted(browser: Any, server: str) -> dict[str, Any]:
    """Someone who set an avatar and wrote a post with two pictures, through
    the forms, as a person does."""
    context = browser.new_context(base_url=server, viewport=DESKTOP)
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        name = unique_name("painter")
        register(page, name)
        page.goto("/settings")
        page.get_by_label("New avatar", exact=True).set_input_files(
            file("me.jpg", jpeg_with_gps_and_orientation((120, 80)), "image/jpeg")
        )
        page.get_by_role("button", name="Upload avatar").click()
        page.wait_for_load_state()
        expect(page.locator(".flash")).to_contain_text("Your avatar is changed.")
        avatar = page.get_by_alt_text("Your avatar").get_attribute("src")
        assert avatar and avatar.startswith("/media/avatars/"), avatar

        page.get_by_role("link", name="New post").click()
        page.get_by_label("Title", exact=True).fill("Two pictures of the garden")
        page.get_by_label("Text", exact=True).fill("The field, then the red square.")
        page.get_by_label("Picture 1", exact=True).set_input_files(
            file("field.jpg", FIELD, "image/jpeg")
        )
        page.get_by_label("Description of picture 1", exact=True).fill("A green field")
        page.get_by_label("Picture 2", exact=True).set_input_files(
            file("square.png", SQUARE, "image/png")
        )
        page.get_by_label("Description of picture 2", exact=True).fill("A red square")
        page.get_by_role("button", name="Publish").click()
        page.wait_for_load_state()
        post_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
        return {"name": name, "avatar": avatar, "post_id": post_id}
    finally:
        context.close()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_pictures_and_the_avatar_show_on_the_post_page(
    new_context: Callable[..., BrowserContext], posted: dict[str, Any], viewport: dict[str, int]
) -> None:
    context = new_context(viewport=viewport)
    serve_axe(context)
    page = context.new_page()
    page.goto(f"/posts/{posted['post_id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Two pictures of the garden")
    pictures = loaded(page, ".post-pictures img")
    assert [(p["alt"], p["width"], p["height"]) for p in pictures] == [
        ("A green field", "1600", "800"),
        ("A red square", "300", "300"),
    ]
    for shown in pictures:  # the stored size is the one announced
        assert (shown["naturalWidth"], shown["naturalHeight"]) == (
            int(shown["width"]),
            int(shown["height"]),
        )
        assert shown["shownWidth"] <= viewport["width"]
    # The author's face is beside their name: the 64-pixel one, loaded.
    faces = loaded(page, f'img.avatar[src="{posted["avatar"].replace("-256.", "-64.")}"]')
    assert faces and all(face["width"] and face["height"] for face in faces)
    assert horizontal_overflow(page) == 0
    screenshot(page, f"post-pictures-{viewport['width']}")
    assert axe_violations(page) == []


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_feed_card_shows_the_first_thumbnail_and_the_avatar(
    new_context: Callable[..., BrowserContext], posted: dict[str, Any], viewport: dict[str, int]
) -> None:
    context = new_context(viewport=viewport)
    serve_axe(context)
    page = context.new_page()
    page.goto("/")
    card = page.locator("article", has_text="Two pictures of the garden")
    expect(card).to_be_visible()
    thumbnails = loaded(page, 'article:has-text("Two pictures of the garden") .card-picture img')
    assert [(t["alt"], t["width"], t["height"]) for t in thumbnails] == [
        ("A green field", "400", "200")
    ]
    assert (thumbnails[0]["naturalWidth"], thumbnails[0]["naturalHeight"]) == (400, 200)
    faces = loaded(page, 'article:has-text("Two pictures of the garden") img.avatar')
    assert faces and all("/media/avatars/" in face["src"] for face in faces)
    assert all(face["width"] and face["height"] for face in faces)
    assert horizontal_overflow(page) == 0
    screenshot(page, f"feed-pictures-{viewport['width']}")
    assert axe_violations(page) == []

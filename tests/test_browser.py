"""Real-browser tests: Debian's Chromium, driven by Playwright, against the real
server (`python -m webapp serve`) on a fresh SQLite file.

They skip, saying why, when Chromium or Playwright is missing, and fail instead
when REQUIRE_BROWSER=1. One server and one browser serve the whole session;
each test gets its own browser context (its own cookies).

Screenshots of the main pages go to tests/screenshots/ (git-ignored).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.browser import (
    DESKTOP,
    NARROWEST,
    PASSWORD,
    PHONE,
    axe_violations,
    browser_missing,
    flash_text,
    horizontal_overflow,
    login,
    logout,
    register,
    screenshot,
    serve_axe,
    unique_name,
    write_post,
)

pytestmark = pytest.mark.browser

LOGIN_FAILED = "The username, email or password is not right."

if browser_missing() is None:
    from playwright.sync_api import Browser, BrowserContext, Page, expect


# Fixtures ----------------------------------------------------------------------


@pytest.fixture
def page(new_context: Callable[..., BrowserContext]) -> Page:
    return new_context().new_page()


@pytest.fixture(scope="session")
def member(browser: Browser, server: str) -> dict[str, Any]:
    """One account for looking at the pages: its name, id and logged-in cookies.
    A friend follows it, comments on its post and is followed back, so that the
    Following feed, the follower list and the notifications have something in them."""
    name = unique_name("tour")
    context = browser.new_context(base_url=server)
    friend_context = browser.new_context(base_url=server)
    try:
        page = context.new_page()
        register(page, name)
        href = page.get_by_role("navigation", name="Account").get_by_role("link", name=name)
        profile = href.get_attribute("href")
        user_id = int(profile.rsplit("/", 1)[1])
        post_id = write_post(
            page, "A walk by the harbour", "The light was good. #harbour\n\nMore soon."
        )
        write_post(page, "Notes for later", "Not ready yet.", published=False)

        friend = friend_context.new_page()
        register(friend, unique_name("friend"))
        write_post(friend, "Bread from the market", "Still warm when I got home.")
        friend_profile = friend.url
        friend.goto(profile)
        friend.get_by_role("button", name="Follow", exact=True).click()
        friend.goto(f"/posts/{post_id}")
        friend.get_by_label("Add a comment").fill("Lovely light. Which harbour?")
        friend.get_by_role("button", name="Post comment").click()
        friend.wait_for_load_state()

        page.goto(f"/users/{_author_of(friend_profile, friend)}")
        page.get_by_role("button", name="Follow", exact=True).click()
        page.wait_for_load_state()
        return {
            "name": name,
            "id": user_id,
            "post": post_id,
            "state": context.storage_state(),
        }
    finally:
        context.close()
        friend_context.close()


def _author_of(post_url: str, page: Page) -> int:
    """The id of the author of the post at `post_url`."""
    page.goto(post_url)
    link = page.locator(".post-meta a").first.get_attribute("href")
    return int(link.rsplit("/", 1)[1])


# Accounts ----------------------------------------------------------------------


def test_register_lands_on_home_logged_in_then_logs_out(page: Page) -> None:
    name = unique_name("ada")
    register(page, name)
    expect(page).to_have_url("/")
    expect(page.locator(".flash")).to_contain_text(f"Welcome to Agora, {name}!")
    account = page.get_by_role("navigation", name="Account")
    expect(account.get_by_role("link", name=name)).to_be_visible()

    page.reload()  # the flash is shown once
    expect(page.locator(".flash")).to_have_count(0)

    logout(page)
    expect(page.locator(".flash")).to_contain_text("You have been logged out.")
    expect(account.get_by_role("link", name="Log in")).to_be_visible()
    expect(account.get_by_role("link", name=name)).to_have_count(0)


def active_id(page: Page) -> str:
    return page.evaluate("() => document.activeElement.id || document.activeElement.textContent")


def test_login_with_the_keyboard_only(page: Page, new_context) -> None:
    name = unique_name("kbd")
    register(new_context().new_page(), name)

    page.goto("/login")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    # Tab through the header to the first field of the form.
    for _ in range(12):
        if active_id(page) == "username":
            break
        page.keyboard.press("Tab")
    username = page.get_by_label("Username or email", exact=True)
    expect(username).to_be_focused()
    outline = username.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline != "none", "keyboard focus must be visible"

    page.keyboard.type(name)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password", exact=True)).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")

    expect(page).to_have_url("/")
    expect(page.locator(".flash")).to_contain_text(f"Welcome back, {name}.")


def test_a_form_error_is_shown_beside_its_field(page: Page) -> None:
    name = unique_name("short")
    register(page, name, password="short")

    expect(page).to_have_url("/register")
    password = page.get_by_label("Password", exact=True)
    error = page.locator("#password-error")
    expect(error).to_be_visible()
    expect(error).to_have_text("Must be at least 8 characters.")
    expect(password).to_have_attribute("aria-invalid", "true")
    described_by = password.get_attribute("aria-describedby") or ""
    assert "password-error" in described_by.split()
    # Beside it: in the same field block, right under the input.
    field = page.locator(".field", has=page.locator("#password"))
    expect(field).to_have_class("field has-error")
    expect(field.locator(".field-error")).to_have_count(1)
    input_box = password.bounding_box()
    error_box = error.bounding_box()
    assert input_box and error_box
    assert 0 <= error_box["y"] - (input_box["y"] + input_box["height"]) < 40
    # What was typed is kept, the passwords are not.
    expect(page.get_by_label("Username", exact=True)).to_have_value(name)
    expect(password).to_have_value("")


def test_change_the_password_then_log_in_with_the_new_one(page: Page) -> None:
    name = unique_name("pw")
    new_password = "a brand new passphrase"
    register(page, name)

    page.get_by_role("navigation", name="Account").get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Settings")
    page.get_by_label("Current password", exact=True).fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill(new_password)
    page.get_by_label("Confirm new password", exact=True).fill(new_password)
    page.get_by_role("button", name="Change password").click()
    expect(page).to_have_url("/settings")
    expect(page.locator(".flash")).to_contain_text("Your password has been changed.")

    logout(page)
    login(page, name, PASSWORD)
    expect(page.locator(".form-error")).to_have_text(
        "The username, email or password is not right."
    )
    login(page, name, new_password)
    expect(page).to_have_url("/")
    expect(page.locator(".flash")).to_contain_text(f"Welcome back, {name}.")


def test_delete_the_account(page: Page) -> None:
    name = unique_name("gone")
    register(page, name)

    page.goto("/settings")
    page.get_by_label("Your password", exact=True).fill("not my password")
    page.get_by_role("button", name="Delete my account").click()
    expect(page.locator("#password-error")).to_have_text("This is not your current password.")

    page.get_by_label("Your password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Delete my account").click()
    expect(page).to_have_url("/")
    expect(page.locator(".flash")).to_contain_text("Your account and everything in it")
    account = page.get_by_role("navigation", name="Account")
    expect(account.get_by_role("link", name="Log in")).to_be_visible()

    login(page, name)
    expect(page.locator(".form-error")).to_be_visible()


def test_the_pages_work_without_javascript(new_context) -> None:
    page = new_context(java_script_enabled=False).new_page()
    name = unique_name("nojs")
    register(page, name)
    expect(page).to_have_url("/")
    expect(page.locator(".flash")).to_contain_text(f"Welcome to Agora, {name}!")
    logout(page)
    login(page, name)
    expect(page).to_have_url("/")
    expect(page.locator(".flash")).to_contain_text(f"Welcome back, {name}.")


# Posts and likes ---------------------------------------------------------------


def test_the_journey_of_a_post(page: Page, new_context) -> None:
    """Write, find by search, like and unlike, edit, keep a draft that another
    person cannot see, see the profile, delete."""
    name = unique_name("writer")
    register(page, name)
    post_id = write_post(page, "Tomatoes on the balcony", "Six plants.\nThree are red already.")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Tomatoes on the balcony")
    assert "Your post is published." in flash_text(page)
    expect(page.locator(".post-body")).to_have_text("Six plants.\nThree are red already.")

    page.goto("/")
    expect(page.get_by_role("link", name="Tomatoes on the balcony")).to_be_visible()
    search = page.get_by_role("searchbox", name="Search posts and people")
    search.fill("balcony RED")
    search.press("Enter")
    expect(page).to_have_url(re.compile(r"/search\?q=balcony\+RED$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("balcony RED")
    page.get_by_role("link", name="Tomatoes on the balcony").click()

    like = page.get_by_role("button", name="Like")
    expect(like).to_have_attribute("aria-pressed", "false")
    like.click()
    assert "You like this post." in flash_text(page)
    expect(page.get_by_role("button", name="Liked")).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".like-form .likes")).to_have_text("1 like")
    page.get_by_role("button", name="Liked").click()
    expect(page.get_by_role("button", name="Like")).to_have_attribute("aria-pressed", "false")
    expect(page.locator(".like-form .likes")).to_have_text("0 likes")

    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Title", exact=True).fill("Tomatoes on the sunny balcony")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("sunny balcony")
    assert "Your changes are saved." in flash_text(page)
    expect(page.locator(".post-meta")).to_contain_text("edited")

    draft_id = write_post(page, "Secret garden plans", "Only for me.", published=False)
    expect(page.locator("h1 .badge")).to_have_text("draft")

    other = new_context().new_page()
    register(other, unique_name("reader"))
    expect(other.get_by_role("link", name="Tomatoes on the sunny balcony")).to_be_visible()
    expect(other.get_by_role("link", name="Secret garden plans")).to_have_count(0)
    response = other.goto(f"/posts/{draft_id}")
    assert response is not None and response.status == 404
    expect(other.get_by_role("heading", level=1)).to_have_text("Not Found")

    page.get_by_role("navigation", name="Account").get_by_role("link", name=name).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(page.get_by_role("link", name="Secret garden plans")).to_be_visible()
    expect(page.locator(".post-card .badge.draft")).to_have_count(1)

    page.goto(f"/posts/{post_id}")
    page.locator("summary", has_text="Delete").click()
    page.get_by_role("button", name="Yes, delete this post").click()
    assert "Your post is deleted." in flash_text(page)
    response = page.goto(f"/posts/{post_id}")
    assert response is not None and response.status == 404


# People: following, comments, notifications -------------------------------------


def test_two_people_follow_comment_and_are_told(page: Page, new_context) -> None:
    """Ada writes; Bo follows her, reads her in the Following feed, comments;
    Ada sees the count in her header and the notifications, and follows back."""
    ada, bo = unique_name("ada"), unique_name("bo")
    register(page, ada)
    post_id = write_post(page, "Morning at the market", "Plums, figs and a loud parrot.")
    header = page.get_by_role("navigation", name="Account")
    ada_profile = header.get_by_role("link", name=ada).get_attribute("href")

    reader = new_context().new_page()
    register(reader, bo)
    reader.get_by_role("navigation", name="Account").get_by_role("link", name="Following").click()
    expect(reader.get_by_text("You do not follow anyone yet")).to_be_visible()
    reader.goto(ada_profile)
    reader.get_by_role("button", name="Follow", exact=True).click()
    assert f"You now follow {ada}." in flash_text(reader)
    expect(reader.get_by_role("button", name="Unfollow")).to_be_visible()
    expect(reader.locator(".follow-counts")).to_contain_text("1 follower")

    reader.get_by_role("navigation", name="Account").get_by_role("link", name="Following").click()
    reader.get_by_role("link", name="Morning at the market").click()
    reader.get_by_label("Add a comment").fill("Was the parrot\nfor sale?")
    reader.get_by_role("button", name="Post comment").click()
    assert "Your comment is posted." in flash_text(reader)
    expect(reader.locator(".comment").last).to_contain_text("Was the parrot\nfor sale?")
    expect(reader.get_by_role("heading", name="1 comment")).to_be_visible()

    page.goto("/")
    notifications = header.get_by_role("link", name="Notifications")
    expect(notifications).to_contain_text("2")
    expect(notifications.locator(".visually-hidden")).to_have_text(", 2 unread")
    expect(page.locator(".post-card", has_text="Morning at the market")).to_contain_text(
        "1 comment"
    )
    notifications.click()
    items = page.locator(".notification")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_contain_text(f"{bo} commented on your post Morning at the market")
    expect(items.nth(1)).to_contain_text(f"{bo} followed you")
    expect(header.get_by_role("link", name="Notifications")).not_to_contain_text("2")
    items.nth(0).get_by_role("link", name="Morning at the market").click()
    expect(page).to_have_url(re.compile(rf"/posts/{post_id}#comment-\d+$"))
    expect(page.locator(".comment")).to_contain_text("Was the parrot")

    page.get_by_role("link", name=bo).first.click()
    page.get_by_role("button", name="Follow", exact=True).click()
    reader.reload()
    expect(
        reader.get_by_role("navigation", name="Account").get_by_role("link", name="Notifications")
    ).to_contain_text("1")


def test_block_someone_from_their_profile_and_their_words_leave_your_pages(
    page: Page, new_context
) -> None:
    """Cy writes a post and comments on Di's; Di blocks Cy from Cy's profile,
    and Cy's post leaves her feed while the comment collapses; she undoes it
    from the people page."""
    cy, di = unique_name("cy"), unique_name("di")
    writer = new_context().new_page()
    register(writer, cy)
    cy_post = write_post(writer, "Loud thoughts of Cy", "Listen to me.")
    register(page, di)
    di_post = write_post(page, "Quiet thoughts of Di", "A calm morning.")
    writer.goto(f"/posts/{di_post}")
    writer.get_by_label("Add a comment").fill("Cy was here, loudly")
    writer.get_by_role("button", name="Post comment").click()

    page.goto(f"/posts/{cy_post}")
    page.get_by_role("link", name=cy).first.click()
    page.get_by_role("button", name=f"Block {cy}").click()
    assert f"You blocked {cy}." in flash_text(page)
    expect(page.get_by_role("button", name=f"Unblock {cy}")).to_be_visible()
    page.goto("/")
    expect(page.get_by_role("link", name="Quiet thoughts of Di")).to_be_visible()
    expect(page.get_by_role("link", name="Loud thoughts of Cy")).to_have_count(0)
    page.goto(f"/posts/{di_post}")
    expect(page.locator(".comment")).to_contain_text("A comment from someone you blocked")
    expect(page.get_by_text("Cy was here, loudly")).to_have_count(0)
    page.goto("/settings/people")
    page.get_by_role("button", name=f"Unblock {cy}").click()
    expect(page.get_by_text("You block nobody.")).to_be_visible()


def test_a_post_form_error_is_shown_beside_its_field(page: Page) -> None:
    register(page, unique_name("writer"))
    page.get_by_role("link", name="New post").click()
    page.get_by_label("Text", exact=True).fill("Kept as typed")
    page.get_by_role("button", name="Publish").click()
    title = page.get_by_label("Title", exact=True)
    expect(title).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#title-error")).to_be_visible()
    expect(title).to_have_attribute("aria-describedby", "title-error")
    expect(page.get_by_label("Text", exact=True)).to_have_value("Kept as typed")


# The main pages: screenshots, narrow screens, axe-core ------------------------------

# name: (who looks at it, how to get there)
PAGES: dict[str, tuple[str, str]] = {
    "home": ("member", "/"),
    "login": ("anonymous", "/login"),
    "register-errors": ("anonymous", "/register"),
    "profile": ("member", "/users/{id}"),
    "post": ("member", "/posts/{post}"),
    "post-form-errors": ("member", "/posts/new"),
    "settings": ("member", "/settings"),
    "people": ("member", "/settings/people"),
    "following": ("member", "/following"),
    "followers": ("anonymous", "/users/{id}/followers"),
    "notifications": ("member", "/notifications"),
    "tag": ("anonymous", "/tags/harbour"),
    "tags": ("member", "/tags"),
    "error": ("anonymous", "/no-such-page"),
}


@pytest.fixture
def visit(new_context, member: dict[str, Any]) -> Callable[..., Page]:
    """visit(name) opens one of PAGES as the right person would see it; the page
    keeps a list of the errors its console showed (a CSP violation is one)."""

    def open_page(name: str, viewport: dict[str, int] = DESKTOP, axe: bool = False) -> Page:
        who, path = PAGES[name]
        options = {"storage_state": member["state"]} if who == "member" else {}
        # Reduced motion turns the colour transitions off, so that a colour scheme
        # switched in the middle of a test applies at once.
        context = new_context(viewport=viewport, reduced_motion="reduce", **options)
        if axe:
            serve_axe(context)
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on(
            "console",
            lambda message: (
                problems.append(message.text)
                if message.type == "error"
                and not message.text.startswith("Failed to load resource")
                else None
            ),
        )
        page.goto(path.format(id=member["id"], post=member["post"]))
        if name == "register-errors":
            page.get_by_label("Username", exact=True).fill("x")
            page.get_by_label("Email", exact=True).fill("not-an-email")
            page.get_by_label("Password", exact=True).fill("short")
            page.get_by_label("Confirm password", exact=True).fill("shorter")
            page.get_by_role("button", name="Register").click()
            expect(page.locator(".field-error").first).to_be_visible()
        if name == "post-form-errors":
            page.get_by_label("Title", exact=True).fill("   ")
            page.get_by_role("button", name="Publish").click()
            expect(page.locator(".field-error").first).to_be_visible()
        page.wait_for_load_state("load")
        page.problems = problems  # type: ignore[attr-defined]
        return page

    return open_page


@pytest.mark.parametrize("name", PAGES)
def test_main_pages_on_a_desktop_and_a_phone(visit, name: str) -> None:
    """Screenshots in both colour schemes; nothing scrolls sideways down to 320 px."""
    page = visit(name)
    expect(page.get_by_role("heading", level=1)).to_have_count(1)
    for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            screenshot(page, f"{name}-{size}-{scheme}")
        assert horizontal_overflow(page) == 0, f"{name} scrolls sideways at {size} size"
    page.set_viewport_size(NARROWEST)
    assert horizontal_overflow(page) == 0, f"{name} scrolls sideways at 320 px"
    # The console shows any CSP violation (an inline style or script) as an error.
    assert page.problems == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", PAGES)
def test_axe_finds_no_serious_violations(visit, name: str) -> None:
    page = visit(name, axe=True)
    found = {}
    for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            found[f"{size} {scheme}"] = axe_violations(page)
    assert found == {key: [] for key in found}


def test_landmarks_and_one_heading(visit) -> None:
    page = visit("home")
    for role in ("banner", "main", "contentinfo", "search"):
        expect(page.get_by_role(role)).to_have_count(1)
    expect(page.get_by_role("navigation", name="Account")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_count(1)
    expect(page.locator("html")).to_have_attribute("lang", "en")

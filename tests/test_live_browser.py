"""Live updates in a real browser: static/live.js on the pages, the server's /ws
behind it. One person's page changes, without a reload, when another acts.

Same setup as test_browser.py (Debian's Chromium, the real server on a fresh
SQLite file); they skip or fail the same way when the browser is missing.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.support.browser import (
    axe_violations,
    browser_missing,
    register,
    serve_axe,
    unique_name,
    write_post,
)

pytestmark = pytest.mark.browser

if browser_missing() is None:
    from playwright.sync_api import (
        BrowserContext,
        Page,
        WebSocket,
        WebSocketRoute,
        expect,
    )


def person(new_context: Callable[..., BrowserContext], prefix: str) -> Page:
    """Someone registered (and so logged in) in a browser of their own."""
    page = new_context().new_page()
    register(page, unique_name(prefix))
    return page


# Waiting for the socket ----------------------------------------------------------


class Frames:
    """What the page's sockets have received, kept as the page runs: an event
    is only sent to sockets open when it happens, so a test waits for the
    server's first answer before acting in another browser."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.received: list[str] = []
        page.on("websocket", self._opened)

    def _opened(self, socket: WebSocket) -> None:
        socket.on("framereceived", lambda payload: self.received.append(str(payload)))

    def wait_for(self, text: str) -> None:
        """Until a frame containing `text` arrives."""
        wait_until(self.page, lambda: any(text in frame for frame in self.received), text)


def wait_until(page: Page, condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Until `condition()` holds: Playwright hands its events over (frames, new
    sockets) only while it waits, so the page waits in small steps."""
    waited = 0.0
    while not condition():
        assert waited < timeout, f"still waiting for {what} after {timeout} s"
        page.wait_for_timeout(50)
        waited += 0.05


def open_live(page: Page, path: str) -> Frames:
    """Open `path` and wait until the server has answered its subscription."""
    frames = Frames(page)
    page.goto(path)
    frames.wait_for('"subscribed"')
    # A mark that a reload would wipe out.
    page.evaluate("() => { window.notReloaded = true; }")
    return frames


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("() => window.notReloaded === true")


# A post page follows its counts, the header its unread count ----------------------


def test_a_post_page_shows_likes_comments_and_notifications_as_they_come(
    new_context,
) -> None:
    ada = person(new_context, "ada")
    post_id = write_post(ada, "Swifts over the roofs", "Back on the first of May.")
    open_live(ada, f"/posts/{post_id}")
    likes = ada.locator(".like-form .likes")
    heading = ada.locator("#comments-heading")
    notifications = ada.get_by_role("navigation", name="Account").get_by_role(
        "link", name="Notifications"
    )
    expect(likes).to_have_text("0 likes")
    expect(heading).to_have_text("0 comments")
    expect(notifications.locator(".unread-count")).to_have_count(0)

    bo = person(new_context, "bo")
    bo.goto(f"/posts/{post_id}")
    bo.get_by_role("button", name="Like").click()
    bo.wait_for_load_state()
    expect(likes).to_have_text("1 like")
    expect(notifications.locator(".unread-count")).to_have_text("1")
    expect(notifications.locator(".visually-hidden")).to_have_text(", 1 unread")

    bo.get_by_label("Add a comment").fill("Early this year!")
    bo.get_by_role("button", name="Post comment").click()
    bo.wait_for_load_state()
    expect(heading).to_have_text("1 comment")
    expect(notifications.locator(".unread-count")).to_have_text("2")
    expect(notifications.locator(".visually-hidden")).to_have_text(", 2 unread")
    # The same markup as the server's, on a page loaded now.
    elsewhere = ada.context.new_page()
    elsewhere.goto(f"/posts/{post_id}")
    fresh = elsewhere.locator(".notifications-link")
    assert notifications.inner_html() == fresh.inner_html()

    # Read elsewhere (another tab of Ada's), the count goes away here too.
    elsewhere.goto("/notifications")
    expect(notifications.locator(".unread-count")).to_have_count(0)
    expect(notifications.locator(".visually-hidden")).to_have_count(0)
    expect(notifications).to_have_text("Notifications")
    assert_not_reloaded(ada)


def test_the_feeds_cards_follow_their_counts(new_context) -> None:
    ada = person(new_context, "ada")
    post_id = write_post(ada, "Figs, at last", "Three of them, ripe.")
    bo = person(new_context, "bo")
    bo.goto(f"/posts/{post_id}")
    bo.get_by_role("button", name="Like").click()
    bo.wait_for_load_state()
    open_live(bo, "/")
    card = bo.locator(f'[data-post-id="{post_id}"]')
    expect(card.locator(".likes")).to_have_text("1 like (including you)")
    expect(card.locator(".comment-count")).to_have_text("0 comments")

    ada.get_by_label("Add a comment").fill("Mine too.")
    ada.get_by_role("button", name="Post comment").click()
    carl = person(new_context, "carl")
    carl.goto(f"/posts/{post_id}")
    carl.get_by_role("button", name="Like").click()
    expect(card.locator(".likes")).to_have_text("2 likes (including you)")
    expect(card.locator(".comment-count")).to_have_text("1 comment")
    assert_not_reloaded(bo)


# New posts on the feeds --------------------------------------------------------------


def test_the_home_feed_says_new_posts_are_there_without_moving(new_context) -> None:
    writer = person(new_context, "writer")
    write_post(writer, "Already here", "Seen when the reader came.")

    # Reduced motion turns the colour transitions off (as test_browser.py does),
    # so that axe sees the colours of the scheme it is in.
    context = new_context(reduced_motion="reduce")
    serve_axe(context)
    reader = context.new_page()  # not logged in: public events reach everyone
    open_live(reader, "/")
    banner = reader.locator(".new-posts-link")
    expect(banner).to_be_hidden()
    first_card = reader.locator(".post-card").first
    before = first_card.bounding_box()

    # A draft is nobody's news: nothing comes (the published post below then
    # counts as the first new one, which proves it too).
    write_post(writer, "Not yet", "A draft.", published=False)
    reader.wait_for_timeout(1500)
    expect(banner).to_be_hidden()

    write_post(writer, "Fresh from the oven", "Published just now.")
    expect(banner).to_be_visible()
    expect(banner).to_have_text("1 new post")
    expect(banner).to_have_attribute("href", "/")
    assert first_card.bounding_box() == before
    expect(reader.locator("#live-status")).to_have_text("New posts are available.")

    write_post(writer, "And another", "Two now.")
    expect(banner).to_have_text("2 new posts")
    assert first_card.bounding_box() == before
    expect(reader.locator("#live-status")).to_have_text("New posts are available.")
    for scheme in ("light", "dark"):
        reader.emulate_media(color_scheme=scheme)
        assert axe_violations(reader) == [], scheme
    assert_not_reloaded(reader)

    banner.click()
    expect(reader).to_have_url("/")
    titles = reader.locator(".post-card h2")
    expect(titles.nth(0)).to_have_text("And another")
    expect(titles.nth(1)).to_have_text("Fresh from the oven")
    expect(banner).to_be_hidden()


def test_a_search_has_no_new_posts_slot(new_context) -> None:
    reader = new_context().new_page()
    reader.goto("/?q=oven")
    expect(reader.locator(".new-posts")).to_have_count(0)


def test_the_following_feed_counts_the_posts_of_people_followed(new_context) -> None:
    """Even on an empty feed: the one followed has not written yet."""
    followed = person(new_context, "followed")
    followed.get_by_role("navigation", name="Account").get_by_role("link", name="followed").click()
    profile = followed.url
    stranger = person(new_context, "stranger")

    reader = person(new_context, "reader")
    reader.goto(profile)
    reader.get_by_role("button", name="Follow", exact=True).click()
    reader.wait_for_load_state()
    frames = Frames(reader)
    reader.goto("/following")
    expect(reader.get_by_text("have not published anything yet")).to_be_visible()
    wait_until(reader, lambda: bool(frames.received), "the unread count on connecting")
    banner = reader.locator(".new-posts-link")

    write_post(stranger, "From a stranger", "Not on the reader's feed.")
    write_post(followed, "Followed, at last", "On the reader's feed.")
    expect(banner).to_have_text("1 new post")
    expect(banner).to_have_attribute("href", "/following")
    banner.click()
    expect(reader.get_by_role("link", name="Followed, at last")).to_be_visible()
    expect(reader.get_by_role("link", name="From a stranger")).to_have_count(0)


# The script alone, its socket answered by the test -------------------------------------


def test_the_script_with_a_stand_in_server(new_context) -> None:
    """What the real server rarely says (past 99 unread, a new post taken back,
    a frame that is not JSON), and a lost connection: the page opens another and
    subscribes again."""
    ada = person(new_context, "ada")
    post_id = write_post(ada, "Kept on the page", "Its id is subscribed.")
    sockets: list[WebSocketRoute] = []
    sent: list[str] = []

    def stand_in(socket: WebSocketRoute) -> None:
        sockets.append(socket)
        socket.on_message(lambda message: sent.append(str(message)))

    ada.route_web_socket("**/ws", stand_in)
    ada.goto("/")
    wait_until(ada, lambda: len(sent) == 1, "the subscription")
    message = json.loads(sent[0])
    assert message["type"] == "subscribe" and post_id in message["posts"]

    notifications = ada.locator(".notifications-link")
    sockets[0].send(json.dumps({"type": "notifications", "unread": 150}))
    expect(notifications.locator(".unread-count")).to_have_text("99+")
    expect(notifications.locator(".visually-hidden")).to_have_text(", more than 99 unread")

    banner = ada.locator(".new-posts-link")
    sockets[0].send("not JSON")
    sockets[0].send(json.dumps({"type": "something new", "id": 1}))
    sockets[0].send(json.dumps({"type": "post.created", "id": post_id, "author": 1}))  # shown
    sockets[0].send(json.dumps({"type": "post.created", "id": post_id + 1, "author": 1}))
    expect(banner).to_have_text("1 new post")
    sockets[0].send(json.dumps({"type": "post.deleted", "id": post_id + 1}))
    expect(banner).to_be_hidden()
    sockets[0].send(json.dumps({"type": "notifications", "unread": 0}))
    expect(notifications).to_have_text("Notifications")

    sockets[0].close(code=1012)  # the server restarts
    wait_until(ada, lambda: len(sockets) == 2 and len(sent) == 2, "a new socket")
    assert json.loads(sent[1]) == message
    sockets[1].send(json.dumps({"type": "post.changed", "id": post_id, "votes": 3, "comments": 1}))
    card = ada.locator(f'[data-post-id="{post_id}"]')
    expect(card.locator(".likes")).to_have_text("3 likes")
    expect(card.locator(".comment-count")).to_have_text("1 comment")


# Threads: replies appear live under what they answer -------------------------------


def test_a_reply_appears_live_under_the_comment_it_answers(new_context) -> None:
    ada = new_context().new_page()
    ada_name = unique_name("ada")
    register(ada, ada_name)
    post_id = write_post(ada, "Where the swifts go", "South, but how far?")
    bo = new_context().new_page()
    bo_name = unique_name("bo")
    register(bo, bo_name)
    bo.goto(f"/posts/{post_id}")
    bo.get_by_label("Add a comment").fill("All the way to the Congo.")
    bo.get_by_role("button", name="Post comment").click()
    bo.wait_for_load_state()
    bo.get_by_label("Add a comment").fill("And back in May.")
    bo.get_by_role("button", name="Post comment").click()
    bo.wait_for_load_state()

    context = new_context(reduced_motion="reduce")
    serve_axe(context)
    reader = context.new_page()
    register(reader, unique_name("carl"))
    open_live(reader, f"/posts/{post_id}")
    items = reader.locator(".comment-list > li.comment")
    expect(items).to_have_count(2)

    # Ada answers Bo's first comment, from its Reply button.
    ada.goto(f"/posts/{post_id}")
    first = ada.locator(".comment-list > li.comment").first
    first.locator("summary", has_text="Reply").click()
    first.get_by_label(f"Your reply to {bo_name}").fill("Further than that, even.")
    first.get_by_role("button", name="Post reply").click()
    ada.wait_for_load_state()

    # The reader sees it appear in its thread: under the first comment, indented.
    expect(items).to_have_count(3)
    reply = items.nth(1)
    expect(reply.locator(".comment-body")).to_have_text("Further than that, even.")
    expect(reply.locator(".comment-author")).to_have_text(ada_name)
    expect(reply.locator(".thread-item")).to_have_attribute("data-level", "2")
    expect(items.nth(2).locator(".comment-body")).to_have_text("And back in May.")
    expect(reader.locator("#comments-heading")).to_have_text("3 comments")
    for scheme in ("light", "dark"):
        reader.emulate_media(color_scheme=scheme)
        assert axe_violations(reader) == [], scheme

    # Bo deletes his comment: a placeholder keeps Ada's reply in its place.
    bo.goto(f"/posts/{post_id}")
    bo.locator(".comment-list > li.comment").first.get_by_role("button", name="Delete").click()
    bo.wait_for_load_state()
    expect(items.first.locator(".comment-deleted")).to_have_text("[deleted]")
    expect(items).to_have_count(3)
    expect(reader.locator("#comments-heading")).to_have_text("2 comments")
    assert_not_reloaded(reader)

"""Notifications on the pages: who liked, commented on or followed what, the
unread count in every page's header, and reading them."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from tests.support.app import PASSWORD
from tests.support.pages import post_form, write_post
from tests.support.statements import StatementCounter
from webapp.models import Notification, User, utcnow


def sentences(browser: TestClient, path: str = "/notifications") -> list[str]:
    """Each notification's sentence as HTML, its "New" mark included."""
    page = browser.get(path)
    assert page.status_code == 200
    return re.findall(r'<li class="notification[^"]*">\s*<p>(.*?)</p>', page.text)


def unread_in_header(html: str) -> str | None:
    """What a screen reader hears after "Notifications", e.g. "3 unread"."""
    found = re.search(
        r'href="/notifications"[^>]*>Notifications<span class="visually-hidden">, ([^<]+)</span>',
        html,
    )
    return found.group(1) if found else None


def stored(db: Session, recipient_id: int = 1) -> list[tuple[str, int, bool]]:
    db.expire_all()
    rows = db.exec(
        select(Notification)
        .where(Notification.recipient_id == recipient_id)
        .order_by(Notification.id)  # type: ignore[arg-type]
    ).all()
    return [(row.kind, row.actor_id, row.read) for row in rows]


def comment(browser: TestClient, post_id: int, text: str = "Nice one.") -> int:
    response = post_form(browser, f"/posts/{post_id}/comments", {"content": text})
    assert response.status_code == 303, response.text
    return int(response.headers["location"].rsplit("#comment-", 1)[1])


def like(browser: TestClient, post_id: int, wanted: bool = True) -> None:
    post_form(browser, f"/posts/{post_id}/vote", {"dir": "1" if wanted else "0"})


def add_notifications(db: Session, count: int, *, actor_id: int = 2) -> None:
    """Follow notifications for user 1 straight in the database, a minute
    apart, the last one newest."""
    start = utcnow() - timedelta(days=1)
    for n in range(count):
        db.add(
            Notification(
                recipient_id=1,
                kind="follow",
                actor_id=actor_id,
                created_at=start + timedelta(minutes=n),
            )
        )
    db.commit()


# --- what they say -------------------------------------------------------------------


def test_a_like_a_comment_and_a_follow_each_tell_the_owner(
    alice_browser: TestClient, bob_browser: TestClient, db: Session
) -> None:
    post_id = write_post(alice_browser, "Harbour <lights>")
    like(bob_browser, post_id)
    comment_id = comment(bob_browser, post_id)
    post_form(bob_browser, "/users/1/follow", {})
    new = '<span class="badge unread">New</span> '
    bob = '<a href="/users/2">bob</a>'
    title = "<em>Harbour &lt;lights&gt;</em>"
    anchor = f"/comments/{comment_id}"
    assert sentences(alice_browser) == [
        f"{new}{bob} followed you",
        f'{new}{bob} commented on your post <a href="{anchor}">{title}</a>',
        f'{new}{bob} liked your post <a href="/posts/{post_id}">{title}</a>',
    ]
    assert stored(db) == [("like", 2, True), ("comment", 2, True), ("follow", 2, True)]


def test_nobody_is_told_of_their_own_actions(alice_browser: TestClient, db: Session) -> None:
    post_id = write_post(alice_browser, "Mine")
    like(alice_browser, post_id)
    comment(alice_browser, post_id)
    post_form(alice_browser, "/users/1/follow", {})
    assert stored(db) == []
    assert unread_in_header(alice_browser.get("/").text) is None
    assert "No notifications yet." in alice_browser.get("/notifications").text


def test_the_page_needs_a_login(client: TestClient) -> None:
    response = client.get("/notifications?page=2")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/notifications%3Fpage%3D2"


# --- the unread count in the header ----------------------------------------------------


def test_every_page_shows_the_unread_count_in_the_header(
    alice_browser: TestClient, bob_browser: TestClient
) -> None:
    post_id = write_post(alice_browser, "Liked")
    like(bob_browser, post_id)
    post_form(bob_browser, "/users/1/follow", {})
    for path, status in [
        ("/", 200),
        (f"/posts/{post_id}", 200),
        ("/users/2", 200),
        ("/following", 200),
        ("/settings", 200),
        ("/no-such-page", 404),
        ("/posts/999", 404),
    ]:
        page = alice_browser.get(path)
        assert page.status_code == status, path
        assert unread_in_header(page.text) == "2 unread", path
        assert '<span class="unread-count" aria-hidden="true">2</span>' in page.text
    # Bob has nothing unread: his header says only "Notifications".
    assert '<a class="notifications-link" href="/notifications">Notifications</a>' in (
        bob_browser.get("/").text
    )


def test_over_99_unread_the_header_says_99_plus(
    alice_browser: TestClient, bob_browser: TestClient, db: Session
) -> None:
    add_notifications(db, 120)
    page = alice_browser.get("/").text
    assert unread_in_header(page) == "more than 99 unread"
    assert '<span class="unread-count" aria-hidden="true">99+</span>' in page


def test_anonymous_visitors_see_no_notifications_link(new_client) -> None:
    assert 'href="/notifications"' not in new_client().get("/").text


# --- reading them -----------------------------------------------------------------------


def test_the_unread_ones_shown_become_read(
    alice_browser: TestClient, bob_browser: TestClient, db: Session
) -> None:
    add_notifications(db, 25)
    first = alice_browser.get("/notifications").text
    assert first.count('<span class="badge unread">New</span>') == 20
    # The 20 just shown are read already in this page's own header.
    assert unread_in_header(first) == "5 unread"
    assert [read for _, _, read in stored(db)] == [False] * 5 + [True] * 20
    assert "New</span>" not in alice_browser.get("/notifications").text
    assert alice_browser.get("/notifications?page=2").text.count("New</span>") == 5
    assert unread_in_header(alice_browser.get("/").text) is None
    assert all(read for _, _, read in stored(db))


def test_mark_all_read(alice_browser: TestClient, bob_browser: TestClient, db: Session) -> None:
    add_notifications(db, 25)
    page = alice_browser.get("/notifications?page=2").text
    assert ">Mark all read</button>" in page and 'action="/notifications/read"' in page
    response = post_form(alice_browser, "/notifications/read", {})
    assert response.status_code == 303 and response.headers["location"] == "/notifications"
    page = alice_browser.get("/notifications").text
    assert "All your notifications are marked read." in page
    assert "New</span>" not in page and unread_in_header(page) is None
    assert all(read for _, _, read in stored(db))
    again = post_form(alice_browser, "/notifications/read", {})
    assert again.status_code == 303


def test_mark_all_read_needs_the_csrf_token_and_a_login(
    alice_browser: TestClient, bob_browser: TestClient, new_client, db: Session
) -> None:
    add_notifications(db, 3)
    assert alice_browser.post("/notifications/read").status_code == 403
    forged = alice_browser.post("/notifications/read", data={"csrf_token": "forged"})
    assert forged.status_code == 403
    stranger = post_form(new_client(), "/notifications/read", {}, page="/login")
    assert stranger.status_code == 303 and stranger.headers["location"].startswith("/login")
    assert [read for _, _, read in stored(db)] == [False] * 3


def test_newest_first_20_a_page(
    alice_browser: TestClient, bob_browser: TestClient, db: Session
) -> None:
    add_notifications(db, 21)
    first = alice_browser.get("/notifications").text
    times = re.findall(r'<time datetime="([^"]+)"', first)
    assert len(times) == 20 and times == sorted(times, reverse=True)
    assert 'href="/notifications?page=2"' in first
    oldest = re.findall(
        r'<time datetime="([^"]+)"', alice_browser.get("/notifications?page=2").text
    )
    assert len(oldest) == 1 and oldest[0] < times[-1]
    past = alice_browser.get("/notifications?page=5")
    assert past.status_code == 200
    assert "This page is past the end: there are only 2 pages." in past.text


def test_someone_with_no_notifications_is_told_what_will_come(
    alice_browser: TestClient,
) -> None:
    page = alice_browser.get("/notifications").text
    assert "No notifications yet." in page and "Mark all read" not in page


def test_many_comments_in_a_row_are_one_unread_notification(
    alice_browser: TestClient, bob_browser: TestClient, carol_browser: TestClient, db: Session
) -> None:
    post_id = write_post(alice_browser, "Flooded")
    first = comment(bob_browser, post_id, "One")
    for n in range(20):
        comment(bob_browser, post_id, f"And again, {n}")
    comment(carol_browser, post_id, "Someone else")
    assert stored(db) == [("comment", 2, False), ("comment", 3, False)]
    assert unread_in_header(alice_browser.get("/").text) == "2 unread"
    # It leads to the first comment unread, where reading starts.
    assert f'href="/comments/{first}"' in sentences(alice_browser)[1]
    # Read, the next comment is news again.
    comment(bob_browser, post_id, "After you looked")
    assert stored(db) == [("comment", 2, True), ("comment", 3, True), ("comment", 2, False)]


def test_comments_on_two_posts_are_two_notifications(
    alice_browser: TestClient, bob_browser: TestClient, db: Session
) -> None:
    for title in ("One", "Two"):
        post_id = write_post(alice_browser, title)
        comment(bob_browser, post_id, "Hi")
        comment(bob_browser, post_id, "Hi again")
    assert stored(db) == [("comment", 2, False), ("comment", 2, False)]


# --- taken back, or gone with what they point at ---------------------------------------


def test_unliking_and_unfollowing_take_the_notification_back(
    alice_browser: TestClient, bob_browser: TestClient, db: Session
) -> None:
    post_id = write_post(alice_browser, "Liked, then not")
    like(bob_browser, post_id)
    post_form(bob_browser, "/users/1/follow", {})
    assert len(stored(db)) == 2
    like(bob_browser, post_id, wanted=False)
    post_form(bob_browser, "/users/1/unfollow", {})
    assert stored(db) == []
    assert sentences(alice_browser) == []
    assert unread_in_header(alice_browser.get("/").text) is None


def test_notifications_go_with_the_post_and_the_comment(
    alice_browser: TestClient, bob_browser: TestClient, db: Session
) -> None:
    first = write_post(alice_browser, "First")
    second = write_post(alice_browser, "Second")
    like(bob_browser, first)
    comment_id = comment(bob_browser, second)
    assert len(sentences(alice_browser)) == 2
    post_form(alice_browser, f"/posts/{first}/delete", {})
    assert stored(db) == [("comment", 2, True)]
    post_form(bob_browser, f"/comments/{comment_id}/delete", {})
    assert stored(db) == []
    assert sentences(alice_browser) == []


def test_notifications_go_with_the_person_who_caused_them(
    alice_browser: TestClient, bob_browser: TestClient, db: Session
) -> None:
    post_id = write_post(alice_browser, "Liked")
    like(bob_browser, post_id)
    post_form(bob_browser, "/users/1/follow", {})
    assert unread_in_header(alice_browser.get("/").text) == "2 unread"
    deleted = post_form(bob_browser, "/settings/delete", {"password": PASSWORD}, page="/settings")
    assert deleted.status_code == 303
    assert db.exec(select(User).where(User.username == "bob")).first() is None
    assert stored(db) == []
    assert unread_in_header(alice_browser.get("/").text) is None
    assert sentences(alice_browser) == []


# --- a fixed number of statements, however many there are ------------------------------


def count_statements(engine, browser: TestClient, path: str) -> int:
    with StatementCounter(engine) as counter:
        response = browser.get(path)
    assert response.status_code in (200, 303), path
    return counter.count


@pytest.mark.parametrize("many", [3, 60])
def test_the_page_costs_the_same_however_many_there_are(
    alice_browser: TestClient, bob_browser: TestClient, db: Session, engine, app: FastAPI, many
) -> None:
    add_notifications(db, many)
    alice_browser.get("/")  # settle "last seen"
    # The session (with the unread count), the page of notifications with
    # names and titles, their count, and marking the unread ones read.
    assert count_statements(engine, alice_browser, "/notifications") == 4
    # Nothing unread left on that page: nothing to mark.
    assert count_statements(engine, alice_browser, "/notifications") == 3
    anonymous = TestClient(app, follow_redirects=False)
    assert count_statements(engine, anonymous, "/notifications") <= 1  # off to log in


def test_the_headers_unread_count_reads_the_index_of_unread_rows_alone(db: Session) -> None:
    """Every logged-in page counts the reader's unread notifications: the
    statement must be one the partial index `ix_notifications_unread` (`NOT
    read`) can answer, not a walk of everything they were ever told."""
    from sqlalchemy import text
    from sqlalchemy.dialects import postgresql, sqlite

    from webapp.rules.notifications import unread_count_of

    postgres = db.get_bind().dialect.name == "postgresql"
    dialect = postgresql.dialect() if postgres else sqlite.dialect()
    counted = str(
        unread_count_of(1).compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    )
    if postgres:
        db.exec(text("SET LOCAL enable_seqscan = off"))  # a test's few rows: a seq scan is cheapest
        plan = " ".join(db.exec(text(f"EXPLAIN SELECT {counted}")).scalars())  # type: ignore[call-overload]
    else:
        plan = " ".join(str(row) for row in db.exec(text(f"EXPLAIN QUERY PLAN SELECT {counted}")))  # type: ignore[call-overload]
    db.rollback()
    assert "ix_notifications_unread" in plan, plan

"""Muting someone: their posts leave the muter's feeds, lists, searches and
tag pages, and their likes, comments, mentions and follows notify the muter
no more; they may still do all of it, and nobody is told."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from tests.support.api import sign_up, write
from tests.support.pages import post_form, write_post
from webapp.models import Follow, Like, Mute, Notification

ALICE, BOB = 1, 2
TITLE = "The loud opinions of Bob"


def mute(browser: TestClient, user_id: int, action: str = "mute"):
    return post_form(browser, f"/users/{user_id}/{action}", {}, page=f"/users/{user_id}")


def told(db: Session, user_id: int) -> list[str]:
    rows = db.exec(select(Notification).where(Notification.recipient_id == user_id)).all()
    return sorted(row.kind for row in rows)


def test_their_posts_leave_the_muters_feeds_and_searches(
    alice_browser: TestClient, bob_browser: TestClient, carol_browser: TestClient
) -> None:
    write_post(bob_browser, TITLE, "On #cheese")
    post_form(alice_browser, f"/users/{BOB}/follow", {}, page=f"/users/{BOB}")
    surfaces = ["/", "/?q=loud", "/tags/cheese", "/following"]
    for path in surfaces:
        assert TITLE in alice_browser.get(path).text, path
    assert mute(alice_browser, BOB).status_code == 303
    for path in surfaces:
        assert TITLE not in alice_browser.get(path).text, path
    # Nothing else changes: still followed, the post and profile still there.
    assert alice_browser.get("/posts/1").status_code == 200
    assert "Unmute" in alice_browser.get(f"/users/{BOB}").text
    assert TITLE in carol_browser.get("/").text
    mute(alice_browser, BOB, "unmute")
    assert TITLE in alice_browser.get("/").text


def test_their_actions_notify_the_muter_no_more_but_still_happen(
    client: TestClient, db: Session
) -> None:
    alice, bob = sign_up(client, "alice"), sign_up(client, "bob")
    post = write(client, alice)
    assert client.put(f"/api/users/me/mutes/{bob.id}", headers=alice.headers).status_code == 204
    assert client.put(f"/api/users/me/mutes/{bob.id}", headers=alice.headers).status_code == 204
    vote = client.post("/api/vote", json={"post_id": post["id"], "dir": 1}, headers=bob.headers)
    assert vote.status_code == 201
    comments = f"/api/posts/{post['id']}/comments"
    assert client.post(comments, json={"content": "hm"}, headers=bob.headers).status_code == 201
    assert client.put(f"/api/users/me/following/{alice.id}", headers=bob.headers).status_code == 204
    write(client, bob, content="Dear @alice")
    assert db.exec(select(Like)).all() and db.exec(select(Follow)).all()
    assert told(db, alice.id) == []
    # Unmuted, the next one is heard.
    assert client.delete(f"/api/users/me/mutes/{bob.id}", headers=alice.headers).status_code == 204
    client.post(comments, json={"content": "again"}, headers=bob.headers)
    assert told(db, alice.id) == ["comment"]


def test_the_api_lists_mutes_and_refuses_oneself_and_nobody(client: TestClient) -> None:
    alice, bob = sign_up(client, "alice"), sign_up(client, "bob")
    write(client, bob, title=TITLE)
    client.put(f"/api/users/me/mutes/{bob.id}", headers=alice.headers)
    assert [p["id"] for p in client.get("/api/users/me/mutes", headers=alice.headers).json()] == [
        bob.id
    ]
    titles = [p["title"] for p in client.get("/api/posts", headers=alice.headers).json()]
    assert TITLE not in titles
    assert client.put(f"/api/users/me/mutes/{alice.id}", headers=alice.headers).status_code == 422
    assert client.put("/api/users/me/mutes/999", headers=alice.headers).status_code == 404
    assert client.delete("/api/users/me/mutes/999", headers=alice.headers).status_code == 404
    assert client.get("/api/users/me/mutes").status_code == 401


def test_settings_lists_the_muted_with_an_undo_button(
    alice_browser: TestClient, bob_browser: TestClient, db: Session
) -> None:
    mute(alice_browser, BOB)
    assert mute(alice_browser, ALICE).status_code == 422
    page = alice_browser.get("/settings/people").text
    assert f'action="/users/{BOB}/unmute"' in page
    post_form(
        alice_browser, f"/users/{BOB}/unmute", {"next": "/settings/people"}, "/settings/people"
    )
    assert db.exec(select(Mute)).all() == []

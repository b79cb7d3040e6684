"""Blocking someone: the follows between the two go both ways; the blocked
person can no longer follow, like, comment on or answer the blocker, and their
mentions notify nothing; the blocker sees none of their posts, anywhere, and
their comments collapsed; nobody is told. Pages and API alike."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from tests.support.api import sign_up, write
from tests.support.pages import Auth, post_form, write_post
from webapp.models import Block, Follow, Like, Notification

ALICE, BOB, CAROL = 1, 2, 3
SECRET_TITLE = "The unmistakable words of Bob"


def block(browser: TestClient, user_id: int, action: str = "block"):
    return post_form(browser, f"/users/{user_id}/{action}", {}, page=f"/users/{user_id}")


def comment(browser: TestClient, post_id: int, content: str, parent_id: str = ""):
    data = {"content": content, "parent_id": parent_id}
    return post_form(browser, f"/posts/{post_id}/comments", data, page=f"/posts/{post_id}")


def follow(browser: TestClient, user_id: int):
    return post_form(browser, f"/users/{user_id}/follow", {}, page=f"/users/{user_id}")


def notifications_of(db: Session, user_id: int) -> list[tuple[str, int]]:
    rows = db.exec(select(Notification).where(Notification.recipient_id == user_id)).all()
    return [(row.kind, row.actor_id) for row in rows]


# --- the block itself --------------------------------------------------------------


def test_a_block_removes_the_follows_both_ways_and_tells_nobody(
    alice_browser: TestClient, bob_browser: TestClient, db: Session
) -> None:
    follow(alice_browser, BOB)
    follow(bob_browser, ALICE)
    answer = block(alice_browser, BOB)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/users/{BOB}"
    assert db.exec(select(Follow)).all() == []
    assert db.exec(select(Block)).one().blocked_id == BOB
    # Bob hears of nothing: only the follow Alice made before.
    assert notifications_of(db, BOB) == [("follow", ALICE)]
    # And Alice no longer hears of Bob's follow.
    assert notifications_of(db, ALICE) == []


def test_blocking_is_idempotent_and_refuses_oneself_and_nobody(
    alice_browser: TestClient, bob_browser: TestClient, db: Session
) -> None:
    assert block(alice_browser, BOB).status_code == 303
    assert block(alice_browser, BOB).status_code == 303
    assert len(db.exec(select(Block)).all()) == 1
    assert block(alice_browser, ALICE).status_code == 422
    assert block(alice_browser, 999).status_code == 404
    assert block(alice_browser, BOB, "unblock").status_code == 303
    assert block(alice_browser, BOB, "unblock").status_code == 303
    assert db.exec(select(Block)).all() == []


def test_the_api_blocks_lists_and_unblocks(client: TestClient, db: Session) -> None:
    alice, bob = sign_up(client, "alice"), sign_up(client, "bob")
    path = f"/api/users/me/blocks/{bob.id}"
    assert client.put(path, headers=alice.headers).status_code == 204
    assert client.put(path, headers=alice.headers).status_code == 204
    listed = client.get("/api/users/me/blocks", headers=alice.headers)
    assert [person["username"] for person in listed.json()] == ["bob"]
    assert client.put(f"/api/users/me/blocks/{alice.id}", headers=alice.headers).status_code == 422
    assert client.put("/api/users/me/blocks/999", headers=alice.headers).status_code == 404
    assert client.put(path).status_code == 401
    assert client.get("/api/users/me/blocks").status_code == 401
    assert client.delete(path, headers=alice.headers).status_code == 204
    assert client.delete(path, headers=alice.headers).status_code == 204
    assert client.get("/api/users/me/blocks", headers=alice.headers).json() == []


# --- what the blocked person can no longer do --------------------------------------


def test_the_blocked_cannot_follow_like_comment_or_reply_and_nothing_is_kept(
    alice_browser: TestClient, bob_browser: TestClient, db: Session
) -> None:
    post_id = write_post(alice_browser, "Alice's post")
    assert comment(alice_browser, post_id, "Alice's comment").status_code == 303
    block(alice_browser, BOB)
    assert follow(bob_browser, ALICE).status_code == 404
    like = post_form(bob_browser, f"/posts/{post_id}/vote", {"dir": "1"}, page=f"/posts/{post_id}")
    assert like.status_code == 404
    assert comment(bob_browser, post_id, "Bob comments").status_code == 404
    assert db.exec(select(Follow)).all() == []
    assert db.exec(select(Like)).all() == []
    assert notifications_of(db, ALICE) == []


def test_the_blocked_cannot_answer_the_blockers_comment_on_anyones_post(
    alice_browser: TestClient, bob_browser: TestClient, carol_browser: TestClient, db: Session
) -> None:
    post_id = write_post(carol_browser, "Carol's post")
    comment(alice_browser, post_id, "Alice's comment")
    block(alice_browser, BOB)
    assert comment(bob_browser, post_id, "A reply", parent_id="1").status_code == 404
    assert comment(bob_browser, post_id, "Bob on Carol's post").status_code == 303


def test_the_blocked_persons_api_attempts_answer_404(client: TestClient, db: Session) -> None:
    alice, bob = sign_up(client, "alice"), sign_up(client, "bob")
    post = write(client, alice)
    client.put(f"/api/users/me/blocks/{bob.id}", headers=alice.headers)
    vote = client.post("/api/vote", json={"post_id": post["id"], "dir": 1}, headers=bob.headers)
    assert vote.status_code == 404
    said = client.post(
        f"/api/posts/{post['id']}/comments", json={"content": "hi"}, headers=bob.headers
    )
    assert said.status_code == 404
    followed = client.put(f"/api/users/me/following/{alice.id}", headers=bob.headers)
    assert followed.status_code == 404
    assert db.exec(select(Like)).all() == []
    assert notifications_of(db, alice.id) == []


def test_a_mention_by_the_blocked_is_accepted_and_notifies_nothing(
    client: TestClient, db: Session
) -> None:
    alice, bob = sign_up(client, "alice"), sign_up(client, "bob")
    client.put(f"/api/users/me/blocks/{bob.id}", headers=alice.headers)
    post = write(client, bob, content="Hello @alice")
    carol_post = write(client, sign_up(client, "carol"))
    said = client.post(
        f"/api/posts/{carol_post['id']}/comments",
        json={"content": "And @alice too"},
        headers=bob.headers,
    )
    assert said.status_code == 201
    assert post["content_html"].count("/users/1") == 1  # the mention still links
    assert notifications_of(db, alice.id) == []


# --- what the blocker no longer sees -----------------------------------------------


def test_the_blocker_sees_none_of_their_posts_in_any_list(
    alice_browser: TestClient, bob_browser: TestClient, carol_browser: TestClient
) -> None:
    write_post(bob_browser, SECRET_TITLE, "Words about #gardens")
    write_post(carol_browser, "Carol writes", "Also about #gardens")
    follow(alice_browser, BOB)
    surfaces = ["/", "/?q=unmistakable", "/tags/gardens", "/tags/gardens?q=words", "/following"]
    for path in surfaces:  # seen first, so that the page cache holds them
        assert SECRET_TITLE in alice_browser.get(path).text, path
    block(alice_browser, BOB)
    follow(alice_browser, CAROL)
    for path in surfaces:
        page = alice_browser.get(path)
        assert page.status_code == 200, path
        assert SECRET_TITLE not in page.text, path
    assert "Carol writes" in alice_browser.get("/").text
    # Carol, who blocks nobody, still sees Bob's post: no list leaks across readers.
    assert SECRET_TITLE in carol_browser.get("/").text
    assert SECRET_TITLE in carol_browser.get("/tags/gardens").text
    # Nor does anyone anonymous lose it; nor the public Atom feed.
    anonymous = TestClient(alice_browser.app)
    assert SECRET_TITLE in anonymous.get("/").text
    assert SECRET_TITLE in alice_browser.get("/feed.atom").text
    block(alice_browser, BOB, "unblock")
    assert SECRET_TITLE in alice_browser.get("/").text


def test_the_blocker_finds_no_post_and_an_empty_profile(
    alice_browser: TestClient, bob_browser: TestClient
) -> None:
    post_id = write_post(bob_browser, SECRET_TITLE)
    assert alice_browser.get(f"/posts/{post_id}").status_code == 200
    block(alice_browser, BOB)
    assert alice_browser.get(f"/posts/{post_id}").status_code == 404
    profile = alice_browser.get(f"/users/{BOB}")
    assert profile.status_code == 200
    assert SECRET_TITLE not in profile.text
    assert "Unblock" in profile.text
    # Bob himself, blocked, still reads Alice's profile as anyone does: he is not told.
    assert "Block" in bob_browser.get(f"/users/{ALICE}").text
    assert "blocked" not in bob_browser.get(f"/users/{ALICE}").text


def test_their_comments_are_collapsed_for_the_blocker(
    alice_browser: TestClient, bob_browser: TestClient, carol_browser: TestClient
) -> None:
    post_id = write_post(carol_browser, "Carol's post")
    comment(bob_browser, post_id, "Bobs secret comment")
    assert "Bobs secret comment" in alice_browser.get(f"/posts/{post_id}").text
    block(alice_browser, BOB)
    page = alice_browser.get(f"/posts/{post_id}").text
    assert "Bobs secret comment" not in page
    assert "A comment from someone you blocked" in page
    assert "Bobs secret comment" not in alice_browser.get("/comments/1/fragment").text
    assert "Bobs secret comment" in carol_browser.get(f"/posts/{post_id}").text


def test_the_api_read_with_the_blockers_token_shows_nothing_of_theirs(
    client: TestClient,
) -> None:
    alice, bob, carol = (sign_up(client, name) for name in ("alice", "bob", "carol"))
    post = write(client, bob, title=SECRET_TITLE, content="About #gardens")
    carol_post = write(client, carol, content="#gardens")
    client.post(
        f"/api/posts/{carol_post['id']}/comments", json={"content": "psst"}, headers=bob.headers
    )
    client.put(f"/api/users/me/following/{bob.id}", headers=alice.headers)
    client.put(f"/api/users/me/blocks/{bob.id}", headers=alice.headers)
    for path in (
        "/api/posts",
        "/api/posts?search=unmistakable",
        "/api/feed",
        "/api/tags/gardens/posts",
    ):
        titles = [found["title"] for found in client.get(path, headers=alice.headers).json()]
        assert SECRET_TITLE not in titles, path
    assert client.get(f"/api/posts/{post['id']}", headers=alice.headers).status_code == 404
    said = client.get(f"/api/posts/{carol_post['id']}/comments", headers=alice.headers).json()
    assert said[0]["content"] == "" and said[0]["author"] is None
    # Without the token, everything is as it was.
    assert SECRET_TITLE in [found["title"] for found in client.get("/api/posts").json()]
    assert client.get(f"/api/posts/{post['id']}").status_code == 200


def test_the_blocker_finds_them_in_no_list_of_people(
    alice_browser: TestClient, bob_browser: TestClient, carol_browser: TestClient
) -> None:
    follow(bob_browser, CAROL)
    follow(carol_browser, BOB)
    lists = [f"/users/{CAROL}/followers", f"/users/{CAROL}/following"]
    for path in lists:  # seen first, so that the page cache holds them
        assert 'href="/users/2"' in alice_browser.get(path).text, path
    block(alice_browser, BOB)
    for path in lists:
        page = alice_browser.get(path)
        assert page.status_code == 200, path
        assert 'href="/users/2"' not in page.text, path
    # Carol, who blocks nobody, and anyone anonymous still see Bob there; and
    # Bob, who is not told, still sees Alice wherever she is listed.
    anonymous = TestClient(alice_browser.app)
    for path in lists:
        assert 'href="/users/2"' in carol_browser.get(path).text, path
        assert 'href="/users/2"' in anonymous.get(path).text, path
    follow(alice_browser, CAROL)
    assert 'href="/users/1"' in bob_browser.get(f"/users/{CAROL}/followers").text
    block(alice_browser, BOB, "unblock")
    assert 'href="/users/2"' in alice_browser.get(lists[0]).text


def test_the_api_lists_of_people_read_with_the_blockers_token_leave_them_out(
    client: TestClient,
) -> None:
    alice, bob, carol = (sign_up(client, name) for name in ("alice", "bob", "carol"))
    client.put(f"/api/users/me/following/{carol.id}", headers=bob.headers)
    client.put(f"/api/users/me/following/{bob.id}", headers=carol.headers)
    client.put(f"/api/users/me/blocks/{bob.id}", headers=alice.headers)
    for path in (f"/api/users/{carol.id}/followers", f"/api/users/{carol.id}/following"):
        listed = client.get(path, headers=alice.headers)
        assert listed.status_code == 200, path
        assert listed.json() == [], path
        assert [found["username"] for found in client.get(path).json()] == ["bob"], path
        bad = client.get(path, headers={"Authorization": "Bearer forged"})
        assert bad.status_code == 401, path


# --- the list of them ------------------------------------------------------------


def test_settings_lists_the_blocked_with_an_undo_button(
    alice_browser: TestClient, bob_browser: TestClient, db: Session
) -> None:
    block(alice_browser, BOB)
    page = alice_browser.get("/settings/people")
    assert page.status_code == 200
    assert "bob" in page.text and f'action="/users/{BOB}/unblock"' in page.text
    undo = post_form(
        alice_browser, f"/users/{BOB}/unblock", {"next": "/settings/people"}, "/settings/people"
    )
    assert undo.headers["location"] == "/settings/people"
    assert db.exec(select(Block)).all() == []
    assert "You block nobody." in alice_browser.get("/settings/people").text


def test_anonymous_visitors_are_sent_to_log_in(client: TestClient) -> None:
    Auth(client)  # nobody logged in
    assert client.get("/settings/people").status_code == 303

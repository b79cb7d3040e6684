"""Follows and comments that race each other and the deletions of what they
hang from: every request gets a normal answer, the kept comment counts stay
exact, and no notification is left pointing at something gone."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, select

from tests.support.api import Caller, sign_up, write
from tests.support.app import PASSWORD
from tests.support.concurrency import at_the_same_time
from tests.support.pages import Auth, csrf_token
from webapp.models import Comment, Follow, Notification, Post

ROUNDS = 6


def call(
    client: TestClient, caller: Caller, method: str, path: str, **body: str
) -> Callable[[], int]:
    """A request ready to send; its status when sent."""
    json = body or None
    return lambda: client.request(method, path, json=json, headers=caller.headers).status_code


def comment(client: TestClient, caller: Caller, post_id: int, text: str) -> Callable[[], int]:
    return call(client, caller, "POST", f"/api/posts/{post_id}/comments", content=text)


def follow(client: TestClient, caller: Caller, user_id: int) -> Callable[[], int]:
    return call(client, caller, "PUT", f"/api/users/me/following/{user_id}")


def comment_counts_agree(db: Session) -> None:
    """Every post's kept comment count equals its comment rows."""
    db.expire_all()
    rows = dict(db.exec(select(Comment.post_id, func.count()).group_by(Comment.post_id)).all())
    for post in db.exec(select(Post)).all():
        assert post.comments == rows.get(post.id, 0), f"post {post.id}"


def notifications_about(db: Session, post_id: int) -> list[Notification]:
    db.expire_all()
    return list(db.exec(select(Notification).where(Notification.post_id == post_id)).all())


def test_comments_racing_the_posts_deletion_all_get_normal_answers(
    client: TestClient, alice_api: Caller, db: Session
) -> None:
    readers = [sign_up(client, f"reader{number}") for number in range(5)]
    for _ in range(ROUNDS):
        post_id = write(client, alice_api, title="Going soon")["id"]
        sends = [comment(client, r, post_id, f"First, {r.username}") for r in readers]
        sends += [comment(client, r, post_id, f"Second, {r.username}") for r in readers]
        delete = call(client, alice_api, "DELETE", f"/api/posts/{post_id}")
        *comment_statuses, delete_status = at_the_same_time([*sends, delete])
        assert delete_status == 204
        # Written before the deletion (201), or found the post gone (404).
        assert set(comment_statuses) <= {201, 404}, comment_statuses
        db.expire_all()
        assert db.exec(select(Comment).where(Comment.post_id == post_id)).all() == []
        assert notifications_about(db, post_id) == []
    comment_counts_agree(db)


def test_comments_written_and_deleted_at_once_keep_the_count_exact(
    client: TestClient, alice_api: Caller, db: Session
) -> None:
    readers = [sign_up(client, f"reader{number}") for number in range(6)]
    post_id = write(client, alice_api)["id"]
    for round_number in range(ROUNDS):
        text = f"Me too ({round_number})"
        statuses = at_the_same_time([comment(client, r, post_id, text) for r in readers])
        assert statuses == [201] * len(readers)
        listed = client.get(f"/api/posts/{post_id}/comments?limit=100").json()
        deletes = [
            call(client, alice_api, "DELETE", f"/api/comments/{item['id']}") for item in listed[::2]
        ]
        assert set(at_the_same_time(deletes)) == {204}
        comment_counts_agree(db)
    post = client.get(f"/api/posts/{post_id}").json()
    assert post["comments"] == len(client.get(f"/api/posts/{post_id}/comments?limit=100").json())


def test_the_same_comment_sent_twice_at_once_is_one_comment(
    client: TestClient, alice_api: Caller, bob_api: Caller, db: Session
) -> None:
    post_id = write(client, alice_api)["id"]
    for round_number in range(ROUNDS):
        text = f"Clicked twice, round {round_number}"
        statuses = at_the_same_time([comment(client, bob_api, post_id, text)] * 2)
        assert statuses == [201, 201]
        db.expire_all()
        same = db.exec(select(Comment).where(Comment.content == text)).all()
        assert len(same) == 1
    # One comment a round; and comments in a row from one person on one post
    # are one unread notification.
    assert len(notifications_about(db, post_id)) == 1
    comment_counts_agree(db)


def test_two_follows_at_once_make_one_follow_and_one_notification(
    client: TestClient, alice_api: Caller, db: Session
) -> None:
    for number in range(ROUNDS):
        fan = sign_up(client, f"fan{number}")
        thrice = [follow(client, fan, alice_api.id)] * 3
        assert at_the_same_time(thrice) == [204, 204, 204]
        db.expire_all()
        assert len(db.exec(select(Follow).where(Follow.follower_id == fan.id)).all()) == 1
        told = db.exec(select(Notification).where(Notification.actor_id == fan.id)).all()
        assert [n.kind for n in told] == ["follow"]


def test_following_someone_while_they_delete_their_account_gets_a_normal_answer(
    client: TestClient, db: Session
) -> None:
    fans = [sign_up(client, f"fan{number}") for number in range(4)]
    for number in range(ROUNDS):
        leaving = sign_up(client, f"leaving{number}")
        follows = [follow(client, fan, leaving.id) for fan in fans]
        leave = _delete_account_through_pages(client, leaving)
        *statuses, left = at_the_same_time([*follows, leave])
        assert left == 303
        assert set(statuses) <= {204, 404}, statuses
        db.expire_all()
        assert db.exec(select(Follow).where(Follow.followed_id == leaving.id)).all() == []


def _delete_account_through_pages(client: TestClient, caller: Caller) -> Callable[[], int]:
    """The account deletion is a page form: a browser of its own, logged in."""
    browser = TestClient(client.app, follow_redirects=False)
    Auth(browser).login(caller.username)
    token = csrf_token(browser, "/settings")
    return lambda: (
        browser.post(
            "/settings/delete", data={"csrf_token": token, "password": PASSWORD}
        ).status_code
    )


def test_a_deleted_account_is_counted_out_of_the_posts_it_commented_on(
    client: TestClient, alice_api: Caller, db: Session
) -> None:
    leaving = sign_up(client, "leaving")
    stays = sign_up(client, "stays")
    post_ids = [write(client, alice_api, title=f"Post {n}")["id"] for n in range(3)]
    for post_id in post_ids:
        for text in ("one", "two"):
            assert comment(client, leaving, post_id, text)() == 201
        assert comment(client, stays, post_id, "kept")() == 201
    assert _delete_account_through_pages(client, leaving)() == 303
    for post_id in post_ids:
        assert client.get(f"/api/posts/{post_id}").json()["comments"] == 1
        assert [n.actor_id for n in notifications_about(db, post_id)] == [stays.id]
    comment_counts_agree(db)

"""Notifications through the API: GET /api/notifications and POST
/api/notifications/read. A like, a comment and a follow tell the person they
concern; taking one back, or deleting what it points at, takes it back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, update

from tests.support.api import Caller, bearer, sign_up, write
from tests.support.app import PASSWORD
from tests.support.pages import Auth, post_form
from webapp.models import Notification, utcnow


def notifications(client: TestClient, caller: Caller, query: str = "") -> list[dict]:
    response = client.get(f"/api/notifications{query}", headers=caller.headers)
    assert response.status_code == 200, response.text
    return response.json()


def kinds(client: TestClient, caller: Caller, query: str = "") -> list[str]:
    return [told["kind"] for told in notifications(client, caller, query)]


def like(client: TestClient, caller: Caller, post_id: int, direction: int = 1) -> None:
    body = {"post_id": post_id, "dir": direction}
    assert client.post("/api/vote", json=body, headers=caller.headers).status_code < 300


def comment(client: TestClient, caller: Caller, post_id: int, content: str = "Nice") -> dict:
    response = client.post(
        f"/api/posts/{post_id}/comments", json={"content": content}, headers=caller.headers
    )
    assert response.status_code == 201, response.text
    return response.json()


def follow(client: TestClient, caller: Caller, user_id: int) -> None:
    assert (
        client.put(f"/api/users/me/following/{user_id}", headers=caller.headers).status_code == 204
    )


def mark_read(client: TestClient, caller: Caller):
    return client.post("/api/notifications/read", headers=caller.headers)


@pytest.fixture
def post(client: TestClient, alice_api: Caller) -> dict:
    """Alice's published post."""
    return write(client, alice_api, title="Worth a like")


# --- what is told, and to whom ----------------------------------------------------------


def test_a_like_tells_the_posts_owner(
    client: TestClient, post: dict, alice_api: Caller, bob_api: Caller
) -> None:
    like(client, bob_api, post["id"])
    (told,) = notifications(client, alice_api)
    assert set(told) == {
        "id",
        "kind",
        "actor",
        "post_id",
        "comment_id",
        "created_at",
        "read",
        "action",
        "reason",
    }
    assert told["action"] is None and told["reason"] is None  # a moderation's alone
    assert told["kind"] == "like"
    assert told["actor"] == client.get(f"/api/users/{bob_api.id}").json()  # no email
    assert told["post_id"] == post["id"]
    assert told["comment_id"] is None
    assert told["read"] is False
    assert notifications(client, bob_api) == []  # the actor is not told


def test_a_comment_tells_the_posts_owner_with_the_comment(
    client: TestClient, post: dict, alice_api: Caller, bob_api: Caller
) -> None:
    made = comment(client, bob_api, post["id"])
    (told,) = notifications(client, alice_api)
    assert told["kind"] == "comment"
    assert told["actor"]["username"] == "bob"
    assert (told["post_id"], told["comment_id"]) == (post["id"], made["id"])
    assert told["read"] is False


def test_a_follow_tells_the_person_followed(
    client: TestClient, alice_api: Caller, bob_api: Caller
) -> None:
    follow(client, bob_api, alice_api.id)
    (told,) = notifications(client, alice_api)
    assert told["kind"] == "follow"
    assert told["actor"]["id"] == bob_api.id
    assert told["post_id"] is None and told["comment_id"] is None
    assert notifications(client, bob_api) == []


def test_nobody_is_told_of_their_own_actions(
    client: TestClient, post: dict, alice_api: Caller
) -> None:
    like(client, alice_api, post["id"])
    comment(client, alice_api, post["id"])
    draft = write(client, alice_api, published=False)
    like(client, alice_api, draft["id"])  # liking one's own draft
    comment(client, alice_api, draft["id"])
    assert notifications(client, alice_api) == []


def test_a_notification_is_its_recipients_alone(
    client: TestClient, post: dict, alice_api: Caller, bob_api: Caller
) -> None:
    carol = sign_up(client, "carol")
    like(client, bob_api, post["id"])
    comment(client, bob_api, post["id"])
    assert kinds(client, alice_api) == ["comment", "like"]
    assert notifications(client, carol) == []
    assert notifications(client, bob_api) == []


def test_a_draft_stays_out_of_everyone_elses_notifications(
    client: TestClient, post: dict, alice_api: Caller, bob_api: Caller
) -> None:
    # Bob's comment on a post that then becomes a draft: only Alice, its owner,
    # is told anything about it, and Bob can no longer reach it.
    made = comment(client, bob_api, post["id"])
    client.patch(f"/api/posts/{post['id']}", json={"published": False}, headers=alice_api.headers)
    assert notifications(client, bob_api) == []
    assert [told["post_id"] for told in notifications(client, alice_api)] == [post["id"]]
    deleted = client.delete(f"/api/comments/{made['id']}", headers=bob_api.headers)
    assert deleted.status_code == 404


# --- newest first, paging ---------------------------------------------------------------


def test_notifications_are_newest_first(
    client: TestClient, post: dict, alice_api: Caller, bob_api: Caller
) -> None:
    follow(client, bob_api, alice_api.id)
    like(client, bob_api, post["id"])
    comment(client, bob_api, post["id"])
    assert kinds(client, alice_api) == ["comment", "like", "follow"]


def test_notifications_in_one_instant_list_the_later_first(
    client: TestClient, post: dict, alice_api: Caller, bob_api: Caller, db: Session
) -> None:
    follow(client, bob_api, alice_api.id)
    like(client, bob_api, post["id"])
    comment(client, bob_api, post["id"])
    db.exec(update(Notification).values(created_at=utcnow() - timedelta(hours=1)))
    db.commit()
    assert kinds(client, alice_api) == ["comment", "like", "follow"]


def test_limit_and_skip_page_through_them(
    client: TestClient, alice_api: Caller, bob_api: Caller
) -> None:
    for number in range(21):
        comment(client, bob_api, write(client, alice_api)["id"], f"comment {number}")
    everything = notifications(client, alice_api)
    assert len(everything) == 20  # the default limit
    assert len(notifications(client, alice_api, "?limit=100")) == 21
    assert notifications(client, alice_api, "?skip=20")[0]["post_id"] == 1
    paged = notifications(client, alice_api, "?limit=2&skip=1")
    assert paged == everything[1:3]
    assert notifications(client, alice_api, f"?skip={10**9}") == []


@pytest.mark.parametrize(
    "query",
    [
        "?limit=0",
        "?limit=101",
        "?limit=-1",
        "?skip=-1",
        "?limit=x",
        f"?skip={10**30}",
        "?unread=maybe",
    ],
)
def test_paging_or_a_filter_out_of_bounds_is_422(
    client: TestClient, alice_api: Caller, query: str
) -> None:
    response = client.get(f"/api/notifications{query}", headers=alice_api.headers)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)


# --- unread, and marking read -----------------------------------------------------------


def test_marking_read_is_204_and_the_unread_filter_follows_it(
    client: TestClient, post: dict, alice_api: Caller, bob_api: Caller
) -> None:
    like(client, bob_api, post["id"])
    follow(client, bob_api, alice_api.id)
    assert kinds(client, alice_api, "?unread=true") == ["follow", "like"]
    response = mark_read(client, alice_api)
    assert response.status_code == 204
    assert response.content == b""
    assert kinds(client, alice_api, "?unread=true") == []
    assert [told["read"] for told in notifications(client, alice_api)] == [True, True]
    comment(client, bob_api, post["id"])
    assert kinds(client, alice_api, "?unread=true") == ["comment"]
    assert kinds(client, alice_api, "?unread=false") == ["comment", "follow", "like"]
    assert mark_read(client, alice_api).status_code == 204  # again: nothing left, still 204


def test_reading_the_list_does_not_mark_it_read(
    client: TestClient, post: dict, alice_api: Caller, bob_api: Caller
) -> None:
    like(client, bob_api, post["id"])
    notifications(client, alice_api)
    assert kinds(client, alice_api, "?unread=true") == ["like"]


def test_marking_read_marks_only_the_callers(
    client: TestClient, post: dict, alice_api: Caller, bob_api: Caller
) -> None:
    like(client, bob_api, post["id"])
    follow(client, alice_api, bob_api.id)
    mark_read(client, alice_api)
    assert kinds(client, bob_api, "?unread=true") == ["follow"]


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/api/notifications"), ("POST", "/api/notifications/read")]
)
def test_notifications_need_a_token(
    client: TestClient, post: dict, alice_api: Caller, bob_api: Caller, method: str, path: str
) -> None:
    like(client, bob_api, post["id"])
    for headers in ({}, bearer("expired-or-forged")):
        response = client.request(method, path, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
    assert kinds(client, alice_api, "?unread=true") == ["like"]


def test_the_answer_is_not_stored_by_caches(client: TestClient, alice_api: Caller) -> None:
    response = client.get("/api/notifications", headers=alice_api.headers)
    assert response.headers["cache-control"] == "no-store"


def test_a_wrong_method_names_the_allowed_ones(client: TestClient) -> None:
    assert client.delete("/api/notifications").headers["allow"] == "GET"
    response = client.get("/api/notifications/read")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


# --- taken back with what they tell of --------------------------------------------------


def test_taking_a_like_back_takes_its_notification(
    client: TestClient, post: dict, alice_api: Caller, bob_api: Caller
) -> None:
    like(client, bob_api, post["id"])
    like(client, bob_api, post["id"], 0)
    assert notifications(client, alice_api) == []
    like(client, bob_api, post["id"])  # liking again tells again, once
    assert kinds(client, alice_api) == ["like"]


def test_unfollowing_takes_the_follow_notification(
    client: TestClient, alice_api: Caller, bob_api: Caller
) -> None:
    follow(client, bob_api, alice_api.id)
    client.delete(f"/api/users/me/following/{alice_api.id}", headers=bob_api.headers)
    assert notifications(client, alice_api) == []


def test_deleting_a_comment_takes_its_notification(
    client: TestClient, post: dict, alice_api: Caller, bob_api: Caller
) -> None:
    like(client, bob_api, post["id"])
    made = comment(client, bob_api, post["id"])
    client.delete(f"/api/comments/{made['id']}", headers=alice_api.headers)
    assert kinds(client, alice_api) == ["like"]


def test_deleting_a_post_takes_the_notifications_about_it(
    client: TestClient, post: dict, alice_api: Caller, bob_api: Caller
) -> None:
    other = write(client, alice_api, title="Still here")
    like(client, bob_api, post["id"])
    comment(client, bob_api, post["id"])
    like(client, bob_api, other["id"])
    follow(client, bob_api, alice_api.id)
    client.delete(f"/api/posts/{post['id']}", headers=alice_api.headers)
    told = notifications(client, alice_api)
    assert [(n["kind"], n["post_id"]) for n in told] == [("follow", None), ("like", other["id"])]


def test_a_deleted_account_takes_the_notifications_it_caused(
    client: TestClient, new_client, post: dict, alice_api: Caller, bob_api: Caller
) -> None:
    carol = sign_up(client, "carol")
    like(client, bob_api, post["id"])
    comment(client, bob_api, post["id"])
    follow(client, bob_api, alice_api.id)
    like(client, carol, post["id"])
    browser = new_client()
    Auth(browser).login("bob")
    response = post_form(browser, "/settings/delete", {"password": PASSWORD}, page="/settings")
    assert response.status_code == 303
    assert [told["actor"]["username"] for told in notifications(client, alice_api)] == ["carol"]
    assert client.get(f"/api/posts/{post['id']}").json()["comments"] == 0

"""Following through the API: a profile's counts, PUT and DELETE
/api/users/me/following/{id}, the lists of followers and followed, and the
feed of the people one follows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, update

from tests.support.api import PUBLIC_USER_FIELDS, Caller, bearer, sign_up, write
from tests.support.app import PASSWORD
from tests.support.pages import Auth, post_form
from webapp.models import Follow, utcnow


def follow(client: TestClient, caller: Caller, user_id: object):
    return client.put(f"/api/users/me/following/{user_id}", headers=caller.headers)


def unfollow(client: TestClient, caller: Caller, user_id: object):
    return client.delete(f"/api/users/me/following/{user_id}", headers=caller.headers)


def profile(client: TestClient, user_id: int) -> dict:
    response = client.get(f"/api/users/{user_id}/profile")
    assert response.status_code == 200, response.text
    return response.json()


def names(client: TestClient, user_id: int, which: str, query: str = "") -> list[str]:
    response = client.get(f"/api/users/{user_id}/{which}{query}")
    assert response.status_code == 200, response.text
    return [person["username"] for person in response.json()]


def feed(client: TestClient, caller: Caller, query: str = "") -> list[str]:
    response = client.get(f"/api/feed{query}", headers=caller.headers)
    assert response.status_code == 200, response.text
    return [post["title"] for post in response.json()]


def delete_account(new_client, username: str) -> None:
    """The account deletion is a page: log in there and delete."""
    browser = new_client()
    assert Auth(browser).login(username).status_code == 303
    response = post_form(browser, "/settings/delete", {"password": PASSWORD}, page="/settings")
    assert response.status_code == 303


@pytest.fixture
def carol_api(client: TestClient) -> Caller:
    return sign_up(client, "carol")


# --- GET /api/users/{id}/profile -----------------------------------------------------


def test_a_profile_counts_followers_following_and_published_posts(
    client: TestClient, alice_api: Caller, bob_api: Caller, carol_api: Caller
) -> None:
    write(client, alice_api, title="one")
    write(client, alice_api, title="two")
    write(client, alice_api, title="a draft", published=False)
    follow(client, bob_api, alice_api.id)
    follow(client, carol_api, alice_api.id)
    follow(client, alice_api, bob_api.id)
    body = profile(client, alice_api.id)
    user = client.get(f"/api/users/{alice_api.id}").json()
    assert body == {**user, "followers": 2, "following": 1, "posts": 2}  # no email
    bob = client.get(f"/api/users/{bob_api.id}").json()
    assert profile(client, bob_api.id) == {**bob, "followers": 1, "following": 1, "posts": 0}


@pytest.mark.parametrize("user_id", ["999", "0", "abc", str(2**31), str(10**30)])
def test_an_unknown_or_impossible_profile_is_404(client: TestClient, user_id: str) -> None:
    response = client.get(f"/api/users/{user_id}/profile")
    assert response.status_code == 404
    assert isinstance(response.json()["detail"], str)


def test_the_earlier_user_routes_still_answer(client: TestClient, alice_api: Caller) -> None:
    assert client.get("/api/users/me", headers=alice_api.headers).json()["username"] == "alice"
    assert client.get(f"/api/users/{alice_api.id}").json()["username"] == "alice"


# --- PUT and DELETE /api/users/me/following/{id} ----------------------------------------


def test_following_is_204_and_shows_in_the_lists_and_counts(
    client: TestClient, alice_api: Caller, bob_api: Caller
) -> None:
    response = follow(client, bob_api, alice_api.id)
    assert response.status_code == 204
    assert response.content == b""
    assert names(client, alice_api.id, "followers") == ["bob"]
    assert names(client, bob_api.id, "following") == ["alice"]
    assert names(client, alice_api.id, "following") == []
    assert profile(client, alice_api.id)["followers"] == 1
    assert profile(client, bob_api.id)["following"] == 1


def test_following_twice_is_204_and_counts_once(
    client: TestClient, alice_api: Caller, bob_api: Caller
) -> None:
    assert follow(client, bob_api, alice_api.id).status_code == 204
    assert follow(client, bob_api, alice_api.id).status_code == 204
    assert names(client, alice_api.id, "followers") == ["bob"]
    assert profile(client, alice_api.id)["followers"] == 1
    told = client.get("/api/notifications", headers=alice_api.headers).json()
    assert [n["kind"] for n in told] == ["follow"]


def test_unfollowing_is_204_and_again_is_204(
    client: TestClient, alice_api: Caller, bob_api: Caller
) -> None:
    follow(client, bob_api, alice_api.id)
    for _ in range(2):
        response = unfollow(client, bob_api, alice_api.id)
        assert response.status_code == 204
        assert response.content == b""
    assert names(client, alice_api.id, "followers") == []
    assert profile(client, bob_api.id)["following"] == 0


def test_unfollowing_someone_never_followed_is_204(
    client: TestClient, alice_api: Caller, bob_api: Caller
) -> None:
    assert unfollow(client, bob_api, alice_api.id).status_code == 204
    assert profile(client, alice_api.id)["followers"] == 0


def test_following_yourself_is_422_and_changes_nothing(
    client: TestClient, alice_api: Caller
) -> None:
    response = follow(client, alice_api, alice_api.id)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], str)
    assert profile(client, alice_api.id)["followers"] == 0
    # Unfollowing yourself is the same impossible relation.
    assert unfollow(client, alice_api, alice_api.id).status_code == 422


@pytest.mark.parametrize("user_id", ["999", "0", str(2**31), str(10**30), "abc"])
def test_following_or_unfollowing_an_unknown_user_is_404(
    client: TestClient, alice_api: Caller, user_id: str
) -> None:
    for response in (follow(client, alice_api, user_id), unfollow(client, alice_api, user_id)):
        assert response.status_code == 404
        assert isinstance(response.json()["detail"], str)
    assert profile(client, alice_api.id)["following"] == 0


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_following_and_unfollowing_need_a_token(
    client: TestClient, alice_api: Caller, bob_api: Caller, method: str
) -> None:
    path = f"/api/users/me/following/{alice_api.id}"
    for headers in ({}, bearer("expired-or-forged")):
        response = client.request(method, path, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
    assert profile(client, alice_api.id)["followers"] == 0


def test_a_wrong_method_names_the_allowed_ones(client: TestClient, alice_api: Caller) -> None:
    response = client.post(f"/api/users/me/following/{alice_api.id}", headers=alice_api.headers)
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, PUT"
    for path in ("followers", "following", "profile"):
        response = client.delete(f"/api/users/{alice_api.id}/{path}")
        assert response.status_code == 405
        assert response.headers["allow"] == "GET"
    assert client.post("/api/feed").headers["allow"] == "GET"


# --- GET /api/users/{id}/followers and /following --------------------------------------


def test_the_lists_hold_public_users_newest_follow_first(
    client: TestClient, alice_api: Caller, bob_api: Caller, carol_api: Caller
) -> None:
    follow(client, bob_api, alice_api.id)
    follow(client, carol_api, alice_api.id)
    follow(client, alice_api, carol_api.id)
    follow(client, alice_api, bob_api.id)
    followers = client.get(f"/api/users/{alice_api.id}/followers").json()
    assert [person["username"] for person in followers] == ["carol", "bob"]
    assert all(set(person) == PUBLIC_USER_FIELDS for person in followers)
    assert names(client, alice_api.id, "following") == ["bob", "carol"]


def test_follows_in_one_instant_list_the_later_follow_first(
    client: TestClient, alice_api: Caller, bob_api: Caller, carol_api: Caller, db: Session
) -> None:
    dave = sign_up(client, "dave")
    for caller in (bob_api, carol_api, dave):
        follow(client, caller, alice_api.id)
    moment = utcnow() - timedelta(hours=1)
    db.exec(update(Follow).values(created_at=moment))
    db.commit()
    assert names(client, alice_api.id, "followers") == ["dave", "carol", "bob"]
    db.exec(
        update(Follow)
        .where(col(Follow.follower_id) == bob_api.id)
        .values(created_at=moment + timedelta(minutes=1))
    )
    db.commit()
    assert names(client, alice_api.id, "followers") == ["bob", "dave", "carol"]
    assert names(client, bob_api.id, "following") == ["alice"]


def test_limit_and_skip_page_through_the_lists(client: TestClient, alice_api: Caller) -> None:
    followers = [sign_up(client, f"fan{number}") for number in range(5)]
    for fan in followers:
        follow(client, fan, alice_api.id)
        follow(client, alice_api, fan.id)
    for which in ("followers", "following"):
        assert names(client, alice_api.id, which) == [f"fan{n}" for n in range(4, -1, -1)]
        assert names(client, alice_api.id, which, "?limit=2&skip=1") == ["fan3", "fan2"]
        assert names(client, alice_api.id, which, "?limit=100&skip=4") == ["fan0"]
        assert names(client, alice_api.id, which, f"?skip={10**9}") == []


def test_the_lists_show_50_by_default(client: TestClient, alice_api: Caller, db: Session) -> None:
    fans = [sign_up(client, f"fan{number}") for number in range(51)]
    db.add_all(Follow(follower_id=alice_api.id, followed_id=fan.id) for fan in fans)
    db.commit()
    assert len(names(client, alice_api.id, "following")) == 50
    assert names(client, alice_api.id, "following", "?skip=50") == ["fan0"]


@pytest.mark.parametrize(
    "query", ["?limit=0", "?limit=101", "?limit=-1", "?skip=-1", "?limit=x", f"?skip={10**30}"]
)
@pytest.mark.parametrize("which", ["followers", "following"])
def test_paging_outside_its_bounds_is_422(
    client: TestClient, alice_api: Caller, which: str, query: str
) -> None:
    response = client.get(f"/api/users/{alice_api.id}/{which}{query}")
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)


@pytest.mark.parametrize("user_id", ["999", "0", "abc", str(2**31), str(10**30)])
@pytest.mark.parametrize("which", ["followers", "following"])
def test_the_lists_of_an_unknown_user_are_404(client: TestClient, which: str, user_id: str) -> None:
    assert client.get(f"/api/users/{user_id}/{which}").status_code == 404


def test_a_deleted_account_leaves_the_lists_and_the_counts(
    client: TestClient, new_client, alice_api: Caller, bob_api: Caller
) -> None:
    follow(client, bob_api, alice_api.id)
    follow(client, alice_api, bob_api.id)
    delete_account(new_client, "bob")
    alice = client.get(f"/api/users/{alice_api.id}").json()
    assert profile(client, alice_api.id) == {**alice, "followers": 0, "following": 0, "posts": 0}
    assert names(client, alice_api.id, "followers") == []
    assert names(client, alice_api.id, "following") == []
    assert client.get("/api/notifications", headers=alice_api.headers).json() == []


def test_published_post_counts_follow_publishing_and_deleting(
    client: TestClient, alice_api: Caller
) -> None:
    post = write(client, alice_api)
    draft = write(client, alice_api, published=False)
    assert profile(client, alice_api.id)["posts"] == 1
    client.patch(f"/api/posts/{draft['id']}", json={"published": True}, headers=alice_api.headers)
    assert profile(client, alice_api.id)["posts"] == 2
    client.delete(f"/api/posts/{post['id']}", headers=alice_api.headers)
    assert profile(client, alice_api.id)["posts"] == 1


# --- GET /api/feed ---------------------------------------------------------------------


def test_the_feed_is_the_published_posts_of_the_people_followed_newest_first(
    client: TestClient, alice_api: Caller, bob_api: Caller, carol_api: Caller
) -> None:
    write(client, bob_api, title="bob 1")
    write(client, carol_api, title="carol 1")
    write(client, bob_api, title="bob's draft", published=False)
    write(client, alice_api, title="alice's own")
    write(client, bob_api, title="bob 2")
    assert feed(client, alice_api) == []  # following nobody
    follow(client, alice_api, bob_api.id)
    follow(client, alice_api, carol_api.id)
    assert feed(client, alice_api) == ["bob 2", "carol 1", "bob 1"]
    unfollow(client, alice_api, carol_api.id)
    assert feed(client, alice_api) == ["bob 2", "bob 1"]
    assert feed(client, bob_api) == []  # following is one way


def test_the_feed_holds_post_public_values(
    client: TestClient, alice_api: Caller, bob_api: Caller
) -> None:
    post = write(client, bob_api)
    follow(client, alice_api, bob_api.id)
    response = client.get("/api/feed", headers=alice_api.headers)
    assert response.json() == [post]
    assert response.headers["cache-control"] == "no-store"


def test_the_feed_pages_and_searches_as_the_post_list(
    client: TestClient, alice_api: Caller, bob_api: Caller
) -> None:
    for number in range(12):
        write(client, bob_api, title=f"post {number}")
    write(client, bob_api, title="Cats and dogs")
    follow(client, alice_api, bob_api.id)
    assert len(feed(client, alice_api)) == 10  # the default limit
    assert feed(client, alice_api, "?limit=2&skip=2") == ["post 10", "post 9"]
    assert feed(client, alice_api, "?limit=100&skip=12") == ["post 0"]
    assert feed(client, alice_api, f"?skip={10**9}") == []
    assert feed(client, alice_api, "?search=DOGS cats") == ["Cats and dogs"]


@pytest.mark.parametrize(
    "query", ["?limit=0", "?limit=101", "?limit=-1", "?skip=-1", "?limit=x", f"?skip={10**30}"]
)
def test_feed_paging_outside_its_bounds_is_422(
    client: TestClient, alice_api: Caller, query: str
) -> None:
    response = client.get(f"/api/feed{query}", headers=alice_api.headers)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)


def test_the_feed_needs_a_token(client: TestClient) -> None:
    for headers in ({}, bearer("expired-or-forged")):
        response = client.get("/api/feed", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"

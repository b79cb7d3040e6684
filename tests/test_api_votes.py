"""Likes through the API: POST /api/vote {post_id, dir}."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.support.api import Caller, write
from tests.support.concurrency import at_the_same_time


def vote(client: TestClient, caller: Caller, post_id: object, direction: object):
    return client.post(
        "/api/vote", json={"post_id": post_id, "dir": direction}, headers=caller.headers
    )


def count(client: TestClient, caller: Caller, post_id: int) -> int:
    return client.get(f"/api/posts/{post_id}", headers=caller.headers).json()["votes"]


def test_liking_is_201_and_taking_it_back_is_200(
    client: TestClient, alice_api: Caller, bob_api: Caller
) -> None:
    post = write(client, alice_api)
    liked = vote(client, bob_api, post["id"], 1)
    assert liked.status_code == 201
    assert isinstance(liked.json()["message"], str)
    assert count(client, bob_api, post["id"]) == 1
    removed = vote(client, bob_api, post["id"], 0)
    assert removed.status_code == 200
    assert isinstance(removed.json()["message"], str)
    assert count(client, bob_api, post["id"]) == 0


def test_liking_twice_is_409_and_counts_once(
    client: TestClient, alice_api: Caller, bob_api: Caller
) -> None:
    post = write(client, alice_api)
    assert vote(client, bob_api, post["id"], 1).status_code == 201
    again = vote(client, bob_api, post["id"], 1)
    assert again.status_code == 409
    assert isinstance(again.json()["detail"], str)
    assert count(client, bob_api, post["id"]) == 1


def test_taking_back_a_like_that_is_not_there_is_404(
    client: TestClient, alice_api: Caller, bob_api: Caller
) -> None:
    post = write(client, alice_api)
    response = vote(client, bob_api, post["id"], 0)
    assert response.status_code == 404
    assert count(client, bob_api, post["id"]) == 0


def test_voting_needs_a_token(client: TestClient, alice_api: Caller) -> None:
    post = write(client, alice_api)
    response = client.post("/api/vote", json={"post_id": post["id"], "dir": 1})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_missing_post_or_someone_elses_draft_is_404(
    client: TestClient, alice_api: Caller, bob_api: Caller
) -> None:
    draft = write(client, alice_api, published=False)
    assert vote(client, bob_api, 999, 1).status_code == 404
    assert vote(client, bob_api, draft["id"], 1).status_code == 404
    assert vote(client, bob_api, draft["id"], 0).status_code == 404


def test_anyone_may_like_their_own_draft(client: TestClient, alice_api: Caller) -> None:
    draft = write(client, alice_api, published=False)
    assert vote(client, alice_api, draft["id"], 1).status_code == 201
    assert count(client, alice_api, draft["id"]) == 1


@pytest.mark.parametrize(
    ("post_id", "direction"),
    [(1, 2), (1, -1), (1, "1"), (1, True), (1, 0.5), (1, None), (0, 1), (2**31, 1), ("x", 1)],
)
def test_a_dir_other_than_0_or_1_or_an_impossible_post_id_is_422(
    client: TestClient, alice_api: Caller, post_id: object, direction: object
) -> None:
    write(client, alice_api)
    assert vote(client, alice_api, post_id, direction).status_code == 422


def at_once(clients: list[TestClient], callers: list[Caller], post_id: int) -> list[int]:
    """Every caller likes the post at the same moment."""
    return at_the_same_time(
        [
            lambda client=client, caller=caller: vote(client, caller, post_id, 1).status_code
            for client, caller in zip(clients, callers, strict=True)
        ]
    )


def test_two_people_liking_at_once_count_two(
    client: TestClient, new_client, alice_api: Caller, bob_api: Caller
) -> None:
    post = write(client, alice_api)
    statuses = at_once([new_client(), new_client()], [alice_api, bob_api], post["id"])
    assert statuses == [201, 201]
    assert count(client, alice_api, post["id"]) == 2


def test_one_person_liking_twice_at_once_counts_one_and_never_fails(
    client: TestClient, new_client, alice_api: Caller, bob_api: Caller
) -> None:
    post = write(client, alice_api)
    statuses = at_once([new_client() for _ in range(4)], [bob_api] * 4, post["id"])
    assert sorted(statuses) == [201, 409, 409, 409]
    assert count(client, alice_api, post["id"]) == 1


@pytest.mark.parametrize("change", ["stamp rotated", "account deleted"])
def test_a_token_that_no_longer_holds_likes_and_posts_nothing(
    client: TestClient, db, alice_api: Caller, bob_api: Caller, change: str
) -> None:
    """The write checks its caller itself (on PostgreSQL inside its one
    statement): a token whose account changed its stamp (a new password, a
    suspension, "log out everywhere else") or is gone is a 401, and nothing
    is written."""
    post = write(client, alice_api)
    assert vote(client, bob_api, post["id"], 1).status_code == 201
    if change == "stamp rotated":
        statement = "UPDATE users SET security_stamp = 'rotated' WHERE id = :id"
    else:
        statement = "DELETE FROM users WHERE id = :id"
    db.execute(text(statement), {"id": bob_api.id})
    db.commit()
    before = count(client, alice_api, post["id"])
    for direction in (0, 1):
        refused = vote(client, bob_api, post["id"], direction)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
    sent = {"title": "Not", "content": "written"}
    refused = client.post("/api/posts", json=sent, headers=bob_api.headers)
    assert refused.status_code == 401
    assert count(client, alice_api, post["id"]) == before
    assert db.execute(text("SELECT count(*) FROM posts WHERE title = 'Not'")).scalar() == 0

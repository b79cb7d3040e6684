"""The API's people: POST /api/users, GET /api/users/{id}, GET /api/users/me."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from tests.support.api import PUBLIC_USER_FIELDS, bearer, register, sign_up
from tests.support.app import PASSWORD
from tests.support.concurrency import at_the_same_time
from webapp.models import User


def test_registering_answers_201_with_the_public_user_and_no_email(client: TestClient) -> None:
    response = register(client, "alice")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == PUBLIC_USER_FIELDS
    assert body["username"] == "alice"


def test_a_full_width_name_is_registered_normalized(client: TestClient) -> None:
    assert register(client, "Ａda", email="ada@example.com").json()["username"] == "Ada"


@pytest.mark.parametrize(
    ("username", "email"),
    [("ALICE", "other@example.com"), ("other", "Alice@Example.com")],
)
def test_a_taken_username_or_email_is_409_in_any_letter_case(
    client: TestClient, username: str, email: str
) -> None:
    assert register(client, "alice").status_code == 201
    response = register(client, username, email=email)
    assert response.status_code == 409
    assert isinstance(response.json()["detail"], str)


@pytest.mark.parametrize(
    "fields",
    [
        {"username": "ab"},
        {"username": "no spaces"},
        {"email": "not-an-email"},
        {"password": "short"},
        {"password": "x" * 129},
        {"password": "ALICE"},  # equal to the username, in another case
        {"password": "alice@example.com"},
        {"username": "nul\x00"},
    ],
)
def test_invalid_registrations_are_422(client: TestClient, fields: dict[str, str]) -> None:
    base = {"username": "alice", "email": "alice@example.com", "password": PASSWORD}
    response = client.post("/api/users", json={**base, **fields})
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)


def test_a_bad_email_is_refused_in_our_words_at_its_field(client: TestClient) -> None:
    base = {"username": "alice", "email": "ada@@example.com", "password": PASSWORD}
    (problem,) = client.post("/api/users", json=base).json()["detail"]
    assert problem["loc"] == ["body", "email"]
    assert problem["type"] == "value_error"
    assert problem["msg"] == "Must be an email address, like name@example.com."


def test_a_missing_field_is_422(client: TestClient) -> None:
    assert client.post("/api/users", json={"username": "alice"}).status_code == 422


def test_racing_for_one_name_gives_one_201_and_409s(new_client, db: Session) -> None:
    clients = [new_client() for _ in range(4)]

    def send(index: int) -> int:
        name = "racer" if index % 2 else "RACER"
        return register(clients[index], name, email=f"racer{index}@example.com").status_code

    statuses = at_the_same_time([lambda i=i: send(i) for i in range(len(clients))])
    assert sorted(statuses) == [201, 409, 409, 409]
    assert len(db.exec(select(User)).all()) == 1


def test_anyone_may_read_a_profile_without_its_email(client: TestClient) -> None:
    alice = sign_up(client, "alice")
    response = client.get(f"/api/users/{alice.id}")
    assert response.status_code == 200
    assert response.json()["username"] == "alice"
    assert "email" not in response.json()
    # Not even to its owner: only /me shows it.
    assert "email" not in client.get(f"/api/users/{alice.id}", headers=alice.headers).json()


@pytest.mark.parametrize("user_id", ["999", "0", "-1", "abc", str(2**31), str(10**30)])
def test_an_unknown_or_impossible_user_id_is_404(client: TestClient, user_id: str) -> None:
    sign_up(client, "alice")
    response = client.get(f"/api/users/{user_id}")
    assert response.status_code == 404
    assert isinstance(response.json()["detail"], str)


def test_me_is_the_caller_with_their_email(client: TestClient) -> None:
    alice = sign_up(client, "alice")
    sign_up(client, "bob")
    response = client.get("/api/users/me", headers=alice.headers)
    assert response.status_code == 200
    assert response.json() == {
        "id": alice.id,
        "username": "alice",
        "email": "alice@example.com",
        "created_at": response.json()["created_at"],
        "email_confirmed": False,
        "display_name": "",
        "bio_html": "",
        "website": "",
        "avatar_url": f"/avatars/{alice.id}.svg",
    }


def test_me_needs_a_token(client: TestClient) -> None:
    response = client.get("/api/users/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert client.get("/api/users/me", headers=bearer("nonsense")).status_code == 401

"""What a client of the JSON API does, one line per action (the API twin of
conftest's Auth): register, log in, write a post."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from httpx2 import Response

from tests.support.app import PASSWORD

# What the API shows of anyone (UserPublic): never an email address.
PUBLIC_USER_FIELDS = {
    "id",
    "username",
    "created_at",
    "display_name",
    "bio_html",
    "website",
    "avatar_url",
}


@dataclass
class Caller:
    """Someone holding a bearer token."""

    id: int
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def register(client: TestClient, username: str = "alice", **fields: str) -> Response:
    body = {"username": username, "email": f"{username}@example.com", "password": PASSWORD}
    return client.post("/api/users", json={**body, **fields})


def login(client: TestClient, username: str = "alice", password: str = PASSWORD) -> Response:
    return client.post("/api/login", data={"username": username, "password": password})


def sign_up(client: TestClient, username: str = "alice") -> Caller:
    created = register(client, username)
    assert created.status_code == 201, created.text
    token = login(client, username)
    assert token.status_code == 200, token.text
    return Caller(created.json()["id"], username, token.json()["access_token"])


def write(client: TestClient, caller: Caller, **fields: Any) -> dict[str, Any]:
    body = {"title": "Hello", "content": "World", **fields}
    response = client.post("/api/posts", json=body, headers=caller.headers)
    assert response.status_code == 201, response.text
    return response.json()

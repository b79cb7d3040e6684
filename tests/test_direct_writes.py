"""The writes answered before routing (a like, a new post through the API):
the same answers as their routes give through the framework, and whatever
their model does not take left to the routes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from tests.support.api import Caller, bearer, write
from webapp.core.direct_reads import DirectReads

# The body as JSON that the framework reads as JSON too, but that is not
# plainly `application/json`: the route answers it, through the framework.
ROUTED = "application/vnd.agora+json"
DIRECT = "application/json"
# Headers that differ from one answer to the next whichever way it went.
VARYING = {"x-request-id", "date"}


@pytest.fixture
def taken(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """For each POST the app was sent: whether it was answered before routing."""
    seen: list[bool] = []
    original = DirectReads._write

    async def spy(self: DirectReads, scope: Any) -> Any:
        answer = await original(self, scope)
        seen.append(answer is not None)
        return answer

    monkeypatch.setattr(DirectReads, "_write", spy)
    return seen


def post_json(
    client: TestClient, path: str, body: str, kind: str, headers: dict[str, str]
) -> Response:
    return client.post(path, content=body.encode(), headers={**headers, "content-type": kind})


def like_body(post_id: int, direction: int) -> str:
    return json.dumps({"post_id": post_id, "dir": direction})


def shape(response: Response) -> tuple[int, Any, dict[str, str]]:
    headers = {name: value for name, value in response.headers.items() if name not in VARYING}
    return response.status_code, response.json(), headers


def test_a_like_answers_as_its_route_does(
    alice_api: Caller, bob_api: Caller, client: TestClient, taken: list[bool]
) -> None:
    first, second = write(client, bob_api)["id"], write(client, bob_api)["id"]
    answers: dict[str, list[tuple[int, Any, dict[str, str]]]] = {}
    for kind, post_id in ((DIRECT, first), (ROUTED, second)):
        taken.clear()
        like, take_back = like_body(post_id, 1), like_body(post_id, 0)
        sent = [
            (like, alice_api.headers),
            (like, alice_api.headers),  # already liked: 409
            (take_back, alice_api.headers),
            (take_back, alice_api.headers),  # no like: 404
            (like_body(999999, 1), alice_api.headers),
            (like, {}),  # no token: 401
            (like, bearer("not-a-token")),
            # The scheme in any case, the token's spaces around it dropped.
            (like, {"Authorization": f"bEARER  {alice_api.token} "}),
            (take_back, alice_api.headers),
            (like, {"Authorization": f"Basic {alice_api.token}"}),  # not a bearer: 401
            (like, {"Authorization": "Bearer"}),
        ]
        answers[kind] = [
            shape(post_json(client, "/api/vote", body, kind, headers)) for body, headers in sent
        ]
        assert taken == [kind == DIRECT] * len(sent)
    assert [status for status, _, _ in answers[DIRECT]] == [
        201,
        409,
        200,
        404,
        404,
        401,
        401,
        201,
        200,
        401,
        401,
    ]
    assert answers[DIRECT] == answers[ROUTED]
    assert client.get(f"/api/posts/{first}").json()["votes"] == 0


def test_a_body_the_model_refuses_goes_to_the_route(
    alice_api: Caller, client: TestClient, taken: list[bool]
) -> None:
    for body in ('{"post_id": 1, "dir": 2}', '{"post_id": "1", "dir": 1}', "[1]", "null"):
        answer = post_json(client, "/api/vote", body, DIRECT, alice_api.headers)
        assert answer.status_code == 422, body
        assert isinstance(answer.json()["detail"], list)  # the framework's shape
    # A refused body is a 422 before a missing token is a 401, as through the framework.
    assert post_json(client, "/api/vote", '{"dir": 1}', DIRECT, {}).status_code == 422
    assert post_json(client, "/api/posts", '{"title": ""}', DIRECT, {}).status_code == 422
    assert taken == [False] * 6


def test_a_new_post_answers_as_its_route_does(
    alice_api: Caller, client: TestClient, taken: list[bool]
) -> None:
    body = '{"title": "Same #way", "content": "Hello @alice, *twice*.", "published": false}'
    answers = [
        post_json(client, "/api/posts", body, kind, alice_api.headers) for kind in (DIRECT, ROUTED)
    ]
    assert taken == [True, False]
    shapes = []
    for answer in answers:
        status, post, headers = shape(answer)
        assert status == 201
        mine = client.get(f"/api/posts/{post['id']}", headers=alice_api.headers)
        assert mine.json() == post
        for name in ("id", "created_at", "updated_at"):
            del post[name]
        del headers["content-length"]  # the ids and times may differ in length
        shapes.append((post, headers))
    assert shapes[0] == shapes[1]
    assert shapes[0][0]["published"] is False
    no_token = post_json(client, "/api/posts", body, DIRECT, {})
    assert (no_token.status_code, no_token.json()) == (401, {"detail": "Not authenticated"})
    assert no_token.headers["www-authenticate"] == "Bearer"

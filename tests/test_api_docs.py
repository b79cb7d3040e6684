"""/openapi.json (what /docs and /redoc show): the API and nothing else, each
route with its tag, summary, error answers and the bearer scheme."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.api import sign_up
from tests.support.app import PASSWORD

# Every operation of the API and the status codes it may answer.
OPERATIONS = {
    ("post", "/api/users"): ("users", {201, 409, 422}),
    ("get", "/api/users"): ("users", {200, 401, 422}),
    ("get", "/api/users/{user_id}"): ("users", {200, 404}),
    ("get", "/api/users/me"): ("users", {200, 401}),
    ("patch", "/api/users/me"): ("users", {200, 401, 422}),
    ("put", "/api/users/me/avatar"): ("users", {200, 401, 413, 422}),
    ("delete", "/api/users/me/avatar"): ("users", {204, 401}),
    ("get", "/api/users/me/export"): ("users", {200, 401}),
    ("post", "/api/media"): ("media", {201, 401, 413, 422}),
    ("post", "/api/login"): ("auth", {200, 401, 422, 429}),
    ("post", "/api/password-reset"): ("auth", {202, 400, 422, 429, 503}),
    ("get", "/api/posts"): ("posts", {200, 401, 422}),
    ("get", "/api/posts/{post_id}"): ("posts", {200, 401, 404}),
    ("post", "/api/posts"): ("posts", {201, 401, 403, 422, 429}),
    ("put", "/api/posts/{post_id}"): ("posts", {200, 401, 403, 404, 422}),
    ("patch", "/api/posts/{post_id}"): ("posts", {200, 401, 403, 404, 422}),
    ("delete", "/api/posts/{post_id}"): ("posts", {204, 401, 403, 404}),
    ("get", "/api/tags"): ("tags", {200, 422}),
    ("get", "/api/tags/{tag}/posts"): ("tags", {200, 401, 404, 422}),
    ("post", "/api/vote"): ("votes", {200, 201, 401, 403, 404, 409, 422}),
    ("get", "/api/users/{user_id}/profile"): ("users", {200, 404}),
    ("put", "/api/users/me/following/{user_id}"): ("following", {204, 401, 403, 404, 422}),
    ("delete", "/api/users/me/following/{user_id}"): ("following", {204, 401, 404}),
    ("get", "/api/users/{user_id}/followers"): ("following", {200, 404, 422}),
    ("get", "/api/users/{user_id}/following"): ("following", {200, 404, 422}),
    ("get", "/api/feed"): ("following", {200, 401, 422}),
    ("get", "/api/posts/{post_id}/comments"): ("comments", {200, 401, 404, 422}),
    ("post", "/api/posts/{post_id}/comments"): ("comments", {201, 401, 403, 404, 422, 429}),
    ("patch", "/api/comments/{comment_id}"): ("comments", {200, 401, 403, 404, 422}),
    ("delete", "/api/comments/{comment_id}"): ("comments", {204, 401, 403, 404}),
    ("get", "/api/notifications"): ("notifications", {200, 401, 422}),
    ("post", "/api/notifications/read"): ("notifications", {204, 401}),
    ("post", "/api/reports"): ("moderation", {200, 201, 401, 403, 404, 422, 429}),
    ("get", "/api/moderation/reports"): ("moderation", {200, 401, 404, 422}),
    ("post", "/api/moderation/actions"): ("moderation", {200, 201, 401, 403, 404, 422}),
    ("get", "/api/moderation/log"): ("moderation", {200, 422}),
    ("get", "/api/users/me/blocks"): ("safety", {200, 401}),
    ("put", "/api/users/me/blocks/{user_id}"): ("safety", {204, 401, 404, 422}),
    ("delete", "/api/users/me/blocks/{user_id}"): ("safety", {204, 401, 404, 422}),
    ("get", "/api/users/me/mutes"): ("safety", {200, 401}),
    ("put", "/api/users/me/mutes/{user_id}"): ("safety", {204, 401, 404, 422}),
    ("delete", "/api/users/me/mutes/{user_id}"): ("safety", {204, 401, 404, 422}),
}
AUTHENTICATED = {
    ("get", "/api/users/me"),
    ("patch", "/api/users/me"),
    ("put", "/api/users/me/avatar"),
    ("delete", "/api/users/me/avatar"),
    ("get", "/api/users/me/export"),
    ("post", "/api/media"),
    ("post", "/api/posts"),
    ("put", "/api/posts/{post_id}"),
    ("patch", "/api/posts/{post_id}"),
    ("delete", "/api/posts/{post_id}"),
    ("post", "/api/vote"),
    ("put", "/api/users/me/following/{user_id}"),
    ("delete", "/api/users/me/following/{user_id}"),
    ("get", "/api/feed"),
    ("post", "/api/posts/{post_id}/comments"),
    ("patch", "/api/comments/{comment_id}"),
    ("delete", "/api/comments/{comment_id}"),
    ("get", "/api/notifications"),
    ("post", "/api/notifications/read"),
    ("post", "/api/reports"),
    ("get", "/api/moderation/reports"),
    ("post", "/api/moderation/actions"),
    ("get", "/api/users/me/blocks"),
    ("put", "/api/users/me/blocks/{user_id}"),
    ("delete", "/api/users/me/blocks/{user_id}"),
    ("get", "/api/users/me/mutes"),
    ("put", "/api/users/me/mutes/{user_id}"),
    ("delete", "/api/users/me/mutes/{user_id}"),
}
# Optional: drafts (and their comments) for their owner; the lists leave out
# the people the caller blocks or mutes; a moderator reads hidden people.
OPTIONAL_AUTH = {
    ("get", "/api/users"),
    ("get", "/api/posts/{post_id}"),
    ("get", "/api/posts/{post_id}/comments"),
    ("get", "/api/posts"),
    ("get", "/api/tags/{tag}/posts"),
    ("get", "/api/users/{user_id}"),
    ("get", "/api/users/{user_id}/followers"),
    ("get", "/api/users/{user_id}/following"),
    ("get", "/api/users/{user_id}/profile"),
}


@pytest.fixture
def openapi(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def operations(openapi: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): operation
        for path, item in openapi["paths"].items()
        for method, operation in item.items()
    }


def test_the_document_lists_the_api_and_no_page(openapi: dict[str, Any]) -> None:
    assert all(path.startswith("/api/") for path in openapi["paths"])
    assert set(operations(openapi)) == set(OPERATIONS)


def test_each_operation_has_its_tag_summary_and_status_codes(openapi: dict[str, Any]) -> None:
    assert [tag["name"] for tag in openapi["tags"]] == [
        "users",
        "auth",
        "posts",
        "tags",
        "votes",
        "following",
        "comments",
        "notifications",
        "safety",
        "moderation",
        "media",
    ]
    for key, operation in operations(openapi).items():
        tag, statuses = OPERATIONS[key]
        assert operation["tags"] == [tag], key
        assert operation["summary"], key
        documented = {int(status) for status in operation["responses"]}
        assert statuses <= documented, (key, statuses - documented)


def test_errors_are_documented_as_a_detail_string(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]
    assert schemas["ErrorDetail"]["properties"]["detail"]["type"] == "string"
    for key, operation in operations(openapi).items():
        for status, response in operation["responses"].items():
            if status.startswith("4") and status != "422":
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorDetail"}, (key, status)


def test_the_bearer_scheme_is_the_password_flow_of_api_login(openapi: dict[str, Any]) -> None:
    schemes = openapi["components"]["securitySchemes"]
    assert schemes == {
        "bearer": {
            "type": "oauth2",
            "description": schemes["bearer"]["description"],
            "flows": {"password": {"scopes": {}, "tokenUrl": "/api/login"}},
        }
    }
    for key, operation in operations(openapi).items():
        security = operation.get("security", [])
        if key in AUTHENTICATED:
            assert security == [{"bearer": []}], key
            assert "WWW-Authenticate" in operation["responses"]["401"]["headers"], key
        elif key in OPTIONAL_AUTH:
            assert security == [{"bearer": []}, {}], key
        else:
            assert security == [], key


def test_request_bodies_carry_examples(openapi: dict[str, Any]) -> None:
    for key in [
        ("post", "/api/users"),
        ("post", "/api/posts"),
        ("patch", "/api/posts/{post_id}"),
        ("post", "/api/posts/{post_id}/comments"),
    ]:
        content = operations(openapi)[key]["requestBody"]["content"]["application/json"]
        assert content["examples"], key
    assert openapi["components"]["schemas"]["VoteCreate"]["examples"]


def test_no_response_schema_shows_an_email_but_me(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]
    for key, operation in operations(openapi).items():
        for status, response in operation["responses"].items():
            schema = response.get("content", {}).get("application/json", {}).get("schema", {})
            ref = schema.get("$ref") or schema.get("items", {}).get("$ref", "")
            name = ref.rsplit("/", 1)[-1]
            if name and name != "UserMe":
                assert "email" not in schemas[name].get("properties", {}), (key, status)


def test_the_login_form_in_swagger_gets_a_working_token(client: TestClient) -> None:
    # What Swagger's Authorize button sends: grant_type=password and the fields.
    sign_up(client, "alice")
    response = client.post(
        "/api/login",
        data={"grant_type": "password", "username": "alice", "password": PASSWORD},
    )
    assert response.status_code == 200
    token = response.json()["access_token"]
    me = client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_docs_pages_load(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 200

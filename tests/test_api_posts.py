"""The API's posts: the list and search, one post, writing, replacing,
changing and deleting, for an anonymous caller, the owner and a stranger."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, col

from tests.support.api import Caller, bearer, sign_up, write
from tests.support.images import picture
from webapp.api.posts import POST_JSON, POSTS_JSON, json_response
from webapp.models import Post, PostPublic, User, utcnow

# --- GET /api/posts ---------------------------------------------------------------


def titles(client: TestClient, query: str = "", **headers: str) -> list[str]:
    response = client.get(f"/api/posts{query}", headers=headers)
    assert response.status_code == 200, response.text
    return [post["title"] for post in response.json()]


def test_the_list_is_published_posts_newest_first(client: TestClient, alice_api: Caller) -> None:
    for title in ("one", "two", "three"):
        write(client, alice_api, title=title)
    write(client, alice_api, title="draft", published=False)
    assert titles(client) == ["three", "two", "one"]
    # Drafts are never listed, not even to their owner.
    assert titles(client, **alice_api.headers) == ["three", "two", "one"]


def test_equal_times_list_the_higher_id_first(
    client: TestClient, alice_api: Caller, db: Session
) -> None:
    for title in ("a", "b", "c"):
        write(client, alice_api, title=title)
    moment = utcnow() - timedelta(hours=1)
    db.exec(update(Post).values(created_at=moment))
    db.exec(update(Post).where(col(Post.title) == "a").values(created_at=moment + timedelta(1)))
    db.commit()
    assert titles(client) == ["a", "c", "b"]


def test_each_post_has_its_owner_and_its_counts(client: TestClient, alice_api: Caller) -> None:
    write(client, alice_api)
    (post,) = client.get("/api/posts").json()
    assert set(post) == {
        "id",
        "title",
        "content",
        "published",
        "created_at",
        "updated_at",
        "owner_id",
        "owner",
        "votes",
        "comments",
        "content_html",
        "tags",
        "media",
    }
    assert post["owner"] == client.get(f"/api/users/{alice_api.id}").json()
    assert post["owner_id"] == alice_api.id and post["votes"] == 0


def test_the_plain_list_is_each_posts_own_answer_byte_for_byte(
    client: TestClient, alice_api: Caller, db: Session
) -> None:
    """The plain list (no search, newest first) is read straight from its
    rows, without a model per post: its items are still the posts' own
    answers, which the model makes, byte for byte (pictures, tags, the
    author's profile and avatar, comment counts less a suspended person's),
    from the start or from `skip`, with a token or without; and through the
    models (a reader who blocks someone) the list is the same bytes."""
    bob, carol, mod, reader, nobody = (
        sign_up(client, name) for name in ("bob", "carol", "mod", "reader", "nobody")
    )
    db.exec(update(User).where(col(User.id) == mod.id).values(role="moderator"))  # type: ignore[call-overload]
    db.commit()
    profile = {
        "display_name": "Alice <A.>",
        "bio": "I *write* & draw",
        "website": "https://a.example",
    }
    assert client.patch("/api/users/me", json=profile, headers=alice_api.headers).status_code == 200
    avatar = {"file": ("me.png", picture(), "image/png")}
    answer = client.put("/api/users/me/avatar", files=avatar, headers=alice_api.headers)
    assert answer.status_code == 200, answer.text
    media = [
        client.post(
            "/api/media",
            files={"file": (f"p{n}.png", picture(colour=(n * 60, 30, 30)), "image/png")},
            data={"alt": f'A "red" <square> & {n}'},
            headers=alice_api.headers,
        ).json()["id"]
        for n in range(2)
    ]
    pictured = write(
        client,
        alice_api,
        title='Drawn \u00e9 \\ "quoted"',
        content="**Bold**\n\t#tag @bob",
        media_ids=media,
    )
    plain = write(client, bob, title="Plain")
    write(client, alice_api, title="Kept back", published=False)
    hidden = write(client, bob, title="Taken down")
    write(client, carol, title="By someone suspended")
    comments_of = f"/api/posts/{pictured['id']}/comments"
    for commenter in (bob, carol):
        answer = client.post(comments_of, json={"content": "Hi"}, headers=commenter.headers)
        assert answer.status_code == 201, answer.text
    for action, kind, target in (("hide", "post", hidden["id"]), ("suspend", "user", carol.id)):
        body = {"action": action, "target_type": kind, "target_id": target, "reason": "Spam"}
        answer = client.post("/api/moderation/actions", json=body, headers=mod.headers)
        assert answer.status_code == 201, answer.text
    last = write(client, bob, title="Last")

    listed = [last["id"], plain["id"], pictured["id"]]
    own = [client.get(f"/api/posts/{post_id}").content for post_id in listed]
    assert b'"comments":1' in own[2] and b'"thumbnail_url"' in own[2]  # what it claims to hold
    assert client.get("/api/posts?limit=100").content == b"[" + b",".join(own) + b"]"
    assert client.get("/api/posts?limit=1&skip=1").content == b"[" + own[1] + b"]"
    assert client.get("/api/posts?skip=2", headers=reader.headers).content == b"[" + own[2] + b"]"
    assert (
        client.put(f"/api/users/me/blocks/{nobody.id}", headers=reader.headers).status_code == 204
    )
    shielded = client.get("/api/posts?limit=100", headers=reader.headers)
    assert shielded.content == b"[" + b",".join(own) + b"]"


def test_limit_and_skip_page_through_the_list(client: TestClient, alice_api: Caller) -> None:
    for number in range(12):
        write(client, alice_api, title=f"post {number}")
    assert len(titles(client)) == 10  # the default limit
    assert titles(client, "?limit=3&skip=2") == ["post 9", "post 8", "post 7"]
    assert titles(client, "?limit=100&skip=11") == ["post 0"]
    assert titles(client, "?skip=1000") == []


@pytest.mark.parametrize(
    "query", ["?limit=0", "?limit=101", "?limit=-1", "?skip=-1", "?limit=x", f"?skip={10**30}"]
)
def test_a_limit_outside_1_to_100_or_a_negative_skip_is_422(client: TestClient, query: str) -> None:
    response = client.get(f"/api/posts{query}")
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)


def test_search_works_as_on_the_home_page(client: TestClient, alice_api: Caller) -> None:
    write(client, alice_api, title="Cats and dogs", content="friends")
    write(client, alice_api, title="Dogs", content="alone")
    write(client, alice_api, title="100% sure", content="under_score")
    write(client, alice_api, title="cats draft", content="dogs", published=False)
    assert titles(client, "?search=DOGS cats") == ["Cats and dogs"]
    assert titles(client, "?search=dogs") == ["Dogs", "Cats and dogs"]
    assert titles(client, "?search=100%25") == ["100% sure"]  # % is no wildcard
    assert titles(client, "?search=%25") == []  # and asks for nothing
    assert titles(client, "?search=under_score") == ["100% sure"]
    assert titles(client, "?search=nothing-like-it") == []
    assert len(titles(client, "?search=")) == 3


# --- GET /api/posts/{id} -----------------------------------------------------------


def test_anyone_may_read_a_published_post(
    client: TestClient, alice_api: Caller, bob_api: Caller
) -> None:
    post = write(client, alice_api)
    for headers in ({}, alice_api.headers, bob_api.headers):
        response = client.get(f"/api/posts/{post['id']}", headers=headers)
        assert response.status_code == 200
        assert response.json() == post


def test_a_draft_is_its_owners_alone(
    client: TestClient, alice_api: Caller, bob_api: Caller
) -> None:
    draft = write(client, alice_api, published=False)
    path = f"/api/posts/{draft['id']}"
    assert client.get(path, headers=alice_api.headers).json()["published"] is False
    assert client.get(path).status_code == 404
    assert client.get(path, headers=bob_api.headers).status_code == 404


@pytest.mark.parametrize("post_id", ["999", "0", "-1", "abc", str(2**31), str(10**30)])
def test_an_unknown_or_impossible_post_id_is_404(client: TestClient, post_id: str) -> None:
    response = client.get(f"/api/posts/{post_id}")
    assert response.status_code == 404
    assert isinstance(response.json()["detail"], str)


def test_a_bad_token_on_a_public_post_is_401_not_anonymous(
    client: TestClient, alice_api: Caller
) -> None:
    post = write(client, alice_api)
    response = client.get(f"/api/posts/{post['id']}", headers=bearer("expired-or-forged"))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


# --- POST /api/posts ------------------------------------------------------------------


def test_writing_a_post_makes_it_the_callers_and_published(
    client: TestClient, alice_api: Caller
) -> None:
    post = write(client, alice_api, title="Hello", content="line\r\nbreak")
    assert post["owner"]["username"] == "alice" and post["owner_id"] == alice_api.id
    assert post["published"] is True
    assert post["content"] == "line\nbreak"
    assert post["votes"] == 0
    assert write(client, alice_api, published=False)["published"] is False


def test_writing_needs_a_token(client: TestClient) -> None:
    response = client.post("/api/posts", json={"title": "t", "content": "c"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "body",
    [
        {"content": "no title"},
        {"title": "no content"},
        {"title": "   ", "content": "c"},
        {"title": "x" * 201, "content": "c"},
        {"title": "t", "content": "x" * 20_001},
        {"title": "t", "content": ""},
        {"title": "nul\x00", "content": "c"},
        {"title": "t", "content": "bell\x07"},
        {"title": "t", "content": "c", "published": "maybe"},
        {"title": "t", "content": "c", "published": None},
    ],
)
def test_an_invalid_post_is_422(client: TestClient, alice_api: Caller, body: dict) -> None:
    response = client.post("/api/posts", json=body, headers=alice_api.headers)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)


def test_a_body_that_is_not_json_is_422(client: TestClient, alice_api: Caller) -> None:
    headers = {**alice_api.headers, "Content-Type": "application/json"}
    assert client.post("/api/posts", content=b"{not json", headers=headers).status_code == 422


# --- PUT and PATCH /api/posts/{id} -------------------------------------------------------


def test_put_replaces_every_field(client: TestClient, alice_api: Caller) -> None:
    post = write(client, alice_api, published=False)
    response = client.put(
        f"/api/posts/{post['id']}",
        json={"title": "New", "content": "Text"},
        headers=alice_api.headers,
    )
    assert response.status_code == 200
    changed = response.json()
    assert (changed["title"], changed["content"]) == ("New", "Text")
    assert changed["published"] is True  # left out: true
    assert changed["updated_at"] > changed["created_at"] == post["created_at"]


def test_put_needs_every_required_field(client: TestClient, alice_api: Caller) -> None:
    post = write(client, alice_api)
    response = client.put(
        f"/api/posts/{post['id']}", json={"title": "t"}, headers=alice_api.headers
    )
    assert response.status_code == 422


def test_patch_changes_only_what_is_sent(client: TestClient, alice_api: Caller) -> None:
    post = write(client, alice_api, title="Old", content="Kept")
    response = client.patch(
        f"/api/posts/{post['id']}", json={"published": False}, headers=alice_api.headers
    )
    assert response.status_code == 200
    assert (response.json()["title"], response.json()["content"]) == ("Old", "Kept")
    assert response.json()["published"] is False
    retitled = client.patch(
        f"/api/posts/{post['id']}", json={"title": "New"}, headers=alice_api.headers
    )
    assert retitled.json()["title"] == "New" and retitled.json()["published"] is False


def test_an_empty_patch_changes_nothing(client: TestClient, alice_api: Caller) -> None:
    post = write(client, alice_api)
    response = client.patch(f"/api/posts/{post['id']}", json={}, headers=alice_api.headers)
    assert response.status_code == 200
    assert response.json() == post


@pytest.mark.parametrize(
    "body", [{"title": None}, {"published": None}, {"content": ""}, {"title": " "}]
)
def test_patch_refuses_null_and_invalid_values(
    client: TestClient, alice_api: Caller, body: dict
) -> None:
    post = write(client, alice_api)
    response = client.patch(f"/api/posts/{post['id']}", json=body, headers=alice_api.headers)
    assert response.status_code == 422
    assert client.get(f"/api/posts/{post['id']}").json() == post


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_only_the_owner_may_change_a_post(
    client: TestClient, alice_api: Caller, bob_api: Caller, method: str
) -> None:
    post = write(client, alice_api)
    path, body = f"/api/posts/{post['id']}", {"title": "Mine now", "content": "x"}
    anonymous = client.request(method, path, json=body)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    stranger = client.request(method, path, json=body, headers=bob_api.headers)
    assert stranger.status_code == 403
    assert isinstance(stranger.json()["detail"], str)
    assert client.get(path).json() == post
    assert client.request(method, path, json=body, headers=alice_api.headers).status_code == 200


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_someone_elses_draft_is_404_not_403(
    client: TestClient, alice_api: Caller, bob_api: Caller, method: str
) -> None:
    draft = write(client, alice_api, published=False)
    body = {"title": "t", "content": "c"}
    response = client.request(
        method, f"/api/posts/{draft['id']}", json=body, headers=bob_api.headers
    )
    assert response.status_code == 404


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("post_id", ["999", str(2**31), str(10**30)])
def test_changing_a_missing_post_is_404(
    client: TestClient, alice_api: Caller, method: str, post_id: str
) -> None:
    body = {"title": "t", "content": "c"}
    response = client.request(method, f"/api/posts/{post_id}", json=body, headers=alice_api.headers)
    assert response.status_code == 404


# --- DELETE /api/posts/{id} --------------------------------------------------------------


def test_the_owner_deletes_a_post_with_204_and_no_body(
    client: TestClient, alice_api: Caller, bob_api: Caller
) -> None:
    post = write(client, alice_api)
    path = f"/api/posts/{post['id']}"
    assert client.delete(path).status_code == 401
    assert client.delete(path, headers=bob_api.headers).status_code == 403
    response = client.delete(path, headers=alice_api.headers)
    assert response.status_code == 204
    assert response.content == b""
    assert client.get(path).status_code == 404
    assert client.delete(path, headers=alice_api.headers).status_code == 404


def test_published_must_be_a_real_boolean(client: TestClient) -> None:
    owner = sign_up(client, "flagger")
    for value in ("yes", 0, 1, "true", None):
        body = {"title": "t", "content": "c", "published": value}
        response = client.post("/api/posts", json=body, headers=owner.headers)
        assert response.status_code == 422, value
        patch = client.patch("/api/posts/1", json={"published": value}, headers=owner.headers)
        assert patch.status_code in (404, 422), value


def test_an_answers_json_is_the_bytes_pydantic_makes_of_the_post(
    client: TestClient, alice_api: Caller
) -> None:
    """`json_response` calls the adapter's serializer itself: the bytes of
    `dump_json`, aliases and all."""
    written = client.post(
        "/api/posts",
        json={"title": "Bytes #check", "content": "Made *once* for @alice"},
        headers=alice_api.headers,
    )
    assert written.status_code == 201
    post = PostPublic.model_validate_json(written.content)
    assert written.content == POST_JSON.dump_json(post, by_alias=True)
    answer = json_response(POSTS_JSON, [post, post])
    assert answer.body == POSTS_JSON.dump_json([post, post], by_alias=True)

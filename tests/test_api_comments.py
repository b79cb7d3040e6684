"""Comments through the API: GET and POST /api/posts/{id}/comments, DELETE
/api/comments/{id}, and the comment count on every post."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, update

from tests.support.api import PUBLIC_USER_FIELDS, Caller, bearer, sign_up, write
from tests.support.app import PASSWORD
from tests.support.pages import Auth, post_form
from webapp.models import Comment, utcnow


def comment(client: TestClient, caller: Caller, post_id: object, content: object = "Well said."):
    return client.post(
        f"/api/posts/{post_id}/comments", json={"content": content}, headers=caller.headers
    )


def contents(client: TestClient, post_id: int, query: str = "", **headers: str) -> list[str]:
    response = client.get(f"/api/posts/{post_id}/comments{query}", headers=headers)
    assert response.status_code == 200, response.text
    return [found["content"] for found in response.json()]


def count(client: TestClient, caller: Caller, post_id: int) -> int:
    """The comment count the post itself carries."""
    return client.get(f"/api/posts/{post_id}", headers=caller.headers).json()["comments"]


def remove(client: TestClient, caller: Caller, comment_id: object):
    return client.delete(f"/api/comments/{comment_id}", headers=caller.headers)


@pytest.fixture
def post(client: TestClient, alice_api: Caller) -> dict:
    """Alice's published post."""
    return write(client, alice_api, title="Open to comments")


# --- POST /api/posts/{id}/comments ------------------------------------------------------


def test_commenting_is_201_with_the_comment_and_its_author(
    client: TestClient, post: dict, bob_api: Caller
) -> None:
    response = comment(client, bob_api, post["id"], "Well said.")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {
        "id",
        "post_id",
        "content",
        "content_html",
        "created_at",
        "author",
        "parent_id",
        "edited",
        "deleted",
    }
    assert body["post_id"] == post["id"] and body["content"] == "Well said."
    assert body["parent_id"] is None and body["edited"] is False and body["deleted"] is False
    assert body["author"] == client.get(f"/api/users/{bob_api.id}").json()  # no email
    assert count(client, bob_api, post["id"]) == 1


def test_the_post_lists_show_the_comment_count(
    client: TestClient, post: dict, alice_api: Caller, bob_api: Caller
) -> None:
    comment(client, bob_api, post["id"], "one")
    comment(client, alice_api, post["id"], "two")
    (listed,) = client.get("/api/posts").json()
    assert listed["comments"] == 2


def test_the_same_text_sent_twice_within_seconds_is_one_comment(
    client: TestClient, post: dict, bob_api: Caller, alice_api: Caller
) -> None:
    first = comment(client, bob_api, post["id"], "Me too")
    again = comment(client, bob_api, post["id"], "Me too")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert contents(client, post["id"]) == ["Me too"]
    assert count(client, bob_api, post["id"]) == 1
    told = client.get("/api/notifications", headers=alice_api.headers).json()
    assert len(told) == 1
    # Another text, or another person with the same text, is another comment.
    comment(client, bob_api, post["id"], "Me three")
    comment(client, alice_api, post["id"], "Me too")
    assert contents(client, post["id"]) == ["Me too", "Me three", "Me too"]


def test_the_same_text_after_the_window_is_a_second_comment(
    client: TestClient, post: dict, bob_api: Caller, db: Session
) -> None:
    comment(client, bob_api, post["id"], "Again")
    db.exec(update(Comment).values(created_at=utcnow() - timedelta(minutes=1)))
    db.commit()
    assert comment(client, bob_api, post["id"], "Again").status_code == 201
    assert contents(client, post["id"]) == ["Again", "Again"]
    assert count(client, bob_api, post["id"]) == 2


@pytest.mark.parametrize(
    "content",
    ["", "   ", "\n\t", "x" * 2001, "nul\x00", "bell\x07", "escape\x1b[0m", None, 5, ["a"]],
)
def test_an_invalid_comment_is_422(
    client: TestClient, post: dict, bob_api: Caller, content: object
) -> None:
    response = comment(client, bob_api, post["id"], content)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)
    assert count(client, bob_api, post["id"]) == 0


def test_a_body_without_content_is_422(client: TestClient, post: dict, bob_api: Caller) -> None:
    response = client.post(f"/api/posts/{post['id']}/comments", json={}, headers=bob_api.headers)
    assert response.status_code == 422


def test_long_and_multiline_comments_are_kept_with_their_line_ends_as_in_posts(
    client: TestClient, post: dict, bob_api: Caller
) -> None:
    assert comment(client, bob_api, post["id"], "x" * 2000).json()["content"] == "x" * 2000
    multiline = comment(client, bob_api, post["id"], "line one\nline two\r\n\ttabbed")
    assert multiline.json()["content"] == "line one\nline two\n\ttabbed"


def test_commenting_needs_a_token(client: TestClient, post: dict) -> None:
    for headers in ({}, bearer("expired-or-forged")):
        response = client.post(
            f"/api/posts/{post['id']}/comments", json={"content": "hi"}, headers=headers
        )
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
    assert contents(client, post["id"]) == []


@pytest.mark.parametrize("post_id", ["999", "0", str(2**31), str(10**30), "abc"])
def test_commenting_on_a_missing_post_is_404(
    client: TestClient, bob_api: Caller, post_id: str
) -> None:
    response = comment(client, bob_api, post_id)
    assert response.status_code == 404


# --- GET /api/posts/{id}/comments -------------------------------------------------------


def test_anyone_may_read_the_comments_oldest_first(
    client: TestClient, post: dict, alice_api: Caller, bob_api: Caller
) -> None:
    comment(client, bob_api, post["id"], "first")
    comment(client, alice_api, post["id"], "second")
    comment(client, bob_api, post["id"], "third")
    response = client.get(f"/api/posts/{post['id']}/comments")
    assert response.status_code == 200
    assert "cache-control" not in response.headers  # anonymous: cacheable
    listed = response.json()
    assert [c["content"] for c in listed] == ["first", "second", "third"]
    assert [c["author"]["username"] for c in listed] == ["bob", "alice", "bob"]
    assert all(set(c["author"]) == PUBLIC_USER_FIELDS for c in listed)
    assert contents(client, post["id"], **alice_api.headers) == ["first", "second", "third"]


def test_comments_in_one_instant_list_the_earlier_id_first(
    client: TestClient, post: dict, bob_api: Caller, db: Session
) -> None:
    for text in ("a", "b", "c"):
        comment(client, bob_api, post["id"], text)
    moment = utcnow() - timedelta(hours=1)
    db.exec(update(Comment).values(created_at=moment))
    db.commit()
    assert contents(client, post["id"]) == ["a", "b", "c"]
    db.exec(update(Comment).where(col(Comment.content) == "c").values(created_at=moment))
    db.exec(
        update(Comment)
        .where(col(Comment.content) != "c")
        .values(created_at=moment + timedelta(minutes=1))
    )
    db.commit()
    assert contents(client, post["id"]) == ["c", "a", "b"]


def test_limit_and_skip_page_through_the_comments(
    client: TestClient, post: dict, bob_api: Caller, db: Session
) -> None:
    moment = utcnow() - timedelta(hours=1)
    db.add_all(
        Comment(
            post_id=post["id"],
            author_id=bob_api.id,
            content=f"comment {n}",
            created_at=moment + timedelta(seconds=n),
        )
        for n in range(51)
    )
    db.commit()
    everything = contents(client, post["id"])
    assert everything == [f"comment {n}" for n in range(50)]  # 50 by default
    assert contents(client, post["id"], "?skip=50") == ["comment 50"]
    assert contents(client, post["id"], "?limit=2&skip=3") == ["comment 3", "comment 4"]
    assert len(contents(client, post["id"], "?limit=100")) == 51
    assert contents(client, post["id"], f"?skip={10**9}") == []


@pytest.mark.parametrize(
    "query", ["?limit=0", "?limit=101", "?limit=-1", "?skip=-1", "?limit=x", f"?skip={10**30}"]
)
def test_comment_paging_outside_its_bounds_is_422(
    client: TestClient, post: dict, query: str
) -> None:
    response = client.get(f"/api/posts/{post['id']}/comments{query}")
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)


@pytest.mark.parametrize("post_id", ["999", "0", str(2**31), str(10**30), "abc"])
def test_the_comments_of_a_missing_post_are_404(client: TestClient, post_id: str) -> None:
    assert client.get(f"/api/posts/{post_id}/comments").status_code == 404


def test_a_bad_token_on_the_public_comments_is_401(client: TestClient, post: dict) -> None:
    response = client.get(f"/api/posts/{post['id']}/comments", headers=bearer("forged"))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


# --- drafts ----------------------------------------------------------------------------


def test_a_drafts_comments_are_its_owners_alone(
    client: TestClient, alice_api: Caller, bob_api: Caller
) -> None:
    draft = write(client, alice_api, published=False)
    mine = comment(client, alice_api, draft["id"], "a note to self")
    assert mine.status_code == 201
    assert contents(client, draft["id"], **alice_api.headers) == ["a note to self"]
    assert client.get(f"/api/posts/{draft['id']}/comments").status_code == 404
    listed = client.get(f"/api/posts/{draft['id']}/comments", headers=bob_api.headers)
    assert listed.status_code == 404
    assert comment(client, bob_api, draft["id"], "let me in").status_code == 404
    assert remove(client, bob_api, mine.json()["id"]).status_code == 404
    assert count(client, alice_api, draft["id"]) == 1


def test_unpublishing_hides_the_comments_from_their_own_authors(
    client: TestClient, post: dict, alice_api: Caller, bob_api: Caller
) -> None:
    bobs = comment(client, bob_api, post["id"], "public words").json()
    client.patch(f"/api/posts/{post['id']}", json={"published": False}, headers=alice_api.headers)
    path = f"/api/posts/{post['id']}/comments"
    assert client.get(path, headers=bob_api.headers).status_code == 404
    assert remove(client, bob_api, bobs["id"]).status_code == 404
    assert contents(client, post["id"], **alice_api.headers) == ["public words"]


# --- DELETE /api/comments/{id} ----------------------------------------------------------


def test_the_author_may_delete_their_comment(
    client: TestClient, post: dict, bob_api: Caller
) -> None:
    made = comment(client, bob_api, post["id"]).json()
    response = remove(client, bob_api, made["id"])
    assert response.status_code == 204
    assert response.content == b""
    assert contents(client, post["id"]) == []
    assert count(client, bob_api, post["id"]) == 0
    assert remove(client, bob_api, made["id"]).status_code == 404  # gone


def test_the_posts_owner_may_delete_anyones_comment_on_it(
    client: TestClient, post: dict, alice_api: Caller, bob_api: Caller
) -> None:
    made = comment(client, bob_api, post["id"]).json()
    assert remove(client, alice_api, made["id"]).status_code == 204
    assert count(client, alice_api, post["id"]) == 0


def test_a_stranger_cannot_delete_a_comment(
    client: TestClient, post: dict, alice_api: Caller, bob_api: Caller
) -> None:
    carol = sign_up(client, "carol")
    made = comment(client, bob_api, post["id"]).json()
    response = remove(client, carol, made["id"])
    assert response.status_code == 403
    assert isinstance(response.json()["detail"], str)
    # Nor the author of one comment another's, on a post that is not theirs.
    carols = comment(client, carol, post["id"], "carol's").json()
    assert remove(client, bob_api, carols["id"]).status_code == 403
    assert contents(client, post["id"]) == ["Well said.", "carol's"]


def test_deleting_a_comment_needs_a_token(client: TestClient, post: dict, bob_api: Caller) -> None:
    made = comment(client, bob_api, post["id"]).json()
    for headers in ({}, bearer("expired-or-forged")):
        response = client.delete(f"/api/comments/{made['id']}", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
    assert count(client, bob_api, post["id"]) == 1


@pytest.mark.parametrize("comment_id", ["999", "0", str(2**31), str(10**30), "abc"])
def test_deleting_a_missing_comment_is_404(
    client: TestClient, bob_api: Caller, comment_id: str
) -> None:
    assert remove(client, bob_api, comment_id).status_code == 404


def test_a_wrong_method_names_the_allowed_ones(client: TestClient, post: dict) -> None:
    response = client.put(f"/api/posts/{post['id']}/comments")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    response = client.get("/api/comments/1")
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, PATCH"


# --- what goes with a post or an account ------------------------------------------------


def test_deleting_the_post_takes_its_comments(
    client: TestClient, post: dict, alice_api: Caller, bob_api: Caller
) -> None:
    made = comment(client, bob_api, post["id"]).json()
    client.delete(f"/api/posts/{post['id']}", headers=alice_api.headers)
    assert client.get(f"/api/posts/{post['id']}/comments").status_code == 404
    assert remove(client, bob_api, made["id"]).status_code == 404


def test_a_deleted_account_takes_its_comments_out_of_the_counts(
    client: TestClient, new_client, post: dict, alice_api: Caller, bob_api: Caller
) -> None:
    comment(client, bob_api, post["id"], "from bob")
    comment(client, bob_api, post["id"], "bob again")
    comment(client, alice_api, post["id"], "from alice")
    browser = new_client()
    Auth(browser).login("bob")
    response = post_form(browser, "/settings/delete", {"password": PASSWORD}, page="/settings")
    assert response.status_code == 303
    assert contents(client, post["id"]) == ["from alice"]
    assert count(client, alice_api, post["id"]) == 1

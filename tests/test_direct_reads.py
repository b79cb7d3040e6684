"""The busiest reads, answered before routing: the same answers as the routes
give through the framework, and whatever they do not take left to the app."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.support.api import Caller, write
from tests.support.pages import write_post
from webapp.core.page_cache import PageCache
from webapp.web.cache_policy import ONE_OF_MANY_PAGES, shared_html


def test_head_of_a_post_has_the_headers_of_its_get_and_no_body(alice_browser: TestClient) -> None:
    post_id = write_post(alice_browser, "Headed")
    alice_browser.get(f"/posts/{post_id}")  # shows the one-time message
    got = alice_browser.get(f"/posts/{post_id}")
    head = alice_browser.head(f"/posts/{post_id}")
    assert (got.status_code, head.status_code) == (200, 200)
    assert head.content == b""
    assert head.headers["content-length"] == got.headers["content-length"]
    for name in ("content-security-policy", "x-frame-options", "cache-control"):
        assert head.headers[name] == got.headers[name]
    assert got.headers["cache-control"] == "no-store"  # a logged-in visitor's page


def test_a_missing_post_or_person_is_the_404_page_with_the_visitors_header(
    alice_browser: TestClient, client: TestClient
) -> None:
    for path in ("/posts/999999", "/users/999999", "/posts/" + "9" * 40):
        page = alice_browser.get(path)
        assert page.status_code == 404, path
        assert "alice" in page.text  # the logged-in header
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["x-content-type-options"] == "nosniff"


def test_a_draft_shows_to_its_owner_alone(
    alice_api: Caller, bob_browser: TestClient, client: TestClient
) -> None:
    draft = write(client, alice_api, title="Secret plan", published=False)
    path = f"/posts/{draft['id']}"
    assert bob_browser.get(path).status_code == 404
    # Without a token the API's read is answered before routing; with one, by the route.
    assert client.get(f"/api{path}").status_code == 404
    assert client.get(f"/api{path}", headers=alice_api.headers).json()["title"] == "Secret plan"
    bad = client.get(f"/api{path}", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401
    assert bad.headers["cache-control"] == "no-store"


def test_the_apis_one_post_and_one_user_answer_as_documented(
    alice_api: Caller, client: TestClient
) -> None:
    post = write(client, alice_api, title="Open")
    answer = client.get(f"/api/posts/{post['id']}")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == post
    user = client.get(f"/api/users/{alice_api.id}")
    assert user.json()["username"] == alice_api.username
    assert "email" not in user.json()
    assert client.get("/api/users/999999").json() == {"detail": "User not found"}
    # A query the route must read (and here ignore) goes through the framework alike.
    assert client.get(f"/api/posts/{post['id']}?x=1").json() == post


def test_a_page_of_a_posts_comments_is_read_from_the_query(alice_browser: TestClient) -> None:
    post_id = write_post(alice_browser, "Talked about")
    past_end = alice_browser.get(f"/posts/{post_id}?page=7&page=9")
    assert past_end.status_code == 200
    assert "past the end" in past_end.text


# --- the page cache under a stream of pages read once ------------------------------


async def never_read() -> None:
    raise AssertionError("the versions are given by observe() here")


def test_a_stream_of_posts_read_once_pushes_out_no_list() -> None:
    cache = PageCache(never_read, max_entries=50, max_many=10)  # type: ignore[arg-type]
    cache.observe(1, 1, 0)
    lists = [shared_html("/", b"page=%d" % number) for number in range(1, 21)]
    for kept in lists:
        cache.put(kept.key, b"list", cache.seen(), minor=True, one_of_many=kept.one_of_many)
    for post_id in range(1, 1001):
        kept = shared_html(f"/posts/{post_id}", b"")
        assert kept.one_of_many
        cache.put(kept.key, b"post", cache.seen(), minor=True, one_of_many=True)
    assert all(cache.get(kept.key) == b"list" for kept in lists)
    kept_posts = [n for n in range(1, 1001) if cache.get(shared_html(f"/posts/{n}", b"").key)]
    assert kept_posts == list(range(991, 1001))  # the most recent ten


def test_the_pages_of_one_post_or_person_are_the_ones_of_many() -> None:
    assert ONE_OF_MANY_PAGES == ("/posts/", "/users/")
    assert not shared_html("/", b"").one_of_many
    assert not shared_html("/following", b"").one_of_many
    assert shared_html("/users/3/followers", b"").one_of_many

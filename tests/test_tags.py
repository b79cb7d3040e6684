"""Tags: found in a post's title and content, listed on tag pages and in the
API, paged and searched as the home page is, and never shown late."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.support.api import Caller, write
from tests.support.pages import post_form, write_post
from tests.support.statements import StatementCounter


def titles(html: str) -> list[str]:
    return re.findall(r'<h2><a href="/posts/\d+">([^<]*)</a>', html)


def test_a_posts_tags_come_from_its_title_and_content(
    client: TestClient, alice_api: Caller
) -> None:
    post = write(client, alice_api, title="On #Python", content="Using #Postgres, not `#code`")
    assert post["tags"] == ["python", "postgres"]
    assert '<a href="/tags/postgres">#Postgres</a>' in post["content_html"]
    assert client.get(f"/api/posts/{post['id']}").json()["tags"] == ["python", "postgres"]


def test_only_the_first_ten_tags_count(client: TestClient, alice_api: Caller) -> None:
    content = " ".join(f"#tag{number}" for number in range(12))
    post = write(client, alice_api, content=content)
    assert post["tags"] == [f"tag{number}" for number in range(10)]
    assert client.get("/api/tags/tag11/posts").json() == []
    assert [p["id"] for p in client.get("/api/tags/tag9/posts").json()] == [post["id"]]


def test_the_api_lists_popular_tags_with_their_counts(
    client: TestClient, alice_api: Caller
) -> None:
    write(client, alice_api, content="#b #a")
    write(client, alice_api, content="#a")
    write(client, alice_api, content="#c #a", published=False)  # drafts do not count
    assert client.get("/api/tags").json() == [{"tag": "a", "posts": 2}, {"tag": "b", "posts": 1}]
    assert client.get("/api/tags?limit=1").json() == [{"tag": "a", "posts": 2}]
    for limit in ("0", "101", "x"):
        assert client.get(f"/api/tags?limit={limit}").status_code == 422


def test_the_api_lists_a_tags_posts_as_it_lists_posts(
    client: TestClient, alice_api: Caller
) -> None:
    ids = [write(client, alice_api, title=f"p{n}", content="#topic")["id"] for n in range(5)]
    write(client, alice_api, content="#other")
    listed = client.get("/api/tags/topic/posts?limit=2&skip=1").json()
    assert [post["id"] for post in listed] == ids[::-1][1:3]
    assert set(listed[0]) >= {"id", "title", "content", "content_html", "tags", "owner"}
    assert client.get("/api/tags/Topic/posts").json() == client.get("/api/tags/topic/posts").json()
    assert client.get("/api/tags/nothing/posts").json() == []
    for impossible in ("1abc", "a-b", "_x", "a" * 51):
        assert client.get(f"/api/tags/{impossible}/posts").status_code == 404, impossible
    assert client.get("/api/tags/topic/posts?limit=0").status_code == 422


def test_a_tag_page_lists_its_published_posts_newest_first(alice_browser: TestClient) -> None:
    write_post(alice_browser, "First", "About #gardening")
    write_post(alice_browser, "Second", "More #Gardening")
    write_post(alice_browser, "Hidden", "Draft #gardening", published=False)
    write_post(alice_browser, "Elsewhere", "#cooking")
    page = alice_browser.get("/tags/gardening")
    assert page.status_code == 200
    assert titles(page.text) == ["Second", "First"]
    assert "Posts tagged #gardening" in page.text


def test_tag_pages_page_and_search_like_the_home_page(alice_browser: TestClient) -> None:
    for number in range(23):
        write_post(alice_browser, f"Post {number:02} {'red' if number % 2 else 'blue'}", "#many")
    first = alice_browser.get("/tags/many").text
    assert len(titles(first)) == 20 and titles(first)[0] == "Post 22 blue"
    second = alice_browser.get("/tags/many?page=2").text
    assert titles(second) == ["Post 02 blue", "Post 01 red", "Post 00 blue"]
    assert 'href="/tags/many?page=2"' in first
    searched = alice_browser.get("/tags/many?q=red").text
    assert len(titles(searched)) == 11 and all("red" in title for title in titles(searched))
    past = alice_browser.get("/tags/many?page=9")
    assert past.status_code == 200 and "past the end" in past.text


def test_tag_names_fold_and_impossible_names_are_404(client: TestClient) -> None:
    unknown = client.get("/tags/neverused")
    assert unknown.status_code == 200 and "No published post carries #neverused" in unknown.text
    moved = client.get("/tags/Python?page=2", follow_redirects=False)
    assert moved.status_code == 301 and moved.headers["location"] == "/tags/python?page=2"
    wide = client.get("/tags/%EF%BD%90%EF%BD%99", follow_redirects=False)  # full-width "py"
    assert wide.status_code == 301 and wide.headers["location"] == "/tags/py"
    for impossible in ("1abc", "a-b", "_x", "a" * 51, "%E2%80%8B"):
        assert client.get(f"/tags/{impossible}").status_code == 404, impossible


def test_the_tags_page_lists_the_popular_tags(alice_browser: TestClient) -> None:
    write_post(alice_browser, "One", "#music #books")
    write_post(alice_browser, "Two", "#music")
    page = alice_browser.get("/tags")
    assert page.status_code == 200
    assert re.findall(r'<a href="/tags/([^"]+)">#', page.text) == ["music", "books"]
    assert "2 posts" in page.text


def test_a_tag_page_never_shows_a_removed_post(alice_browser: TestClient, new_client) -> None:
    post_id = write_post(alice_browser, "Going", "#fleeting")
    anonymous = new_client()
    assert titles(anonymous.get("/tags/fleeting").text) == ["Going"]
    assert titles(anonymous.get("/tags/fleeting").text) == ["Going"]  # from the cache
    post_form(alice_browser, f"/posts/{post_id}/edit", {"title": "Going", "content": "no tag"})
    assert titles(anonymous.get("/tags/fleeting").text) == []
    other = write_post(alice_browser, "Staying", "#fleeting")
    assert titles(anonymous.get("/tags/fleeting").text) == ["Staying"]
    post_form(alice_browser, f"/posts/{other}/delete", {})
    assert titles(anonymous.get("/tags/fleeting").text) == []


def test_tag_pages_run_a_fixed_number_of_statements(
    alice_browser: TestClient, new_client, engine, app: FastAPI
) -> None:
    """As the home page: anonymous, the data version and the page's reads,
    then the data version alone; logged in, the session, the reads and the
    visitor's likes, then session and likes."""
    for number in range(25):
        write_post(alice_browser, f"Post {number}", "#busy #other")
    anonymous = new_client()
    for path in ("/tags/busy", "/tags/busy?page=2", "/tags/busy?q=post", "/tags"):
        app.state.page_cache.clear()
        with StatementCounter(engine) as first:
            assert anonymous.get(path).status_code == 200
        assert first.count <= 4, (path, first.statements)
        with StatementCounter(engine) as again:
            assert anonymous.get(path).status_code == 200
        assert again.count <= 1, (path, again.statements)
    alice_browser.get("/")
    for path in ("/tags/busy", "/tags/busy?page=2", "/tags/busy?q=post", "/tags"):
        app.state.page_cache.clear()
        with StatementCounter(engine) as first:
            page = alice_browser.get(path)
        assert page.status_code == 200
        assert first.count <= 5, (path, first.statements)
        with StatementCounter(engine) as again:
            assert alice_browser.get(path).text == page.text
        assert again.count <= 2, (path, again.statements)

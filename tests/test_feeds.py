"""Atom feeds: the site's and each person's newest posts for a feed reader,
with ids that never change, absolute links, and 304 when nothing changed;
pages that point readers and link previews at them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import feedparser
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, update

from tests.support.api import Caller, write
from tests.support.statements import StatementCounter
from webapp.core.config import Settings
from webapp.models import Post

ATOM = "application/atom+xml; charset=utf-8"


def read_feed(client: TestClient, path: str) -> feedparser.FeedParserDict:
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == ATOM
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.bozo_exception
    assert parsed.version == "atom10"
    return parsed


def test_the_site_feed_has_the_newest_twenty_published_posts(
    client: TestClient, alice_api: Caller, bob_api: Caller, settings: Settings
) -> None:
    written = [write(client, alice_api, title=f"Post {n}") for n in range(22)]
    write(client, bob_api, title="A draft", published=False)
    feed = read_feed(client, "/feed.atom")
    titles = [entry.title for entry in feed.entries]
    assert titles == [f"Post {n}" for n in range(21, 1, -1)]
    newest = feed.entries[0]
    site = settings.public_url
    assert newest.link == f"{site}/posts/{written[-1]['id']}"
    assert newest.id == f"{site}/posts/{written[-1]['id']}"
    assert newest.author == "alice"
    assert newest.content[0].type == "text/html"
    assert feed.feed.links[0].href == f"{site}/feed.atom"


def test_a_feed_shows_the_post_as_html_and_escapes_what_was_typed(
    client: TestClient, alice_api: Caller
) -> None:
    write(client, alice_api, title="<b>bold</b> & co", content="<script>alert(1)</script>")
    feed = read_feed(client, "/feed.atom")
    body = client.get("/feed.atom").text
    assert "<script>" not in body
    assert feed.entries[0].title == "<b>bold</b> & co"
    assert "&lt;script&gt;" in feed.entries[0].content[0].value


def test_an_entry_keeps_its_id_and_first_published_time_through_an_edit(
    client: TestClient, alice_api: Caller
) -> None:
    post = write(client, alice_api, title="Before")
    before = read_feed(client, "/feed.atom").entries[0]
    client.patch(f"/api/posts/{post['id']}", json={"title": "After"}, headers=alice_api.headers)
    after = read_feed(client, "/feed.atom").entries[0]
    assert after.title == "After"
    assert after.id == before.id
    assert after.published == before.published
    assert after.updated_parsed >= before.updated_parsed


def test_a_draft_published_later_says_when_it_was_published(
    client: TestClient, alice_api: Caller, db: Session
) -> None:
    post = write(client, alice_api, title="Draft first", published=False)
    assert read_feed(client, "/feed.atom").entries == []
    long_ago = datetime.now(UTC) - timedelta(days=3)
    db.exec(update(Post).where(Post.id == post["id"]).values(created_at=long_ago))  # type: ignore[arg-type]
    db.commit()
    response = client.patch(
        f"/api/posts/{post['id']}", json={"published": True}, headers=alice_api.headers
    )
    assert response.status_code == 200, response.text
    entry = read_feed(client, "/feed.atom").entries[0]
    published = datetime(*entry.published_parsed[:6], tzinfo=UTC)
    assert published > long_ago + timedelta(days=2)
    # Taken back and published again: still the first time.
    for published_now in (False, True):
        client.patch(
            f"/api/posts/{post['id']}", json={"published": published_now}, headers=alice_api.headers
        )
    again = read_feed(client, "/feed.atom").entries[0]
    assert again.published == entry.published


def test_a_deleted_post_leaves_the_feed_at_once(client: TestClient, alice_api: Caller) -> None:
    post = write(client, alice_api, title="Regretted")
    assert [e.title for e in read_feed(client, "/feed.atom").entries] == ["Regretted"]
    client.delete(f"/api/posts/{post['id']}", headers=alice_api.headers)
    assert read_feed(client, "/feed.atom").entries == []


def test_a_person_feed_has_their_posts_only(
    client: TestClient, alice_api: Caller, bob_api: Caller, settings: Settings
) -> None:
    write(client, alice_api, title="Alice writes")
    write(client, bob_api, title="Bob writes")
    feed = read_feed(client, f"/users/{alice_api.id}/feed.atom")
    assert [entry.title for entry in feed.entries] == ["Alice writes"]
    assert feed.feed.title == "alice on Agora"
    assert feed.feed.links[0].href == f"{settings.public_url}/users/{alice_api.id}/feed.atom"


def test_someone_who_wrote_nothing_has_an_empty_feed(client: TestClient, alice_api: Caller) -> None:
    feed = read_feed(client, f"/users/{alice_api.id}/feed.atom")
    assert feed.entries == []
    assert feed.feed.title == "alice on Agora"


@pytest.mark.parametrize(
    "path", ["/users/999/feed.atom", "/users/0/feed.atom", "/users/x/feed.atom"]
)
def test_the_feed_of_nobody_is_a_404(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_a_reader_with_the_current_feed_gets_a_304(client: TestClient, alice_api: Caller) -> None:
    write(client, alice_api, title="One")
    first = client.get("/feed.atom")
    etag, last_modified = first.headers["etag"], first.headers["last-modified"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
    same = client.get("/feed.atom", headers={"If-None-Match": etag})
    assert same.status_code == 304
    assert same.content == b""
    assert same.headers["etag"] == etag
    weak = client.get("/feed.atom", headers={"If-None-Match": f'"other", W/{etag}'})
    assert weak.status_code == 304
    since = client.get("/feed.atom", headers={"If-Modified-Since": last_modified})
    assert since.status_code == 304
    # An ETag that does not match wins over a date that would.
    other = client.get(
        "/feed.atom", headers={"If-None-Match": '"other"', "If-Modified-Since": last_modified}
    )
    assert other.status_code == 200


def test_a_new_post_changes_the_etag_and_the_date(client: TestClient, alice_api: Caller) -> None:
    write(client, alice_api, title="One")
    first = client.get("/feed.atom")
    earlier = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    assert client.get("/feed.atom", headers={"If-Modified-Since": earlier}).status_code == 200
    write(client, alice_api, title="Two")
    second = client.get("/feed.atom", headers={"If-None-Match": first.headers["etag"]})
    assert second.status_code == 200
    assert second.headers["etag"] != first.headers["etag"]


def test_a_bad_conditional_date_is_ignored(client: TestClient, alice_api: Caller) -> None:
    write(client, alice_api)
    response = client.get("/feed.atom", headers={"If-Modified-Since": "yesterday-ish"})
    assert response.status_code == 200


def test_a_feed_read_again_comes_from_the_page_cache(
    client: TestClient, alice_api: Caller, engine
) -> None:
    write(client, alice_api)
    with StatementCounter(engine) as first:
        client.get(f"/users/{alice_api.id}/feed.atom")
    assert first.count <= 2, first.statements
    with StatementCounter(engine) as again:
        client.get(f"/users/{alice_api.id}/feed.atom")
    assert again.count <= 1, again.statements


def test_pages_link_their_feeds_in_the_head(client: TestClient, alice_api: Caller) -> None:
    write(client, alice_api)
    feed_link = '<link rel="alternate" type="application/atom+xml"'
    home = client.get("/").text
    assert feed_link in home and 'href="/feed.atom"' in home
    profile = client.get(f"/users/{alice_api.id}").text
    assert feed_link in profile and f'href="/users/{alice_api.id}/feed.atom"' in profile


def test_post_pages_and_profiles_carry_open_graph_tags(
    client: TestClient, alice_api: Caller, settings: Settings
) -> None:
    post = write(client, alice_api, title="Seen from afar", content="x" * 400)
    page = client.get(f"/posts/{post['id']}").text
    assert '<meta property="og:type" content="article">' in page
    assert '<meta property="og:title" content="Seen from afar">' in page
    assert f'<meta property="og:url" content="{settings.public_url}/posts/{post["id"]}">' in page
    description = re.search(r'<meta property="og:description" content="([^"]*)">', page)
    assert description is not None
    assert description.group(1) == "x" * 280 + "…"
    profile = client.get(f"/users/{alice_api.id}").text
    assert '<meta property="og:type" content="profile">' in profile
    assert (
        f'<meta property="og:url" content="{settings.public_url}/users/{alice_api.id}">' in profile
    )


def test_a_tag_feed_has_the_posts_carrying_the_tag(
    client: TestClient, alice_api: Caller, settings: Settings
) -> None:
    write(client, alice_api, title="About #Python", content="Snakes.")
    write(client, alice_api, title="About Rust", content="Crabs #rust.")
    feed = read_feed(client, "/tags/python/feed.atom")
    assert [entry.title for entry in feed.entries] == ["About #Python"]
    assert feed.feed.title == "#python on Agora"
    assert feed.feed.links[0].href == f"{settings.public_url}/tags/python/feed.atom"
    assert read_feed(client, "/tags/nothing_yet/feed.atom").entries == []
    assert client.get("/tags/9lives/feed.atom").status_code == 404


def test_a_feed_shows_the_rendered_markdown(client: TestClient, alice_api: Caller) -> None:
    write(client, alice_api, title="Formatted", content="Some *emphasis* and https://example.com")
    html = read_feed(client, "/feed.atom").entries[0].content[0].value
    assert "<em>emphasis</em>" in html
    assert 'href="https://example.com"' in html


def test_the_tag_page_links_its_feed(client: TestClient, alice_api: Caller) -> None:
    write(client, alice_api, title="About #python")
    page = client.get("/tags/python").text
    assert (
        'type="application/atom+xml" title="#python on Agora" href="/tags/python/feed.atom"' in page
    )


def test_a_hidden_post_leaves_every_feed(
    client: TestClient, alice_api: Caller, db: Session
) -> None:
    post = write(client, alice_api, title="Reported #python")
    db.exec(update(Post).where(Post.id == post["id"]).values(hidden="moderators"))  # type: ignore[arg-type]
    db.commit()
    client.app.state.page_cache.clear()  # type: ignore[attr-defined]
    for path in ("/feed.atom", f"/users/{alice_api.id}/feed.atom", "/tags/python/feed.atom"):
        assert read_feed(client, path).entries == [], path

"""Posts: the feed, search and paging, a post's page, writing, editing,
deleting, drafts, and who may do what."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, select

from tests.support.pages import post_form, write_post
from tests.support.statements import StatementCounter
from webapp.models import Like, Post, User, utcnow


def titles(html: str) -> list[str]:
    return re.findall(r'<h2><a href="/posts/\d+">([^<]*)</a>', html)


def test_a_user_writes_a_post_and_sees_it(alice_browser: TestClient) -> None:
    response = post_form(
        alice_browser,
        "/posts",
        {"title": "First", "content": "Line one\r\nLine two", "published": "on"},
    )
    assert response.status_code == 303
    assert re.fullmatch(r"/posts/\d+", response.headers["location"])
    page = alice_browser.get(response.headers["location"])
    assert "Your post is published." in page.text
    assert "<h1>First" in page.text
    assert '<div class="post-body"><p>Line one<br>\nLine two</p>\n</div>' in page.text
    assert "Your post is published." not in alice_browser.get(response.headers["location"]).text


def test_writing_needs_a_login(client: TestClient) -> None:
    response = client.get("/posts/new")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/posts/new"
    anonymous = post_form(client, "/posts", {"title": "x", "content": "y"}, page="/login")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize(
    ("title", "content", "field", "message"),
    [
        ("", "text", "title", "required"),
        ("   ", "text", "title", "only spaces"),
        ("t" * 201, "text", "title", "at most 200"),
        ("Title", "", "content", "required"),
        ("Title", "c" * 20_001, "content", "at most 20000"),
        ("Ti\x00tle", "text", "title", "control characters"),
        ("Title\tx", "text", "title", "control characters"),
        ("Title", "bell\x07", "content", "control characters"),
    ],
)
def test_an_invalid_post_comes_back_with_messages(
    alice_browser: TestClient, db: Session, title: str, content: str, field: str, message: str
) -> None:
    response = post_form(alice_browser, "/posts", {"title": title, "content": content})
    assert response.status_code == 422
    error = re.search(rf'id="{field}-error">([^<]*)<', response.text)
    assert error and message in error.group(1), response.text
    assert db.exec(select(Post)).first() is None


def test_a_failed_form_keeps_what_was_typed(alice_browser: TestClient) -> None:
    response = post_form(alice_browser, "/posts", {"title": "", "content": "my <b>text</b>"})
    assert response.status_code == 422
    assert "my &lt;b&gt;text&lt;/b&gt;</textarea>" in response.text


def test_content_keeps_tabs_and_line_breaks(alice_browser: TestClient, db: Session) -> None:
    write_post(alice_browser, "Tabs", "a\tb\nc\r\nd")
    assert db.exec(select(Post.content)).one() == "a\tb\nc\nd"


def test_html_from_users_is_always_escaped(alice_browser: TestClient) -> None:
    post_id = write_post(alice_browser, "<script>alert(1)</script>", "<script>alert(2)</script>")
    for path in (f"/posts/{post_id}", "/", "/users/1"):
        html = alice_browser.get(path).text
        assert "<script>alert" not in html
        assert "&lt;script&gt;alert" in html


def test_the_home_page_lists_published_posts_newest_first(
    alice_browser: TestClient, db: Session
) -> None:
    for number in range(3):
        write_post(alice_browser, f"Post {number}")
    # Equal times: the higher id first.
    db.exec(update(Post).values(created_at=utcnow() - timedelta(hours=3)))
    db.commit()
    html = alice_browser.get("/").text
    assert titles(html) == ["Post 2", "Post 1", "Post 0"]
    assert '<a href="/users/1">alice</a>' in html
    assert '<time datetime="' in html and "3 hours ago" in html
    assert "0 likes" in html


def test_paging_across_25_posts(alice_browser: TestClient, db: Session) -> None:
    for number in range(25):
        write_post(alice_browser, f"Post {number:02}")
    first = alice_browser.get("/")
    assert len(titles(first.text)) == 20
    assert titles(first.text)[0] == "Post 24"
    assert 'href="/?page=2"' in first.text
    second = alice_browser.get("/?page=2")
    assert titles(second.text) == [f"Post {n:02}" for n in range(4, -1, -1)]
    assert 'href="/?page=1"' in second.text
    assert 'href="/?page=2" aria-current="page"' in second.text
    past = alice_browser.get("/?page=9")
    assert past.status_code == 200
    assert "past the end" in past.text
    assert 'href="/?page=2"' in past.text
    for odd in ("abc", "-1", "0", "99999999999999999999999"):
        assert alice_browser.get(f"/?page={odd}").status_code == 200


def test_search_finds_every_word_in_title_or_text(alice_browser: TestClient) -> None:
    write_post(alice_browser, "Garden diary", "Tomatoes are RED this year")
    write_post(alice_browser, "Kitchen", "A garden salad with tomatoes")
    write_post(alice_browser, "Tomatoes", "nothing else")
    assert sorted(titles(alice_browser.get("/?q=garden tomatoes").text)) == [
        "Garden diary",
        "Kitchen",
    ]
    assert titles(alice_browser.get("/?q=red").text) == ["Garden diary"]
    assert titles(alice_browser.get("/?q=SALAD").text) == ["Kitchen"]
    none = alice_browser.get("/?q=cucumber")
    assert titles(none.text) == [] and "No posts match your search." in none.text


def test_search_reads_wildcards_and_punctuation_as_separators(alice_browser: TestClient) -> None:
    write_post(alice_browser, "Save 50% now", "x_y and back\\slash")
    write_post(alice_browser, "Save 50 now", "xy and backslash")
    # `%` is no wildcard: the word is 50, in both.
    assert sorted(titles(alice_browser.get("/?q=50%25").text)) == ["Save 50 now", "Save 50% now"]
    # Words joined by punctuation are those words next to each other.
    assert titles(alice_browser.get("/?q=x_y").text) == ["Save 50% now"]
    assert titles(alice_browser.get("/?q=back%5Cslash").text) == ["Save 50% now"]
    assert titles(alice_browser.get("/?q=backslash").text) == ["Save 50 now"]
    # Punctuation alone asks for nothing, and finds nothing.
    nothing = alice_browser.get("/?q=%25")
    assert nothing.status_code == 200 and titles(nothing.text) == []


def test_search_counts_only_the_first_ten_words_and_200_characters(
    alice_browser: TestClient,
) -> None:
    write_post(alice_browser, "one two three four five six seven eight nine ten", "text")
    words = "one two three four five six seven eight nine ten eleven"
    assert len(titles(alice_browser.get(f"/?q={words}").text)) == 1
    assert len(titles(alice_browser.get("/?q=" + "one " + "x" * 300).text)) == 0
    # Past the 200th character a word no longer counts.
    assert len(titles(alice_browser.get("/?q=one" + " " * 197 + "cucumber").text)) == 1
    assert len(titles(alice_browser.get("/?q=one" + " " * 196 + "cucumber").text)) == 0
    assert alice_browser.get("/?q=%00one").status_code == 200


def test_paging_keeps_the_search(alice_browser: TestClient) -> None:
    for number in range(22):
        write_post(alice_browser, f"Match {number}" if number % 2 == 0 else f"Other {number}", "x")
    write_post(alice_browser, "Match extra", "x")
    for number in range(10):
        write_post(alice_browser, f"Match more {number}", "x")
    html = alice_browser.get("/?q=match").text
    assert 'href="/?page=2&amp;q=match"' in html
    assert all(
        title.startswith("Match") for title in titles(alice_browser.get("/?page=2&q=match").text)
    )


def test_empty_states_are_friendly(client: TestClient, alice_browser: TestClient) -> None:
    html = alice_browser.get("/").text
    assert "Nothing has been posted yet." in html
    assert 'href="/posts/new"' in html


def test_a_missing_post_is_a_404(client: TestClient) -> None:
    for path in ("/posts/1", "/posts/abc", "/posts/2147483648", "/posts/-1", "/posts/1/edit"):
        response = client.get(path)
        assert (
            response.status_code in (404, 303)
            if path.endswith("edit")
            else response.status_code == 404
        )


def test_the_owner_edits_a_post(alice_browser: TestClient, db: Session) -> None:
    post_id = write_post(alice_browser, "Before", "old text")
    form = alice_browser.get(f"/posts/{post_id}/edit")
    assert form.status_code == 200
    assert 'value="Before"' in form.text and "old text</textarea>" in form.text
    response = post_form(
        alice_browser,
        f"/posts/{post_id}/edit",
        {"title": "After", "content": "new text", "published": "on"},
    )
    assert response.status_code == 303 and response.headers["location"] == f"/posts/{post_id}"
    page = alice_browser.get(f"/posts/{post_id}").text
    assert "<h1>After" in page and "edited" in page and "Your changes are saved." in page
    invalid = post_form(alice_browser, f"/posts/{post_id}/edit", {"title": "", "content": "kept"})
    assert invalid.status_code == 422 and "kept</textarea>" in invalid.text
    db.expire_all()
    assert db.get(Post, post_id).title == "After"


def test_a_stranger_cannot_edit_or_delete(
    alice_browser: TestClient, bob_browser: TestClient, db: Session
) -> None:
    post_id = write_post(alice_browser, "Mine", "text")
    assert bob_browser.get(f"/posts/{post_id}/edit").status_code == 403
    edit = post_form(bob_browser, f"/posts/{post_id}/edit", {"title": "Hacked", "content": "x"})
    assert edit.status_code == 403
    assert edit.headers["content-type"].startswith("text/html")
    assert post_form(bob_browser, f"/posts/{post_id}/delete", {}).status_code == 403
    db.expire_all()
    post = db.get(Post, post_id)
    assert post is not None and post.title == "Mine"
    assert "Edit</a>" not in bob_browser.get(f"/posts/{post_id}").text


def test_the_owner_deletes_a_post_after_confirming(
    alice_browser: TestClient, bob_browser: TestClient, db: Session
) -> None:
    post_id = write_post(alice_browser, "Doomed", "text")
    post_form(bob_browser, f"/posts/{post_id}/vote", {})
    page = alice_browser.get(f"/posts/{post_id}").text
    assert "<details" in page and "Yes, delete this post" in page
    response = post_form(alice_browser, f"/posts/{post_id}/delete", {})
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert "Your post is deleted." in alice_browser.get("/").text
    assert alice_browser.get(f"/posts/{post_id}").status_code == 404
    assert db.exec(select(Like)).first() is None


def test_a_draft_is_visible_to_its_owner_alone(
    alice_browser: TestClient, bob_browser: TestClient, new_client, db: Session
) -> None:
    draft = write_post(alice_browser, "Secret plan", "draft text", published=False)
    assert "Your draft is saved." in alice_browser.get(f"/posts/{draft}").text
    anonymous = new_client()
    for viewer in (bob_browser, anonymous):
        assert viewer.get(f"/posts/{draft}").status_code == 404
        assert "Secret plan" not in viewer.get("/").text
        assert "Secret plan" not in viewer.get("/?q=secret").text
        assert "Secret plan" not in viewer.get("/users/1").text
    assert post_form(bob_browser, f"/posts/{draft}/vote", {}).status_code == 404
    assert bob_browser.get(f"/posts/{draft}/edit").status_code == 404
    assert "Secret plan" not in alice_browser.get("/").text  # the feed shows published posts only
    profile = alice_browser.get("/users/1").text
    assert "Secret plan" in profile and 'class="badge draft"' in profile


def test_publishing_a_draft_puts_it_on_the_feed(
    alice_browser: TestClient, bob_browser: TestClient
) -> None:
    draft = write_post(alice_browser, "Soon", "text", published=False)
    post_form(
        alice_browser,
        f"/posts/{draft}/edit",
        {"title": "Soon", "content": "text", "published": "on"},
    )
    assert "Soon" in bob_browser.get("/").text


def test_a_profile_lists_published_posts_with_paging(
    alice_browser: TestClient, bob_browser: TestClient
) -> None:
    for number in range(21):
        write_post(alice_browser, f"Alice {number}")
    write_post(bob_browser, "Bob's post")
    page = bob_browser.get("/users/1")
    assert len(titles(page.text)) == 20 and "Bob's post" not in page.text
    assert 'href="/users/1?page=2"' in page.text
    assert titles(bob_browser.get("/users/1?page=2").text) == ["Alice 0"]


def test_deleting_an_account_removes_its_posts_and_likes(
    alice_browser: TestClient, bob_browser: TestClient, db: Session
) -> None:
    alices = write_post(alice_browser, "Alice's", "text")
    bobs = write_post(bob_browser, "Bob's", "text")
    post_form(alice_browser, f"/posts/{bobs}/vote", {})
    post_form(bob_browser, f"/posts/{alices}/vote", {})
    post_form(
        alice_browser, "/settings/delete", {"password": "correct horse battery"}, page="/settings"
    )
    db.expire_all()
    assert db.get(Post, alices) is None
    assert db.exec(select(Like)).all() == []
    assert db.get(Post, bobs).votes == 0  # the count follows the likes
    assert [u.username for u in db.exec(select(User))] == ["bob"]


def test_the_home_page_runs_a_fixed_number_of_statements(
    busy_site: list[TestClient], engine
) -> None:
    """20 posts by 20 different authors, with likes: no query per row."""
    viewer = busy_site[0]
    viewer.get("/")  # settle "last seen"
    with StatementCounter(engine) as few:
        page = viewer.get("/?page=1")
    assert len(titles(page.text)) == 20
    assert "(including you)" in page.text
    # session, count, posts, their authors, the viewer's likes on them
    assert few.count <= 5, few.statements
    # A profile, a post: the session, then the page's one statement.
    with StatementCounter(engine) as profile:
        viewer.get("/users/2")
    assert profile.count <= 2, profile.statements
    with StatementCounter(engine) as post_page:
        viewer.get("/posts/1")
    assert post_page.count <= 2, post_page.statements

"""Comments on the pages: a reader comments under a post and lands on the
comment, comments page 50 at a time oldest first, drafts keep theirs hidden,
the author and the post's owner may delete one, and the counts on the feed
and profiles follow at once."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import update
from sqlmodel import Session, col, select

from tests.support.pages import MadeOrRendered, csrf_token, post_form, write_post
from tests.support.statements import StatementCounter
from webapp.models import Comment, Post, utcnow
from webapp.rules import markup


def comment(browser: TestClient, post_id: int, text: str, page: str = "/"):
    """Send the comment form under a post, with the CSRF token of `page`."""
    return post_form(browser, f"/posts/{post_id}/comments", {"content": text}, page=page)


def delete(browser: TestClient, comment_id: int):
    return post_form(browser, f"/comments/{comment_id}/delete", {})


def stored(db: Session, post_id: int) -> tuple[int, list[str]]:
    """(the count kept on the post, the comments' texts oldest first): they must agree."""
    db.expire_all()
    post = db.get(Post, post_id)
    assert post is not None
    rows = db.exec(
        select(Comment).where(Comment.post_id == post_id).order_by(col(Comment.id))
    ).all()
    return post.comments, [row.content for row in rows]


def comment_ids(db: Session, post_id: int) -> list[int]:
    db.expire_all()
    return list(
        db.exec(select(Comment.id).where(Comment.post_id == post_id).order_by(col(Comment.id)))
    )


def shown(html: str) -> list[str]:
    """The comments' texts on a page, in the order shown."""
    bodies = re.findall(r'<div class="comment-body">(.*?)</div>', html, re.S)
    return [re.sub(r"<[^>]*>", "", body.replace("<br>\n", "\n")).strip() for body in bodies]


def count_heading(html: str) -> str:
    match = re.search(r'<h2 id="comments-heading">([^<]*)</h2>', html)
    assert match, "no comment count on the page"
    return match.group(1)


def card_counts(html: str) -> list[str]:
    """The comment counts on a list of post cards (the feed, a profile)."""
    return re.findall(r'<span class="comment-count">([^<]*)</span>', html)


def add_comments(db: Session, post_id: int, author_id: int, count: int) -> None:
    """`count` comments written a second apart an hour ago ("Comment 00", ...),
    counted on the post as `webapp.rules.comments.add` counts them."""
    start = utcnow() - timedelta(hours=1)
    for number in range(count):
        db.add(
            Comment(
                post_id=post_id,
                author_id=author_id,
                content=f"Comment {number:02}",
                content_html=markup.render(f"Comment {number:02}"),
                created_at=start + timedelta(seconds=number),
            )
        )
    db.exec(update(Post).where(col(Post.id) == post_id).values(comments=col(Post.comments) + count))
    db.commit()


# --- writing a comment -------------------------------------------------------------


def test_a_reader_comments_and_is_taken_to_the_comment(
    alice_browser: TestClient, bob_browser: TestClient, db: Session
) -> None:
    post_id = write_post(alice_browser, "Thoughts")
    response = comment(bob_browser, post_id, "Line one\r\nLine two")
    [comment_id] = comment_ids(db, post_id)
    assert response.status_code == 303
    assert response.headers["location"] == f"/posts/{post_id}#comment-{comment_id}"

    page = bob_browser.get(f"/posts/{post_id}").text
    assert "Your comment is posted." in page
    assert f'<li class="comment" id="comment-{comment_id}">' in page
    assert shown(page) == ["Line one\nLine two"]  # line breaks kept, as in a post
    assert '<a class="comment-author" href="/users/2">bob</a>' in page
    assert re.search(r'<time datetime="[^"]+" title="[^"]+">just now</time>', page)
    assert count_heading(page) == "1 comment"
    assert stored(db, post_id) == (1, ["Line one\nLine two"])


def test_comments_show_oldest_first(
    alice_browser: TestClient, bob_browser: TestClient, db: Session
) -> None:
    post_id = write_post(alice_browser)
    for browser, text in (
        (bob_browser, "First"),
        (alice_browser, "Second"),
        (bob_browser, "Third"),
    ):
        assert comment(browser, post_id, text).status_code == 303
    page = alice_browser.get(f"/posts/{post_id}").text
    assert shown(page) == ["First", "Second", "Third"]
    assert count_heading(page) == "3 comments"


def test_comments_page_50_at_a_time(alice_browser: TestClient, db: Session) -> None:
    post_id = write_post(alice_browser)
    add_comments(db, post_id, 1, 55)
    first = alice_browser.get(f"/posts/{post_id}").text
    assert shown(first) == [f"Comment {n:02}" for n in range(50)]
    assert count_heading(first) == "55 comments"
    assert f'<a rel="next" href="/posts/{post_id}?page=2#comments">Later →</a>' in first
    second = alice_browser.get(f"/posts/{post_id}?page=2").text
    assert shown(second) == [f"Comment {n:02}" for n in range(50, 55)]
    assert f'<a rel="prev" href="/posts/{post_id}?page=1#comments">← Earlier</a>' in second
    assert '<div class="post-body"><p>Some text.</p>\n</div>' in second  # the post on every page

    past = alice_browser.get(f"/posts/{post_id}?page=3")
    assert past.status_code == 200
    assert shown(past.text) == []
    assert "past the end: there are only 2 pages" in past.text
    assert f'href="/posts/{post_id}?page=2#comments">Go to the last page</a>' in past.text


def test_a_comment_on_a_later_page_takes_its_writer_to_that_page(
    alice_browser: TestClient, bob_browser: TestClient, db: Session
) -> None:
    post_id = write_post(alice_browser)
    add_comments(db, post_id, 1, 50)
    response = comment(bob_browser, post_id, "The fifty-first")
    comment_id = comment_ids(db, post_id)[-1]
    assert response.headers["location"] == f"/posts/{post_id}?page=2#comment-{comment_id}"
    page = bob_browser.get(f"/posts/{post_id}?page=2").text
    assert shown(page) == ["The fifty-first"]
    assert f'id="comment-{comment_id}"' in page


def test_a_link_to_a_comment_goes_to_the_page_that_shows_it(
    alice_browser: TestClient, bob_browser: TestClient, new_client, db: Session
) -> None:
    post_id = write_post(alice_browser)
    add_comments(db, post_id, 1, 50)
    comment(bob_browser, post_id, "The fifty-first")
    first, *_, last = comment_ids(db, post_id)
    stranger = new_client()
    assert stranger.get(f"/comments/{first}").headers["location"] == (
        f"/posts/{post_id}#comment-{first}"
    )
    assert stranger.get(f"/comments/{last}").headers["location"] == (
        f"/posts/{post_id}?page=2#comment-{last}"
    )
    assert stranger.get("/comments/999999").status_code == 404


def test_anonymous_visitors_read_comments_but_get_no_form(
    alice_browser: TestClient, new_client, db: Session
) -> None:
    post_id = write_post(alice_browser)
    comment(alice_browser, post_id, "Visible to all")
    stranger = new_client()
    page = stranger.get(f"/posts/{post_id}")
    assert shown(page.text) == ["Visible to all"]
    assert 'name="content"' not in page.text and "csrf_token" not in page.text
    assert "/delete" not in page.text
    assert f'<a href="/login?next=/posts/{post_id}">Log in</a> to comment.' in page.text
    assert "set-cookie" not in page.headers  # shared by every anonymous visitor

    response = comment(stranger, post_id, "Hello?", page="/login")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")
    assert stored(db, post_id) == (1, ["Visible to all"])


def test_a_logged_in_reader_gets_the_form(alice_browser: TestClient, bob_browser: TestClient):
    post_id = write_post(alice_browser)
    page = bob_browser.get(f"/posts/{post_id}").text
    assert re.search(r'<textarea id="content" name="content" required maxlength="2000"', page)
    assert f'action="/posts/{post_id}/comments#comment-form"' in page
    assert "No comments yet." in page and count_heading(page) == "0 comments"


def test_a_comment_without_its_csrf_token_is_403(
    alice_browser: TestClient, bob_browser: TestClient, db: Session
) -> None:
    post_id = write_post(alice_browser)
    path = f"/posts/{post_id}/comments"
    assert bob_browser.post(path, data={"content": "Sneaky"}).status_code == 403
    forged = bob_browser.post(path, data={"content": "Sneaky", "csrf_token": "forged"})
    assert forged.status_code == 403
    assert stored(db, post_id) == (0, [])


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "This field is required."),
        ("    ", "Must not be only spaces."),
        ("c" * 2001, "Must be at most 2000 characters."),
        ("a NUL\x00here", "Must not contain control characters."),
        ("a bell\x07 rings", "Must not contain control characters."),
        ("<b>bold</b> and\x1b", "Must not contain control characters."),
    ],
)
def test_an_invalid_comment_comes_back_with_its_message_and_text(
    alice_browser: TestClient, bob_browser: TestClient, db: Session, typed: str, message: str
) -> None:
    post_id = write_post(alice_browser, "Under discussion")
    response = comment(bob_browser, post_id, typed)
    assert response.status_code == 422
    assert f'<p class="field-error" id="content-error">{message}</p>' in response.text
    textarea = re.search(r'<textarea id="content" [^>]*>(.*?)</textarea>', response.text, re.S)
    assert textarea and textarea.group(1) == str(escape(typed))
    assert "<h1>Under discussion" in response.text  # the post's page, with the form
    assert stored(db, post_id) == (0, [])


def test_a_2000_character_comment_is_accepted(
    alice_browser: TestClient, bob_browser: TestClient, db: Session
) -> None:
    post_id = write_post(alice_browser)
    assert comment(bob_browser, post_id, "c" * 2000).status_code == 303
    assert stored(db, post_id) == (1, ["c" * 2000])


def test_a_refused_comment_on_a_later_page_comes_back_on_that_page(
    alice_browser: TestClient, db: Session
) -> None:
    post_id = write_post(alice_browser)
    add_comments(db, post_id, 1, 51)
    page = alice_browser.get(f"/posts/{post_id}?page=2").text
    assert f'action="/posts/{post_id}/comments?page=2#comment-form"' in page
    response = post_form(
        alice_browser,
        f"/posts/{post_id}/comments?page=2",
        {"content": " "},
        page=f"/posts/{post_id}?page=2",
    )
    assert response.status_code == 422
    assert shown(response.text) == ["Comment 50"]


# --- what may not be commented on ----------------------------------------------------


def test_commenting_on_someone_elses_draft_is_a_404(
    alice_browser: TestClient, bob_browser: TestClient, db: Session
) -> None:
    draft = write_post(alice_browser, "Secret", published=False)
    assert comment(bob_browser, draft, "Found it").status_code == 404
    assert comment(bob_browser, draft, "   ").status_code == 404  # not a 422 that shows it
    assert stored(db, draft) == (0, [])


def test_commenting_on_a_deleted_post_is_a_404(
    alice_browser: TestClient, bob_browser: TestClient, db: Session
) -> None:
    post_id = write_post(alice_browser)
    token = csrf_token(bob_browser, f"/posts/{post_id}")  # the page was open in bob's browser
    post_form(alice_browser, f"/posts/{post_id}/delete", {})
    path = f"/posts/{post_id}/comments"
    assert bob_browser.post(path, data={"csrf_token": token, "content": "Late"}).status_code == 404
    assert bob_browser.post(path, data={"csrf_token": token, "content": " "}).status_code == 404
    assert db.exec(select(Comment)).all() == []


def test_a_missing_post_takes_no_comment(bob_browser: TestClient) -> None:
    assert comment(bob_browser, 12345, "Anyone?").status_code == 404


def test_a_drafts_comments_are_seen_by_its_owner_alone(
    alice_browser: TestClient, bob_browser: TestClient, new_client, db: Session
) -> None:
    draft = write_post(alice_browser, "Notes to self", published=False)
    response = comment(alice_browser, draft, "Remember the milk")
    assert response.status_code == 303
    [comment_id] = comment_ids(db, draft)
    assert shown(alice_browser.get(f"/posts/{draft}").text) == ["Remember the milk"]
    for other in (bob_browser, new_client()):
        page = other.get(f"/posts/{draft}")
        assert page.status_code == 404
        assert "Remember the milk" not in page.text
    assert delete(bob_browser, comment_id).status_code == 404  # not even a 403
    assert bob_browser.get(f"/comments/{comment_id}").status_code == 404
    assert alice_browser.get(f"/comments/{comment_id}").status_code == 303
    assert stored(db, draft) == (1, ["Remember the milk"])


# --- deleting ----------------------------------------------------------------------


def test_the_author_deletes_their_comment(
    alice_browser: TestClient, bob_browser: TestClient, db: Session
) -> None:
    post_id = write_post(alice_browser)
    comment(bob_browser, post_id, "Oops")
    [comment_id] = comment_ids(db, post_id)
    page = bob_browser.get(f"/posts/{post_id}").text
    assert f'action="/comments/{comment_id}/delete"' in page
    response = delete(bob_browser, comment_id)
    assert response.status_code == 303 and response.headers["location"] == f"/posts/{post_id}"
    page = bob_browser.get(f"/posts/{post_id}").text
    assert "The comment is deleted." in page
    assert shown(page) == [] and count_heading(page) == "0 comments"
    assert stored(db, post_id) == (0, [])


def test_the_post_owner_deletes_someone_elses_comment(
    alice_browser: TestClient, bob_browser: TestClient, db: Session
) -> None:
    post_id = write_post(alice_browser)
    comment(bob_browser, post_id, "Spam")
    comment(bob_browser, post_id, "Not spam")
    spam, _ = comment_ids(db, post_id)
    assert f'action="/comments/{spam}/delete"' in alice_browser.get(f"/posts/{post_id}").text
    response = delete(alice_browser, spam)
    assert response.status_code == 303 and response.headers["location"] == f"/posts/{post_id}"
    assert stored(db, post_id) == (1, ["Not spam"])


def test_a_stranger_cannot_delete_a_comment(
    alice_browser: TestClient, bob_browser: TestClient, carol_browser: TestClient, db: Session
) -> None:
    post_id = write_post(alice_browser)
    comment(bob_browser, post_id, "Mine to keep")
    [comment_id] = comment_ids(db, post_id)
    assert "/delete" not in carol_browser.get(f"/posts/{post_id}").text.split('id="comments"')[1]
    response = delete(carol_browser, comment_id)
    assert response.status_code == 403
    assert "Only its author and the post&#39;s owner may delete this comment." in response.text
    assert stored(db, post_id) == (1, ["Mine to keep"])


def test_deleting_needs_a_login_and_a_comment_that_exists(
    alice_browser: TestClient, new_client, db: Session
) -> None:
    post_id = write_post(alice_browser)
    comment(alice_browser, post_id, "Staying")
    [comment_id] = comment_ids(db, post_id)
    stranger = new_client()
    response = post_form(stranger, f"/comments/{comment_id}/delete", {}, page="/login")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert delete(alice_browser, comment_id + 1).status_code == 404  # no such comment
    assert stored(db, post_id) == (1, ["Staying"])


def test_a_comment_without_its_csrf_token_cannot_be_deleted(
    alice_browser: TestClient, db: Session
) -> None:
    post_id = write_post(alice_browser)
    comment(alice_browser, post_id, "Staying")
    [comment_id] = comment_ids(db, post_id)
    assert alice_browser.post(f"/comments/{comment_id}/delete").status_code == 403
    assert stored(db, post_id) == (1, ["Staying"])


# --- double submits ------------------------------------------------------------------


def test_sending_the_same_form_twice_leaves_one_comment(
    alice_browser: TestClient, bob_browser: TestClient, db: Session
) -> None:
    post_id = write_post(alice_browser)
    token = csrf_token(bob_browser, f"/posts/{post_id}")
    form = {"csrf_token": token, "content": "Said once"}
    first = bob_browser.post(f"/posts/{post_id}/comments", data=form)
    again = bob_browser.post(f"/posts/{post_id}/comments", data=form)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert stored(db, post_id) == (1, ["Said once"])


# --- counts on the post page, the feed and profiles ----------------------------------


def test_the_counts_show_on_the_post_page_the_feed_and_the_profile(
    alice_browser: TestClient, bob_browser: TestClient
) -> None:
    quiet = write_post(alice_browser, "Quiet")
    busy = write_post(alice_browser, "Busy")
    comment(bob_browser, busy, "One")
    comment(alice_browser, busy, "Two")
    assert count_heading(bob_browser.get(f"/posts/{busy}").text) == "2 comments"
    assert count_heading(bob_browser.get(f"/posts/{quiet}").text) == "0 comments"
    for path in ("/", "/users/1"):
        for browser in (alice_browser, bob_browser):
            assert card_counts(browser.get(path).text) == ["2 comments", "0 comments"], path


def test_a_new_comment_shows_at_once_on_pages_served_from_the_cache(
    alice_browser: TestClient, bob_browser: TestClient, carol_browser: TestClient, new_client
) -> None:
    """The feed's cards, a profile's and an anonymous visitor's finished pages
    are kept: a comment moves the comment count, which drops them."""
    post_id = write_post(alice_browser, "Talk to me")
    stranger = new_client()
    pages = ["/", "/users/1", "/?q=talk"]
    for path in pages:
        for browser in (stranger, carol_browser):
            browser.get(path)  # now kept
            assert card_counts(browser.get(path).text) == ["0 comments"], path
    stranger.get(f"/posts/{post_id}")
    assert count_heading(stranger.get(f"/posts/{post_id}").text) == "0 comments"

    comment(bob_browser, post_id, "Hello")
    for path in pages:
        for browser in (stranger, carol_browser):
            assert card_counts(browser.get(path).text) == ["1 comment"], path
    post_page = stranger.get(f"/posts/{post_id}").text
    assert count_heading(post_page) == "1 comment" and shown(post_page) == ["Hello"]

    [comment_id] = re.findall(r'id="comment-(\d+)"', post_page)
    delete(bob_browser, int(comment_id))
    for path in pages:
        assert card_counts(stranger.get(path).text) == ["0 comments"], path
    post_page = stranger.get(f"/posts/{post_id}").text
    assert count_heading(post_page) == "0 comments" and shown(post_page) == []


# --- a fixed number of statements, whatever the number of comments --------------------


def test_the_post_page_runs_as_many_statements_with_0_3_or_60_comments(
    alice_browser: TestClient, bob_browser: TestClient, new_client, app: FastAPI, engine, db
) -> None:
    """The post, its author, its counts, the visitor's like and its comments
    with their authors come in one statement, however many comments."""
    posts = {}
    for count in (0, 3, 60):
        posts[count] = write_post(alice_browser, f"{count} comments")
        add_comments(db, posts[count], 2, count)
    stranger = new_client()
    bob_browser.get("/")  # settle "last seen"
    counts: dict[str, dict[str, int]] = {"anonymous": {}, "logged in": {}}
    again: dict[str, set[int]] = {"anonymous": set(), "logged in": set()}
    paths = [f"/posts/{post_id}" for post_id in posts.values()] + [f"/posts/{posts[60]}?page=2"]
    for path in paths:
        for who, browser in (("anonymous", stranger), ("logged in", bob_browser)):
            app.state.page_cache.clear()
            with StatementCounter(engine) as first:
                page = browser.get(path)
            assert page.status_code == 200
            counts[who][path] = first.count
            with StatementCounter(engine) as second:
                assert browser.get(path).status_code == 200
            again[who].add(second.count)
    # The data version (or the session), then the post with its comments.
    expected = {path: 2 for path in paths}
    assert counts == {"anonymous": expected, "logged in": expected}, counts
    # Served again: from the page cache (for anonymous visitors, the HTML itself).
    assert again == {"anonymous": {1}, "logged in": {1}}, again


def test_a_post_whose_comments_are_all_hidden_still_shows_the_places_of_their_replies(
    alice_browser: TestClient, bob_browser: TestClient, new_client, app: FastAPI, engine, db
) -> None:
    """The comments are read with the post, whatever its count says: a
    comment deleted, or hidden by moderators, whose replies are hidden too
    counts for nothing, yet keeps its place for them."""
    deleted_post = write_post(alice_browser, "Deleted above hidden")
    hidden_post = write_post(alice_browser, "Hidden above hidden")
    for post_id in (deleted_post, hidden_post):
        add_comments(db, post_id, 2, 2)
        first, second = comment_ids(db, post_id)
        db.exec(update(Comment).where(col(Comment.id) == second).values(parent_id=first))
        db.exec(update(Comment).where(col(Comment.id) == second).values(hidden="moderators"))
    above_deleted, _ = comment_ids(db, deleted_post)
    above_hidden, _ = comment_ids(db, hidden_post)
    db.exec(update(Comment).where(col(Comment.id) == above_deleted).values(deleted=True))
    db.exec(update(Comment).where(col(Comment.id) == above_hidden).values(hidden="moderators"))
    db.exec(update(Post).where(col(Post.id).in_([deleted_post, hidden_post])).values(comments=0))
    db.commit()
    stranger = new_client()
    for post_id, placeholder in (
        (deleted_post, "[deleted]"),
        (hidden_post, "[removed by moderators]"),
    ):
        app.state.page_cache.clear()
        with StatementCounter(engine) as counter:
            page = stranger.get(f"/posts/{post_id}").text
        assert counter.count == 2, counter.statements
        assert count_heading(page) == "0 comments"
        assert page.count('class="comment"') == 1 and placeholder in page, post_id
        assert shown(page) == [] and "No comments yet." not in page
    # Without a comment at all: no list.
    bare = write_post(alice_browser, "Nothing below")
    app.state.page_cache.clear()
    with StatementCounter(engine) as counter:
        page = stranger.get(f"/posts/{bare}").text
    assert counter.count == 2, counter.statements
    assert count_heading(page) == "0 comments" and "No comments yet." in page


# --- an anonymous page made without templates --------------------------------------


def test_an_anonymous_post_page_without_templates_is_the_templates_page_byte_for_byte(
    alice_browser: TestClient,
    bob_browser: TestClient,
    new_client,
    app: FastAPI,
    db: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every anonymous visitor is served the post page's content in base.html's
    shell, rendered once (`webapp.web.pages.anonymous_page`): the same bytes as
    the template makes for them (as it does for one with a message to see)."""
    from webapp.web import post_page

    post_id = write_post(alice_browser, 'Tom & "Jerry" <3')
    quiet = write_post(alice_browser, "Quiet")
    add_comments(db, post_id, 2, 55)
    first, second, *_ = comment_ids(db, post_id)
    db.exec(update(Comment).where(col(Comment.id) == second).values(parent_id=first))
    db.exec(update(Comment).where(col(Comment.id) == first).values(deleted=True))
    # Half way between two days: the comments are written a second apart
    # after it, and at exactly 3 days one of them turned from "2 days ago"
    # into "3 days ago" each second, between the two renders of a slow run.
    days_ago = utcnow() - timedelta(days=3, hours=12)
    for number, comment_id in enumerate(comment_ids(db, post_id)):
        written = days_ago + timedelta(seconds=number)
        db.exec(update(Comment).where(col(Comment.id) == comment_id).values(created_at=written))
    db.exec(
        update(Post)
        .where(col(Post.id).in_([post_id, quiet]))
        .values(created_at=days_ago, updated_at=days_ago)
    )
    db.commit()
    stranger = new_client()
    paths = [f"/posts/{post_id}", f"/posts/{post_id}?page=2", f"/posts/{post_id}?page=9"]
    paths.append(f"/posts/{quiet}")
    both_ways = MadeOrRendered(monkeypatch, post_page)
    for path in paths:
        made = both_ways.page(app, stranger, path)
        assert made.status_code == 200
        if path.endswith("=9"):
            assert "past the end" in made.text
        elif path.endswith("=2"):
            assert 'rel="prev"' in made.text
        elif path == paths[0]:
            assert "[deleted]" in made.text and 'rel="next"' in made.text
        else:
            assert "No comments yet." in made.text

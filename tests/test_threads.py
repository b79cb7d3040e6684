"""Threaded comments, pages and API alike: a reply sits under its parent, each
thread reads depth-first and oldest first, indentation stops at the fourth
level, pages hold 50 comments of that order, a reply tells the author it
answers, a deleted parent keeps its replies under a "[deleted]" placeholder,
authors edit their comments (strangers cannot), and a reply racing its
parent's deletion never lands nowhere."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from tests.support.api import Caller, sign_up, write
from tests.support.app import PASSWORD
from tests.support.concurrency import at_the_same_time
from tests.support.pages import post_form, write_post
from tests.support.statements import StatementCounter
from webapp.models import Comment, Notification, Post


def reply(client: TestClient, caller: Caller, post_id: int, text: str, parent: int | None = None):
    body: dict[str, object] = {"content": text}
    if parent is not None:
        body["parent_id"] = parent
    return client.post(f"/api/posts/{post_id}/comments", json=body, headers=caller.headers)


def said(client: TestClient, caller: Caller, post_id: int, text: str, parent: int | None = None):
    """Write a comment (or a reply) through the API; its id."""
    response = reply(client, caller, post_id, text, parent)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def listed(client: TestClient, post_id: int, query: str = "?limit=100") -> list[dict]:
    response = client.get(f"/api/posts/{post_id}/comments{query}")
    assert response.status_code == 200, response.text
    return response.json()


def texts(client: TestClient, post_id: int, query: str = "?limit=100") -> list[str]:
    return [item["content"] or "[deleted]" for item in listed(client, post_id, query)]


def count(client: TestClient, post_id: int) -> int:
    return client.get(f"/api/posts/{post_id}").json()["comments"]


def page_items(html: str) -> list[tuple[int, int, str]]:
    """(comment id, level shown, text or "[deleted]") of each comment of a page, in order."""
    items = []
    for match in re.finditer(
        r'<li class="comment" id="comment-(\d+)">\s*<div class="thread-item" data-level="(\d)"'
        r"(.*?)</li>",
        html,
        re.S,
    ):
        body = re.search(r'<div class="comment-body">(.*?)</div>', match[3], re.S)
        text = re.sub(r"<[^>]+>", "", body[1]).strip() if body else "[deleted]"
        items.append((int(match[1]), int(match[2]), text))
    return items


@pytest.fixture
def carol_api(client: TestClient) -> Caller:
    return sign_up(client, "carol")


@pytest.fixture
def post_id(client: TestClient, alice_api: Caller) -> int:
    return write(client, alice_api, title="Threads")["id"]


# --- order -------------------------------------------------------------------------


def test_a_reply_sits_under_its_parent_depth_first_oldest_first(
    client: TestClient, post_id: int, alice_api: Caller, bob_api: Caller
) -> None:
    first = said(client, bob_api, post_id, "first")
    second = said(client, bob_api, post_id, "second")
    to_first = said(client, alice_api, post_id, "reply to first", first)
    said(client, bob_api, post_id, "reply to second", second)
    said(client, bob_api, post_id, "reply to the reply", to_first)
    said(client, alice_api, post_id, "another reply to first", first)
    said(client, alice_api, post_id, "third")
    assert texts(client, post_id) == [
        "first",
        "reply to first",
        "reply to the reply",
        "another reply to first",
        "second",
        "reply to second",
        "third",
    ]
    items = listed(client, post_id)
    assert [item["parent_id"] for item in items[:3]] == [None, first, to_first]
    page = client.get(f"/posts/{post_id}").text
    assert [text for _, _, text in page_items(page)] == texts(client, post_id)
    assert [level for _, level, _ in page_items(page)] == [1, 2, 3, 2, 1, 2, 1]


def test_depth_caps_at_4_and_deeper_replies_say_whom_they_answer(
    client: TestClient, post_id: int, alice_api: Caller, bob_api: Caller
) -> None:
    parent = None
    for depth in range(1, 7):
        author = alice_api if depth % 2 else bob_api
        parent = said(client, author, post_id, f"level {depth}", parent)
    page = client.get(f"/posts/{post_id}").text
    assert [level for _, level, _ in page_items(page)] == [1, 2, 3, 4, 4, 4]
    # Shown at the fourth level, the fifth and sixth name the author they answer.
    assert re.findall(r'<span class="replying-to">replying to @(\w+)</span>', page) == [
        "bob",
        "alice",
    ]


def test_comments_page_50_at_a_time_in_thread_order(
    client: TestClient, post_id: int, alice_api: Caller, bob_api: Caller
) -> None:
    for number in range(30):
        top = said(client, bob_api, post_id, f"comment {number:02}")
        said(client, alice_api, post_id, f"reply {number:02}", top)
    expected = [f"{kind} {n:02}" for n in range(30) for kind in ("comment", "reply")]
    first_page = page_items(client.get(f"/posts/{post_id}").text)
    second_page = page_items(client.get(f"/posts/{post_id}?page=2").text)
    assert [text for *_, text in first_page] == expected[:50]
    assert [text for *_, text in second_page] == expected[50:]
    assert texts(client, post_id, "") == expected[:50]  # the API's 50 by default
    assert texts(client, post_id, "?skip=50") == expected[50:]
    assert texts(client, post_id, "?skip=49&limit=2") == expected[49:51]
    # A new reply to the first comment lands on the first page, and its link there.
    first = listed(client, post_id, "?limit=1")[0]["id"]
    late = said(client, alice_api, post_id, "late reply", first)
    assert texts(client, post_id, "?limit=3") == ["comment 00", "reply 00", "late reply"]
    link = client.get(f"/comments/{late}", follow_redirects=False)
    assert link.headers["location"] == f"/posts/{post_id}#comment-{late}"
    last = listed(client, post_id, "?skip=60")[0]["id"]
    link = client.get(f"/comments/{last}", follow_redirects=False)
    assert link.headers["location"] == f"/posts/{post_id}?page=2#comment-{last}"


# --- a reply's parent --------------------------------------------------------------


def test_a_parent_on_another_post_or_missing_is_422(
    client: TestClient, post_id: int, alice_api: Caller, bob_api: Caller
) -> None:
    other_post = write(client, alice_api, title="Elsewhere")["id"]
    elsewhere = said(client, bob_api, other_post, "on the other post")
    for parent in (elsewhere, 10**6, 2**31 - 1):
        assert reply(client, bob_api, post_id, "lost", parent).status_code == 422
    for parent in (0, -1, 2**31, "1", True, 1.5):
        body = {"content": "bad", "parent_id": parent}
        response = client.post(f"/api/posts/{post_id}/comments", json=body, headers=bob_api.headers)
        assert response.status_code == 422, parent
    assert count(client, post_id) == 0 and listed(client, post_id) == []


def test_a_page_reply_to_no_comment_of_the_post_is_a_form_error_beside_the_field(
    alice_browser: TestClient, bob_browser: TestClient, db: Session
) -> None:
    post_id = write_post(alice_browser, "Threads")
    other = write_post(alice_browser, "Elsewhere")
    post_form(bob_browser, f"/posts/{other}/comments", {"content": "there"})
    [elsewhere] = db.exec(select(Comment.id).where(Comment.post_id == other)).all()
    for parent in (str(elsewhere), "999999", "abc", "-3"):
        response = post_form(
            bob_browser,
            f"/posts/{post_id}/comments",
            {"content": "My answer", "parent_id": parent},
        )
        assert response.status_code == 422, parent
        assert 'id="parent_id-error"' in response.text
        assert "There is no such comment on this post to reply to." in response.text
        assert "My answer</textarea>" in response.text  # kept as typed
    assert db.exec(select(Comment).where(Comment.post_id == post_id)).all() == []


def test_a_reply_to_a_comment_deleted_since_is_404(
    client: TestClient, post_id: int, alice_api: Caller, bob_api: Caller
) -> None:
    gone = said(client, bob_api, post_id, "soon gone")
    assert client.delete(f"/api/comments/{gone}", headers=bob_api.headers).status_code == 204
    assert reply(client, alice_api, post_id, "too late", gone).status_code == 404
    assert count(client, post_id) == 0


def test_a_reply_to_a_draft_s_comment_is_404_to_strangers(
    client: TestClient, alice_api: Caller, bob_api: Caller
) -> None:
    draft = write(client, alice_api, title="Draft", published=False)["id"]
    own = said(client, alice_api, draft, "a note to self")
    assert said(client, alice_api, draft, "and another", own)
    assert reply(client, bob_api, draft, "peek", own).status_code == 404


# --- notifications -----------------------------------------------------------------


def notifications_of(client: TestClient, caller: Caller) -> list[tuple[str, str, int | None]]:
    response = client.get("/api/notifications", headers=caller.headers)
    return [(n["kind"], n["actor"]["username"], n["comment_id"]) for n in response.json()]


def test_a_reply_tells_the_author_it_answers_and_the_post_s_owner_once_each(
    client: TestClient, post_id: int, alice_api: Caller, bob_api: Caller, carol_api: Caller
) -> None:
    bobs = said(client, bob_api, post_id, "bob's comment")
    carols = said(client, carol_api, post_id, "carol's reply", bobs)
    assert notifications_of(client, bob_api) == [("reply", "carol", carols)]
    assert ("comment", "carol", carols) in notifications_of(client, alice_api)
    # Replying to the post owner's own comment: one notification, a reply.
    alices = said(client, alice_api, post_id, "alice answers")
    bobs_reply = said(client, bob_api, post_id, "bob to alice", alices)
    told = [n for n in notifications_of(client, alice_api) if n[2] == bobs_reply]
    assert told == [("reply", "bob", bobs_reply)]
    # Nobody is told of their own reply.
    said(client, bob_api, post_id, "bob to himself", bobs)
    assert [n[0] for n in notifications_of(client, bob_api)] == ["reply"]
    response = client.get("/api/notifications", headers=bob_api.headers).json()[0]
    assert response["post_id"] == post_id and response["comment_id"] == carols


def test_the_notifications_page_tells_of_a_reply(
    alice_browser: TestClient, bob_browser: TestClient, db: Session
) -> None:
    post_id = write_post(alice_browser, "Threads")
    post_form(alice_browser, f"/posts/{post_id}/comments", {"content": "mine"})
    [mine] = db.exec(select(Comment.id).where(Comment.post_id == post_id)).all()
    post_form(
        bob_browser, f"/posts/{post_id}/comments", {"content": "yours", "parent_id": str(mine)}
    )
    page = alice_browser.get("/notifications").text
    assert "replied to your comment on" in page


# --- deleting ----------------------------------------------------------------------


def test_a_deleted_parent_keeps_its_replies_under_a_placeholder(
    client: TestClient, post_id: int, alice_api: Caller, bob_api: Caller, db: Session
) -> None:
    parent = said(client, bob_api, post_id, "parent")
    child = said(client, alice_api, post_id, "child", parent)
    said(client, alice_api, post_id, "after")
    assert client.delete(f"/api/comments/{parent}", headers=bob_api.headers).status_code == 204
    items = listed(client, post_id)
    assert [item["id"] for item in items[:2]] == [parent, child]
    placeholder = items[0]
    assert placeholder["deleted"] is True and placeholder["author"] is None
    assert placeholder["content"] == "" and placeholder["content_html"] == ""
    assert items[1]["parent_id"] == parent and items[1]["deleted"] is False
    assert count(client, post_id) == 2  # the placeholder is not counted
    page = client.get(f"/posts/{post_id}").text
    assert [text for *_, text in page_items(page)] == ["[deleted]", "child", "after"]
    assert "parent" not in re.sub(r"data-parent-id", "", page.split('id="comments"')[1])
    assert ">2 comments</h2>" in page
    # Its notifications went with it.
    db.expire_all()
    assert db.exec(select(Notification).where(Notification.comment_id == parent)).all() == []
    # It cannot be deleted or edited again; its replies may still be answered.
    assert client.delete(f"/api/comments/{parent}", headers=bob_api.headers).status_code == 404
    patched = client.patch(
        f"/api/comments/{parent}", json={"content": "back"}, headers=bob_api.headers
    )
    assert patched.status_code == 404
    assert reply(client, bob_api, post_id, "still here", parent).status_code == 201


def test_a_placeholder_goes_with_its_last_reply(
    client: TestClient, post_id: int, alice_api: Caller, bob_api: Caller
) -> None:
    top = said(client, bob_api, post_id, "top")
    middle = said(client, alice_api, post_id, "middle", top)
    bottom = said(client, bob_api, post_id, "bottom", middle)
    for comment_id, caller in ((top, bob_api), (middle, alice_api)):
        assert client.delete(f"/api/comments/{comment_id}", headers=caller.headers).status_code
    assert texts(client, post_id) == ["[deleted]", "[deleted]", "bottom"]
    assert client.delete(f"/api/comments/{bottom}", headers=bob_api.headers).status_code == 204
    assert listed(client, post_id) == [] and count(client, post_id) == 0


def test_a_comment_without_replies_is_gone_when_deleted(
    client: TestClient, post_id: int, bob_api: Caller, db: Session
) -> None:
    lone = said(client, bob_api, post_id, "lone")
    assert client.delete(f"/api/comments/{lone}", headers=bob_api.headers).status_code == 204
    assert listed(client, post_id) == [] and count(client, post_id) == 0
    db.expire_all()
    assert db.get(Comment, lone) is None


def test_an_account_deleted_takes_its_comments_and_the_replies_below_them(
    alice_browser: TestClient, bob_browser: TestClient, carol_browser: TestClient, db: Session
) -> None:
    post_id = write_post(alice_browser, "Threads")

    def say(browser: TestClient, text: str, parent: int | None = None) -> int:
        data = {"content": text, "parent_id": str(parent or "")}
        assert post_form(browser, f"/posts/{post_id}/comments", data).status_code == 303
        db.expire_all()
        return max(db.exec(select(Comment.id)).all())

    bobs = say(bob_browser, "bob's")
    say(carol_browser, "carol under bob", bobs)
    carols = say(carol_browser, "carol's own")
    say(bob_browser, "bob under carol", carols)
    response = post_form(bob_browser, "/settings/delete", {"password": PASSWORD}, page="/settings")
    assert response.status_code == 303
    db.expire_all()
    rows = db.exec(select(Comment.content).where(Comment.post_id == post_id)).all()
    assert rows == ["carol's own"]
    post = db.get(Post, post_id)
    assert post is not None and post.comments == 1


# --- editing -----------------------------------------------------------------------


def test_the_author_edits_a_comment_and_it_says_edited(
    alice_browser: TestClient, bob_browser: TestClient, db: Session
) -> None:
    post_id = write_post(alice_browser, "Threads")
    post_form(bob_browser, f"/posts/{post_id}/comments", {"content": "Frist"})
    [comment_id] = db.exec(select(Comment.id).where(Comment.post_id == post_id)).all()
    seen_before = alice_browser.get(f"/posts/{post_id}").text  # kept in the page cache
    assert [text for *_, text in page_items(seen_before)] == ["Frist"]
    form = bob_browser.get(f"/comments/{comment_id}/edit")
    assert form.status_code == 200 and "Frist</textarea>" in form.text
    response = post_form(bob_browser, f"/comments/{comment_id}/edit", {"content": "First"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/posts/{post_id}#comment-{comment_id}"
    page = bob_browser.get(f"/posts/{post_id}").text
    assert [text for *_, text in page_items(page)] == ["First"]
    assert '<span class="edited">edited</span>' in page
    # Another reader sees the new text at once, not the page kept from before.
    assert [text for *_, text in page_items(alice_browser.get(f"/posts/{post_id}").text)] == [
        "First"
    ]
    # An empty text comes back on the form.
    refused = post_form(bob_browser, f"/comments/{comment_id}/edit", {"content": "  "})
    assert refused.status_code == 422 and 'id="content-error"' in refused.text


def test_a_stranger_cannot_edit_a_comment(
    alice_browser: TestClient, bob_browser: TestClient, db: Session
) -> None:
    post_id = write_post(alice_browser, "Threads")
    post_form(bob_browser, f"/posts/{post_id}/comments", {"content": "Mine"})
    [comment_id] = db.exec(select(Comment.id).where(Comment.post_id == post_id)).all()
    # Not even the post's owner.
    assert alice_browser.get(f"/comments/{comment_id}/edit").status_code == 403
    response = post_form(alice_browser, f"/comments/{comment_id}/edit", {"content": "Yours"})
    assert response.status_code == 403
    assert [text for *_, text in page_items(alice_browser.get(f"/posts/{post_id}").text)] == [
        "Mine"
    ]
    assert 'class="comment-edit"' not in alice_browser.get(f"/posts/{post_id}").text


def test_the_api_edits_a_comment_for_its_author_alone(
    client: TestClient, post_id: int, alice_api: Caller, bob_api: Caller
) -> None:
    comment_id = said(client, bob_api, post_id, "draft wording")
    path = f"/api/comments/{comment_id}"
    assert client.patch(path, json={"content": "x"}, headers=alice_api.headers).status_code == 403
    assert client.patch(path, json={"content": "x"}).status_code == 401
    assert client.patch(path, json={"content": ""}, headers=bob_api.headers).status_code == 422
    assert client.patch("/api/comments/999999", json={"content": "x"}, headers=bob_api.headers)
    response = client.patch(path, json={"content": "final wording"}, headers=bob_api.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["content"] == "final wording" and body["edited"] is True
    assert listed(client, post_id)[0]["edited"] is True


# --- races -------------------------------------------------------------------------


def answer(client: TestClient, caller: Caller, post: int, parent: int) -> Callable[[], int]:
    return lambda: reply(client, caller, post, f"answer by {caller.username}", parent).status_code


def removal(client: TestClient, caller: Caller, comment_id: int) -> Callable[[], int]:
    return lambda: client.delete(f"/api/comments/{comment_id}", headers=caller.headers).status_code


def test_a_reply_racing_its_parent_s_deletion_lands_under_the_placeholder_or_is_404(
    client: TestClient, alice_api: Caller, bob_api: Caller, db: Session
) -> None:
    readers = [sign_up(client, f"reader{number}") for number in range(4)]
    outcomes = set()
    for round_number in range(6):
        post = write(client, alice_api, title=f"Race {round_number}")["id"]
        parent = said(client, bob_api, post, "parent")
        sends = [answer(client, r, post, parent) for r in readers]
        delete = removal(client, bob_api, parent)
        *statuses, deleted = at_the_same_time([*sends, delete])
        assert deleted == 204
        assert set(statuses) <= {201, 404}, statuses
        outcomes.update(statuses)
        items = listed(client, post)
        landed = statuses.count(201)
        if landed:
            # Under the placeholder, every one of them.
            assert items[0]["id"] == parent and items[0]["deleted"] is True
            assert [item["parent_id"] for item in items[1:]] == [parent] * landed
        else:
            assert items == []
        assert count(client, post) == landed
        db.expire_all()
        rows = db.exec(select(Comment).where(Comment.post_id == post)).all()
        ids = {row.id for row in rows}
        assert all(row.parent_id is None or row.parent_id in ids for row in rows)  # no orphan
        kept = db.get(Post, post)
        assert kept is not None and kept.comments == sum(not row.deleted for row in rows)


# --- one comment, for live pages ----------------------------------------------------


def test_the_fragment_of_a_comment_is_its_list_item_as_the_page_shows_it(
    client: TestClient, new_client, post_id: int, alice_api: Caller, bob_api: Caller
) -> None:
    comment_id = said(client, bob_api, post_id, "hello <there>")
    stranger = new_client()
    response = stranger.get(f"/comments/{comment_id}/fragment")
    assert response.status_code == 200
    assert response.text.strip().startswith(f'<li class="comment" id="comment-{comment_id}">')
    assert "hello &lt;there&gt;" in response.text and "<html" not in response.text
    draft = write(client, alice_api, title="Draft", published=False)["id"]
    hidden = said(client, alice_api, draft, "secret")
    assert stranger.get(f"/comments/{hidden}/fragment").status_code == 404
    assert stranger.get("/comments/999999/fragment").status_code == 404
    said(client, alice_api, post_id, "answer", comment_id)
    client.delete(f"/api/comments/{comment_id}", headers=bob_api.headers)
    placeholder = stranger.get(f"/comments/{comment_id}/fragment")
    assert placeholder.status_code == 200 and "[deleted]" in placeholder.text
    assert "hello" not in placeholder.text


# --- statements --------------------------------------------------------------------


def test_a_threaded_page_reads_in_as_many_statements_as_a_flat_one(
    app: FastAPI, client: TestClient, new_client, engine, alice_api: Caller, bob_api: Caller
) -> None:
    flat = write(client, alice_api, title="Flat")["id"]
    threaded = write(client, alice_api, title="Threaded")["id"]
    for number in range(20):
        said(client, bob_api, flat, f"flat {number}")
        parent = None
        for depth in range(3):
            parent = said(client, bob_api, threaded, f"deep {number} {depth}", parent)
    stranger = new_client()
    counts = {}
    for path in (f"/posts/{flat}", f"/posts/{threaded}", f"/posts/{threaded}?page=2"):
        app.state.page_cache.clear()
        with StatementCounter(engine) as counter:
            assert stranger.get(path).status_code == 200
        counts[path] = counter.count
    # The data version, then the post with its comments, threaded or not.
    assert set(counts.values()) == {2}, counts
    with StatementCounter(engine) as counter:
        assert stranger.get(f"/comments/{parent}/fragment").status_code == 200
    # As a page: the data version, then one statement.
    assert counter.count == 2, counter.statements

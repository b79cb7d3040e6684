"""Mentions: linked to the profile, and each person told once, never of their
own mention, not for a draft until it is published, and on an edit only the
newly mentioned. Preview renders without saving."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from tests.support.api import Caller, sign_up, write
from tests.support.pages import post_form, write_post
from webapp.models import Notification, Post


def told(db: Session, recipient_id: int) -> list[tuple[str, int | None, int | None]]:
    rows = db.exec(
        select(Notification)
        .where(Notification.recipient_id == recipient_id)
        .order_by(Notification.id)  # type: ignore[arg-type]
    )
    return [(row.kind, row.post_id, row.comment_id) for row in rows]


def test_a_published_post_tells_the_people_it_mentions_once(
    client: TestClient, db: Session, alice_api: Caller, bob_api: Caller
) -> None:
    carol = sign_up(client, "carol")
    post = write(client, alice_api, content="Hi @bob and @BOB, @carol, @alice and @nobody_at_all")
    assert f'<a href="/users/{bob_api.id}">@bob</a>' in post["content_html"]
    assert "@nobody_at_all" in post["content_html"]
    assert "/users/" not in post["content_html"].split("@nobody_at_all")[1]
    assert told(db, bob_api.id) == [("mention", post["id"], None)]
    assert told(db, carol.id) == [("mention", post["id"], None)]
    assert told(db, alice_api.id) == []  # never of one's own mention


def test_a_draft_tells_nobody_until_it_is_published(
    client: TestClient, db: Session, alice_api: Caller, bob_api: Caller
) -> None:
    post = write(client, alice_api, content="For @bob", published=False)
    assert told(db, bob_api.id) == []
    headers = alice_api.headers
    client.patch(f"/api/posts/{post['id']}", json={"published": True}, headers=headers)
    assert told(db, bob_api.id) == [("mention", post["id"], None)]
    # Made a draft and published again: told once all the same.
    client.patch(f"/api/posts/{post['id']}", json={"published": False}, headers=headers)
    client.patch(f"/api/posts/{post['id']}", json={"published": True}, headers=headers)
    assert told(db, bob_api.id) == [("mention", post["id"], None)]


def test_an_edit_tells_only_the_newly_mentioned(
    client: TestClient, db: Session, alice_api: Caller, bob_api: Caller
) -> None:
    carol = sign_up(client, "carol")
    post = write(client, alice_api, content="For @bob")
    answer = client.patch(
        f"/api/posts/{post['id']}",
        json={"content": "For @bob and @carol"},
        headers=alice_api.headers,
    )
    assert answer.status_code == 200
    assert f'href="/users/{carol.id}"' in answer.json()["content_html"]
    assert told(db, bob_api.id) == [("mention", post["id"], None)]
    assert told(db, carol.id) == [("mention", post["id"], None)]


def test_a_comment_tells_whom_it_mentions_and_nobody_twice(
    client: TestClient, db: Session, alice_api: Caller, bob_api: Caller
) -> None:
    carol = sign_up(client, "carol")
    post = write(client, alice_api, content="Plain")
    answer = client.post(
        f"/api/posts/{post['id']}/comments",
        json={"content": "@alice, @carol and @bob: see `@nobody` #here"},
        headers=bob_api.headers,
    )
    assert answer.status_code == 201
    comment = answer.json()
    assert f'<a href="/users/{carol.id}">@carol</a>' in comment["content_html"]
    assert '<a href="/tags/here">#here</a>' in comment["content_html"]
    # The post's owner hears of the comment, not of the mention too.
    assert told(db, alice_api.id) == [("comment", post["id"], comment["id"])]
    assert told(db, carol.id) == [("mention", post["id"], comment["id"])]
    assert told(db, bob_api.id) == []
    # A comment's tags link but do not tag the post.
    assert client.get(f"/api/posts/{post['id']}").json()["tags"] == []


def test_a_comment_under_a_draft_tells_nobody(
    client: TestClient, db: Session, alice_api: Caller, bob_api: Caller
) -> None:
    post = write(client, alice_api, content="Mine", published=False)
    answer = client.post(
        f"/api/posts/{post['id']}/comments",
        json={"content": "note for @bob"},
        headers=alice_api.headers,
    )
    assert answer.status_code == 201
    assert told(db, bob_api.id) == []


def test_notifications_show_an_excerpt_of_the_text(
    alice_browser: TestClient, bob_browser: TestClient
) -> None:
    write_post(bob_browser, "Hello", "Thanks **@alice** for the [tip](https://x.example).")
    page = alice_browser.get("/notifications").text
    assert "mentioned you in" in page
    assert '<p class="notification-excerpt">Thanks @alice for the tip.</p>' in page


def test_feed_cards_show_the_excerpt_not_the_markdown(alice_browser: TestClient) -> None:
    write_post(alice_browser, "Styled", "Some **bold** and a [link](https://x.example)")
    page = alice_browser.get("/").text
    assert '<p class="post-excerpt">Some bold and a link</p>' in page


def test_preview_renders_the_post_and_saves_nothing(alice_browser: TestClient, db: Session) -> None:
    answer = post_form(
        alice_browser,
        "/posts/preview",
        {"title": "Draft title", "content": "# Big\n\n*soft* #tagged", "published": "on"},
        page="/posts/new",
    )
    assert answer.status_code == 200
    assert "<h2>Big</h2>" in answer.text
    assert "<em>soft</em>" in answer.text
    assert 'value="Draft title"' in answer.text
    assert "# Big\n\n*soft* #tagged</textarea>" in answer.text
    assert db.exec(select(Post)).all() == []
    refused = post_form(
        alice_browser, "/posts/preview", {"title": "", "content": "x"}, page="/posts/new"
    )
    assert refused.status_code == 422


def test_preview_from_the_edit_form_keeps_saving_that_post(
    alice_browser: TestClient, bob_browser: TestClient
) -> None:
    post_id = write_post(alice_browser, "Mine", "Before")
    edit = alice_browser.get(f"/posts/{post_id}/edit").text
    assert 'formaction="/posts/preview"' in edit
    answer = post_form(
        alice_browser,
        "/posts/preview",
        {"title": "Mine", "content": "After", "post_id": str(post_id)},
        page=f"/posts/{post_id}/edit",
    )
    assert answer.status_code == 200
    assert f'action="/posts/{post_id}/edit"' in answer.text
    shown = alice_browser.get(f"/posts/{post_id}").text
    assert '<div class="post-body"><p>Before</p>' in shown and "After" not in shown
    theirs = post_form(
        bob_browser, "/posts/preview", {"title": "x", "content": "y", "post_id": str(post_id)}
    )
    assert theirs.status_code == 403
    for odd in ("abc", "0", "99999999999999999999"):
        answer = post_form(
            alice_browser, "/posts/preview", {"title": "x", "content": "y", "post_id": odd}
        )
        assert answer.status_code == 404, odd


def test_an_edited_comment_tells_only_the_newly_mentioned(
    client: TestClient, db: Session, alice_api: Caller, bob_api: Caller
) -> None:
    carol = sign_up(client, "carol")
    dave = sign_up(client, "dave")
    post = write(client, alice_api, content="Plain")
    comment = client.post(
        f"/api/posts/{post['id']}/comments", json={"content": "Hi"}, headers=bob_api.headers
    ).json()

    def edit(content: str) -> None:
        answer = client.patch(
            f"/api/comments/{comment['id']}", json={"content": content}, headers=bob_api.headers
        )
        assert answer.status_code == 200, answer.text

    edit("Hi @carol")
    edit("Hi @carol, again")
    edit("Hi @carol and @dave and @alice")
    assert told(db, carol.id) == [("mention", post["id"], comment["id"])]
    assert told(db, dave.id) == [("mention", post["id"], comment["id"])]
    # The post's owner was told of the comment already.
    assert told(db, alice_api.id) == [("comment", post["id"], comment["id"])]


def test_a_deleted_accounts_mentions_become_plain_text(
    client: TestClient, new_client, alice_api: Caller
) -> None:
    from tests.support.app import PASSWORD
    from tests.support.pages import Auth

    dave = sign_up(client, "dave")
    typed = f"[his page](/users/{dave.id})"
    post = write(client, alice_api, content=f"Ask @Dave, or {typed}, and @alice")
    comment = client.post(
        f"/api/posts/{post['id']}/comments",
        json={"content": "**@dave** knows"},
        headers=alice_api.headers,
    ).json()
    link = f'<a href="/users/{dave.id}">'
    assert link + "@Dave</a>" in post["content_html"]
    browser = new_client()
    Auth(browser).login("dave")
    assert post_form(
        browser, "/settings/delete", {"password": PASSWORD}, page="/settings"
    ).is_redirect
    html = client.get(f"/api/posts/{post['id']}").json()["content_html"]
    assert "Ask @Dave, or" in html and "@Dave</a>" not in html
    assert f'<a href="/users/{alice_api.id}">@alice</a>' in html  # others stay linked
    [again] = client.get(f"/api/posts/{post['id']}/comments").json()
    assert again["id"] == comment["id"]
    assert again["content_html"] == "<p><strong>@dave</strong> knows</p>\n"
    page = client.get(f"/posts/{post['id']}").text
    assert "@Dave</a>" not in page and "<strong>@dave</strong>" in page
    assert f"{link}his page</a>" in html  # a link the writer typed stays theirs
    # The source is as it was typed; a newcomer taking the name is not linked.
    assert client.get(f"/api/posts/{post['id']}").json()["content"].startswith("Ask @Dave")
    sign_up(client, "dave")
    assert "@Dave</a>" not in client.get(f"/api/posts/{post['id']}").json()["content_html"]

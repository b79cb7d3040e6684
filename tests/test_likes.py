"""Likes: a toggle that is right however many clicks race each other."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from tests.support.concurrency import at_the_same_time
from tests.support.pages import Auth, csrf_token, post_form, write_post
from webapp.models import Like, Post


def likes(db: Session, post_id: int) -> tuple[int, int]:
    """(the count kept on the post, the like rows): they must agree."""
    db.expire_all()
    post = db.get(Post, post_id)
    assert post is not None
    return post.votes, len(db.exec(select(Like).where(Like.post_id == post_id)).all())


def at_once(clients: list[TestClient], path: str, **fields: str) -> list[int]:
    """Send the same form from every client at the same moment."""
    tokens = [csrf_token(c, path.rsplit("/", 1)[0]) for c in clients]
    return at_the_same_time(
        [
            lambda client=client, token=token: (
                client.post(path, data={"csrf_token": token, **fields}).status_code
            )
            for client, token in zip(clients, tokens, strict=True)
        ]
    )


def test_the_like_button_toggles_0_1_0(client: TestClient, auth: Auth, db: Session) -> None:
    auth.register("alice")
    post_id = write_post(client, "Likeable")
    assert 'aria-pressed="false"' in client.get(f"/posts/{post_id}").text
    response = post_form(client, f"/posts/{post_id}/vote", {})
    assert response.status_code == 303 and response.headers["location"] == f"/posts/{post_id}"
    page = client.get(f"/posts/{post_id}").text
    assert "You like this post." in page and 'aria-pressed="true"' in page and "1 like<" in page
    assert likes(db, post_id) == (1, 1)
    post_form(client, f"/posts/{post_id}/vote", {})
    page = client.get(f"/posts/{post_id}").text
    assert "You no longer like this post." in page and 'aria-pressed="false"' in page
    assert likes(db, post_id) == (0, 0)


def test_liking_needs_a_login(client: TestClient, auth: Auth, new_client, db: Session) -> None:
    auth.register("alice")
    post_id = write_post(client)
    stranger = new_client()
    page = stranger.get(f"/posts/{post_id}").text
    assert f'href="/login?next=/posts/{post_id}"' in page  # a link to log in, not a form
    response = post_form(stranger, f"/posts/{post_id}/vote", {}, page="/login")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert likes(db, post_id) == (0, 0)


def test_one_may_like_ones_own_draft(client: TestClient, auth: Auth, db: Session) -> None:
    auth.register("alice")
    draft = write_post(client, published=False)
    assert post_form(client, f"/posts/{draft}/vote", {}).status_code == 303
    assert likes(db, draft) == (1, 1)


def test_liking_a_missing_post_is_a_404(client: TestClient, auth: Auth) -> None:
    auth.register("alice")
    assert post_form(client, "/posts/12345/vote", {}).status_code == 404


def test_two_people_liking_at_once_count_two(
    client: TestClient, auth: Auth, new_client, db: Session
) -> None:
    auth.register("alice")
    post_id = write_post(client)
    fans = []
    for name in ("bob", "carol"):
        fan = new_client()
        Auth(fan).register(name)
        fans.append(fan)
    assert at_once(fans, f"/posts/{post_id}/vote") == [303, 303]
    assert likes(db, post_id) == (2, 2)


def test_a_double_click_never_fails_and_leaves_one_like(
    client: TestClient, auth: Auth, db: Session, app
) -> None:
    auth.register("alice")
    post_id = write_post(client)
    assert 'name="dir" value="1"' in client.get(f"/posts/{post_id}").text
    # Two tabs of one browser: the same session, the same click, at once.
    tab = TestClient(app, follow_redirects=False, cookies=client.cookies)
    assert at_once([client, tab], f"/posts/{post_id}/vote", dir="1") == [303, 303]
    assert likes(db, post_id) == (1, 1)
    assert 'name="dir" value="0"' in client.get(f"/posts/{post_id}").text
    assert at_once([client, tab], f"/posts/{post_id}/vote", dir="0") == [303, 303]
    assert likes(db, post_id) == (0, 0)


def test_racing_toggles_never_fail_and_keep_the_count_true(
    client: TestClient, auth: Auth, db: Session, app
) -> None:
    auth.register("alice")
    post_id = write_post(client)
    tabs = [TestClient(app, follow_redirects=False, cookies=client.cookies) for _ in range(4)]
    for _ in range(3):
        assert at_once(tabs, f"/posts/{post_id}/vote") == [303] * 4
        count, rows = likes(db, post_id)
        assert count == rows and rows in (0, 1)

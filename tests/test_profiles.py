"""Profiles: who someone is, and never their email."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from tests.support.pages import Auth, MadeOrRendered, post_form
from tests.test_following_pages import add_posts
from webapp.models import User


def test_a_profile_shows_the_name_and_joined_date(
    client: TestClient, auth: Auth, db: Session, new_client
) -> None:
    auth.register("alice")
    user = db.exec(select(User)).one()
    page = new_client().get(f"/users/{user.id}")
    assert page.status_code == 200
    assert "<h1>alice</h1>" in page.text
    assert "Joined <time datetime=" in page.text
    assert "alice@example.com" not in page.text


def test_the_email_is_on_no_page_but_the_owners_settings(
    client: TestClient, auth: Auth, db: Session
) -> None:
    auth.register("alice")
    user = db.exec(select(User)).one()
    for path in ("/", f"/users/{user.id}", "/no-such-page"):
        assert "alice@example.com" not in client.get(path).text


@pytest.mark.parametrize("path", ["/users/999", "/users/0", "/users/2147483648", "/users/x"])
def test_a_missing_profile_is_a_404(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_an_anonymous_profile_is_the_templates_bytes_made_without_it(
    alice_browser: TestClient,
    bob_browser: TestClient,
    app: FastAPI,
    db: Session,
    new_client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every anonymous visitor is served the profile's head and content in
    base.html's shell, made in Python (`webapp.web.profile_html`): the same
    bytes as templates/users/profile.html makes for them (as it does for one
    with a message to see), with a display name, a bio, a website, a badge,
    text to escape, a pager, a page past the end and no posts at all."""
    from webapp.web import profile_page

    alice = db.exec(select(User).where(col(User.username) == "alice")).one()
    alice.display_name = 'Tom & "Jerry" <3'
    alice.bio_html = "<p>Fish &amp; chips</p>"
    alice.website = "https://example.com/?a=1&b=<2>"
    alice.role = "moderator"
    db.add(alice)
    db.commit()
    assert alice.id is not None
    add_posts(db, alice.id, 45, title='Post <b> & "quoted"')
    post_form(bob_browser, f"/users/{alice.id}/follow", {})
    bob = db.exec(select(User).where(col(User.username) == "bob")).one()
    stranger = new_client()
    paths = [f"/users/{alice.id}", f"/users/{alice.id}?page=2", f"/users/{alice.id}?page=3"]
    paths += [f"/users/{alice.id}?page=9", f"/users/{bob.id}"]
    both_ways = MadeOrRendered(monkeypatch, profile_page)
    for path in paths:
        assert both_ways.page(app, stranger, path).status_code == 200
    page = stranger.get(f"/users/{alice.id}").text
    assert '<span class="badge role">moderator</span>' in page
    assert "<strong>1</strong> follower</a>" in page
    assert 'rel="next" href="/users/' in page

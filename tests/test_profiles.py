"""Profiles: who someone is, and never their email."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from tests.support.pages import Auth
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

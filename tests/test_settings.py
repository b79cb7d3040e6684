"""The settings page: the password, the sessions, deleting the account."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from tests.support.app import PASSWORD
from tests.support.pages import Auth, post_form
from webapp.core.config import Settings
from webapp.models import LoginFailure, User, UserSession

NEW_PASSWORD = "a brand new passphrase"


def change_password(client: TestClient, current: str, new: str, confirm: str | None = None):
    return post_form(
        client,
        "/settings/password",
        {
            "current_password": current,
            "new_password": new,
            "new_password_confirm": new if confirm is None else confirm,
        },
        page="/settings",
    )


def test_the_development_site_address_follows_the_port_served() -> None:
    assert Settings(_env_file=None, served_port=8731).public_url == "http://127.0.0.1:8731"  # type: ignore[call-arg]
    assert Settings(_env_file=None).public_url == "http://127.0.0.1:8000"  # type: ignore[call-arg]
    chosen = Settings(_env_file=None, served_port=8731, site_url="https://agora.example/")  # type: ignore[call-arg]
    assert chosen.public_url == "https://agora.example"


def test_settings_need_a_login(client: TestClient) -> None:
    response = client.get("/settings")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/settings"


def test_settings_show_the_email_and_the_sessions(
    client: TestClient, auth: Auth, new_client
) -> None:
    auth.register("alice")
    other = new_client()
    Auth(other).login("alice")
    page = client.get("/settings").text
    assert "alice@example.com" in page
    assert page.count("<li>") >= 2
    assert "this browser" in page


def test_changing_the_password_needs_the_current_one(client: TestClient, auth: Auth) -> None:
    auth.register("alice")
    response = change_password(client, "not it at all", NEW_PASSWORD)
    assert response.status_code == 422
    assert 'id="current_password-error">This is not your current password.' in response.text


def test_a_new_password_follows_the_rules(client: TestClient, auth: Auth) -> None:
    auth.register("alice")
    short = change_password(client, PASSWORD, "short")
    assert short.status_code == 422 and 'id="new_password-error"' in short.text
    same = change_password(client, PASSWORD, "ALICE@example.com")
    assert same.status_code == 422 and "same as the username or email" in same.text
    mismatch = change_password(client, PASSWORD, NEW_PASSWORD, "something else")
    assert mismatch.status_code == 422 and 'id="new_password_confirm-error"' in mismatch.text


def test_changing_the_password_ends_every_other_session(
    client: TestClient, auth: Auth, new_client, db: Session
) -> None:
    auth.register("alice")
    laptop = new_client()
    Auth(laptop).login("alice")
    response = change_password(client, PASSWORD, NEW_PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/settings"
    assert "Your password has been changed." in client.get("/settings").text
    assert laptop.get("/settings").status_code == 303  # logged out there
    assert len(db.exec(select(UserSession)).all()) == 1
    fresh = Auth(new_client())
    assert fresh.login("alice", PASSWORD).status_code == 422
    assert fresh.login("alice", NEW_PASSWORD).status_code == 303


def test_log_out_everywhere_else_keeps_this_session(
    client: TestClient, auth: Auth, new_client, db: Session
) -> None:
    auth.register("alice")
    stamp = db.exec(select(User.security_stamp)).one()
    phones = [new_client() for _ in range(2)]
    for phone in phones:
        Auth(phone).login("alice")
    response = post_form(client, "/settings/logout-others", {}, page="/settings")
    assert response.status_code == 303 and response.headers["location"] == "/settings"
    assert "2 other sessions" in client.get("/settings").text
    assert all(phone.get("/settings").status_code == 303 for phone in phones)
    db.expire_all()
    assert db.exec(select(User.security_stamp)).one() != stamp  # API tokens revoked


def test_deleting_the_account_needs_the_password(
    client: TestClient, auth: Auth, db: Session
) -> None:
    auth.register("alice")
    response = post_form(client, "/settings/delete", {"password": "wrong one!"}, page="/settings")
    assert response.status_code == 422
    assert 'id="password-error"' in response.text
    assert db.exec(select(User)).first() is not None


def test_a_deleted_account_is_gone_and_logged_out(
    client: TestClient, auth: Auth, db: Session, new_client
) -> None:
    auth.register("alice")
    Auth(new_client()).login("alice", "one wrong try")
    response = post_form(client, "/settings/delete", {"password": PASSWORD}, page="/settings")
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert "Your account and everything in it have been deleted." in client.get("/").text
    assert client.get("/settings").status_code == 303
    assert db.exec(select(User)).first() is None
    assert db.exec(select(UserSession)).first() is None
    assert db.exec(select(LoginFailure)).first() is None
    assert Auth(new_client()).login("alice").status_code == 422

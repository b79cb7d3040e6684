"""Bearer tokens: POST /api/login, and when a token stops working."""

from __future__ import annotations

import time

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner

from tests.support.api import Caller, bearer, login, register, sign_up
from tests.support.app import PASSWORD, dispose, make_settings
from tests.support.pages import Auth, post_form
from webapp.app import create_app
from webapp.core.security import ApiTokens

NEW_PASSWORD = "a brand new passphrase"


# --- logging in ---------------------------------------------------------------


@pytest.mark.parametrize("identifier", ["alice", "ALICE", "alice@example.com", "Alice@Example.COM"])
def test_login_takes_the_username_or_the_email(client: TestClient, identifier: str) -> None:
    register(client, "alice")
    response = login(client, identifier)
    assert response.status_code == 200
    assert response.json()["token_type"] == "bearer"
    me = client.get("/api/users/me", headers=bearer(response.json()["access_token"]))
    assert me.json()["username"] == "alice"


def test_a_wrong_password_and_an_unknown_user_get_the_same_401(
    client: TestClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(client, "alice")
    hasher = app.state.hasher
    checks: list[str] = []
    verify = hasher.verify
    monkeypatch.setattr(hasher, "verify", lambda *a: checks.append("v") or verify(*a))
    wrong = login(client, "alice", "not the password")
    unknown = login(client, "nobody", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.headers["www-authenticate"] == unknown.headers["www-authenticate"] == "Bearer"
    assert checks == ["v", "v"]  # exactly one password check each


@pytest.mark.parametrize("form", [{"username": "alice"}, {"password": PASSWORD}, {}])
def test_a_missing_login_field_is_422(client: TestClient, form: dict[str, str]) -> None:
    assert client.post("/api/login", data=form).status_code == 422


def test_a_login_with_control_characters_is_a_plain_401(client: TestClient) -> None:
    register(client, "alice")
    assert login(client, "ali\x00ce").status_code == 401  # a NUL, even on PostgreSQL
    assert login(client, "alice", "pass\x00word").status_code == 401


def test_a_login_form_that_is_not_utf8_is_422(client: TestClient) -> None:
    form = b"username=%FF&password=x"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    response = client.post("/api/login", content=form, headers=headers)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], str)


def test_failed_logins_are_throttled_with_retry_after(client: TestClient) -> None:
    register(client, "alice")
    for _ in range(5):  # LOGIN_MAX_ATTEMPTS
        assert login(client, "alice", "not the password").status_code == 401
    response = login(client, "alice")  # even the right password waits
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0
    assert "Try again" in response.json()["detail"]


# --- a token's life -------------------------------------------------------------


def test_a_missing_tampered_or_foreign_token_is_401(client: TestClient) -> None:
    alice = sign_up(client, "alice")
    tampered = alice.token[:-2] + ("AA" if alice.token[-2:] != "AA" else "BB")
    foreign = ApiTokens("another-secret-key-another-secret-key", 3600).issue(alice.id, "x")
    for headers in (
        {},
        bearer(""),
        bearer(tampered),
        bearer(foreign),
        {"Authorization": f"Basic {alice.token}"},
    ):
        response = client.get("/api/users/me", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"


def test_a_token_expires_after_access_token_expire_minutes(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(make_settings(database_url, access_token_expire_minutes=1), pooled=False)
    try:
        client = TestClient(app)
        alice = sign_up(client, "alice")
        issued = int(time.time())
        monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: issued + 59)
        assert client.get("/api/users/me", headers=alice.headers).status_code == 200
        monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: issued + 62)
        response = client.get("/api/users/me", headers=alice.headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
    finally:
        dispose(app)


def me_status(client: TestClient, caller: Caller) -> int:
    return client.get("/api/users/me", headers=caller.headers).status_code


def logged_in_browser(new_client, username: str = "alice"):
    browser = new_client()
    assert Auth(browser).login(username).status_code == 303
    return browser


def test_changing_the_password_revokes_tokens(client: TestClient, new_client) -> None:
    alice = sign_up(client, "alice")
    browser = logged_in_browser(new_client)
    changed = post_form(
        browser,
        "/settings/password",
        {
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "new_password_confirm": NEW_PASSWORD,
        },
        page="/settings",
    )
    assert changed.status_code == 303
    assert me_status(client, alice) == 401
    assert login(client, "alice", NEW_PASSWORD).status_code == 200


def test_logging_out_everywhere_else_revokes_tokens(client: TestClient, new_client) -> None:
    alice = sign_up(client, "alice")
    browser = logged_in_browser(new_client)
    assert post_form(browser, "/settings/logout-others", {}, page="/settings").status_code == 303
    assert me_status(client, alice) == 401


def test_deleting_the_account_revokes_tokens(client: TestClient, new_client) -> None:
    alice = sign_up(client, "alice")
    browser = logged_in_browser(new_client)
    deleted = post_form(browser, "/settings/delete", {"password": PASSWORD}, page="/settings")
    assert deleted.status_code == 303
    assert me_status(client, alice) == 401


def test_the_settings_pages_revoke_tokens_too(client: TestClient, auth: Auth, new_client) -> None:
    auth.register("alice")
    api = new_client()
    alice = Caller(1, "alice", login(api, "alice").json()["access_token"])
    assert me_status(api, alice) == 200
    post_form(client, "/settings/logout-others", {}, page="/settings")
    assert me_status(api, alice) == 401
    alice.token = login(api, "alice").json()["access_token"]
    post_form(client, "/settings/delete", {"password": PASSWORD}, page="/settings")
    assert me_status(api, alice) == 401


def test_a_new_login_does_not_revoke_older_tokens(client: TestClient) -> None:
    alice = sign_up(client, "alice")
    assert login(client, "alice").status_code == 200
    assert me_status(client, alice) == 200


# --- the session cookie is not an API credential ------------------------------


def test_the_session_cookie_does_not_authenticate_the_api(client: TestClient, auth: Auth) -> None:
    auth.register("alice")  # logged in: the client holds the session cookie
    assert client.get("/settings").status_code == 200
    assert client.get("/api/users/me").status_code == 401
    created = client.post("/api/posts", json={"title": "t", "content": "c"})
    assert created.status_code == 401

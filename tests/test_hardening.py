"""Security hardening: throttles that reveal nothing, settings forms that
cannot be used to guess a password, responses kept out of caches, a new
session after a password change, only our own host names, HEAD wherever GET,
and a reverse proxy believed only when listed."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlmodel import Session, create_engine, select

from tests.support.api import bearer, login, sign_up
from tests.support.app import PASSWORD, dispose, first_connect, make_settings, on_own_loop
from tests.support.pages import Auth, csrf_token, post_form, write_post
from webapp.app import create_app
from webapp.core.config import SettingsError
from webapp.models import LoginFailure

NEW_PASSWORD = "a brand new passphrase"


# --- the login throttle tells nobody which name and address go together --------------


def test_a_throttled_username_does_not_reveal_its_email(
    client: TestClient, auth: Auth, new_client
) -> None:
    Auth(new_client()).register("frank", email="frank.private@example.org")
    for _ in range(5):
        assert auth.login("frank", "wrong password").status_code == 422
    assert auth.login("frank", "wrong password").status_code == 429
    real = auth.login("frank.private@example.org", "wrong password").status_code
    made_up = auth.login("frank.made.up@example.org", "wrong password").status_code
    assert real == made_up == 422


def test_the_typed_identifier_is_counted_in_any_letter_case(auth: Auth, new_client) -> None:
    Auth(new_client()).register("frank")
    for name in ("frank", "FRANK", "Frank", "ｆｒａｎｋ", " frank "):
        assert auth.login(name, "wrong password").status_code == 422
    assert auth.login("frank", PASSWORD).status_code == 429


# --- the settings forms count wrong passwords per account ----------------------------


def change_password(client: TestClient, current: str):
    fields = {
        "current_password": current,
        "new_password": NEW_PASSWORD,
        "new_password_confirm": NEW_PASSWORD,
    }
    return post_form(client, "/settings/password", fields, page="/settings")


def test_guessing_the_current_password_in_settings_is_throttled(
    alice_browser: TestClient,
) -> None:
    for _ in range(5):
        assert change_password(alice_browser, "a guess").status_code == 422
    blocked = change_password(alice_browser, PASSWORD)
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0
    assert "Too many wrong passwords" in blocked.text
    # The account deletion form shares the count.
    deleting = post_form(alice_browser, "/settings/delete", {"password": PASSWORD}, "/settings")
    assert deleting.status_code == 429
    assert alice_browser.get("/settings").status_code == 200  # still there, still logged in


def test_settings_failures_do_not_throttle_logins(
    alice_browser: TestClient, new_client, db: Session
) -> None:
    for _ in range(5):
        change_password(alice_browser, "a guess")
    assert Auth(new_client()).login("alice", PASSWORD).status_code == 303
    keys = {row.account_key for row in db.exec(select(LoginFailure)).all()}
    assert keys == {"settings:1"}


# --- Cache-Control ------------------------------------------------------------------


def test_pages_for_a_logged_in_visitor_are_not_stored(alice_browser: TestClient) -> None:
    post_id = write_post(alice_browser, "Mine")
    for path in ("/", f"/posts/{post_id}", "/users/1", "/settings", "/no-such-page"):
        response = alice_browser.get(path)
        assert response.headers.get("cache-control") == "no-store", path
    redirect = post_form(alice_browser, f"/posts/{post_id}/vote", {"dir": "1"})
    assert redirect.status_code == 303 and redirect.headers["cache-control"] == "no-store"


def test_pages_for_anonymous_visitors_stay_cacheable(client: TestClient, new_client) -> None:
    author = new_client()
    Auth(author).register("alice")
    post_id = write_post(author, "Public")
    for path in ("/", f"/posts/{post_id}", "/users/1", "/login"):
        assert "cache-control" not in client.get(path).headers, path


def test_logging_in_and_out_are_not_stored(client: TestClient, auth: Auth) -> None:
    assert auth.register("alice").headers["cache-control"] == "no-store"
    assert auth.logout().headers["cache-control"] == "no-store"


def test_api_answers_with_a_token_or_an_email_are_not_stored(client: TestClient) -> None:
    caller = sign_up(client, "alice")
    assert login(client, "alice").headers["cache-control"] == "no-store"
    me = client.get("/api/users/me", headers=caller.headers)
    assert me.status_code == 200 and me.headers["cache-control"] == "no-store"
    assert "cache-control" not in client.get("/api/posts").headers


# --- a password change gives this browser a new session ---------------------------


def test_a_password_change_gives_the_browser_a_new_session_id_and_token(
    alice_browser: TestClient, app: FastAPI
) -> None:
    copy = TestClient(app, follow_redirects=False, cookies=dict(alice_browser.cookies))
    old_token = csrf_token(alice_browser)
    assert change_password(alice_browser, PASSWORD).status_code == 303
    # The copy of the old cookie is logged out; the browser that changed it is not.
    assert copy.get("/settings").status_code == 303
    page = alice_browser.get("/settings")
    assert page.status_code == 200 and "Your password has been changed" in page.text
    assert csrf_token(alice_browser) != old_token


def test_a_password_change_revokes_api_tokens(
    alice_browser: TestClient, client: TestClient
) -> None:
    token = login(client, "alice").json()["access_token"]
    change_password(alice_browser, PASSWORD)
    assert client.get("/api/users/me", headers=bearer(token)).status_code == 401


# --- only our own host names ---------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/posts/1/", "/login", "/api/posts", "/healthz"])
def test_a_foreign_host_is_a_400_and_never_a_redirect(client: TestClient, path: str) -> None:
    response = client.get(path, headers={"host": "evil.example"})
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "evil.example" not in response.text


def test_our_own_hosts_are_answered(client: TestClient) -> None:
    for host in ("testserver", "127.0.0.1:8000", "localhost", "LOCALHOST:80"):
        assert client.get("/", headers={"host": host}).status_code == 200, host


def test_a_host_once_answered_is_answered_again_and_a_foreign_one_still_refused(
    client: TestClient,
) -> None:
    # Each `Host` value found to be ours is remembered as sent: a foreign one,
    # even one that differs only by its port or a suffix, is judged on its own.
    for _ in range(2):
        assert client.get("/api/posts", headers={"host": "localhost:8000"}).status_code == 200
        for foreign in ("localhost.evil.example", "evil.example:8000", "127.0.0.2:8000"):
            assert client.get("/api/posts", headers={"host": foreign}).status_code == 400


def test_allowed_hosts_are_configurable(settings) -> None:
    settings = settings.model_copy(update={"allowed_hosts": "agora.example, www.agora.example"})
    app = create_app(settings, pooled=False)
    on_own_loop(first_connect(app))
    try:
        client = TestClient(app)
        assert client.get("/", headers={"host": "agora.example"}).status_code == 200
        assert client.get("/", headers={"host": "testserver"}).status_code == 400
        api = client.get("/api/posts", headers={"host": "evil.example"})
        assert api.status_code == 400 and api.headers["content-type"] == "application/json"
    finally:
        dispose(app)


def test_production_needs_allowed_hosts_and_the_site_url() -> None:
    base = {"webapp_env": "production", "secret_key": "s" * 40}
    with pytest.raises(SettingsError, match="SITE_URL"):
        make_settings("sqlite:///x.db", **base, allowed_hosts="a.example").check()
    with pytest.raises(SettingsError, match="ALLOWED_HOSTS"):
        make_settings("sqlite:///x.db", **base, site_url="https://a.example").check()


# --- HEAD wherever GET -------------------------------------------------------------


def test_head_is_answered_wherever_get_is(
    app: FastAPI, alice_browser: TestClient, new_client
) -> None:
    write_post(alice_browser, "Something to show")
    paths = []
    for route in iter_route_contexts(app.routes):
        if "GET" in (route.methods or ()) and "{path}" not in (route.path_format or ""):
            paths.append(re.sub(r"\{\w+\}", "1", route.path_format))
    assert {"/", "/healthz", "/login", "/posts/1", "/api/posts", "/docs"} <= set(paths)
    for browser in (new_client(), alice_browser):
        for path in paths:
            browser.get(path)  # once first: a one-time message, a new form token
            get = browser.get(path)
            head = browser.head(path)
            assert head.status_code == get.status_code, path
            assert head.content == b"", path
            if "content-length" in get.headers:
                assert head.headers["content-length"] == get.headers["content-length"], path


def test_head_works_on_static_files(client: TestClient) -> None:
    response = client.head("/static/style.css")
    assert response.status_code == 200 and response.content == b""


# --- a reverse proxy is believed only when listed ------------------------------------


def failed_login_address(settings, forwarded_for: str) -> str:
    app = create_app(settings, pooled=False)
    on_own_loop(first_connect(app))
    try:
        browser = TestClient(app, follow_redirects=False)
        token = csrf_token(browser, "/login")
        browser.post(
            "/login",
            data={"csrf_token": token, "username": "nobody", "password": "wrong password"},
            headers={"X-Forwarded-For": forwarded_for},
        )
    finally:
        dispose(app)
    engine = create_engine(settings.sqlalchemy_url)
    with Session(engine) as db:
        row = db.exec(select(LoginFailure).order_by(LoginFailure.id.desc())).first()  # type: ignore[union-attr]
    engine.dispose()
    assert row is not None
    return row.client_ip


def test_a_forged_forwarded_for_changes_nothing(settings) -> None:
    assert failed_login_address(settings, "203.0.113.9") == "testclient"


def test_a_listed_proxy_is_believed(settings) -> None:
    trusting = settings.model_copy(update={"forwarded_allow_ips": "testclient"})
    assert failed_login_address(trusting, "203.0.113.9") == "203.0.113.9"


def test_an_unlisted_proxy_is_not_believed(settings) -> None:
    other = settings.model_copy(update={"forwarded_allow_ips": "10.0.0.1"})
    assert failed_login_address(other, "203.0.113.9") == "testclient"


# --- forms with more fields than the parser takes -------------------------------


def many_fields(count: int) -> bytes:
    return b"username=alice&password=secret&" + b"&".join(b"x=1" for _ in range(count - 2))


def test_a_login_form_of_more_than_a_thousand_fields_is_too_large(client: TestClient) -> None:
    urlencoded = {"Content-Type": "application/x-www-form-urlencoded"}
    response = client.post("/api/login", content=many_fields(1001), headers=urlencoded)
    assert response.status_code == 413
    assert response.json() == {"detail": "Request Entity Too Large"}
    page = client.post("/login", content=many_fields(1001), headers=urlencoded)
    assert page.status_code == 413
    assert "too large" in page.text
    # A thousand is still a form: the wrong password it holds is a 401.
    within = client.post("/api/login", content=many_fields(1000), headers=urlencoded)
    assert within.status_code == 401


def test_a_multipart_form_of_more_than_a_thousand_fields_is_too_large(client: TestClient) -> None:
    part = b'--b\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n'
    body = part * 1001 + b"--b--\r\n"
    headers = {"Content-Type": "multipart/form-data; boundary=b"}
    assert client.post("/api/login", content=body, headers=headers).status_code == 413

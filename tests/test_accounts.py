"""Registering, logging in and out, and the sessions behind them."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import bcrypt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, select

from tests.support.app import PASSWORD
from tests.support.concurrency import at_the_same_time
from tests.support.pages import Auth, csrf_token, post_form, session_cookie
from webapp.app import create_app
from webapp.models import LoginFailure, User, UserSession, utcnow


def field_error(html: str, field: str) -> str | None:
    match = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', html)
    return match.group(1) if match else None


def test_a_user_registers_and_is_logged_in(client: TestClient, auth: Auth, db: Session) -> None:
    response = auth.register("alice")
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    home = client.get("/")
    assert "Welcome to Agora, alice!" in home.text
    assert 'href="/settings"' in home.text
    assert "Welcome to Agora" not in client.get("/").text  # the flash is shown once
    user = db.exec(select(User)).one()
    assert user.username == "alice"
    assert user.password_hash.startswith("$bcrypt-sha256$")


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"username": "al"}, "username", "3–30"),
        ({"username": "a" * 31}, "username", "3–30"),
        ({"username": "al ice"}, "username", "letters, digits or underscores"),
        ({"username": "álice"}, "username", "letters, digits or underscores"),
        ({"email": "not-an-email"}, "email", "email"),
        ({"password": "short", "confirm": "short"}, "password", "at least 8"),
        ({"password": "p" * 129, "confirm": "p" * 129}, "password", "at most 128"),
        (
            {"password": "ALICE_name", "confirm": "ALICE_name", "username": "alice_name"},
            "password",
            "same as the username",
        ),
        (
            {"password": "Alice@Example.com", "confirm": "Alice@Example.com"},
            "password",
            "same as the username or email",
        ),
        ({"confirm": "something else"}, "password_confirm", "do not match"),
        ({"username": "ali\x00ce"}, "username", "letters"),
    ],
)
def test_registration_errors_are_shown_beside_their_field(
    auth: Auth, db: Session, fields: dict, field: str, message: str
) -> None:
    values = {"username": "alice", "email": "alice@example.com", "password": PASSWORD}
    values.update(fields)
    response = auth.register(**values)
    assert response.status_code == 422
    error = field_error(response.text, field)
    assert error is not None and message in error, error
    assert f'aria-describedby="{field}-hint {field}-error"' in response.text or (
        f'aria-describedby="{field}-error"' in response.text
    )
    assert db.exec(select(User)).first() is None


def test_a_failed_registration_keeps_what_was_typed_but_not_passwords(auth: Auth) -> None:
    response = auth.register("alice", email="alice@example.com", password="pw12345", confirm="x")
    assert response.status_code == 422
    assert 'value="alice"' in response.text
    assert 'value="alice@example.com"' in response.text
    assert "pw12345" not in response.text


def test_a_full_width_username_is_normalized(auth: Auth, db: Session) -> None:
    assert auth.register("Ａdmin", email="admin@example.com").status_code == 303
    assert db.exec(select(User.username)).one() == "Admin"


@pytest.mark.parametrize("email", ["not-an-email", "ada@localhost", "ada@@example.com"])
def test_a_bad_email_is_refused_in_our_words(auth: Auth, email: str) -> None:
    response = auth.register("alice", email=email)
    assert response.status_code == 422
    assert field_error(response.text, "email") == "Must be an email address, like name@example.com."
    assert "@-sign" not in response.text and "not a valid" not in response.text


@pytest.mark.parametrize(
    ("username", "email", "field"),
    [("ALICE", "other@example.com", "username"), ("bob", "Alice@EXAMPLE.com", "email")],
)
def test_a_taken_name_or_email_in_any_case_is_a_form_error(
    client: TestClient, new_client, username: str, email: str, field: str
) -> None:
    assert Auth(client).register("alice", email="alice@example.com").status_code == 303
    response = Auth(new_client()).register(username, email=email)
    assert response.status_code == 422
    assert field_error(response.text, field)


def test_two_people_racing_for_one_name_never_get_a_500(new_client, db: Session) -> None:
    clients = [new_client() for _ in range(4)]
    tokens = [csrf_token(c, "/register") for c in clients]

    def register(index: int) -> int:
        response = clients[index].post(
            "/register",
            data={
                "csrf_token": tokens[index],
                "username": "racer" if index % 2 else "RACER",
                "email": f"racer{index}@example.com",
                "password": PASSWORD,
                "password_confirm": PASSWORD,
            },
        )
        return response.status_code

    statuses = at_the_same_time([lambda i=i: register(i) for i in range(len(clients))])
    assert sorted(statuses) == [303, 422, 422, 422]
    assert len(db.exec(select(User)).all()) == 1


def test_every_character_of_a_long_password_counts(auth: Auth, new_client) -> None:
    password = "x" * 99 + "y"
    assert auth.register("alice", password=password).status_code == 303
    other = Auth(new_client())
    assert other.login("alice", password[:-1]).status_code == 422
    assert other.login("alice", password).status_code == 303


@pytest.mark.parametrize("identifier", ["alice", "ALICE", "alice@example.com", "Alice@Example.COM"])
def test_a_user_logs_in_with_username_or_email(
    client: TestClient, new_client, identifier: str
) -> None:
    Auth(client).register("alice")
    browser = new_client()
    response = Auth(browser).login(identifier)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert "Welcome back, alice." in browser.get("/").text


def test_a_failed_login_says_the_same_whether_or_not_the_account_exists(
    auth: Auth, new_client, app
) -> None:
    auth.register("alice")
    context, _ = app.state.hasher._context()  # made at the first use
    calls: list[str] = []
    real = context.verify_and_update

    def counting(secret, hash):
        calls.append(secret)
        return real(secret, hash)

    context.verify_and_update = counting
    stranger = Auth(new_client())
    wrong = stranger.login("alice", "wrong password")
    assert len(calls) == 1
    unknown = stranger.login("nobody", "wrong password")
    assert len(calls) == 2
    assert wrong.status_code == unknown.status_code == 422
    message = "The username, email or password is not right."
    assert message in wrong.text and message in unknown.text
    assert 'value="alice"' in wrong.text


def test_an_old_or_cheaper_hash_is_upgraded_at_the_next_login(
    auth: Auth, db: Session, new_client
) -> None:
    auth.register("alice")
    old = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    db.exec(update(User).values(password_hash=old))
    db.commit()
    assert Auth(new_client()).login("alice").status_code == 303
    db.expire_all()
    upgraded = db.exec(select(User.password_hash)).one()
    assert upgraded.startswith("$bcrypt-sha256$")
    assert upgraded != old


def test_the_cookie_holds_only_an_opaque_session_id(
    client: TestClient, auth: Auth, db: Session
) -> None:
    auth.register("alice")
    data = session_cookie(client)
    assert set(data) <= {"sid", "flash"}
    assert len(data["sid"]) >= 32  # 256 random bits, URL-safe
    stored = db.exec(select(UserSession)).one()
    assert data["sid"] not in (stored.key_hash, stored.csrf_token)  # only its hash is kept


def test_the_cookie_is_httponly_and_samesite_lax(auth: Auth) -> None:
    header = auth.register("alice").headers["set-cookie"].lower()
    assert "httponly" in header
    assert "samesite=lax" in header
    assert "secure" not in header


def test_the_cookie_is_secure_when_configured(settings) -> None:
    app = create_app(settings.model_copy(update={"cookie_secure": True}))
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        header = Auth(client).register("alice").headers["set-cookie"].lower()
    assert "; secure" in header


def test_logging_in_starts_a_new_session_and_csrf_token(
    client: TestClient, auth: Auth, db: Session
) -> None:
    auth.register("alice")
    first_sid = session_cookie(client)["sid"]
    first_token = csrf_token(client)
    assert auth.login("alice").status_code == 303  # logging in again, from the same browser
    assert session_cookie(client)["sid"] != first_sid
    assert csrf_token(client) != first_token
    assert len(db.exec(select(UserSession)).all()) == 1  # the old one is gone


def test_an_anonymous_form_token_is_replaced_at_login(client: TestClient, auth: Auth) -> None:
    auth.register("alice")
    auth.logout()
    anonymous = csrf_token(client, "/login")
    auth.login("alice")
    assert csrf_token(client) != anonymous


def test_after_logout_a_copy_of_the_old_cookie_no_longer_works(
    client: TestClient, auth: Auth, new_client
) -> None:
    auth.register("alice")
    stolen = client.cookies.get("agora_session")
    response = auth.logout()
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert "You have been logged out." in client.get("/").text
    thief = new_client()
    thief.cookies.set("agora_session", stolen)
    assert thief.get("/settings").status_code == 303


def test_sessions_expire(client: TestClient, auth: Auth, db: Session) -> None:
    auth.register("alice")
    assert client.get("/settings").status_code == 200
    db.exec(update(UserSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.commit()
    response = client.get("/settings")
    assert response.status_code == 303
    assert db.exec(select(UserSession)).first() is None


def test_a_page_that_needs_a_login_sends_you_to_log_in_and_back(
    client: TestClient, auth: Auth, new_client
) -> None:
    auth.register("alice")
    browser = new_client()
    response = browser.get("/settings")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/settings"
    login_page = browser.get(response.headers["location"])
    assert 'name="next" value="/settings"' in login_page.text
    assert Auth(browser).login("alice", next="/settings").headers["location"] == "/settings"


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "/\\evil.example",
        "https://evil.example/",
        "http:/evil.example",
        "javascript:alert(1)",
        "/\tevil",
        "\\\\evil.example",
        "evil.example",
        "",
    ],
)
def test_next_only_follows_a_path_on_this_site(client: TestClient, new_client, target: str) -> None:
    Auth(client).register("alice")
    response = Auth(new_client()).login("alice", next=target)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    client: TestClient, auth: Auth, db: Session
) -> None:
    response = client.post(
        "/register",
        data={
            "username": "alice",
            "email": "a@example.com",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
        },
    )
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert db.exec(select(User)).first() is None
    auth.register("alice")
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 403
    assert client.get("/settings").status_code == 200  # still logged in


def test_a_form_that_is_not_utf8_is_a_validation_error(client: TestClient, db: Session) -> None:
    token = csrf_token(client, "/register")
    for body in (b"username=al%FFice", "username=alïce".encode("latin-1")):
        response = client.post(
            "/register",
            content=body + b"&csrf_token=" + token.encode(),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 422
    assert db.exec(select(User)).first() is None


class TestLoginThrottle:
    def fail(self, auth: Auth, username: str = "alice", times: int = 1) -> list[int]:
        return [auth.login(username, "wrong password").status_code for _ in range(times)]

    def test_an_account_is_throttled_after_too_many_failures(
        self, client: TestClient, new_client
    ) -> None:
        Auth(client).register("alice")
        Auth(new_client()).register("bob")
        attacker = Auth(new_client())
        assert self.fail(attacker, times=5) == [422] * 5
        blocked = attacker.login("alice", PASSWORD)  # even the right password waits
        assert blocked.status_code == 429
        assert 0 < int(blocked.headers["retry-after"]) <= 15 * 60
        assert "Too many failed logins" in blocked.text
        assert Auth(new_client()).login("bob").status_code == 303  # others are not locked out

    def test_the_count_lives_in_the_database(self, client: TestClient, settings) -> None:
        Auth(client).register("alice")
        self.fail(Auth(client), times=5)
        with TestClient(create_app(settings), follow_redirects=False) as restarted:
            assert Auth(restarted).login("alice").status_code == 429

    def test_the_throttle_ends_when_the_window_passes(
        self, client: TestClient, db: Session
    ) -> None:
        auth = Auth(client)
        auth.register("alice")
        auth.logout()
        self.fail(auth, times=5)
        assert auth.login("alice").status_code == 429
        db.exec(update(LoginFailure).values(created_at=utcnow() - timedelta(minutes=16)))
        db.commit()
        assert auth.login("alice").status_code == 303

    def test_one_address_is_throttled_after_ten_times_as_many(self, client: TestClient) -> None:
        auth = Auth(client)
        auth.register("alice")
        auth.logout()
        for number in range(50):
            assert self.fail(auth, username=f"nobody{number}") == [422]
        assert auth.login("alice").status_code == 429

    def test_unknown_accounts_are_throttled_like_real_ones(self, client: TestClient) -> None:
        auth = Auth(client)
        assert self.fail(auth, "ghost", times=6) == [422] * 5 + [429]


def test_hashing_does_not_stall_other_requests(client: TestClient, new_client, app) -> None:
    """While one login's hash is being checked, another request is served."""
    Auth(client).register("alice")
    hasher = app.state.hasher
    real = hasher.verify_now
    entered, release = threading.Event(), threading.Event()

    def slow_verify(password, password_hash):
        entered.set()
        release.wait(timeout=10)
        return real(password, password_hash)

    hasher.verify_now = slow_verify
    browser = new_client()
    token = csrf_token(browser, "/login")
    result: list[int] = []
    login = threading.Thread(
        target=lambda: result.append(
            browser.post(
                "/login", data={"csrf_token": token, "username": "alice", "password": PASSWORD}
            ).status_code
        )
    )
    login.start()
    assert entered.wait(timeout=10)
    try:
        assert client.get("/healthz").status_code == 200
        assert not release.is_set()  # served while the hash was still being checked
    finally:
        release.set()
        login.join()
    assert result == [303]


def test_the_header_shows_who_is_logged_in(client: TestClient, auth: Auth, db: Session) -> None:
    auth.register("alice")
    user = db.exec(select(User)).one()
    page = client.get("/").text
    assert f'<a href="/users/{user.id}">alice</a>' in page
    assert 'action="/logout"' in page and "Log out" in page
    assert post_form(client, "/logout", {}).status_code == 303
    assert "Log in" in client.get("/").text


def test_control_characters_in_a_login_are_a_plain_failure(client: TestClient, auth: Auth) -> None:
    auth.register("alice")
    auth.logout()
    for name in ("ali\x00ce", "\x00", "alice\x07"):
        assert auth.login(name).status_code == 422


def test_a_legacy_hash_refuses_what_bcrypt_cannot_take_without_failing(
    auth: Auth, db: Session, new_client
) -> None:
    auth.register("alice")
    legacy = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    db.exec(update(User).values(password_hash=legacy))
    db.commit()
    browser = Auth(new_client())
    assert browser.login("alice", "x" * 100).status_code == 422
    assert browser.login("alice", "pass\x00word").status_code == 422
    assert browser.login("alice").status_code == 303

"""Mail: a forgotten password and a new address, through a real SMTP server
(aiosmtpd, started here) whose received mails the tests read and follow."""

from __future__ import annotations

import logging
import shutil
import ssl
import stat
import subprocess
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, select

from tests.support.api import bearer, login
from tests.support.app import PASSWORD, dispose, make_settings
from tests.support.pages import Auth, csrf_token, post_form
from tests.support.server import free_port
from tests.support.smtp import Inbox, SmtpServer, link_in, text_of
from webapp.app import create_app
from webapp.core.config import Settings
from webapp.models import MailToken, User, utcnow

NEW_PASSWORD = "a brand new passphrase"
SENT = "/password-reset/sent"


@pytest.fixture
def settings(database_url: str, inbox: Inbox) -> Settings:
    return make_settings(database_url, smtp_url=inbox.url)


@pytest.fixture(autouse=True)
def quick_retries(app: FastAPI) -> None:
    """The postman tries a refused mail again after 50 ms, not seconds."""
    app.state.postman.first_pause = 0.05


def ask_reset(client: TestClient, email: str):
    return post_form(client, "/password-reset", {"email": email}, page="/password-reset")


def choose(client: TestClient, link: str, password: str = NEW_PASSWORD, confirm: str | None = None):
    return post_form(
        client,
        link,
        {
            "new_password": password,
            "new_password_confirm": password if confirm is None else confirm,
        },
        page=link,
    )


def reset_link(client: TestClient, inbox: Inbox, email: str = "alice@example.com") -> str:
    assert ask_reset(client, email).headers["location"] == SENT
    (mail,) = inbox.wait_for(1)
    assert mail["To"] == email
    return link_in(mail)


# --- a forgotten password ---------------------------------------------------------


def test_the_login_page_offers_a_reset(client: TestClient) -> None:
    assert 'href="/password-reset">Forgot your password?</a>' in client.get("/login").text


def test_a_reset_by_mail_sets_the_password_and_ends_every_session_and_token(
    alice_browser: TestClient, new_client, inbox: Inbox
) -> None:
    token = login(alice_browser, "alice").json()["access_token"]
    stranger = new_client()
    link = reset_link(stranger, inbox)
    (mail,) = inbox.mails
    assert mail["Subject"] == "Reset your Agora password"
    assert f"http://127.0.0.1:8000{link}" in text_of(mail)  # absolute, from SITE_URL
    assert stranger.get(link).status_code == 200

    done = choose(stranger, link)
    assert (done.status_code, done.headers["location"]) == (303, "/login")
    assert "Your password has been changed. Log in with it." in stranger.get("/login").text
    assert (
        "agora_session" not in stranger.cookies or "Log in" in stranger.get("/").text
    )  # no session
    assert alice_browser.get("/settings").status_code == 303  # her session ended
    assert alice_browser.get("/api/users/me", headers=bearer(token)).status_code == 401
    assert Auth(new_client()).login("alice", PASSWORD).status_code == 422
    assert Auth(new_client()).login("alice", NEW_PASSWORD).status_code == 303
    # The link worked once.
    again = stranger.get(link)
    assert again.status_code == 400
    assert 'href="/password-reset">Send me a new link</a>' in again.text


def test_an_unknown_address_gets_the_same_answer_and_no_mail(
    alice_browser: TestClient, new_client, app: FastAPI, inbox: Inbox
) -> None:
    visitor = new_client()
    known, unknown = (
        ask_reset(visitor, "ALICE@example.com"),
        ask_reset(visitor, "nobody@example.com"),
    )
    assert (known.status_code, known.headers["location"]) == (
        unknown.status_code,
        unknown.headers["location"],
    )
    assert app.state.postman.wait()
    assert [mail["To"] for mail in inbox.mails] == ["alice@example.com"]


def test_an_address_gets_three_mails_an_hour_at_most(
    alice_browser: TestClient, new_client, app: FastAPI, inbox: Inbox
) -> None:
    visitor = new_client()
    for _ in range(5):
        assert ask_reset(visitor, "alice@example.com").headers["location"] == SENT
    assert app.state.postman.wait()
    assert len(inbox.mails) == 3


def test_reset_requests_count_against_the_address_login_limit(
    database_url: str, inbox: Inbox, client: TestClient, app: FastAPI
) -> None:
    limit = app.state.settings.login_max_attempts * 10  # the address's limit
    for _ in range(limit):
        assert ask_reset(client, "someone@example.com").status_code == 303
    refused = ask_reset(client, "someone@example.com")
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "Too many attempts from your address" in refused.text
    api = client.post("/api/password-reset", json={"email": "someone@example.com"})
    assert api.status_code == 429


def test_an_expired_link_offers_a_new_one(
    alice_browser: TestClient, new_client, inbox: Inbox, db: Session
) -> None:
    link = reset_link(new_client(), inbox)
    db.exec(update(MailToken).values(expires_at=utcnow() - timedelta(seconds=1)))  # type: ignore[call-overload]
    db.commit()
    page = new_client().get(link)
    assert page.status_code == 400
    assert "Send me a new link" in page.text
    form = {"new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD}
    assert post_form(new_client(), link, form, page="/password-reset").status_code == 400


@pytest.mark.parametrize(
    "token",
    [
        "short",
        "A" * 44,
        "A" * 42 + "%21",  # "!" is not in the alphabet
        "A" * 42 + "%00",
        "A" * 41 + "%C3%A9",  # é
        "A" * 42 + "%FF",  # not UTF-8
        "A" * 43,  # well formed, and nobody's
    ],
)
def test_a_token_that_is_not_one_is_a_400(client: TestClient, token: str) -> None:
    page = client.get(f"/password-reset/{token}")
    assert page.status_code == 400
    assert "This link does not work" in page.text
    assert (
        post_form(
            client,
            f"/password-reset/{token}",
            {"new_password": NEW_PASSWORD},
            page="/password-reset",
        ).status_code
        == 400
    )


@pytest.mark.parametrize(
    ("password", "confirm", "field_message"),
    [
        ("short", "short", "at least"),
        ("alice", "alice", "at least"),
        ("alice@example.com", "alice@example.com", "same as the username or email"),
        (NEW_PASSWORD, "something else entirely", "do not match"),
    ],
)
def test_a_new_password_that_breaks_the_rules_keeps_the_link(
    alice_browser: TestClient,
    new_client,
    inbox: Inbox,
    password: str,
    confirm: str,
    field_message: str,
) -> None:
    visitor = new_client()
    link = reset_link(visitor, inbox)
    refused = choose(visitor, link, password, confirm)
    assert refused.status_code == 422
    assert field_message in refused.text
    assert choose(visitor, link).status_code == 303  # the link still works


def test_a_link_opened_twice_at_once_works_once(
    alice_browser: TestClient, new_client, inbox: Inbox
) -> None:
    link = reset_link(new_client(), inbox)
    browsers = [new_client() for _ in range(2)]
    tokens = [csrf_token(browser, link) for browser in browsers]
    answers: list[int] = []
    start = threading.Barrier(2)

    def submit(browser: TestClient, token: str) -> None:
        start.wait()
        response = browser.post(
            link,
            data={
                "csrf_token": token,
                "new_password": NEW_PASSWORD,
                "new_password_confirm": NEW_PASSWORD,
            },
        )
        answers.append(response.status_code)

    threads = [
        threading.Thread(target=submit, args=pair) for pair in zip(browsers, tokens, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [303, 400]


def test_the_api_asks_for_a_reset_the_same_way(
    alice_api, client: TestClient, app: FastAPI, inbox: Inbox
) -> None:
    for email in ("alice@example.com", "nobody@example.com"):
        response = client.post("/api/password-reset", json={"email": email})
        assert response.status_code == 202
        assert response.json() == {
            "message": "If an account has this address, a link is on its way to it."
        }
    assert app.state.postman.wait()
    (mail,) = inbox.mails
    assert mail["To"] == "alice@example.com"
    assert link_in(mail).startswith("/password-reset/")


@pytest.mark.parametrize(
    "body", [{}, {"email": "not an address"}, {"email": "a" * 250 + "@example.com"}, {"email": 7}]
)
def test_the_api_refuses_what_is_not_an_address(client: TestClient, body: object) -> None:
    assert client.post("/api/password-reset", json=body).status_code == 422


@pytest.mark.parametrize(
    "email", ["", "not an address", "a" * 250 + "@example.com", "a\x00@example.com"]
)
def test_the_page_refuses_what_is_not_an_address(client: TestClient, email: str) -> None:
    refused = ask_reset(client, email)
    assert refused.status_code == 422
    assert 'aria-invalid="true"' in refused.text


# --- when mail cannot go ----------------------------------------------------------


def test_a_refusing_server_neither_delays_nor_fails_the_request(
    alice_browser: TestClient,
    new_client,
    app: FastAPI,
    inbox: Inbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    inbox.refusal = "550 No such mailbox here"
    with caplog.at_level(logging.WARNING, logger="webapp.mail"):
        assert ask_reset(new_client(), "alice@example.com").headers["location"] == SENT
        assert app.state.postman.wait()
    assert inbox.mails == []
    assert "550 No such mailbox here" in caplog.text
    assert "given up after 4 attempts" in caplog.text
    assert "alice@" not in caplog.text  # the log names the domain, not the mailbox


def test_a_slow_server_does_not_hold_the_request(
    alice_browser: TestClient, new_client, inbox: Inbox
) -> None:
    inbox.delay = 1.0
    assert ask_reset(new_client(), "alice@example.com").headers["location"] == SENT
    assert inbox.mails == []  # answered before the server took the mail
    inbox.wait_for(1)


def test_a_server_that_is_down_is_retried_and_reported(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(
        make_settings(database_url, smtp_url=f"smtp://127.0.0.1:{free_port()}"), pooled=False
    )
    app.state.postman.first_pause = 0.01
    try:
        client = TestClient(app, follow_redirects=False)
        Auth(client).register("alice")
        with caplog.at_level(logging.WARNING, logger="webapp.mail"):
            assert (
                ask_reset(TestClient(app, follow_redirects=False), "alice@example.com").status_code
                == 303
            )
            assert app.state.postman.wait()
        assert "ConnectionRefusedError" in caplog.text
    finally:
        dispose(app)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed certificate for 127.0.0.1 (key and certificate in one file)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    pem = tmp_path_factory.mktemp("tls") / "server.pem"
    command = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1"
    command += " -addext subjectAltName=IP:127.0.0.1"
    subprocess.run(
        [*command.split(), "-keyout", str(pem), "-out", str(pem)], check=True, capture_output=True
    )
    return pem


def test_mail_goes_over_starttls_with_a_login(
    database_url: str, certificate: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """smtp:// upgraded with STARTTLS, which this server requires; it takes
    mail only after the login the URL names, and the postman checks its
    certificate (trusted here through SSL_CERT_FILE)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate)
    with SmtpServer(free_port(), tls="starttls", context=context) as secure:
        app = create_app(make_settings(database_url, smtp_url=secure.url), pooled=False)
        try:
            client = TestClient(app, follow_redirects=False)
            Auth(client).register("alice")
            ask_reset(TestClient(app, follow_redirects=False), "alice@example.com")
            (mail,) = secure.wait_for(1)
            assert link_in(mail).startswith("/password-reset/")
        finally:
            dispose(app)


def test_without_smtp_in_production_the_pages_say_mail_is_unavailable(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(
        database_url,
        webapp_env="production",
        site_url="https://agora.example",
        allowed_hosts="testserver",
        # With addresses to confirm, production without SMTP_URL does not start.
        require_confirmed_email=False,
    )
    app = create_app(settings, pooled=False)
    try:
        with caplog.at_level(logging.WARNING, logger="webapp.mail"), TestClient(app):
            pass  # started (and stopped): the start-up says so
        assert "SMTP_URL is not set" in caplog.text
        client = TestClient(app, follow_redirects=False, base_url="https://testserver")
        assert "cannot send mail" in client.get("/password-reset").text
        refused = client.post("/password-reset", data={"email": "a@example.com", "csrf_token": "x"})
        assert refused.status_code in (403, 503)
        assert (
            client.post("/api/password-reset", json={"email": "a@example.com"}).status_code == 503
        )
    finally:
        dispose(app)


def test_without_smtp_in_development_mails_go_to_the_outbox(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the outbox is beside the SQLite database")
    app = create_app(make_settings(database_url), pooled=False)
    try:
        client = TestClient(app, follow_redirects=False)
        Auth(client).register("alice")
        with caplog.at_level(logging.WARNING, logger="webapp.mail"):
            ask_reset(TestClient(app, follow_redirects=False), "alice@example.com")
            assert app.state.postman.wait()
        outbox = app.state.settings.outbox_dir
        (kept,) = outbox.iterdir()
        assert stat.S_IMODE(outbox.stat().st_mode) == 0o700
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
        assert "/password-reset/" in kept.read_text()
        assert "http://127.0.0.1:8000/password-reset/" in caplog.text  # a newcomer can click it
    finally:
        dispose(app)


# --- a new address ----------------------------------------------------------------


def ask_new_address(client: TestClient, email: str, password: str = PASSWORD):
    return post_form(
        client, "/settings/email", {"email": email, "current_password": password}, page="/settings"
    )


def test_a_new_address_changes_when_its_link_is_opened(
    alice_browser: TestClient, inbox: Inbox, db: Session
) -> None:
    asked = ask_new_address(alice_browser, "alice@new.example")
    assert (asked.status_code, asked.headers["location"]) == (303, "/settings")
    settings_page = alice_browser.get("/settings").text
    assert "A link to confirm the change is on its way to alice@new.example." in settings_page
    assert (
        "Waiting for you to open the link sent to <strong>alice@new.example</strong>"
        in settings_page
    )
    confirm, notice = sorted(inbox.wait_for(2), key=lambda mail: mail["To"] != "alice@new.example")
    assert confirm["To"] == "alice@new.example"
    assert notice["To"] == "alice@example.com"
    assert "alice@new.example" in text_of(notice)
    assert "change your password and log out everywhere else" in text_of(notice)
    assert db.exec(select(User.email)).one() == "alice@example.com"  # not yet

    link = link_in(confirm)
    assert link.startswith("/settings/email/")
    opened = alice_browser.get(link)
    assert (opened.status_code, opened.headers["location"]) == (303, "/settings")
    assert "Your address is now alice@new.example." in alice_browser.get("/settings").text
    db.expire_all()
    assert db.exec(select(User.email)).one() == "alice@new.example"
    assert alice_browser.get(link).status_code == 400  # once


def test_the_link_works_without_a_login_too(
    alice_browser: TestClient, new_client, inbox: Inbox
) -> None:
    ask_new_address(alice_browser, "alice@new.example")
    link = link_in(inbox.to("alice@new.example")[0] if inbox.wait_for(2) else None)
    opened = new_client().get(link)
    assert (opened.status_code, opened.headers["location"]) == (303, "/login")


def test_a_new_address_needs_the_current_password(
    alice_browser: TestClient, app: FastAPI, inbox: Inbox
) -> None:
    refused = ask_new_address(alice_browser, "alice@new.example", "not my password")
    assert refused.status_code == 422
    assert "This is not your current password." in refused.text
    assert 'value="alice@new.example"' in refused.text  # the form is kept
    for _ in range(app.state.settings.login_max_attempts):
        last = ask_new_address(alice_browser, "alice@new.example", "not my password")
    assert last.status_code == 429
    assert app.state.postman.wait()
    assert inbox.mails == []


@pytest.mark.parametrize(
    ("email", "status", "message"),
    [
        ("not an address", 422, "email"),
        ("ALICE@example.com", 422, "This is already your address."),
        ("bob@example.com", 409, "An account already uses this email."),
    ],
)
def test_a_new_address_must_be_one_and_free(
    alice_browser: TestClient,
    bob_browser: TestClient,
    inbox: Inbox,
    email: str,
    status: int,
    message: str,
) -> None:
    refused = ask_new_address(alice_browser, email)
    assert refused.status_code == status
    assert message in refused.text


def test_an_address_taken_meanwhile_is_a_409_page(
    alice_browser: TestClient, new_client, inbox: Inbox
) -> None:
    ask_new_address(alice_browser, "shared@example.com")
    link = link_in(inbox.to("shared@example.com")[0] if inbox.wait_for(2) else None)
    Auth(new_client()).register("bob", email="SHARED@example.com")
    taken = alice_browser.get(link)
    assert taken.status_code == 409
    assert "Another account now uses this email." in taken.text


def test_a_pending_change_can_be_cancelled(alice_browser: TestClient, inbox: Inbox) -> None:
    ask_new_address(alice_browser, "alice@new.example")
    link = link_in(inbox.to("alice@new.example")[0] if inbox.wait_for(2) else None)
    cancelled = post_form(alice_browser, "/settings/email/cancel", {}, page="/settings")
    assert cancelled.status_code == 303
    page = alice_browser.get("/settings").text
    assert "The change of address is cancelled" in page
    assert "Waiting for you to open the link" not in page
    assert alice_browser.get(link).status_code == 400


def test_asking_again_replaces_the_pending_change(alice_browser: TestClient, inbox: Inbox) -> None:
    ask_new_address(alice_browser, "first@example.com")
    ask_new_address(alice_browser, "second@example.com")
    inbox.wait_for(4)
    first = link_in(inbox.to("first@example.com")[0])
    second = link_in(inbox.to("second@example.com")[0])
    assert alice_browser.get(first).status_code == 400
    assert alice_browser.get(second).status_code == 303

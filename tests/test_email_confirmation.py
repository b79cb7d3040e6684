"""Confirmed addresses: with REQUIRE_CONFIRMED_EMAIL, a new account gets a
link by mail (a real SMTP server here), single use, 24 hours, kept as a hash;
until it is opened the account reads but does not post, comment, like, follow
or report (403, with a button that sends the link again, 3 mails an hour in
all); the API says so in UserMe's `email_confirmed`. In production with the
rule on and no SMTP_URL the server refuses to start."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, select

from tests.support.api import login, register
from tests.support.app import SECRET, make_settings
from tests.support.pages import Auth, post_form, write_post
from tests.support.smtp import Inbox, link_in
from webapp.app import create_app
from webapp.core.config import Settings, SettingsError
from webapp.core.security import hash_token
from webapp.models import MailToken, User, utcnow

NOT_YET = "Confirm your email address first"


@pytest.fixture
def settings(database_url: str, inbox: Inbox) -> Settings:
    return make_settings(database_url, smtp_url=inbox.url, require_confirmed_email=True)


@pytest.fixture(autouse=True)
def quick_retries(app: FastAPI) -> None:
    app.state.postman.first_pause = 0.05


def confirmation_link(inbox: Inbox, address: str, count: int = 1) -> str:
    """The link of the `count`th mail to the address, once it has arrived."""
    deadline = time.monotonic() + 10
    while len(inbox.to(address)) < count:
        assert time.monotonic() < deadline, f"no mail {count} to {address}"
        time.sleep(0.02)
    mails = inbox.to(address)
    assert len(mails) == count and "Confirm your address" in mails[-1]["Subject"]
    return link_in(mails[-1])


def test_a_new_account_reads_but_may_not_act_until_its_link_is_opened(
    client: TestClient, new_client, inbox: Inbox, db: Session
) -> None:
    bob = new_client()
    Auth(bob).register("bob")
    Auth(client).register("alice")
    link = confirmation_link(inbox, "alice@example.com")
    assert link.startswith("/confirm-email/")
    assert client.get("/").status_code == 200
    refused = post_form(client, "/posts", {"title": "t", "content": "c"}, page="/posts/new")
    assert refused.status_code == 403
    assert NOT_YET in refused.text and 'action="/settings/confirm-email"' in refused.text
    for path in ("/users/1/follow", "/users/1/report"):
        assert post_form(client, path, {"reason": "spam"}).status_code == 403, path
    opened = client.get(link)
    assert opened.status_code == 303 and opened.headers["cache-control"] == "no-store"
    post_id = write_post(client, "Now I may")
    said = post_form(client, f"/posts/{post_id}/comments", {"content": "hi"}, f"/posts/{post_id}")
    assert said.status_code == 303
    # Bob, not confirmed, may not like or comment on it.
    like = post_form(bob, f"/posts/{post_id}/vote", {"dir": "1"}, page=f"/posts/{post_id}")
    assert like.status_code == 403
    again = client.get(link)
    assert again.status_code == 400 and again.headers["cache-control"] == "no-store"


def test_the_link_is_kept_as_a_hash_and_expires_after_a_day(
    client: TestClient, inbox: Inbox, db: Session
) -> None:
    Auth(client).register("alice")
    link = confirmation_link(inbox, "alice@example.com")
    token = link.rsplit("/", 1)[1]
    row = db.exec(select(MailToken).where(MailToken.purpose == "confirm")).one()
    assert row.token_hash == hash_token(token) and token not in row.token_hash
    assert timedelta(hours=23) < row.expires_at - row.created_at <= timedelta(hours=24)
    db.exec(update(MailToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.commit()
    assert client.get(link).status_code == 400
    assert db.exec(select(User)).one().email_confirmed is False


@pytest.mark.parametrize(
    "token", ["abc", "A" * 42 + "!", "A" * 44, "%00" * 20, "%C3%28" * 10, "A" * 43]
)
def test_malformed_or_unknown_tokens_are_a_400_page(client: TestClient, token: str) -> None:
    page = client.get(f"/confirm-email/{token}")
    assert page.status_code == 400
    assert "This link does not work" in page.text


def test_the_link_is_sent_again_three_times_an_hour_in_all(
    client: TestClient, inbox: Inbox
) -> None:
    Auth(client).register("alice")
    confirmation_link(inbox, "alice@example.com")
    for count in (2, 3):
        answer = post_form(client, "/settings/confirm-email", {}, page="/settings")
        assert answer.status_code == 303
        confirmation_link(inbox, "alice@example.com", count)
    refused = post_form(client, "/settings/confirm-email", {}, page="/settings")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    # The latest link works; any of them confirms.
    assert client.get(link_in(inbox.to("alice@example.com")[-1])).status_code == 303


def test_the_api_answers_403_and_says_whether_the_address_is_confirmed(
    client: TestClient, inbox: Inbox
) -> None:
    assert register(client, "alice").status_code == 201
    headers = {"Authorization": f"Bearer {login(client, 'alice').json()['access_token']}"}
    assert client.get("/api/users/me", headers=headers).json()["email_confirmed"] is False
    refused = client.post("/api/posts", json={"title": "t", "content": "c"}, headers=headers)
    assert refused.status_code == 403 and refused.json()["detail"] == NOT_YET
    vote = client.post("/api/vote", json={"post_id": 1, "dir": 1}, headers=headers)
    assert vote.status_code == 403
    client.get(confirmation_link(inbox, "alice@example.com"))
    assert client.get("/api/users/me", headers=headers).json()["email_confirmed"] is True
    made = client.post("/api/posts", json={"title": "t", "content": "c"}, headers=headers)
    assert made.status_code == 201


def test_without_the_rule_nobody_waits_and_no_link_is_mailed(
    database_url: str, inbox: Inbox
) -> None:
    settings = make_settings(database_url, smtp_url=inbox.url)
    assert settings.confirms_email is False  # development's default
    with TestClient(create_app(settings, pooled=False), follow_redirects=False) as client:
        Auth(client).register("alice")
        write_post(client, "Straight away")
        token = login(client, "alice").json()["access_token"]
        me = client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"}).json()
        assert me["email_confirmed"] is False
    assert inbox.to("alice@example.com") == []


PRODUCTION = {
    "webapp_env": "production",
    "secret_key": SECRET * 2,
    "site_url": "https://agora.example",
    "allowed_hosts": "agora.example",
}


def test_production_confirms_by_default_and_refuses_to_start_without_smtp() -> None:
    settings = Settings(_env_file=None, **PRODUCTION)  # type: ignore[arg-type]
    assert settings.confirms_email is True
    with pytest.raises(SettingsError, match="SMTP_URL must be set"):
        settings.check()
    with pytest.raises(SettingsError, match="REQUIRE_CONFIRMED_EMAIL"):
        create_app(settings)
    Settings(_env_file=None, smtp_url="smtp://mail.example:587", **PRODUCTION).check()  # type: ignore[arg-type]
    Settings(_env_file=None, require_confirmed_email=False, **PRODUCTION).check()  # type: ignore[arg-type]

"""Mail survives restarts: a mail is a row of the outbox, written with what
asked for it, sent once by whichever worker of whichever host is up, retried
with its attempts recorded in the row."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from tests.support.app import dispose, make_settings
from tests.support.pages import Auth, post_form
from tests.support.smtp import Inbox
from webapp.app import create_app
from webapp.core.config import Settings
from webapp.models import OutboxMail


@pytest.fixture
def settings(database_url: str, inbox: Inbox) -> Settings:
    return make_settings(database_url, smtp_url=inbox.url)


@pytest.fixture
def host(settings: Settings) -> Iterator[FastAPI]:
    """Another host of the same site: its own app, postman and engines."""
    other = create_app(settings, pooled=False)
    yield other
    dispose(other)


def ask_reset(client: TestClient, email: str = "alice@example.com") -> None:
    answer = post_form(client, "/password-reset", {"email": email}, page="/password-reset")
    assert answer.status_code == 303


def outbox(app: FastAPI) -> list[OutboxMail]:
    with Session(app.state.mail_engine) as db:
        return list(db.exec(select(OutboxMail)).all())


def test_a_mail_waits_in_the_outbox_for_a_worker_that_stopped(
    alice_browser: TestClient, app: FastAPI, host: FastAPI, inbox: Inbox
) -> None:
    """The worker that took the request stops before sending: the mail is a
    row, and the next worker up (another host here) sends it, once."""
    app.state.postman.close()  # stopped: it sends nothing more
    ask_reset(TestClient(app, follow_redirects=False))
    (row,) = outbox(app)
    assert (row.kind, row.address, row.attempts) == ("reset", "alice@example.com", 0)
    assert not inbox.mails
    assert host.state.postman.wait()  # a worker starting looks at the outbox
    (mail,) = inbox.wait_for(1)
    assert mail["To"] == "alice@example.com"
    assert outbox(app) == []


def test_a_refused_mail_is_retried_with_its_attempts_kept_in_its_row(
    alice_browser: TestClient, app: FastAPI, inbox: Inbox
) -> None:
    postman = app.state.postman
    postman.first_pause = 30.0  # the second try waits: the row is looked at meanwhile
    inbox.refusal = "451 Try again later"
    ask_reset(TestClient(app, follow_redirects=False))
    postman.wake()
    row = wait_for_row(app, lambda row: row.attempts == 1)
    assert row.kind == "mail" and row.address == "alice@example.com"  # the reset's mail, kept
    assert row.last_error is not None and "451" in row.last_error
    assert row.gave_up_at is None
    link_kept = row.body
    inbox.refusal = None
    with Session(app.state.mail_engine) as db:  # due now, as if the pause had passed
        db.get(OutboxMail, row.id).due_at = row.created_at  # type: ignore[union-attr]
        db.commit()
    assert postman.wait()
    (mail,) = inbox.wait_for(1)
    sent = mail.get_content().replace("\r\n", "\n").strip()
    assert sent == link_kept.strip()  # the same link, not a new one
    assert outbox(app) == []


def test_a_mail_refused_every_time_is_given_up_and_kept_for_the_operator(
    alice_browser: TestClient, app: FastAPI, inbox: Inbox
) -> None:
    postman = app.state.postman
    postman.first_pause = 0.01
    inbox.refusal = "550 No such mailbox"
    ask_reset(TestClient(app, follow_redirects=False))
    assert postman.wait()  # nothing more to send: one given up
    (row,) = outbox(app)
    assert row.attempts == postman.attempts and row.gave_up_at is not None
    assert "550" in (row.last_error or "")


def test_two_hosts_send_each_mail_once(
    client: TestClient, app: FastAPI, host: FastAPI, inbox: Inbox
) -> None:
    for number in range(12):
        assert Auth(client).register(f"person{number}").status_code == 303
    app.state.postman.close()
    visitor = TestClient(app, follow_redirects=False)
    for number in range(12):
        ask_reset(visitor, f"person{number}@example.com")
    # Both hosts' postmen at once, on the same rows.
    other = create_app(app.state.settings, pooled=False)
    try:
        other.state.postman.wake()
        host.state.postman.wake()
        assert host.state.postman.wait(20) and other.state.postman.wait(20)
    finally:
        dispose(other)
    received = sorted(str(mail["To"]) for mail in inbox.wait_for(12))
    assert received == sorted(f"person{number}@example.com" for number in range(12))
    assert outbox(app) == []


def wait_for_row(
    app: FastAPI, holds: Callable[[OutboxMail], bool], timeout: float = 10.0
) -> OutboxMail:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = outbox(app)
        if rows and holds(rows[0]):
            return rows[0]
        time.sleep(0.02)
    raise AssertionError(f"no such row: {outbox(app)}")


class Flaky:
    """A transport that records what it is handed, and fails as told: before
    the server takes the mail, or after (the connection cut during QUIT, or
    the worker killed there)."""

    def __init__(self) -> None:
        self.fail_before = 0  # this many tries fail before the server takes the mail
        self.fail_after = False
        self.message_ids: list[str] = []

    def send(self, message: EmailMessage, accepted: Callable[[], None]) -> None:
        self.message_ids.append(message["Message-ID"])
        if self.fail_before:
            self.fail_before -= 1
            raise OSError("connection refused")
        accepted()
        if self.fail_after:
            raise OSError("connection reset during QUIT")


def test_a_mail_the_server_took_is_not_sent_again_whatever_the_goodbye_did(
    alice_browser: TestClient, app: FastAPI
) -> None:
    postman = app.state.postman
    postman.transport = flaky = Flaky()
    flaky.fail_after = True
    ask_reset(TestClient(app, follow_redirects=False))
    assert postman.wait()
    assert len(flaky.message_ids) == 1
    assert outbox(app) == []  # gone the moment the server took it


def test_a_mail_tried_again_keeps_its_message_id(alice_browser: TestClient, app: FastAPI) -> None:
    """A receiver can tell a repeat by it: the same for every try of one mail,
    different for another mail."""
    postman = app.state.postman
    postman.first_pause = 0.01
    postman.transport = flaky = Flaky()
    flaky.fail_before = 1
    ask_reset(TestClient(app, follow_redirects=False))
    assert postman.wait()
    first, second = flaky.message_ids
    assert first == second and first.startswith("<") and first.endswith(">")
    ask_reset(TestClient(app, follow_redirects=False))
    assert postman.wait()
    assert flaky.message_ids[2] != first

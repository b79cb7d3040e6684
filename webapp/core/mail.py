"""Sending mail: plain-text mails rendered from templates/mail/, kept as rows
of the outbox by the requests that ask for them (`webapp.rules.outbox`), and
sent by one thread per worker (the postman) through SMTP_URL, or, in
development without it, written to the log and to `outbox/`.

Nothing here runs on a request's path: a request writes its rows and wakes
the postman, so neither a slow nor a refusing SMTP server delays or fails it,
and a worker that stops (or is killed) leaves its mails to the next worker
up, of any host. A row may hold more than a mail (a password reset holds
only the address, looked up when it is due, so that the request's answer and
its timing are the same for an unknown address). A mail the server refuses,
or cannot take because it is down, is tried again a few times with growing
pauses, each failure recorded in its row and logged with its reason.

The standard library's smtplib does the talking: it knows STARTTLS, TLS from
the start and login, it is maintained with Python itself, and in a thread of
its own it needs no event loop, which lets the same postman serve uvicorn's
workers, the command line and the tests' clients alike.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import smtplib
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

import jinja2

from webapp.core import metrics
from webapp.core.config import Settings
from webapp.core.templating import TEMPLATES_DIR

log = logging.getLogger("webapp.mail")

SMTP_TIMEOUT = 15.0  # seconds for each exchange with the server
ATTEMPTS = 4  # a refused or failed mail is tried this many times in all
FIRST_PAUSE = 2.0  # seconds before the second attempt; doubling after


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str


_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES_DIR / "mail"),
    autoescape=False,  # plain text: nothing in a mail is HTML  # noqa: S701
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)


def render(template: str, to: str, **context: object) -> Mail:
    """A mail from `templates/mail/<template>`: its first line is
    `Subject: …`, the rest after a blank line its body."""
    text = _templates.get_template(template).render(**context)
    head, _, body = text.partition("\n\n")
    if not head.startswith("Subject: "):
        raise ValueError(f"{template} must start with a Subject: line")
    return Mail(to=to, subject=head.removeprefix("Subject: ").strip(), body=body.strip() + "\n")


def where(address: str) -> str:
    """An address as the log names it: its domain (the log is read by more
    people than the mailbox's owner)."""
    return "a mailbox at " + address.rpartition("@")[2]


def _nothing() -> None:
    pass


class Transport(Protocol):
    def send(self, message: EmailMessage, accepted: Callable[[], None] = _nothing) -> None:
        """Hand the message over; `accepted` is called the moment the server
        has taken it, before the goodbyes (a worker killed after that point
        must not leave the mail to be sent again)."""


class SmtpTransport:
    """SMTP_URL: `smtp://` upgraded with STARTTLS when the server offers it,
    `smtps://` TLS from the start; a login when the URL has a user."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.implicit_tls = parts.scheme == "smtps"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (465 if self.implicit_tls else 587)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password or "")

    def send(self, message: EmailMessage, accepted: Callable[[], None] = _nothing) -> None:
        context = ssl.create_default_context()
        server: smtplib.SMTP
        if self.implicit_tls:
            server = smtplib.SMTP_SSL(self.host, self.port, timeout=SMTP_TIMEOUT, context=context)
        else:
            server = smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT)
        with server:
            server.ehlo()
            if not self.implicit_tls and server.has_extn("starttls"):
                server.starttls(context=context)
                server.ehlo()
            if self.user:
                server.login(self.user, self.password)
            server.send_message(message)
            accepted()  # the server said 250: recorded before QUIT


class OutboxTransport:
    """Development without SMTP_URL: each mail printed to the log and written to
    a file in `folder`, both readable by their owner alone (a reset link in a
    mail is as good as the password)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, message: EmailMessage, accepted: Callable[[], None] = _nothing) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        path = self.folder / f"{stamp}-{secrets.token_hex(4)}.eml"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(bytes(message))
        log.warning(
            "mail (no SMTP_URL; kept in %s)\nTo: %s\nSubject: %s\n\n%s",
            path,
            message["To"],
            message["Subject"],
            message.get_content(),
        )


@dataclass(frozen=True)
class Letter:
    """A mail's row, taken by this worker to send (`Store.claim`)."""

    id: int
    kind: str
    address: str
    subject: str
    body: str
    attempts: int  # made before this one


class Store(Protocol):
    """Where the mails to send are kept (`webapp.rules.outbox.Outbox`)."""

    def claim(self) -> Letter | None: ...
    def open(self, letter: Letter) -> Mail | None: ...
    def sent(self, letter: Letter) -> None: ...
    def retry(self, letter: Letter, reason: str, after: float) -> None: ...
    def give_up(self, letter: Letter, reason: str) -> None: ...
    def waiting(self) -> tuple[int, float | None]: ...


# Seconds between two looks at the outbox when nothing is due: what another
# worker or host left (it stopped, or was killed) is sent within this.
POLL = 2.0


class Postman:
    """One thread per worker that sends the mails of the outbox as they fall
    due, one at a time: taken, tried once, then deleted, or kept for another
    try after a growing pause, or, after the last, given up."""

    def __init__(
        self,
        transport: Transport,
        sender: str,
        *,
        attempts: int = ATTEMPTS,
        first_pause: float = FIRST_PAUSE,
    ) -> None:
        self.transport = transport
        self.sender = sender
        self.attempts = attempts
        self.first_pause = first_pause
        self.store: Store | None = None  # set by the app that builds it
        self._changed = threading.Condition()
        self._woken = False
        self._stopping = False
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """Look at the outbox now (a request has just put mail in it); the
        thread starts on the first call."""
        with self._changed:
            if self._stopping:
                return
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="postman", daemon=True)
                self._thread.start()
            self._woken = True
            self._changed.notify()

    def wait(self, timeout: float = 10.0) -> bool:
        """Until the outbox holds nothing more to send, the mails not yet due
        included (tests; shutting down)."""
        self.wake()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._store().waiting()[0] == 0:
                return True
            time.sleep(0.02)
        return False

    def close(self, timeout: float = 5.0) -> None:
        """Stop after the mail being sent, if any: the rest waits in the
        outbox for the next worker up."""
        with self._changed:
            self._stopping = True
            thread = self._thread
            self._changed.notify()
        if thread is not None and thread.is_alive():
            thread.join(timeout)

    def _store(self) -> Store:
        if self.store is None:
            raise RuntimeError("the postman has no outbox")
        return self.store

    def _run(self) -> None:
        while not self._stopping:
            try:
                letter = self._store().claim()
                if letter is None:
                    self._rest(self._store().waiting()[1])
                    continue
                self._handle(letter)
            except Exception:  # the database away: the rows wait, and so do we
                log.exception("the outbox could not be read")
                self._rest(POLL)

    def _rest(self, due_in: float | None) -> None:
        """Until the next mail is due, a request wakes us, or `POLL` passes."""
        pause = POLL if due_in is None else max(0.0, min(POLL, due_in))
        with self._changed:
            if not self._woken and not self._stopping and pause > 0:
                self._changed.wait(pause)
            self._woken = False

    def _handle(self, letter: Letter) -> None:
        store = self._store()
        mail = store.open(letter)
        if mail is None:
            return
        recorded = False

        def accepted() -> None:
            # The row goes the moment the server has the mail, before QUIT: a
            # worker killed after this sends nothing twice; killed before, the
            # next one sends it again (with the same Message-ID).
            nonlocal recorded
            store.sent(letter)
            recorded = True

        failure = self._deliver(mail, _message_id(letter.id, mail), accepted)
        if failure is None or recorded:  # taken, whatever the goodbyes did
            if not recorded:
                store.sent(letter)
            metrics.mail_done(sent=True)
            return
        attempt = letter.attempts + 1
        if attempt >= self.attempts:
            store.give_up(letter, failure)
            metrics.mail_done(sent=False)
            log.error(
                "mail to %s not sent, given up after %d attempts: %s",
                where(mail.to),
                attempt,
                failure,
            )
            return
        pause = self.first_pause * 2 ** (attempt - 1)
        store.retry(letter, failure, pause)
        log.warning(
            "mail to %s not sent (attempt %d of %d, again in %.0f s): %s",
            where(mail.to),
            attempt,
            self.attempts,
            pause,
            failure,
        )

    def _deliver(self, mail: Mail, message_id: str, accepted: Callable[[], None]) -> str | None:
        """One try: None when the server took the mail, else why not. A second
        try of the same row has the same Message-ID, by which a receiver can
        tell a repeat."""
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Date"] = format_datetime(datetime.now(UTC))
        domain = self.sender.rpartition("@")[2].strip("> ") or "localhost"
        message["Message-ID"] = f"<{message_id}@{domain}>"
        # 7bit keeps a long link on one line (quoted-printable would fold it);
        # lines of up to 998 characters are fine in 7bit.
        message.set_content(mail.body, cte="7bit" if mail.body.isascii() else "quoted-printable")
        try:
            self.transport.send(message, accepted)
        except (smtplib.SMTPException, OSError) as error:
            return _reason(error)
        return None


def _message_id(number: int, mail: Mail) -> str:
    """The same for every try of one row (a retry sends the same text, a
    reset the same link), and unique to it."""
    content = f"{number}\n{mail.to}\n{mail.subject}\n{mail.body}"
    return hashlib.sha256(content.encode()).hexdigest()[:32]


def _reason(error: Exception) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        text = (
            error.smtp_error.decode(errors="replace")
            if isinstance(error.smtp_error, bytes)
            else str(error.smtp_error)
        )
        return f"the server answered {error.smtp_code} {text}"
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return "the server refused the recipient: " + "; ".join(
            f"{code} {message.decode(errors='replace')}"
            for code, message in error.recipients.values()
        )
    return f"{type(error).__name__}: {error}"


def postman_for(settings: Settings) -> Postman | None:
    """The postman of these settings, or None: production without SMTP_URL,
    where the pages that send mail say it is unavailable."""
    if settings.smtp_url:
        return Postman(SmtpTransport(settings.smtp_url), settings.mail_from)
    if settings.webapp_env == "development":
        return Postman(OutboxTransport(settings.outbox_dir), settings.mail_from)
    return None

"""Sending mail: plain-text mails rendered from templates/mail/, handed to one
thread per worker (the postman) that sends them through SMTP_URL, or, in
development without it, writes them to the log and to `outbox/`.

Nothing here runs on a request's path: a request posts a job and returns at
once, so neither a slow nor a refusing SMTP server delays or fails it. A job
may do more than send (a password reset looks the account up first, so that
the request's answer and its timing are the same for an unknown address). A
mail the server refuses, or cannot take because it is down, is tried again
a few times with growing pauses; each failure is logged with its reason.

The standard library's smtplib does the talking: it knows STARTTLS, TLS from
the start and login, it is maintained with Python itself, and in a thread of
its own it needs no event loop, which lets the same postman serve uvicorn's
workers, the command line and the tests' clients alike.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import secrets
import smtplib
import ssl
import threading
import time
from collections.abc import Callable, Iterable
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


# A job run by the postman: it returns the mails to send (none, if it decided so).
Job = Callable[[], Iterable[Mail]]

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


class Transport(Protocol):
    def send(self, message: EmailMessage) -> None: ...


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

    def send(self, message: EmailMessage) -> None:
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


class OutboxTransport:
    """Development without SMTP_URL: each mail printed to the log and written to
    a file in `folder`, both readable by their owner alone (a reset link in a
    mail is as good as the password)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, message: EmailMessage) -> None:
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


class Postman:
    """One thread that runs mail jobs in order of when they are due, and sends
    what they return."""

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
        # (when it is due, in time.monotonic(); the order posted; the job or
        # None, which stops the thread)
        self._jobs: list[tuple[float, int, Job | None]] = []
        self._posted = itertools.count()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def post(self, job: Job, *, delay: float = 0.0) -> None:
        """Run `job` on the postman's thread, and send its mails: soon, or
        `delay` seconds from now (a job whose cost must not sit beside the
        request that posted it; the jobs due before it run meanwhile)."""
        self._put(time.monotonic() + delay, job)

    def send(self, *mails: Mail) -> None:
        self.post(lambda: mails)

    def wait(self, timeout: float = 10.0) -> bool:
        """Until every job posted so far is done, the delayed ones too (tests;
        shutting down)."""
        done = threading.Event()

        def mark_done() -> Iterable[Mail]:
            done.set()
            return ()

        self._put(self._last_due(), mark_done)
        return done.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Let the jobs posted so far finish, for `timeout` seconds at most."""
        with self._changed:
            thread = self._thread
        if thread is not None and thread.is_alive():
            self._put(self._last_due(), None)
            thread.join(timeout)

    def _last_due(self) -> float:
        with self._changed:
            return max([time.monotonic(), *(due for due, _, _ in self._jobs)])

    def _put(self, due: float, job: Job | None) -> None:
        with self._changed:
            if job is not None and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(target=self._run, name="postman", daemon=True)
                self._thread.start()
            heapq.heappush(self._jobs, (due, next(self._posted), job))
            self._changed.notify()

    def _next(self) -> Job | None:
        """The first job due, once it is due."""
        with self._changed:
            while True:
                wait = self._jobs[0][0] - time.monotonic() if self._jobs else None
                if wait is not None and wait <= 0:
                    return heapq.heappop(self._jobs)[2]
                self._changed.wait(wait)

    def _run(self) -> None:
        while (job := self._next()) is not None:
            try:
                mails = list(job())
            except Exception:
                log.exception("a mail job failed")
                continue
            for mail in mails:
                self._deliver(mail)

    def _deliver(self, mail: Mail) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Date"] = format_datetime(datetime.now(UTC))
        # Not email.utils.make_msgid, which draws on the shared `random` state.
        domain = self.sender.rpartition("@")[2].strip("> ") or "localhost"
        message["Message-ID"] = f"<{secrets.token_hex(16)}@{domain}>"
        # 7bit keeps a long link on one line (quoted-printable would fold it);
        # lines of up to 998 characters are fine in 7bit.
        message.set_content(mail.body, cte="7bit" if mail.body.isascii() else "quoted-printable")
        for attempt in range(1, self.attempts + 1):
            try:
                self.transport.send(message)
                metrics.mail_done(sent=True)
                return
            except (smtplib.SMTPException, OSError) as error:
                if attempt == self.attempts:
                    metrics.mail_done(sent=False)
                    log.error(
                        "mail to %s not sent, given up after %d attempts: %s",
                        where(mail.to),
                        attempt,
                        _reason(error),
                    )
                    return
                pause = self.first_pause * 2 ** (attempt - 1)
                log.warning(
                    "mail to %s not sent (attempt %d of %d, again in %.0f s): %s",
                    where(mail.to),
                    attempt,
                    self.attempts,
                    pause,
                    _reason(error),
                )
                time.sleep(pause)


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

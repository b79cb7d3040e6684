"""A real SMTP server for the tests (aiosmtpd, on a free port) that keeps the
mails it receives, and can refuse them or answer slowly."""

from __future__ import annotations

import asyncio
import re
import ssl
import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

LINK_RE = re.compile(r"https?://\S+")


class Inbox:
    """aiosmtpd's handler: what arrived, and how to answer next."""

    def __init__(self) -> None:
        self.mails: list[EmailMessage] = []
        self.refusal: str | None = None  # e.g. "550 No such mailbox": every RCPT refused
        self.delay = 0.0  # seconds to wait before taking a mail's DATA
        self.url = ""
        self._lock = threading.Lock()

    # aiosmtpd calls handle_<SMTP verb>.
    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.refusal:
            return self.refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.delay)
        mail = message_from_bytes(envelope.content, policy=policy.default)
        with self._lock:
            self.mails.append(mail)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """The mails received, once there are `count` of them (fails after `timeout`)."""
        deadline = time.monotonic() + timeout
        while len(self.mails) < count:
            assert time.monotonic() < deadline, f"{len(self.mails)} mails arrived, not {count}"
            time.sleep(0.02)
        return list(self.mails)

    def to(self, address: str) -> list[EmailMessage]:
        return [mail for mail in self.mails if mail["To"] == address]


def text_of(mail: EmailMessage) -> str:
    return mail.get_content()


def link_in(mail: EmailMessage) -> str:
    """The one link of a mail, as a path on the site."""
    links = LINK_RE.findall(text_of(mail))
    assert links, text_of(mail)
    return re.sub(r"^https?://[^/]+", "", links[0])


USER, PASSWORD = "agora", "s3cret pass"


def check_login(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    """aiosmtpd's authenticator: the one account the tests' SMTP URLs name."""
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok)


class SmtpServer:
    """`tls`: None (plain SMTP) or "starttls" (TLS offered and required, then a
    login required)."""

    def __init__(
        self, port: int, tls: str | None = None, context: ssl.SSLContext | None = None
    ) -> None:
        self.inbox = Inbox()
        options: dict[str, Any] = {}
        if tls == "starttls":
            options = {
                "tls_context": context,
                "require_starttls": True,
                "authenticator": check_login,
                "auth_required": True,
            }
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=port, **options)
        login = f"{USER}:{quote(PASSWORD)}@" if tls else ""
        self.inbox.url = f"smtp://{login}127.0.0.1:{port}"

    def __enter__(self) -> Inbox:
        self.controller.start()
        return self.inbox

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

"""The soak's mail server: aiosmtpd on a free port, in a thread of its own,
keeping every mail it took (recipient, subject, body), for the soak to count
what each address received."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from typing import Any

from aiosmtpd.controller import Controller
from servers import free_port


@dataclass(frozen=True)
class Received:
    to: str
    subject: str
    body: str


class MailTrap:
    def __init__(self, port: int = 0) -> None:
        self.port = port or free_port()
        self.mails: list[Received] = []
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        body = message.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        with self._lock:
            for address in envelope.rcpt_tos:
                self.mails.append(Received(address.lower(), str(message["Subject"]), text))
        return "250 Message accepted for delivery"

    def received(self) -> list[Received]:
        with self._lock:
            return list(self.mails)

    def __enter__(self) -> MailTrap:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

"""Every request's id: the one a trusted proxy sent in `X-Request-ID`, else
one made here. It goes back in the response's `X-Request-ID`, on every log
line of the request, and on the 500 page, so that a person can quote it."""

from __future__ import annotations

import logging
import os
import re
from contextvars import ContextVar

from starlette.types import Scope

HEADER = b"x-request-id"
# Where the request's scope keeps it (`Gate` sets it; the 500 page reads it).
SCOPE_KEY = "agora.request_id"
# Where `TrustedProxy` marks a request that came through a believed proxy.
PROXIED_KEY = "agora.proxied"
# A proxy's id is kept only when it is short and plain: it is written to logs
# and headers as it is.
_PLAIN_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


def request_id(scope: Scope, sent: bytes | None) -> str:
    """The id for this request (`sent`: its `X-Request-ID` header, if any)."""
    if sent is not None and scope.get(PROXIED_KEY) and _PLAIN_ID.fullmatch(sent):
        return sent.decode("ascii")
    return new_id()


# Random bytes for the ids, read from the system `_BATCH` ids at a time: the
# system call cost each request more than the rest of its id. Kept as one
# `bytes` per id, taken with `list.pop` (one step: no two threads take the
# same), and forgotten by a forked child, whose ids must not be its parent's.
_BATCH = 64
_unused: list[bytes] = []
if hasattr(os, "register_at_fork"):  # POSIX (Windows does not fork)
    os.register_at_fork(after_in_child=_unused.clear)


def new_id() -> str:
    """`uuid.uuid4().hex`, made without the `UUID` object (a seventh of the
    calls `Gate` makes for a request of its own): 16 random bytes (from
    `os.urandom`, as `uuid4`'s) with the version (4) and variant (RFC 4122)
    bits that `uuid4` sets."""
    if not _unused:
        block = os.urandom(16 * _BATCH)
        _unused.extend([block[start : start + 16] for start in range(0, len(block), 16)])
    try:
        made = bytearray(_unused.pop())
    except IndexError:  # another thread took the last ones meanwhile
        made = bytearray(os.urandom(16))
    made[6] = (made[6] & 0x0F) | 0x40
    made[8] = (made[8] & 0x3F) | 0x80
    return made.hex()


def of(scope: Scope) -> str:
    """The request's id, or an empty string before `Gate` has seen it."""
    value = scope.get(SCOPE_KEY, "")
    return value if isinstance(value, str) else ""


# The id of the request being answered, for the log lines written meanwhile
# (an exception's traceback included).
current: ContextVar[str] = ContextVar("request_id", default="")


class OnEveryLine(logging.Filter):
    """Puts the current request's id on a log line written while answering it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            the_id = current.get()
            if the_id:
                record.request_id = the_id
        return True

"""Password hashing, session keys, CSRF tokens and API tokens.

Nothing here touches the database: these are the primitives that
`webapp.rules.sessions` and `webapp.rules.accounts` build the rules on.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

if TYPE_CHECKING:
    from passlib.context import CryptContext

T = TypeVar("T")

# How much lower than the pages' threads hashing runs (Linux nice levels).
HASHING_NICENESS = 10


def _lower_priority() -> None:
    """Run this thread at a lower priority, where the system allows it per thread."""
    # Not on every platform: without it, logins only compete harder with pages.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)


class PasswordHasher:
    """bcrypt_sha256 counts every character (plain bcrypt stops at 72 bytes).

    Hashes of an older scheme (plain bcrypt) or a lower cost verify, and are
    reported as needing an upgrade, which the caller stores at a successful login.

    A hash costs about 0.3 s of CPU at cost 12. It runs off the event loop, on
    this hasher's own two threads at a lower priority, so that people logging
    in queue behind each other instead of slowing every page down.
    """

    _executor: ThreadPoolExecutor | None = None

    def __init__(self, rounds: int) -> None:
        self._rounds = rounds
        # Made at the first hash or check, on a hashing thread: passlib and
        # bcrypt are 10 MB of a worker that may never see a login, and the
        # dummy hash below is 0.3 s of CPU at every worker's start.
        self._made: tuple[CryptContext, str] | None = None
        self._making = threading.Lock()

    def _context(self) -> tuple[CryptContext, str]:
        """The passlib context, and the hash that unknown users are checked
        against, so that a failed login costs the same whether or not the
        account exists."""
        made = self._made
        if made is None:
            with self._making:
                if self._made is None:
                    from passlib.context import CryptContext

                    context = CryptContext(
                        schemes=["bcrypt_sha256", "bcrypt"],
                        deprecated="auto",
                        bcrypt_sha256__default_rounds=self._rounds,
                        bcrypt_sha256__min_rounds=self._rounds,
                    )
                    self._made = (context, context.hash(secrets.token_urlsafe(16)))
                made = self._made
        return made

    async def hash(self, password: str) -> str:
        return await self._off_loop(self.hash_now, password)

    async def verify(self, password: str, password_hash: str | None) -> tuple[bool, str | None]:
        """(matches, a new hash to store or None). Exactly one verification."""
        return await self._off_loop(self.verify_now, password, password_hash)

    async def _off_loop(self, function: Callable[..., T], *args: object) -> T:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=2, thread_name_prefix="hashing", initializer=_lower_priority
            )
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    def hash_now(self, password: str) -> str:
        """On the calling thread (the seed command has no event loop to spare)."""
        return self._context()[0].hash(password)

    def verify_now(self, password: str, password_hash: str | None) -> tuple[bool, str | None]:
        context, dummy_hash = self._context()
        try:
            ok, new_hash = context.verify_and_update(
                password, password_hash if password_hash is not None else dummy_hash
            )
        except ValueError:
            # A legacy plain-bcrypt hash refuses a NUL or more than 72 bytes:
            # such a password cannot be the one it was made from.
            return False, None
        if password_hash is None:
            return False, None
        return ok, new_hash


def new_token() -> str:
    """A random token of 256 bits, URL-safe."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """What the database keeps of a session key: a leaked table logs nobody in."""
    return hashlib.sha256(token.encode()).hexdigest()


def tokens_match(expected: str | None, given: object) -> bool:
    if not expected or not isinstance(given, str):
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


@dataclass(frozen=True)
class TokenClaims:
    user_id: int
    stamp: str


class ApiTokens:
    """Bearer tokens for /api: signed, timed, and tied to the user's stamp.

    A token whose signature held is remembered with the time it was signed
    (the most recent `KEPT` of them), so that a client's next requests skip
    checking the signature again and decoding it: its age is still checked
    on every read, and its stamp by the caller, against the database. Only
    tokens signed with the key get in, so nobody can fill the memory with
    tokens of their own making."""

    KEPT = 4096

    def __init__(self, secret_key: str, max_age_seconds: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="agora.api-token")
        self._max_age = max_age_seconds
        self._clock = TimestampSigner(secret_key)  # the signatures' own clock
        self._checked: dict[str, tuple[TokenClaims, int]] = {}

    def issue(self, user_id: int, stamp: str) -> str:
        return self._serializer.dumps({"uid": user_id, "stamp": stamp})

    def read(self, token: str) -> TokenClaims | None:
        checked = self._checked.get(token)
        if checked is not None:
            claims, signed_at = checked
            if 0 <= self._clock.get_timestamp() - signed_at <= self._max_age:
                return claims
            del self._checked[token]
            return None
        try:
            data, signed = self._serializer.loads(
                token, max_age=self._max_age, return_timestamp=True
            )
        except (BadSignature, SignatureExpired, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        user_id, stamp = data.get("uid"), data.get("stamp")
        if not isinstance(user_id, int) or not isinstance(stamp, str):
            return None
        claims = TokenClaims(user_id=user_id, stamp=stamp)
        if len(self._checked) >= self.KEPT:
            self._checked.clear()
        self._checked[token] = (claims, int(signed.timestamp()))
        return claims

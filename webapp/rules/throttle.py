"""The password throttle: failures counted in the database, so the limits hold
across workers and restarts. Logins count per identifier as typed and per
client address; the settings forms count per account, apart from logins."""

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Delete, Insert, delete, insert
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.core.db import transaction
from webapp.models import LoginFailure, utcnow
from webapp.rules import sliding_window

WINDOW = timedelta(minutes=15)
# One address may fail this many times as often as one account: enough for a
# shared office, too few to try one password against many accounts.
CLIENT_FACTOR = 10
# What a password reset request counts as: a failure of its client address
# alone, so that resets and failed logins share the address's limit.
RESET_KEY = "reset"


def login_key(identifier: str) -> str:
    """What a login failure counts against: the identifier as typed (NFKC,
    trimmed, case-folded), whether or not an account has it. Made safe to
    store: PostgreSQL text refuses NUL."""
    typed = unicodedata.normalize("NFKC", identifier).strip().casefold()[:300]
    return "name:" + "".join(c if c.isprintable() else "?" for c in typed)


def settings_key(user_id: int) -> str:
    """What a wrong current password on a settings form counts against."""
    return f"settings:{user_id}"


async def account_wait(db: AsyncSession, key: str, max_attempts: int) -> int | None:
    """Seconds until `key` may try again, or None: the per-key limit alone."""
    return await _wait(db, col(LoginFailure.account_key) == key, max_attempts, utcnow())


async def client_wait(db: AsyncSession, client_ip: str, max_attempts: int) -> int | None:
    """Seconds until the address may try again, or None: its limit alone."""
    limit = max_attempts * CLIENT_FACTOR
    return await _wait(db, col(LoginFailure.client_ip) == client_ip, limit, utcnow())


async def retry_after(
    db: AsyncSession, account_key: str, client_ip: str, max_attempts: int
) -> int | None:
    """Seconds until the next attempt may be made, or None when it may be made now."""
    now = utcnow()
    waits = [
        await _wait(db, col(LoginFailure.account_key) == account_key, max_attempts, now),
        await _wait(
            db, col(LoginFailure.client_ip) == client_ip, max_attempts * CLIENT_FACTOR, now
        ),
    ]
    blocked = [wait for wait in waits if wait is not None]
    return max(blocked) if blocked else None


async def _wait(
    db: AsyncSession, condition: ColumnElement[bool], limit: int, now: datetime
) -> int | None:
    created_at = col(LoginFailure.created_at)
    return await sliding_window.wait(db, created_at, condition, limit=limit, window=WINDOW, now=now)


async def record_failure(db: AsyncSession, account_key: str, client_ip: str) -> None:
    """Count a failure against both the key and the address: its own unit of work."""
    statement = failure(account_key, client_ip)

    async def record() -> None:
        await db.exec(statement)

    await transaction(db, record)


def failure(account_key: str, client_ip: str) -> Insert:
    """The statement that counts a failure, inside the caller's unit of work."""
    row = {"account_key": account_key, "client_ip": client_ip, "created_at": utcnow()}
    return insert(LoginFailure).values(row)


async def forgive(db: AsyncSession, account_key: str) -> None:
    """A successful login forgives the key's failures (not the address's), and
    sweeps the failures that left the window: inside the caller's unit of work."""
    await db.exec(delete(LoginFailure).where(col(LoginFailure.account_key) == account_key))
    await db.exec(delete(LoginFailure).where(col(LoginFailure.created_at) <= utcnow() - WINDOW))


def forget_keys(keys: list[str]) -> Delete:
    """The statement that drops every failure counted against `keys` (an account
    deleted, a password reset): run inside the caller's unit of work."""
    return delete(LoginFailure).where(col(LoginFailure.account_key).in_(keys))

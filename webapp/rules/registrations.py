"""How many accounts one client address may create: REGISTRATIONS_PER_HOUR in
any hour, through the pages and the API together. Each account is a row in
`registrations`, so the count holds across workers and restarts."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func, insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.core.db import dialect_name, transaction
from webapp.core.security import PasswordHasher
from webapp.errors import AccountTaken, TooManyRegistrations
from webapp.models import Registration, UserCreate, UserPublic, utcnow
from webapp.rules import accounts, sliding_window

WINDOW = timedelta(hours=1)
# The first key of the PostgreSQL advisory locks that registrations from one
# address take turns on (the second is the address's hash). Any constant will do.
LOCK_SPACE = 0x52454749


async def register(
    db: AsyncSession,
    hasher: PasswordHasher,
    data: UserCreate,
    *,
    client_ip: str,
    per_hour: int,
) -> UserPublic:
    """`accounts.register`, counted against the client's address: raises
    TooManyRegistrations when it has no place left this hour, AccountTaken
    as registering does. `per_hour` 0: no limit, and nothing is counted."""
    if per_hour == 0:
        return await accounts.register(db, hasher, data)
    wait = await check_allowed(db, client_ip, per_hour)
    if wait is not None:
        raise TooManyRegistrations(wait)
    try:
        return await accounts.register(db, hasher, data)
    except AccountTaken:
        await forget(db, client_ip)  # only accounts created count
        raise


async def check_allowed(db: AsyncSession, client_ip: str, per_hour: int) -> int | None:
    """None when `client_ip` may create an account now, which is then counted
    at once: the place is taken before the password is hashed, so that requests
    racing from one address cannot all find the same free place (`forget`
    gives it back). Otherwise the seconds until the oldest of the address's
    registrations in the hour leaves it. One unit of work."""

    async def take_a_place() -> int | None:
        now = utcnow()
        await _take_turns(db, client_ip)
        # Sweeping first also makes this transaction SQLite's one writer before
        # it counts, so that no other insert can come between count and insert.
        await db.exec(delete(Registration).where(col(Registration.created_at) <= now - WINDOW))
        wait = await sliding_window.wait(
            db,
            col(Registration.created_at),
            col(Registration.client_ip) == client_ip,
            limit=per_hour,
            window=WINDOW,
            now=now,
        )
        if wait is None:
            await db.exec(insert(Registration).values(client_ip=client_ip, created_at=now))
        return wait

    return await transaction(db, take_a_place)


async def _take_turns(db: AsyncSession, client_ip: str) -> None:
    """On PostgreSQL, wait for the address's other registrations to count and
    commit (READ COMMITTED would let two of them count the same rows). SQLite
    has one writer at a time already."""
    if dialect_name(db) == "postgresql":
        await db.exec(select(func.pg_advisory_xact_lock(LOCK_SPACE, func.hashtext(client_ip))))


async def forget(db: AsyncSession, client_ip: str) -> None:
    """Give back the place `check_allowed` took for a registration that made no
    account. An address's places are alike, so its newest one goes."""
    newest = (
        select(func.max(Registration.id))
        .where(col(Registration.client_ip) == client_ip)
        .scalar_subquery()
    )

    async def give_back() -> None:
        await db.exec(delete(Registration).where(col(Registration.id) == newest))

    await transaction(db, give_back)

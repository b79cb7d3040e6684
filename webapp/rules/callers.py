"""The caller of a write through the API (a like, a new post), as their bearer
token names them, checked by the write itself.

A token whose signature and age hold names an account and the security stamp
it had when the token was issued; the token holds while an account has that
id and that stamp (a password change, "log out everywhere else", a
suspension and a deletion each end it). On PostgreSQL the write's own
statement checks that (`agora_like`, `agora_new_post`, migration 0025), in
the write's transaction, and answers the caller refused before it writes
anything: a like or a new post is then the write and its live events, two
round trips, instead of the caller's row first. SQLite, one writer at a
time, reads the row first (`check`), with the same rules.

With REQUIRE_CONFIRMED_EMAIL, an account whose address is not confirmed is
refused a like or a post (`must_confirm`); taking a like back is never
refused for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam
from sqlalchemy import select as core_select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.core.db import DriverStatement, Link
from webapp.core.security import ApiTokens, tokens_match
from webapp.errors import EmailNotConfirmed
from webapp.models import MAX_ID, PROFILE_COLUMNS, User, UserPublic, person

# What a write's statement answers of its caller (its `caller` column):
# NULL when they hold, or one of these.
UNKNOWN = "unknown"  # no account has the token's id and stamp
UNCONFIRMED = "unconfirmed"  # the address must be confirmed first


class CallerRefused(Exception):
    """The caller's token does not hold: no account has its id and stamp now
    (the API answers 401)."""


@dataclass(frozen=True, slots=True)
class Caller:
    """A write's caller as their token names them: not checked yet."""

    id: int
    stamp: str
    must_confirm: bool  # REQUIRE_CONFIRMED_EMAIL


def of_token(tokens: ApiTokens, token: str, *, must_confirm: bool) -> Caller | None:
    """The caller a token names, or None when its signature or age does not
    hold (no statement needed to know it)."""
    claims = tokens.read(token)
    if claims is None or not 0 < claims.user_id <= MAX_ID or not claims.stamp:
        return None
    return Caller(claims.user_id, claims.stamp, must_confirm)


def answered(refusal: str | None) -> None:
    """Raise what a write's statement answered of its caller: CallerRefused,
    EmailNotConfirmed, or nothing when the caller holds."""
    if refusal is None:
        return
    if refusal == UNCONFIRMED:
        raise EmailNotConfirmed
    raise CallerRefused


# The caller's row as SQLite's writes read it first (`check`).
_ROW = DriverStatement(
    core_select(
        col(User.security_stamp),
        col(User.email_confirmed),
        col(User.id),
        col(User.username),
        col(User.created_at),
        *(getattr(User, name) for name in PROFILE_COLUMNS),
    ).where(col(User.id) == bindparam("user_id"))
)


async def check(db: AsyncSession | Link, caller: Caller, *, acting: bool = True) -> UserPublic:
    """The caller read and checked before their write, as the database's
    functions check them in it: the person they are, or CallerRefused, or
    (`acting`: not taking a like back) EmailNotConfirmed."""
    found = await _ROW.rows(db, {"user_id": caller.id})
    if not found or not tokens_match(found[0][0], caller.stamp):
        raise CallerRefused
    _, confirmed, *shown = found[0]
    if acting and caller.must_confirm and not confirmed:
        answered(UNCONFIRMED)  # as the database's functions answer it
    return person(*shown)

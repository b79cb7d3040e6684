"""Links sent by mail: a password reset, and the confirmation of a new address.

A link holds a random token of 256 bits; the database keeps only its hash
(`mail_tokens`), when it expires, and when it was used: it works once. Using
one marks it used in the same statement that finds it valid, so a link opened
twice at once works for one of them only.

- A password reset is asked for by address. Everything that depends on
  whether an account has it (finding the account, counting its recent
  mails, writing the token) runs on the postman's thread (`reset_job`), so
  the request answers the same, in the same time, either way; an account gets
  at most `RESETS_PER_HOUR` mails. Resetting ends every session and API token
  of the account, and starts none.
- A new address is asked for with the current password (the settings
  throttle). The link goes to the new address and a notice to the old one,
  at once; the address changes when the link is opened, unless another
  account took it meanwhile (`AccountTaken`). One change waits at a time, and
  can be cancelled.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine, delete, func, insert, update
from sqlalchemy import select as core_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp import sessions, throttle, users
from webapp.core.config import Settings
from webapp.core.db import transaction
from webapp.core.mail import Job, Mail, Postman, render
from webapp.core.security import PasswordHasher, hash_token, new_token
from webapp.errors import AccountTaken, MailUnavailable, SameAddress, TooManyResetRequests
from webapp.models import LoginFailure, MailToken, PasswordChange, User, utcnow

RESET = "reset"
NEW_ADDRESS = "email"
RESET_LIFETIME = timedelta(hours=1)
ADDRESS_LIFETIME = timedelta(hours=24)
RESETS_PER_HOUR = 3
# What `new_token()` makes: 32 bytes in URL-safe base64, without padding.
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}")


def _hash_of(token: str) -> str | None:
    """The stored hash of a well-formed token; None for anything else (a
    wrong length or alphabet, a NUL, text that was not UTF-8)."""
    return hash_token(token) if TOKEN_RE.fullmatch(token) else None


def _usable(token_hash: str, purpose: str) -> list[object]:
    now = utcnow()
    return [
        col(MailToken.token_hash) == token_hash,
        col(MailToken.purpose) == purpose,
        col(MailToken.used_at).is_(None),
        col(MailToken.expires_at) > now,
    ]


def _same_address(email: str) -> object:
    return func.lower(User.email) == email.lower()


# --- a password reset -------------------------------------------------------


async def ask_reset(
    db: AsyncSession,
    postman: Postman | None,
    engine: Engine,
    email: str,
    *,
    client_ip: str,
    settings: Settings,
) -> None:
    """Count the request against the client address's login limit
    (`TooManyResetRequests` past it), and hand the rest to the postman. The
    pages and the API ask the same way."""
    if postman is None:
        raise MailUnavailable
    wait = await throttle.client_wait(db, client_ip, settings.login_max_attempts)
    if wait is not None:
        raise TooManyResetRequests(wait)
    await throttle.record_failure(db, throttle.RESET_KEY, client_ip)
    postman.post(reset_job(engine, email, settings.public_url))


def reset_job(engine: Engine, email: str, site_url: str) -> Job:
    """The work of a reset asked for `email`, for the postman's thread: the
    mail to send, or none (no such account, or its mails of the hour sent)."""

    def run() -> Iterable[Mail]:
        with Session(engine) as db:
            user = db.exec(
                core_select(User.id, User.username, User.email).where(_same_address(email))
            ).first()  # type: ignore[call-overload]
            if user is None:
                return []
            since = utcnow() - timedelta(hours=1)
            recent = db.exec(
                core_select(func.count()).where(  # type: ignore[call-overload]
                    col(MailToken.user_id) == user.id,
                    col(MailToken.purpose) == RESET,
                    col(MailToken.created_at) > since,
                )
            ).scalar_one()
            if recent >= RESETS_PER_HOUR:
                return []
            token = new_token()
            db.exec(insert(MailToken).values(_token_row(user.id, RESET, token, RESET_LIFETIME)))  # type: ignore[call-overload]
            db.commit()
        link = f"{site_url}/password-reset/{token}"
        return [render("password_reset.txt", user.email, username=user.username, link=link)]

    return run


@dataclass(frozen=True)
class ResetFor:
    """The account a valid reset link is for."""

    user_id: int
    username: str
    email: str


async def find_reset(db: AsyncSession, token: str) -> ResetFor | None:
    """The account of a reset link that works now, or None."""
    token_hash = _hash_of(token)
    if token_hash is None:
        return None
    statement = (
        core_select(User.id, User.username, User.email)
        .join(MailToken, col(MailToken.user_id) == col(User.id))
        .where(*_usable(token_hash, RESET))
    )
    row = (await db.exec(statement)).first()  # type: ignore[call-overload]
    return ResetFor(row.id, row.username, row.email) if row else None


async def reset_password(
    db: AsyncSession, hasher: PasswordHasher, token: str, account: ResetFor, change: PasswordChange
) -> bool:
    """Set the new password, if the link still works (False if it was used or
    expired meanwhile); end every session and API token of the account, and
    forgive its failed logins. One unit of work."""
    new_hash = await hasher.hash(change.new_password)
    token_hash = _hash_of(token)
    keys = [throttle.login_key(account.username), throttle.login_key(account.email)]

    async def store() -> bool:
        used = await db.exec(
            update(MailToken).where(*_usable(token_hash or "", RESET)).values(used_at=utcnow())
        )
        if used.rowcount != 1:
            return False
        await db.exec(users.set_password(account.user_id, new_hash))
        await db.exec(sessions.others_of(account.user_id, keep_id=None))
        await db.exec(
            delete(MailToken).where(
                col(MailToken.user_id) == account.user_id,
                col(MailToken.purpose) == RESET,
                col(MailToken.used_at).is_(None),
            )
        )
        await db.exec(delete(LoginFailure).where(col(LoginFailure.account_key).in_(keys)))
        return True

    return await transaction(db, store)


# --- a new address ------------------------------------------------------------


async def ask_new_address(
    db: AsyncSession,
    hasher: PasswordHasher,
    account: User,
    new_email: str,
    password: str,
    *,
    client_ip: str,
    max_attempts: int,
    site_url: str,
) -> list[Mail]:
    """Check the password and the address, and keep the change waiting for its
    link: the mails to send (the link to the new address, a notice to the
    old one)."""
    await users.check_password(
        db, hasher, account, password, client_ip=client_ip, max_attempts=max_attempts
    )
    if new_email.lower() == account.email.lower():
        raise SameAddress
    if await _taken(db, new_email, account.id):
        raise AccountTaken({"email": "An account already uses this email."})
    token = new_token()
    user_id = account.id

    async def store() -> None:
        await db.exec(_pending(user_id, delete(MailToken)))
        await db.exec(
            insert(MailToken).values(
                _token_row(user_id, NEW_ADDRESS, token, ADDRESS_LIFETIME, new_email=new_email)
            )
        )

    await transaction(db, store)
    settings_url = f"{site_url}/settings"
    return [
        render(
            "new_address.txt",
            new_email,
            username=account.username,
            link=f"{site_url}/settings/email/{token}",
        ),
        render(
            "address_change_notice.txt",
            account.email,
            username=account.username,
            new_email=new_email,
            settings_url=settings_url,
        ),
    ]


async def pending_address(db: AsyncSession, user_id: int) -> str | None:
    """The address a change waits to be confirmed for, if any."""
    statement = _pending(user_id, core_select(MailToken.new_email)).order_by(
        col(MailToken.created_at).desc()
    )
    return (await db.exec(statement.limit(1))).scalars().first()  # type: ignore[call-overload]


async def cancel_new_address(db: AsyncSession, user_id: int) -> None:
    await db.exec(_pending(user_id, delete(MailToken)))
    await db.commit()


async def confirm_new_address(db: AsyncSession, token: str) -> tuple[int, str] | None:
    """Change the address of the link's account: its id and new address, or
    None for a link that does not work (unknown, used, expired).
    `AccountTaken` if another account took the address meanwhile."""
    token_hash = _hash_of(token)
    if token_hash is None:
        return None

    async def change() -> tuple[int, str] | None:
        used = await db.exec(
            update(MailToken)
            .where(*_usable(token_hash, NEW_ADDRESS))
            .values(used_at=utcnow())
            .returning(MailToken.user_id, MailToken.new_email)
        )
        row = used.first()
        if row is None or row.new_email is None:
            return None
        await db.exec(update(User).where(col(User.id) == row.user_id).values(email=row.new_email))
        return row.user_id, row.new_email

    try:
        return await transaction(db, change)
    except IntegrityError:
        raise AccountTaken({"email": "Another account now uses this email."}) from None


async def _taken(db: AsyncSession, email: str, user_id: int | None) -> bool:
    statement = core_select(User.id).where(_same_address(email), col(User.id) != user_id)
    return (await db.exec(statement)).first() is not None  # type: ignore[call-overload]


def _pending(user_id: int | None, statement: object) -> object:
    return statement.where(  # type: ignore[attr-defined]
        col(MailToken.user_id) == user_id,
        col(MailToken.purpose) == NEW_ADDRESS,
        col(MailToken.used_at).is_(None),
        col(MailToken.expires_at) > utcnow(),
    )


def _token_row(
    user_id: int, purpose: str, token: str, lifetime: timedelta, new_email: str | None = None
) -> dict[str, object]:
    now = utcnow()
    return {
        "token_hash": hash_token(token),
        "user_id": user_id,
        "purpose": purpose,
        "new_email": new_email,
        "created_at": now,
        "expires_at": now + lifetime,
    }

"""Links sent by mail: a password reset, and the confirmation of a new address.

A link holds a random token of 256 bits; the database keeps only its hash
(`mail_tokens`), when it expires, and when it was used: it works once. Using
one marks it used in the same statement that finds it valid, so a link opened
twice at once works for one of them only.

A link works only while the account is as it was when the link was made: the
same address and the same security stamp (`_bound`). A new password, a reset
and "log out everywhere else" rotate the stamp and delete the links still out
(`accounts.renew_credentials`); a new address leaves the reset links sent to the
old one behind. So an owner who secures the account after a warning leaves no
way back in to whoever kept a link, in a mailbox or from a session.

- A password reset is asked for by address: the request puts the address in
  the outbox (`webapp.rules.outbox`), the same row either way. Everything that
  could depend on whether an account has it runs on a postman's thread
  (`reset_mail`), after a short random delay, and does the same database work
  either way: it counts
  and records the request per address (`mail_requests`), looks the address
  up, and inserts a token from that lookup (one row, or none). An address gets
  at most `RESETS_PER_HOUR` mails. Resetting ends every session and API token
  of the account, and starts none.
- A new address is asked for with the current password (the settings
  throttle), at most `ADDRESS_CHANGES_PER_HOUR` times an hour per account. The
  link goes to the new address and a notice to the old one, at once; the
  address changes when the link is opened, unless another account took it
  meanwhile (`AccountTaken`), and the old address is told. One change waits at
  a time (a unique index), and can be cancelled.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Delete,
    Insert,
    Select,
    delete,
    func,
    insert,
    literal,
    update,
)
from sqlalchemy import select as core_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from webapp.core.config import Settings
from webapp.core.db import dialect_name, rows, transaction
from webapp.core.mail import Mail, Postman, render
from webapp.core.security import PasswordHasher, hash_token, new_token
from webapp.errors import (
    AccountTaken,
    DomainError,
    MailUnavailable,
    SameAddress,
    TooManyAddressChanges,
    TooManyResetRequests,
    WrongPassword,
)
from webapp.models import (
    MailRequest,
    MailToken,
    PasswordChange,
    User,
    UTCDateTime,
    utcnow,
)
from webapp.rules import accounts, outbox, sliding_window, throttle

RESET = "reset"
NEW_ADDRESS = "email"
RESET_LIFETIME = timedelta(hours=1)
ADDRESS_LIFETIME = timedelta(hours=24)
REQUEST_WINDOW = timedelta(hours=1)
RESETS_PER_HOUR = 3  # mails to one address
ADDRESS_CHANGES_PER_HOUR = 5  # per account: each sends a mail to any address typed
# What `new_token()` makes: 32 bytes in URL-safe base64, without padding.
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}")


def hash_of(token: str) -> str | None:
    """The stored hash of a well-formed token; None for anything else (a
    wrong length or alphabet, a NUL, text that was not UTF-8)."""
    return hash_token(token) if TOKEN_RE.fullmatch(token) else None


def _bound() -> ColumnElement[bool]:
    """The account still has the address and the security stamp the link was
    made under: the one rule that ends links when credentials or the address
    change."""
    return (
        core_select(col(User.id))
        .where(
            col(User.id) == col(MailToken.user_id),
            col(User.security_stamp) == col(MailToken.stamp),
            col(User.email) == col(MailToken.account_email),
        )
        .correlate(MailToken)
        .exists()
    )


def _working(purpose: str) -> list[ColumnElement[bool]]:
    """A link of `purpose` that works now: unused, unexpired, still bound."""
    return [
        col(MailToken.purpose) == purpose,
        col(MailToken.used_at).is_(None),
        col(MailToken.expires_at) > utcnow(),
        _bound(),
    ]


def usable(token_hash: str, purpose: str) -> list[ColumnElement[bool]]:
    return [col(MailToken.token_hash) == token_hash, *_working(purpose)]


def _same_address(email: str) -> ColumnElement[bool]:
    return func.lower(User.email) == email.lower()


# --- a password reset -------------------------------------------------------


async def ask_reset(
    db: AsyncSession,
    postman: Postman | None,
    email: str,
    *,
    client_ip: str,
    settings: Settings,
) -> None:
    """Count the request against the client address's login limit
    (`TooManyResetRequests` past it), and put the address in the outbox, to
    be looked into a moment later. The pages and the API ask the same way."""
    if postman is None:
        raise MailUnavailable
    wait = await throttle.client_wait(db, client_ip, settings.login_max_attempts)
    if wait is not None:
        raise TooManyResetRequests(wait)

    async def record() -> None:
        await db.exec(throttle.failure(throttle.RESET_KEY, client_ip))
        await outbox.put_reset(db, email, _reset_delay(settings))

    await transaction(db, record)
    postman.wake()


def _reset_delay(settings: Settings) -> float:
    """Between half and one and a half times RESET_MAIL_DELAY. Looked into at
    once, its work (and the mail it may send) would slow the very next
    request, which an observer could time to learn whether the address has an
    account. Later and at a random moment, it is noise among other requests."""
    return settings.reset_mail_delay * (0.5 + secrets.SystemRandom().random())


def reset_mail(site_url: str) -> outbox.ResetMail:
    """What a reset row of the outbox becomes when it is due, on a postman's
    thread and in its transaction: the mail to send, or none (no such
    account, or the address's mails of the hour sent)."""

    def make(db: Connection, email: str) -> Mail | None:
        token = new_token()
        account = _store_reset(db, email, token)
        if account is None:
            return None
        link = f"{site_url}/password-reset/{token}"
        return render("password_reset.txt", account.email, username=account.username, link=link)

    return make


def _store_reset(db: Connection, email: str, token: str) -> ResetFor | None:
    """The same statements, and the same rows written but the token's,
    whether or not an account has `email`: the account the token was made
    for, or None."""
    now = utcnow()
    key = "reset:" + hash_token(email.lower())
    db.execute(delete(MailRequest).where(col(MailRequest.created_at) <= now - REQUEST_WINDOW))
    recent = db.execute(_requests_in_window(key, RESETS_PER_HOUR, now)).all()
    db.execute(insert(MailRequest).values(key=key, created_at=now))
    account = db.execute(_RESET_FOR.where(_same_address(email))).first()
    allowed = len(recent) < RESETS_PER_HOUR
    columns, source = _reset_from_account(email, token, now, allowed)
    made = db.execute(
        insert(MailToken).from_select(columns, source).returning(col(MailToken.user_id))
    ).first()
    if account is None or made is None:
        return None
    return ResetFor(**account._mapping)


def _requests_in_window(key: str, limit: int, now: datetime) -> SelectOfScalar[datetime]:
    """When the last `limit` mails counted against `key` were asked for."""
    return sliding_window.last_times(
        col(MailRequest.created_at),
        col(MailRequest.key) == key,
        since=now - REQUEST_WINDOW,
        limit=limit,
    )


def _reset_from_account(
    email: str, token: str, now: datetime, allowed: bool
) -> tuple[list[str], Select[*tuple[Any, ...]]]:
    """A reset token made from the account that has `email`, if any and if
    `allowed`: INSERT … SELECT, so that no account means no row, not another
    statement."""
    columns = ["token_hash", "user_id", "purpose", "account_email", "stamp"]
    columns += ["created_at", "expires_at"]
    source = core_select(
        literal(hash_token(token)),
        col(User.id),
        literal(RESET),
        col(User.email),
        col(User.security_stamp),
        literal(now, UTCDateTime),
        literal(now + RESET_LIFETIME, UTCDateTime),
    ).where(_same_address(email), literal(allowed))
    return columns, source


@dataclass(frozen=True)
class ResetFor:
    """The account a valid reset link is for."""

    user_id: int
    username: str
    email: str


_RESET_FOR: Select[int | None, str, str] = core_select(
    col(User.id).label("user_id"), col(User.username), col(User.email)
)


async def find_reset(db: AsyncSession, token: str) -> ResetFor | None:
    """The account of a reset link that works now, or None."""
    token_hash = hash_of(token)
    if token_hash is None:
        return None
    statement = _RESET_FOR.join(MailToken, col(MailToken.user_id) == col(User.id)).where(
        *usable(token_hash, RESET)
    )
    row = (await rows(db, statement)).first()
    return ResetFor(**row._mapping) if row else None


async def reset_password(
    db: AsyncSession, hasher: PasswordHasher, token: str, account: ResetFor, change: PasswordChange
) -> bool:
    """Set the new password, if the link still works (False if it was used,
    expired or unbound meanwhile), with new credentials: every session, API
    token and other link of the account ends (`accounts.renew_credentials`); its
    failed logins are forgiven. One unit of work."""
    new_hash = await hasher.hash(change.new_password)
    token_hash = hash_of(token)
    keys = [throttle.login_key(account.username), throttle.login_key(account.email)]

    async def store() -> bool:
        used = await db.exec(
            update(MailToken).where(*usable(token_hash or "", RESET)).values(used_at=utcnow())
        )
        if used.rowcount != 1:
            return False
        await accounts.renew_credentials(db, account.user_id, password_hash=new_hash)
        await db.exec(throttle.forget_keys(keys))
        return True

    return await transaction(db, store)


# --- a new address ------------------------------------------------------------


async def ask_new_address(
    db: AsyncSession,
    hasher: PasswordHasher,
    account: accounts.Account,
    new_email: str,
    password: str,
    *,
    client_ip: str,
    max_attempts: int,
    site_url: str,
) -> None:
    """Check the password and the address, and keep the change waiting for its
    link, in place of any other (`TooManyAddressChanges` past the hour's
    limit), with its mails in the outbox (the link to the new address, a
    notice to the old one)."""
    await accounts.check_password(
        db, hasher, account, password, client_ip=client_ip, max_attempts=max_attempts
    )
    if new_email.lower() == account.email.lower():
        raise SameAddress
    if await _taken(db, new_email, account.id):
        raise AccountTaken({"email": "An account already uses this email."})
    token = new_token()
    user_id, checked_stamp = account.id, account.security_stamp

    mails = [
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
            settings_url=f"{site_url}/settings",
        ),
    ]

    async def store() -> DomainError | None:
        bound_to = await _count_address_change(db, user_id, checked_stamp)
        if isinstance(bound_to, DomainError):
            return bound_to  # raised once the transaction is over, which keeps `account` loaded
        row = token_row(user_id, NEW_ADDRESS, token, ADDRESS_LIFETIME, new_email=new_email)
        await db.exec(_replace_pending(dialect_name(db), {**row, **bound_to}))
        await outbox.put(db, mails)
        return None

    refused = await transaction(db, store)
    if refused is not None:
        raise refused


async def _count_address_change(
    db: AsyncSession, user_id: int, checked_stamp: str
) -> dict[str, str] | DomainError:
    """Inside the change's transaction: lock the account's row (on SQLite the
    transaction holds the write lock already), so that racing requests count
    one after another; refuse past the hour's limit, else record this one.
    The account's address and stamp, to bind the link to; or the refusal:
    `TooManyAddressChanges`, or `WrongPassword` if the credentials changed
    since the password was checked."""
    account = (
        await db.exec(
            select(col(User.email), col(User.security_stamp))
            .where(col(User.id) == user_id, col(User.security_stamp) == checked_stamp)
            .with_for_update(key_share=True)
        )
    ).first()
    if account is None:
        return WrongPassword()
    email, stamp = account
    key, now = f"email:{user_id}", utcnow()
    wait = await sliding_window.wait(
        db,
        col(MailRequest.created_at),
        col(MailRequest.key) == key,
        limit=ADDRESS_CHANGES_PER_HOUR,
        window=REQUEST_WINDOW,
        now=now,
    )
    if wait is not None:
        return TooManyAddressChanges(wait)
    await db.exec(insert(MailRequest).values(key=key, created_at=now))
    return {"account_email": email, "stamp": stamp}


def _replace_pending(dialect: str, row: dict[str, object]) -> Insert:
    """The account's one pending change, inserted or replaced in place, as the
    unique index on pending changes decides: racing requests leave one link."""
    dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = dialect_insert(MailToken).values(row)
    replaced = ["token_hash", "new_email", "account_email", "stamp", "created_at", "expires_at"]
    return statement.on_conflict_do_update(
        index_elements=[col(MailToken.user_id)],
        index_where=(col(MailToken.purpose) == NEW_ADDRESS) & col(MailToken.used_at).is_(None),
        set_={name: statement.excluded[name] for name in replaced},
    )


async def pending_address(db: AsyncSession, user_id: int) -> str | None:
    """The address a change waits to be confirmed for, if its link works."""
    statement = select(col(MailToken.new_email)).where(*_pending(user_id), *_working(NEW_ADDRESS))
    return (await db.exec(statement)).first()


async def cancel_new_address(db: AsyncSession, user_id: int) -> None:
    async def cancel() -> None:
        await db.exec(_cancel(user_id))

    await transaction(db, cancel)


def _cancel(user_id: int) -> Delete:
    return delete(MailToken).where(*_pending(user_id))


@dataclass(frozen=True)
class AddressChanged:
    """A confirmed change: whose, and the new address (the notice for the old
    one is in the outbox)."""

    user_id: int
    new_email: str


async def confirm_new_address(
    db: AsyncSession, token: str, site_url: str, *, tell: bool
) -> AddressChanged | None:
    """Change the address of the link's account, or None for a link that does
    not work (unknown, used, expired, or made under other credentials).
    `AccountTaken` if another account took the address meanwhile.

    The stamp is not rotated: it stands for the credentials (password,
    sessions, API tokens), which a new address does not change, and rotating
    it would end the owner's API tokens for nothing. The reset links sent to
    the old address die all the same, bound to it (`_bound`)."""
    token_hash = hash_of(token)
    if token_hash is None:
        return None

    async def change() -> AddressChanged | None:
        used = await db.exec(
            update(MailToken)
            .where(*usable(token_hash, NEW_ADDRESS))
            .values(used_at=utcnow())
            .returning(
                col(MailToken.user_id), col(MailToken.new_email), col(MailToken.account_email)
            )
        )
        row = used.first()
        if row is None:
            return None
        user_id, new_email, old_email = row
        if new_email is None:
            return None
        username = (
            await db.exec(
                update(User)
                .where(col(User.id) == user_id)
                .values(email=new_email, email_confirmed=True)
                .returning(col(User.username))
            )
        ).scalar_one()
        if tell:
            notice = render(
                "address_changed.txt",
                old_email,
                username=username,
                masked_email=masked(new_email),
                settings_url=f"{site_url}/settings",
            )
            await outbox.put(db, [notice])
        return AddressChanged(user_id, new_email)

    try:
        return await transaction(db, change)
    except IntegrityError:
        raise AccountTaken({"email": "Another account now uses this email."}) from None


def masked(address: str) -> str:
    """`n…@example.org`: enough for the old address's reader to recognise
    their own new one, too little to hand a stranger's address to whoever
    reads the old mailbox."""
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}…@{domain}"


async def _taken(db: AsyncSession, email: str, user_id: int) -> bool:
    statement = select(col(User.id)).where(_same_address(email), col(User.id) != user_id)
    return (await db.exec(statement)).first() is not None


def _pending(user_id: int) -> list[ColumnElement[bool]]:
    """The account's pending change: the one row the unique index allows."""
    return [
        col(MailToken.user_id) == user_id,
        col(MailToken.purpose) == NEW_ADDRESS,
        col(MailToken.used_at).is_(None),
    ]


def token_row(
    user_id: int,
    purpose: str,
    token: str,
    lifetime: timedelta,
    new_email: str | None = None,
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

"""The rules for accounts: registering, logging in, changing the password,
deleting. Called by both the pages and the API."""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, delete, func, insert, true, update
from sqlalchemy import select as core_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.core.db import DriverStatement, rows, transaction
from webapp.core.media_store import MediaStore
from webapp.core.removals import taken_away
from webapp.core.security import ApiTokens, PasswordHasher, tokens_match
from webapp.errors import (
    AccountSuspended,
    AccountTaken,
    TooManyAttempts,
    TooManyLogins,
    UserNotFound,
    WrongPassword,
)
from webapp.models import (
    MAX_ID,
    PROFILE_COLUMNS,
    Like,
    MailToken,
    PasswordChange,
    Post,
    User,
    UserCreate,
    UserMe,
    UserPublic,
    built,
    person,
    utcnow,
)
from webapp.rules import comments, mentions, pictures, safety, sessions, suspensions, throttle


@dataclass(frozen=True)
class Account:
    """A whole account as plain values: what the settings forms, the API's
    caller and the login check work on. Of it, only `me` is ever an answer
    (the caller's own, under /api)."""

    id: int
    username: str
    email: str
    # Kept out of repr: a traceback or a log line must not carry them.
    password_hash: str = field(repr=False)
    security_stamp: str = field(repr=False)
    created_at: datetime
    role: str = "member"  # member, moderator or admin (`webapp.rules.roles`)
    suspended_until: datetime | None = None  # `webapp.rules.suspensions`
    suspension_reason: str | None = None
    email_confirmed: bool = True  # `webapp.rules.confirmations`
    # Whom they block and mute (`webapp.rules.safety.ids_of`).
    blocked_ids: str | None = None
    muted_ids: str | None = None
    # The profile (`webapp.rules.profiles`): the bio as typed and rendered.
    display_name: str = ""
    bio: str = ""
    bio_html: str = ""
    website: str = ""
    avatar: str = ""

    @property
    def me(self) -> UserMe:
        return _me(self)

    @property
    def shield(self) -> safety.Shield:
        return safety.Shield.of(self.blocked_ids, self.muted_ids)


_ACCOUNT = core_select(
    col(User.id),
    col(User.username),
    col(User.email),
    col(User.password_hash),
    col(User.security_stamp),
    col(User.created_at),
    col(User.role),
    col(User.suspended_until),
    col(User.suspension_reason),
    col(User.email_confirmed),
    safety.ids_of(User.id, muted=False).label("blocked_ids"),
    safety.ids_of(User.id, muted=True).label("muted_ids"),
    col(User.display_name),
    col(User.bio),
    col(User.bio_html),
    col(User.website),
    col(User.avatar),
)


async def _find_account(db: AsyncSession, condition: ColumnElement[bool]) -> Account | None:
    row = (await rows(db, _ACCOUNT.where(condition))).first()
    return None if row is None else Account(**row._mapping)


# `_ACCOUNT` by id, run on the driver's cursor (`DriverStatement`): every API
# request with a token runs it (`get_account`).
_ACCOUNT_BY_ID = DriverStatement(_ACCOUNT.where(col(User.id) == bindparam("user_id")))


async def get_account(db: AsyncSession, user_id: int) -> Account:
    """The whole account (its hash and email), or UserNotFound."""
    if not 0 < user_id <= MAX_ID:
        raise UserNotFound
    found = await _ACCOUNT_BY_ID.rows(db, {"user_id": user_id})
    if not found:
        raise UserNotFound
    return Account(*found[0])


async def account_of_token(db: AsyncSession, tokens: ApiTokens, token: str) -> Account | None:
    """The account a bearer token speaks for, or None when it does not hold
    (a bad signature, expired, its user gone, or their stamp rotated by a
    password change or "log out everywhere else")."""
    claims = tokens.read(token)
    if claims is None:
        return None
    try:
        account = await get_account(db, claims.user_id)
    except UserNotFound:
        return None
    return account if tokens_match(account.security_stamp, claims.stamp) else None


def _me(person: Account) -> UserMe:
    """What the API shows someone of their own account, from either reading."""
    return built(
        UserMe,
        id=person.id,
        username=person.username,
        email=person.email,
        created_at=person.created_at,
        email_confirmed=person.email_confirmed,
        display_name=person.display_name,
        bio_html=person.bio_html,
        website=person.website,
        avatar=person.avatar,
    )


async def get_public_user(db: AsyncSession, user_id: int, *, moderator: bool = False) -> UserPublic:
    """What anyone may know of a person, without loading the account;
    UserNotFound for a suspended one (but to a `moderator`)."""
    row = None
    if 0 < user_id <= MAX_ID:
        statement = core_select(
            col(User.id),
            col(User.username),
            col(User.created_at),
            *(getattr(User, name) for name in PROFILE_COLUMNS),
        )
        # A suspended person's profile is gone while it lasts.
        active = true() if moderator else suspensions.ACTIVE
        statement = statement.where(col(User.id) == user_id, active)
        row = (await rows(db, statement)).first()
    if row is None:
        raise UserNotFound
    found: Any = tuple(row)
    return person(*found)


async def taken_fields(db: AsyncSession, username: str, email: str) -> dict[str, str]:
    taken: dict[str, str] = {}
    name_owner = select(User.id).where(func.lower(User.username) == username.lower())
    if (await db.exec(name_owner)).first() is not None:
        taken["username"] = "This username is taken."
    email_owner = select(User.id).where(func.lower(User.email) == email.lower())
    if (await db.exec(email_owner)).first() is not None:
        taken["email"] = "An account with this email already exists."
    return taken


async def register(db: AsyncSession, hasher: PasswordHasher, data: UserCreate) -> UserPublic:
    """Create the account, or raise AccountTaken.

    The check before hashing saves a bcrypt round for the common case; the
    database's unique indexes decide when two people race for one name.
    """
    email = str(data.email)
    taken = await taken_fields(db, data.username, email)
    if taken:
        raise AccountTaken(taken)
    row: dict[str, Any] = {
        "username": data.username,
        "email": email,
        "password_hash": await hasher.hash(data.password),
        "security_stamp": _new_stamp(),
        "created_at": utcnow(),
    }

    async def create() -> int:
        return (await db.exec(insert(User).values(row).returning(col(User.id)))).scalar_one()

    try:
        user_id = await transaction(db, create)
    except IntegrityError:
        raise AccountTaken(
            await taken_fields(db, data.username, email) or {"username": "This username is taken."}
        ) from None
    return UserPublic(id=user_id, username=data.username, created_at=row["created_at"])


async def find_by_login(db: AsyncSession, identifier: str) -> Account | None:
    """A username or an email, in any letter case."""
    identifier = unicodedata.normalize("NFKC", identifier).strip()
    if not identifier or len(identifier) > 254 or not identifier.isprintable():
        return None
    column = User.email if "@" in identifier else User.username
    return await _find_account(db, func.lower(column) == identifier.lower())


async def authenticate(
    db: AsyncSession,
    hasher: PasswordHasher,
    *,
    identifier: str,
    password: str,
    client_ip: str,
    max_attempts: int,
) -> Account | None:
    """Check a login: the account, or None for a wrong password or an unknown
    name; TooManyLogins once either limit is reached; AccountSuspended for the
    right password of a suspended account. Whether or not the
    account exists, exactly one password verification runs and the answer is
    the same, so neither the message nor the time tells who is registered.

    Failures count against what was typed, not against the account it names:
    after five wrong passwords for `frank`, his email address is not
    throttled either, so a 429 never tells which name and address go together.
    """
    account_key = throttle.login_key(identifier)
    wait = await throttle.retry_after(db, account_key, client_ip, max_attempts)
    if wait is not None:
        raise TooManyLogins(wait)
    account = await find_by_login(db, identifier)
    ok, new_hash = await hasher.verify(password, account.password_hash if account else None)
    if not ok or account is None:
        await throttle.record_failure(db, account_key, client_ip)
        return None

    async def succeed() -> None:
        if new_hash:
            # An older scheme or a lower cost: upgrade while we have the
            # password, unless it changed since it was checked.
            await db.exec(
                update(User)
                .where(col(User.id) == account.id, col(User.password_hash) == account.password_hash)
                .values(password_hash=new_hash)
            )
        await throttle.forgive(db, account_key)

    await transaction(db, succeed)
    if suspensions.is_suspended(account.suspended_until):
        # Said only now that the password is known to be right.
        assert account.suspended_until is not None
        raise AccountSuspended(
            suspensions.message(account.suspended_until, account.suspension_reason)
        )
    return replace(account, password_hash=new_hash) if new_hash else account


async def check_password(
    db: AsyncSession,
    hasher: PasswordHasher,
    account: Account,
    password: str,
    *,
    client_ip: str,
    max_attempts: int,
) -> None:
    """The current password, asked again by a settings form. Whoever holds a
    session (a shared computer, a stolen cookie) must not be able to guess it
    without limit: wrong answers count against the account as failed logins
    do (TooManyAttempts after `max_attempts` in the window), apart from them."""
    key = throttle.settings_key(account.id)
    wait = await throttle.account_wait(db, key, max_attempts)
    if wait is not None:
        raise TooManyAttempts(wait)
    ok, _ = await hasher.verify(password, account.password_hash)
    if not ok:
        await throttle.record_failure(db, key, client_ip)
        raise WrongPassword


async def change_password(
    db: AsyncSession,
    hasher: PasswordHasher,
    account: Account,
    change: PasswordChange,
    *,
    client_ip: str,
    max_attempts: int,
) -> None:
    """Check the current password and store the new hash with new credentials
    (`renew_credentials`): one unit of work. The browser that asked gets a new
    session afterwards (`sessions.start`)."""
    await check_password(
        db, hasher, account, change.current_password, client_ip=client_ip, max_attempts=max_attempts
    )
    new_hash = await hasher.hash(change.new_password)

    async def store() -> None:
        await renew_credentials(db, account.id, password_hash=new_hash)

    await transaction(db, store)


async def log_out_elsewhere(db: AsyncSession, user_id: int, *, keep_session_id: int | None) -> int:
    """End every session but the one kept, every API token and every link sent
    by mail (`renew_credentials`); how many sessions ended."""

    async def end_them() -> int:
        return await renew_credentials(db, user_id, keep_session_id=keep_session_id)

    return await transaction(db, end_them)


async def renew_credentials(
    db: AsyncSession,
    user_id: int,
    *,
    password_hash: str | None = None,
    keep_session_id: int | None = None,
) -> int:
    """What a password change, a reset and "log out everywhere else" share,
    inside the caller's unit of work: a new security stamp (API tokens carry
    it, so they all end), the new password if there is one, and the end of
    every session but the one kept and of every link still out by mail. An
    owner who secures the account after a warning must not leave a way back
    in: an address-change link kept by whoever knew the old password, or a
    reset link in a mailbox someone else reads. How many sessions ended."""
    values: dict[str, str] = {"security_stamp": _new_stamp()}
    if password_hash is not None:
        values["password_hash"] = password_hash
    await db.exec(update(User).where(col(User.id) == user_id).values(**values))
    ended = (await db.exec(sessions.others_of(user_id, keep_session_id))).rowcount or 0
    await db.exec(
        delete(MailToken).where(col(MailToken.user_id) == user_id, col(MailToken.used_at).is_(None))
    )
    return ended


def _new_stamp() -> str:
    # API tokens and links sent by mail carry the stamp: a new one revokes them all.
    return secrets.token_hex(16)


async def delete_account(
    db: AsyncSession,
    hasher: PasswordHasher,
    account: Account,
    *,
    password: str,
    client_ip: str,
    max_attempts: int,
    store: MediaStore,
) -> None:
    """Delete the account, once its password is given again. The database
    removes the user's posts, likes, comments, follows, notifications,
    pictures and sessions with it (the picture files after it); the like
    and comment counts of other people's posts go down in the same
    transaction (their rows locked first, as a like locks them: see
    `webapp.rules.likes`)."""
    await check_password(
        db, hasher, account, password, client_ip=client_ip, max_attempts=max_attempts
    )
    user_id = account.id
    liked = select(Like.post_id).where(Like.user_id == user_id)
    # The failures counted against the account's name, address and settings
    # forms go with it.
    keys = [throttle.login_key(account.username), throttle.login_key(account.email)]
    keys.append(throttle.settings_key(user_id))

    async def remove() -> None:
        await db.exec(update(Post).where(col(Post.id).in_(liked)).values(votes=col(Post.votes) - 1))
        await db.exec(comments.count_down_for_author(user_id))
        await mentions.unlink(db, user_id)
        await db.exec(throttle.forget_keys(keys))
        await db.exec(delete(User).where(col(User.id) == user_id))

    names, avatar = await pictures.names_of_owner(db, user_id)
    await transaction(db, remove)
    taken_away()
    await pictures.forget_unused(db, store, names)
    await pictures.forget_avatar_if_unused(db, store, avatar)

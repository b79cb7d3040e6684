"""The rules for accounts: registering, logging in, changing the password,
deleting. Called by both the pages and the API."""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass
from enum import Enum

from sqlalchemy import delete, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.core.db import transaction
from webapp.core.removals import taken_away
from webapp.core.security import PasswordHasher
from webapp.errors import (
    AccountTaken,
    TooManyAttempts,
    UserNotFound,
    WrongPassword,
    wait_in_minutes,
)
from webapp.models import (
    MAX_ID,
    Like,
    LoginFailure,
    MailToken,
    PasswordChange,
    Post,
    User,
    UserCreate,
    UserPublic,
)
from webapp.rules import comments, sessions, throttle


async def get_user(db: AsyncSession, user_id: int) -> User:
    """The whole account (its hash and email), or UserNotFound."""
    user = await db.get(User, user_id) if 0 < user_id <= MAX_ID else None
    if user is None:
        raise UserNotFound
    return user


async def get_public_user(db: AsyncSession, user_id: int) -> UserPublic:
    """What anyone may know of a person, without loading the account."""
    row = None
    if 0 < user_id <= MAX_ID:
        statement = select(User.id, User.username, User.created_at).where(col(User.id) == user_id)
        row = (await db.exec(statement)).first()
    if row is None:
        raise UserNotFound
    return UserPublic(id=row.id, username=row.username, created_at=row.created_at)


async def taken_fields(db: AsyncSession, username: str, email: str) -> dict[str, str]:
    taken: dict[str, str] = {}
    name_owner = select(User.id).where(func.lower(User.username) == username.lower())
    if (await db.exec(name_owner)).first() is not None:
        taken["username"] = "This username is taken."
    email_owner = select(User.id).where(func.lower(User.email) == email.lower())
    if (await db.exec(email_owner)).first() is not None:
        taken["email"] = "An account with this email already exists."
    return taken


async def register(db: AsyncSession, hasher: PasswordHasher, data: UserCreate) -> User:
    """Create the account, or raise AccountTaken.

    The check before hashing saves a bcrypt round for the common case; the
    database's unique indexes decide when two people race for one name.
    """
    email = str(data.email)
    taken = await taken_fields(db, data.username, email)
    if taken:
        raise AccountTaken(taken)
    user = User(username=data.username, email=email, password_hash=await hasher.hash(data.password))
    db.add(user)
    try:
        await db.commit()
    except IntegrityError:
        await db.rollback()
        raise AccountTaken(
            await taken_fields(db, data.username, email) or {"username": "This username is taken."}
        ) from None
    return user


class LoginOutcome(Enum):
    OK = "ok"
    WRONG = "wrong"
    THROTTLED = "throttled"


@dataclass
class LoginResult:
    outcome: LoginOutcome
    user: User | None = None
    retry_after: int = 0  # seconds, for the Retry-After header

    @property
    def retry_minutes(self) -> int:
        return wait_in_minutes(self.retry_after)


async def find_by_login(db: AsyncSession, identifier: str) -> User | None:
    """A username or an email, in any letter case."""
    identifier = unicodedata.normalize("NFKC", identifier).strip()
    if not identifier or len(identifier) > 254 or not identifier.isprintable():
        return None
    column = User.email if "@" in identifier else User.username
    return (await db.exec(select(User).where(func.lower(column) == identifier.lower()))).first()


async def authenticate(
    db: AsyncSession,
    hasher: PasswordHasher,
    *,
    identifier: str,
    password: str,
    client_ip: str,
    max_attempts: int,
) -> LoginResult:
    """Check a login. Whether or not the account exists, exactly one password
    verification runs and the answer is the same, so neither the message nor
    the time tells who is registered.

    Failures count against what was typed, not against the account it names:
    after five wrong passwords for `frank`, his email address is not
    throttled either, so a 429 never tells which name and address go together.
    """
    account_key = throttle.login_key(identifier)
    wait = await throttle.retry_after(db, account_key, client_ip, max_attempts)
    if wait is not None:
        return LoginResult(LoginOutcome.THROTTLED, retry_after=wait)
    user = await find_by_login(db, identifier)
    ok, new_hash = await hasher.verify(password, user.password_hash if user else None)
    if not ok or user is None:
        await throttle.record_failure(db, account_key, client_ip)
        return LoginResult(LoginOutcome.WRONG)
    if new_hash:
        # An older scheme or a lower cost: upgrade while we have the password.
        user.password_hash = new_hash
        db.add(user)
        await db.commit()
    await throttle.clear(db, account_key)
    return LoginResult(LoginOutcome.OK, user=user)


async def check_password(
    db: AsyncSession,
    hasher: PasswordHasher,
    user: User,
    password: str,
    *,
    client_ip: str,
    max_attempts: int,
) -> None:
    """The current password, asked again by a settings form. Whoever holds a
    session (a shared computer, a stolen cookie) must not be able to guess it
    without limit: wrong answers count against the account as failed logins
    do (TooManyAttempts after `max_attempts` in the window), apart from them."""
    key = throttle.settings_key(user.id)
    wait = await throttle.account_wait(db, key, max_attempts)
    if wait is not None:
        raise TooManyAttempts(wait)
    ok, _ = await hasher.verify(password, user.password_hash)
    if not ok:
        await throttle.record_failure(db, key, client_ip)
        raise WrongPassword


async def change_password(
    db: AsyncSession,
    hasher: PasswordHasher,
    user: User,
    change: PasswordChange,
    *,
    client_ip: str,
    max_attempts: int,
) -> None:
    """Check the current password and store the new hash with new credentials
    (`renew_credentials`): one unit of work. The browser that asked gets a new
    session afterwards (`sessions.start`)."""
    await check_password(
        db, hasher, user, change.current_password, client_ip=client_ip, max_attempts=max_attempts
    )
    new_hash = await hasher.hash(change.new_password)
    user_id = user.id  # read now: a retried transaction's rollback expires `user`

    async def store() -> None:
        await renew_credentials(db, user_id, password_hash=new_hash)

    await transaction(db, store)


async def log_out_elsewhere(db: AsyncSession, user: User, *, keep_session_id: int | None) -> int:
    """End every session but the one kept, every API token and every link sent
    by mail (`renew_credentials`); how many sessions ended."""
    user_id = user.id

    async def end_them() -> int:
        return await renew_credentials(db, user_id, keep_session_id=keep_session_id)

    return await transaction(db, end_them)


async def renew_credentials(
    db: AsyncSession,
    user_id: int | None,
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
    values = {"security_stamp": _new_stamp()}
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
    user: User,
    *,
    password: str,
    client_ip: str,
    max_attempts: int,
) -> None:
    """Delete the account, once its password is given again. The database
    removes the user's posts, likes, comments, follows, notifications and
    sessions with it; the like and comment counts of other people's posts go
    down in the same transaction (their rows locked first, as a like locks
    them: see `webapp.rules.likes`)."""
    await check_password(db, hasher, user, password, client_ip=client_ip, max_attempts=max_attempts)
    user_id = user.id
    liked = select(Like.post_id).where(Like.user_id == user_id)
    # The failures counted against the account's name, address and settings
    # forms go with it.
    keys = [throttle.login_key(user.username), throttle.login_key(user.email)]
    keys.append(throttle.settings_key(user_id))

    async def remove() -> None:
        await db.exec(update(Post).where(col(Post.id).in_(liked)).values(votes=col(Post.votes) - 1))
        await db.exec(comments.count_down_for_author(user_id))
        await db.exec(delete(LoginFailure).where(col(LoginFailure.account_key).in_(keys)))
        await db.exec(delete(User).where(col(User.id) == user_id))

    await transaction(db, remove)
    taken_away()

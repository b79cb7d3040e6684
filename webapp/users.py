"""The rules for accounts: registering, logging in, changing the password,
deleting. Called by both the pages and the API."""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass
from enum import Enum

from sqlalchemy import delete, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from webapp import throttle
from webapp.models import MAX_ID, LoginFailure, Post, User, UserCreate, Vote
from webapp.security import PasswordHasher


class AccountTaken(Exception):
    """The username or email is someone else's, in any letter case."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__(", ".join(fields))
        self.fields = fields


def get_user(db: Session, user_id: int) -> User | None:
    if not 0 < user_id <= MAX_ID:
        return None
    return db.get(User, user_id)


def taken_fields(db: Session, username: str, email: str) -> dict[str, str]:
    taken: dict[str, str] = {}
    name_owner = select(User.id).where(func.lower(User.username) == username.lower())
    if db.exec(name_owner).first() is not None:
        taken["username"] = "This username is taken."
    email_owner = select(User.id).where(func.lower(User.email) == email.lower())
    if db.exec(email_owner).first() is not None:
        taken["email"] = "An account with this email already exists."
    return taken


def register(db: Session, hasher: PasswordHasher, data: UserCreate) -> User:
    """Create the account, or raise AccountTaken.

    The check before hashing saves a bcrypt round for the common case; the
    database's unique indexes decide when two people race for one name.
    """
    email = str(data.email)
    taken = taken_fields(db, data.username, email)
    if taken:
        raise AccountTaken(taken)
    user = User(username=data.username, email=email, password_hash=hasher.hash(data.password))
    db.add(user)
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        raise AccountTaken(
            taken_fields(db, data.username, email) or {"username": "This username is taken."}
        ) from None
    db.refresh(user)
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
        """The wait in whole minutes, rounded up, for the message a person reads."""
        return -(-self.retry_after // 60)


def find_by_login(db: Session, identifier: str) -> User | None:
    """A username or an email, in any letter case."""
    identifier = unicodedata.normalize("NFKC", identifier).strip()
    if not identifier or len(identifier) > 254 or not identifier.isprintable():
        return None
    column = User.email if "@" in identifier else User.username
    return db.exec(select(User).where(func.lower(column) == identifier.lower())).first()


def authenticate(
    db: Session,
    hasher: PasswordHasher,
    *,
    identifier: str,
    password: str,
    client_ip: str,
    max_attempts: int,
) -> LoginResult:
    """Check a login. Whether or not the account exists, exactly one password
    verification runs and the answer is the same, so neither the message nor
    the time tells who is registered."""
    user = find_by_login(db, identifier)
    if user is not None:
        account_key = f"user:{user.id}"
    else:
        # What was typed, made safe to store (PostgreSQL text refuses NUL).
        typed = unicodedata.normalize("NFKC", identifier).strip().casefold()[:300]
        account_key = "name:" + "".join(c if c.isprintable() else "?" for c in typed)
    wait = throttle.retry_after(db, account_key, client_ip, max_attempts)
    if wait is not None:
        return LoginResult(LoginOutcome.THROTTLED, retry_after=wait)
    ok, new_hash = hasher.verify(password, user.password_hash if user else None)
    if not ok or user is None:
        throttle.record_failure(db, account_key, client_ip)
        return LoginResult(LoginOutcome.WRONG)
    if new_hash:
        # An older scheme or a lower cost: upgrade while we have the password.
        user.password_hash = new_hash
        db.add(user)
    throttle.clear(db, account_key)
    return LoginResult(LoginOutcome.OK, user=user)


def check_password(hasher: PasswordHasher, user: User, password: str) -> bool:
    ok, _ = hasher.verify(password, user.password_hash)
    return ok


def change_password(db: Session, hasher: PasswordHasher, user: User, new_password: str) -> None:
    """Store the new hash and rotate the stamp, which revokes every API token."""
    user.password_hash = hasher.hash(new_password)
    rotate_stamp(user)
    db.add(user)
    db.commit()


def rotate_stamp(user: User) -> None:
    user.security_stamp = secrets.token_hex(16)


def delete_account(db: Session, user: User) -> None:
    """The database removes the user's posts, likes and sessions with them; the
    like counts of other people's posts they liked go down in the same transaction."""
    liked = select(Vote.post_id).where(Vote.user_id == user.id)
    db.exec(update(Post).where(col(Post.id).in_(liked)).values(votes=col(Post.votes) - 1))
    db.exec(delete(LoginFailure).where(col(LoginFailure.account_key) == f"user:{user.id}"))
    db.exec(delete(User).where(col(User.id) == user.id))
    db.commit()

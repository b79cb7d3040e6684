"""Browser sessions kept on the server.

The signed cookie carries only a random key of 256 bits; the database keeps its
hash with the user, the CSRF token and the times. Ending a session is deleting
its row, so a copied cookie stops working at once.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import Request
from sqlalchemy import delete
from sqlmodel import Session, col, select

from webapp.models import User, UserSession, utcnow
from webapp.security import hash_token, new_token

SESSION_KEY = "sid"
ANONYMOUS_CSRF_KEY = "csrf"
# Writing "last seen" on every request would turn each page view into a write.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def load(db: Session, request: Request) -> tuple[UserSession, User] | None:
    key = request.session.get(SESSION_KEY)
    if not isinstance(key, str):
        return None
    row = db.exec(
        select(UserSession, User)
        .join(User, col(User.id) == col(UserSession.user_id))
        .where(UserSession.key_hash == hash_token(key))
    ).first()
    now = utcnow()
    if row is None or row[0].expires_at <= now:
        if row is not None:
            db.delete(row[0])
            db.commit()
        request.session.pop(SESSION_KEY, None)
        return None
    user_session, user = row
    if now - user_session.last_seen_at >= LAST_SEEN_RESOLUTION:
        user_session.last_seen_at = now
        db.add(user_session)
        db.commit()
    return user_session, user


def start(db: Session, request: Request, user: User, max_age: int) -> UserSession:
    """Log in: drop whatever the browser had and start a new key and CSRF token."""
    end(db, request)
    purge_expired(db)
    key = new_token()
    now = utcnow()
    user_session = UserSession(
        key_hash=hash_token(key),
        user_id=user.id,
        csrf_token=new_token(),
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=max_age),
        user_agent=request.headers.get("user-agent", "")[:300],
        ip_address=client_ip(request)[:45],
    )
    db.add(user_session)
    db.commit()
    flashes = request.session.get("flash")
    request.session.clear()
    request.session[SESSION_KEY] = key
    if flashes:
        request.session["flash"] = flashes
    return user_session


def end(db: Session, request: Request) -> None:
    key = request.session.get(SESSION_KEY)
    if isinstance(key, str):
        db.exec(delete(UserSession).where(col(UserSession.key_hash) == hash_token(key)))
        db.commit()
    request.session.pop(SESSION_KEY, None)
    request.session.pop(ANONYMOUS_CSRF_KEY, None)


def end_others(db: Session, user_id: int, keep_id: int | None) -> int:
    statement = delete(UserSession).where(col(UserSession.user_id) == user_id)
    if keep_id is not None:
        statement = statement.where(col(UserSession.id) != keep_id)
    result = db.exec(statement)
    return result.rowcount or 0


def active(db: Session, user_id: int) -> list[UserSession]:
    return list(
        db.exec(
            select(UserSession)
            .where(UserSession.user_id == user_id, UserSession.expires_at > utcnow())
            .order_by(col(UserSession.last_seen_at).desc())
        )
    )


def anonymous_csrf_token(request: Request) -> str:
    """Visitors who are not logged in still post forms (log in, register): their
    token lives in the signed cookie until a server-side session replaces it."""
    token = request.session.get(ANONYMOUS_CSRF_KEY)
    if not isinstance(token, str):
        token = new_token()
        request.session[ANONYMOUS_CSRF_KEY] = token
    return token


def purge_expired(db: Session) -> None:
    db.exec(delete(UserSession).where(col(UserSession.expires_at) <= utcnow()))

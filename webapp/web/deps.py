"""The page door's dependencies: who the visitor is (from the session cookie),
the CSRF check, and the login requirement.

Nothing under /api may use these: the JSON door reads only the bearer token
(`webapp.api.deps`), and tests/test_structure.py walks every API route to
prove it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, HTTPException, Request
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.datastructures import UploadFile

from webapp.core.cookie import ANONYMOUS_CSRF_KEY, WROTE_KEY
from webapp.core.db import new_session
from webapp.core.deps import DbSession, read_picture_form, services_of
from webapp.core.security import new_token, tokens_match
from webapp.core.uploads import carries_pictures
from webapp.models import UserPublic
from webapp.rules import accounts, confirmations, safety, sessions
from webapp.web import login_cookie
from webapp.web.cache_policy import versions_checked

CSRF_FAILED = "The form had expired or came from another site. Please try again."


class AnonymousToken:
    """An anonymous visitor's CSRF token, made only when a page prints it (a form).

    Visitors who are not logged in still post forms (log in, register): their
    token lives in the signed cookie until a server-side session replaces it.
    Pages without forms then set no cookie, and the same HTML serves every
    anonymous visitor: `used` tells the page cache whether this one is personal.
    """

    def __init__(self, request: Request) -> None:
        self.request = request
        self.used = False

    def __str__(self) -> str:
        self.used = True
        token = self.request.session.get(ANONYMOUS_CSRF_KEY)
        if not isinstance(token, str):
            token = new_token()
            self.request.session[ANONYMOUS_CSRF_KEY] = token
        return token

    def __html__(self) -> str:  # Jinja prints it as it is: the token is URL-safe
        return str(self)


@dataclass(frozen=True)
class Visitor:
    """Who a page is for, as plain values: a logged-in user with their session
    id, CSRF token and unread notification count, or nobody (with a token
    made on demand)."""

    user: UserPublic | None
    session_id: int | None
    csrf_token: str | AnonymousToken
    unread: int = 0  # notifications not yet seen, for the header
    role: str = "member"  # read with the session on every request
    shield: safety.Shield = safety.NOBODY  # whom they block and mute
    email_confirmed: bool = True

    @classmethod
    def anonymous(cls, request: Request) -> Visitor:
        return cls(None, None, AnonymousToken(request))

    @classmethod
    def signed_in(cls, session: sessions.LoadedSession) -> Visitor:
        return cls(
            session.user,
            session.id,
            session.csrf_token,
            session.unread,
            session.role,
            session.shield,
            session.email_confirmed,
        )

    @property
    def user_id(self) -> int | None:
        return self.user.id if self.user else None

    @property
    def personal(self) -> bool:
        """Whether a page made for this visitor holds something of theirs."""
        return self.user is not None or (
            isinstance(self.csrf_token, AnonymousToken) and self.csrf_token.used
        )


async def get_visitor(request: Request, db: DbSession) -> Visitor:
    """Who is asking, and with it the data version this request may serve from
    the page cache: read with the session, or checked at most twice a second
    (unless the shared pages have just checked them). The cache is reached
    here rather than as dependencies of its own: every page asks for the
    visitor, and each dependency costs every page its resolution."""
    started = time.monotonic()
    cache = services_of(request.app).page_cache
    loaded = await login_cookie.load(db, request)
    if loaded is None:
        if not versions_checked(request):
            await cache.check()
        return Visitor.anonymous(request)
    cache.observe(*loaded.data_version, read_at=started)
    return Visitor.signed_in(loaded)


async def visitor_for_error_page(request: Request) -> Visitor:
    """The visitor of a request that failed, or never reached a route (an
    unknown address): read again on a session of its own, since the failed
    request's may be mid-rollback. If even that fails, the page is anonymous."""
    try:
        db: AsyncSession
        async with new_session(services_of(request.app).engine) as db:
            loaded = await login_cookie.load(db, request)
    except Exception:  # the error page must render whatever else is broken
        loaded = None
    return Visitor.anonymous(request) if loaded is None else Visitor.signed_in(loaded)


VisitorDep = Annotated[Visitor, Depends(get_visitor)]


async def protect_form(request: Request, visitor: VisitorDep) -> None:
    """Every unsafe page request must carry the session's CSRF token. The page
    router (`webapp.web.routes`) runs this before any page route."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if carries_pictures(request.method, request.url.path):
        # Its files are read to disk as they come, and kept for the route.
        token = (await read_picture_form(request)).fields.get("csrf_token")
    else:
        form = await request.form()
        token = form.get("csrf_token")
        # No other page takes a file: close any that was sent, or it stays open.
        for _, value in form.multi_items():
            if isinstance(value, UploadFile):
                await value.close()
    if not tokens_match(str(visitor.csrf_token), token):
        raise HTTPException(403, CSRF_FAILED)
    # This browser is about to change something: its next pages must show it,
    # and so must this request's (`webapp.web.cache_policy.PageStore`).
    request.session[WROTE_KEY] = int(time.time())


def login_first(request: Request) -> HTTPException:
    """Off to the login page, and back here afterwards."""
    return HTTPException(
        303, headers={"Location": "/login?next=" + quote(return_path(request), safe="/")}
    )


def return_path(request: Request) -> str:
    """Where to come back after logging in: the page asked for, or for a form
    sent while logged out, the page the form was on."""
    if request.method == "GET":
        query = request.url.query
        return request.url.path + ("?" + query if query else "")
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc == request.url.netloc and referer.path.startswith("/"):
        return referer.path + ("?" + referer.query if referer.query else "")
    return "/"


async def require_user(request: Request, visitor: VisitorDep) -> UserPublic:
    if visitor.user is None:
        raise login_first(request)
    return visitor.user


CurrentUser = Annotated[UserPublic, Depends(require_user)]


async def require_confirmed_user(
    request: Request, visitor: VisitorDep, user: CurrentUser
) -> UserPublic:
    """A logged-in visitor who may write, like, follow and report: with
    REQUIRE_CONFIRMED_EMAIL, one whose address is confirmed (else a 403 page
    that offers to send the link again)."""
    confirmations.check_may_act(
        visitor.email_confirmed, required=services_of(request.app).settings.confirms_email
    )
    return user


ConfirmedUser = Annotated[UserPublic, Depends(require_confirmed_user)]


@dataclass(frozen=True)
class AccountSession:
    """The whole account of a logged-in visitor (its hash and email), and the
    session they are using: what the settings forms work on."""

    account: accounts.Account
    session_id: int


async def require_account(request: Request, db: DbSession, visitor: VisitorDep) -> AccountSession:
    if visitor.user is None or visitor.session_id is None:
        raise login_first(request)
    # UserNotFound (a 404) if the account was deleted since the session was read.
    return AccountSession(await accounts.get_account(db, visitor.user.id), visitor.session_id)


SignedInAccount = Annotated[AccountSession, Depends(require_account)]

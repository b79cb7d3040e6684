"""Dependencies shared by the pages and the API, named once as `Annotated` aliases."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, HTTPException, Request
from sqlmodel import Session

from webapp import sessions
from webapp.config import Settings
from webapp.models import User, UserSession
from webapp.security import ApiTokens, PasswordHasher, tokens_match


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_db(request: Request) -> Iterator[Session]:
    with Session(request.app.state.engine, expire_on_commit=False) as db:
        yield db


def get_hasher(request: Request) -> PasswordHasher:
    return request.app.state.hasher


def get_api_tokens(request: Request) -> ApiTokens:
    return request.app.state.api_tokens


SettingsDep = Annotated[Settings, Depends(get_settings)]
DbSession = Annotated[Session, Depends(get_db)]
Hasher = Annotated[PasswordHasher, Depends(get_hasher)]
Tokens = Annotated[ApiTokens, Depends(get_api_tokens)]


# --- pages -----------------------------------------------------------------


@dataclass
class Visitor:
    """Who is asking for a page: a logged-in user with their session, or nobody."""

    user: User | None
    session: UserSession | None
    csrf_token: str


def get_visitor(request: Request, db: DbSession) -> Visitor:
    loaded = sessions.load(db, request)
    if loaded is None:
        visitor = Visitor(None, None, sessions.anonymous_csrf_token(request))
    else:
        visitor = Visitor(loaded[1], loaded[0], loaded[0].csrf_token)
    # Templates read these through `webapp.templating.render`.
    request.state.user = visitor.user
    request.state.csrf_token = visitor.csrf_token
    return visitor


VisitorDep = Annotated[Visitor, Depends(get_visitor)]


async def protect_form(request: Request, visitor: VisitorDep) -> None:
    """Every unsafe page request must carry the session's CSRF token."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    form = await request.form()
    if not tokens_match(visitor.csrf_token, form.get("csrf_token")):
        raise HTTPException(
            403, "The form had expired or came from another site. Please try again."
        )


def get_optional_user(visitor: VisitorDep) -> User | None:
    return visitor.user


def require_user(request: Request, visitor: VisitorDep) -> User:
    if visitor.user is None:
        raise HTTPException(
            303, headers={"Location": "/login?next=" + quote(return_path(request), safe="/")}
        )
    return visitor.user


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


OptionalUser = Annotated[User | None, Depends(get_optional_user)]
CurrentUser = Annotated[User, Depends(require_user)]

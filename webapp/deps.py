"""Dependencies shared by the pages and the API, named once as `Annotated` aliases.

Every one is `async def`: a plain `def` dependency would run on a worker
thread, and a page would hop threads for each one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, HTTPException, Request
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp import sessions
from webapp.config import Settings
from webapp.db import new_session
from webapp.models import UserPublic
from webapp.page_cache import CHECKED, PageCache
from webapp.security import ApiTokens, PasswordHasher, tokens_match
from webapp.sessions import Visitor


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    async with new_session(request.app.state.engine) as db:
        yield db


async def get_hasher(request: Request) -> PasswordHasher:
    return request.app.state.hasher


async def get_api_tokens(request: Request) -> ApiTokens:
    return request.app.state.api_tokens


async def get_page_cache(request: Request) -> PageCache:
    return request.app.state.page_cache


SettingsDep = Annotated[Settings, Depends(get_settings)]
DbSession = Annotated[AsyncSession, Depends(get_db)]
Hasher = Annotated[PasswordHasher, Depends(get_hasher)]
Tokens = Annotated[ApiTokens, Depends(get_api_tokens)]
Cache = Annotated[PageCache, Depends(get_page_cache)]


# --- pages -----------------------------------------------------------------


async def get_visitor(request: Request, db: DbSession, cache: Cache) -> Visitor:
    """Who is asking, and with it the data version this request may serve from
    the page cache: read with the session, or checked at most twice a second."""
    loaded = await sessions.load(db, request)
    if loaded is None:
        if not getattr(request.state, CHECKED, False):
            await cache.check()
        visitor = Visitor.anonymous(request)
    else:
        cache.observe(*loaded.data_version)
        visitor = Visitor.signed_in(loaded)
    # Templates read it through `webapp.templating.render`: plain values only.
    request.state.visitor = visitor
    return visitor


VisitorDep = Annotated[Visitor, Depends(get_visitor)]


async def protect_form(request: Request, visitor: VisitorDep) -> None:
    """Every unsafe page request must carry the session's CSRF token."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    form = await request.form()
    if not tokens_match(str(visitor.csrf_token), form.get("csrf_token")):
        raise HTTPException(
            403, "The form had expired or came from another site. Please try again."
        )


async def get_optional_user(visitor: VisitorDep) -> UserPublic | None:
    return visitor.user


async def require_user(request: Request, visitor: VisitorDep) -> UserPublic:
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


OptionalUser = Annotated[UserPublic | None, Depends(get_optional_user)]
CurrentUser = Annotated[UserPublic, Depends(require_user)]

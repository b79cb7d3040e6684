"""Dependencies both doors use, named once as `Annotated` aliases: the database
session, the settings, the password hasher, the API tokens, the page cache,
the postman.
Who the caller is belongs to each door: `webapp.web.deps` (the session cookie)
and `webapp.api.deps` (the bearer token).

Every one is `async def`: a plain `def` dependency would run on a worker
thread, and a request would hop threads for each one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.core.config import Settings
from webapp.core.db import new_session
from webapp.core.mail import Postman
from webapp.core.page_cache import PageCache
from webapp.core.security import ApiTokens, PasswordHasher


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


async def get_postman(request: Request) -> Postman | None:
    return request.app.state.postman


async def get_mail_engine(request: Request) -> Engine:
    """The sync engine the postman's thread reads and writes with."""
    return request.app.state.mail_engine


SettingsDep = Annotated[Settings, Depends(get_settings)]
DbSession = Annotated[AsyncSession, Depends(get_db)]
Hasher = Annotated[PasswordHasher, Depends(get_hasher)]
Tokens = Annotated[ApiTokens, Depends(get_api_tokens)]
Cache = Annotated[PageCache, Depends(get_page_cache)]
PostmanDep = Annotated[Postman | None, Depends(get_postman)]
MailEngine = Annotated[Engine, Depends(get_mail_engine)]

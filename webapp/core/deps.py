"""Dependencies both doors use, named once as `Annotated` aliases: the database
session and engine, the settings, the password hasher, the API tokens, the
page cache, the postman. Each comes from the app's one `Services`, stored by
`keep_services` and read by `services_of` alone: what is not a route (a
socket, an error handler, a middleware) calls `services_of` too.
Who the caller is belongs to each door: `webapp.web.deps` (the session cookie)
and `webapp.api.deps` (the bearer token).

Every one is `async def`: a plain `def` dependency would run on a worker
thread, and a request would hop threads for each one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.applications import Starlette

from webapp.core.config import Settings
from webapp.core.db import new_session
from webapp.core.mail import Postman
from webapp.core.media_store import MediaStore
from webapp.core.page_cache import PageCache
from webapp.core.security import ApiTokens, PasswordHasher
from webapp.core.services import Services, ServicesState
from webapp.core.uploads import PictureForm, picture_form


def keep_services(app: Starlette, services: Services[Any]) -> None:
    """Where the app's services live, once, for its whole life."""
    app.state = ServicesState(services)


def services_of(app: Starlette) -> Services[Any]:
    services: Services[Any] = app.state.services
    return services


async def get_settings(request: Request) -> Settings:
    return services_of(request.app).settings


async def get_engine(request: Request) -> AsyncEngine:
    return services_of(request.app).engine


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    async with new_session(services_of(request.app).engine) as db:
        yield db


async def get_hasher(request: Request) -> PasswordHasher:
    return services_of(request.app).hasher


async def get_api_tokens(request: Request) -> ApiTokens:
    return services_of(request.app).api_tokens


async def get_page_cache(request: Request) -> PageCache:
    return services_of(request.app).page_cache


async def get_postman(request: Request) -> Postman | None:
    return services_of(request.app).postman


async def get_media_store(request: Request) -> MediaStore:
    return MediaStore(services_of(request.app).settings.media_dir)


async def read_picture_form(request: Request) -> PictureForm:
    """The form of a route that takes pictures, its files on disk (read once
    a request, by the CSRF check or the route, whichever asks first)."""
    settings = services_of(request.app).settings
    store = MediaStore(settings.media_dir)
    return await picture_form(request, store, settings.max_upload_bytes)


SettingsDep = Annotated[Settings, Depends(get_settings)]
DbEngine = Annotated[AsyncEngine, Depends(get_engine)]
DbSession = Annotated[AsyncSession, Depends(get_db)]
Hasher = Annotated[PasswordHasher, Depends(get_hasher)]
Tokens = Annotated[ApiTokens, Depends(get_api_tokens)]
Cache = Annotated[PageCache, Depends(get_page_cache)]
PostmanDep = Annotated[Postman | None, Depends(get_postman)]
Store = Annotated[MediaStore, Depends(get_media_store)]
PictureFormDep = Annotated[PictureForm, Depends(read_picture_form)]

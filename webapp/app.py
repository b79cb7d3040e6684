"""The application factory: settings in, a FastAPI app out."""

from __future__ import annotations

import gc
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from webapp import errors
from webapp.api import docs
from webapp.api import routes as api
from webapp.config import Settings, SettingsError
from webapp.db import create_async_db_engine, migrate
from webapp.middleware import BodyLimitMiddleware, SecurityHeadersMiddleware, security_headers
from webapp.page_cache import PageCache, SharedPageMiddleware
from webapp.security import ApiTokens, PasswordHasher
from webapp.templating import STATIC_DIR, make_environment
from webapp.web import auth, health, posts, users
from webapp.web import settings as settings_pages

SESSION_COOKIE = "agora_session"


def create_app(
    settings: Settings | None = None, *, migrate_on_start: bool = False, pooled: bool = True
) -> FastAPI:
    settings = settings or Settings()
    settings.check()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if migrate_on_start:
            migrate(settings)
        # What is alive now (the code, the templates, the metadata) lives as long
        # as the process: keep the collector from walking it again on every
        # full collection, which would stall a busy worker for tens of ms.
        gc.collect()
        gc.freeze()
        yield
        await app.state.engine.dispose()
        app.state.hasher.close()

    app = FastAPI(
        title="Agora API",
        summary="Posts, likes and people of Agora, as JSON.",
        description=api.DESCRIPTION,
        version="1.0.0",
        openapi_tags=api.TAGS,
        lifespan=lifespan,
        # Served from static/docs by webapp.api.docs: the CDN pages break the CSP.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = create_async_db_engine(settings, pooled=pooled)
    app.state.page_cache = PageCache(app.state.engine)
    app.state.templates = make_environment(auto_reload=settings.templates_auto_reload)
    app.state.hasher = PasswordHasher(settings.bcrypt_rounds)
    app.state.api_tokens = ApiTokens(
        settings.signing_key, settings.access_token_expire_minutes * 60
    )
    app.state.security_headers = security_headers(settings)

    # Added innermost first: the headers wrap everything, then the body limit,
    # the session cookie, and anonymous pages served from the cache.
    app.add_middleware(SharedPageMiddleware, cache=app.state.page_cache)
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.signing_key,
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age,
        same_site="lax",
        https_only=settings.cookie_secure,
    )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeadersMiddleware, settings=settings)
    errors.install(app)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # Routes are matched in this order: the busiest pages first.
    app.include_router(posts.router)
    app.include_router(users.router)
    app.include_router(auth.router)
    app.include_router(settings_pages.router)
    app.include_router(health.router)
    app.include_router(docs.router)
    app.include_router(api.router)
    return app


def __getattr__(name: str) -> FastAPI:
    """`uvicorn webapp.app:app` builds the app from the environment on first use,
    so that importing this module (as the tests do) has no side effects."""
    if name != "app":
        raise AttributeError(name)
    try:
        application = create_app(migrate_on_start=True)
    except SettingsError as error:
        sys.exit(f"agora: {error}")
    globals()["app"] = application
    return application

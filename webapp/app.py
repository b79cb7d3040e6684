"""The application factory: settings in, a FastAPI app out."""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import Mount
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from webapp import error_handlers
from webapp.api import docs
from webapp.api import routes as api
from webapp.core.config import Settings, SettingsError
from webapp.core.cookie import SESSION_COOKIE, SESSION_KEY
from webapp.core.db import create_async_db_engine, create_db_engine, migrate
from webapp.core.mail import postman_for
from webapp.core.middleware import (
    AllowedHostsMiddleware,
    BodyLimitMiddleware,
    HeadMiddleware,
    NoStoreMiddleware,
    SecurityHeadersMiddleware,
    security_headers,
)
from webapp.core.page_cache import PageCache, SharedPageMiddleware
from webapp.core.removals import RemovalBarrierMiddleware
from webapp.core.security import ApiTokens, PasswordHasher
from webapp.core.templating import STATIC_DIR, RoutePaths
from webapp.live.hub import Hub
from webapp.live.places import Places
from webapp.live.sources import source_for
from webapp.web import health, live
from webapp.web import routes as pages
from webapp.web.pages import page_environment


def create_app(
    settings: Settings | None = None, *, migrate_on_start: bool = False, pooled: bool = True
) -> FastAPI:
    settings = settings or Settings()
    settings.check()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if migrate_on_start:
            migrate(settings)
        if app.state.postman is None:
            logging.getLogger("webapp.mail").warning(
                "SMTP_URL is not set: password resets and address changes are unavailable"
            )
        # What is alive now (the code, the templates, the metadata) lives as long
        # as the process: keep the collector from walking it again on every
        # full collection, which would stall a busy worker for tens of ms.
        gc.collect()
        gc.freeze()
        yield
        await app.state.live.stop()
        if app.state.postman is not None:
            app.state.postman.close()
        app.state.mail_engine.dispose()
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
    app.state.live = Hub(
        app.state.engine, source_for(settings, app.state.engine), Places(settings.socket_cap)
    )
    app.state.postman = postman_for(settings)
    # For the postman's thread, which has no event loop (`webapp.rules.mail_links`).
    app.state.mail_engine = create_db_engine(settings)
    static = Mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.state.templates = page_environment(
        auto_reload=settings.templates_auto_reload,
        paths=RoutePaths([*pages.router.routes, *docs.router.routes, static]),
    )
    app.state.hasher = PasswordHasher(settings.bcrypt_rounds)
    app.state.api_tokens = ApiTokens(
        settings.signing_key, settings.access_token_expire_minutes * 60
    )
    app.state.security_headers = security_headers(settings)

    # Added innermost first, so they run in the opposite order: the security
    # headers on everything; the client's real address when a trusted proxy
    # sends it; foreign hosts refused; HEAD run as GET; the session cookie
    # (read before a body is refused, so that the refusal's page knows the
    # visitor); no-store for logged-in visitors; the body limit; and
    # anonymous pages served from the cache.
    app.add_middleware(SharedPageMiddleware, cache=app.state.page_cache)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        refuse=error_handlers.error_response,
    )
    app.add_middleware(NoStoreMiddleware, session_key=SESSION_KEY)
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.signing_key,
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age,
        same_site="lax",
        https_only=settings.cookie_secure,
    )
    app.add_middleware(HeadMiddleware)
    app.add_middleware(
        AllowedHostsMiddleware, hosts=settings.host_names, refuse=error_handlers.error_response
    )
    if settings.proxy_addresses:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.proxy_addresses)
    app.add_middleware(SecurityHeadersMiddleware, settings=settings)
    # Outermost: what a request took away must be seen by every worker before
    # anything of its answer leaves.
    app.add_middleware(RemovalBarrierMiddleware, cache=app.state.page_cache)
    error_handlers.install(app)

    app.router.routes.append(static)
    # The two doors: pages (session cookie, CSRF) and the JSON API (bearer
    # tokens). Matched in this order, the busiest pages first.
    app.include_router(pages.router)
    app.include_router(health.router)
    app.include_router(live.router)
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

"""The application factory: settings in, a FastAPI app out."""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

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
from webapp.core.deps import keep_services
from webapp.core.mail import postman_for
from webapp.core.middleware import (
    AllowedHostsMiddleware,
    BodyLimitMiddleware,
    HeadMiddleware,
    NoStoreMiddleware,
    SecurityHeadersMiddleware,
    security_headers,
)
from webapp.core.page_cache import PageCache
from webapp.core.removals import RemovalBarrierMiddleware
from webapp.core.security import ApiTokens, PasswordHasher
from webapp.core.services import Services
from webapp.core.templating import STATIC_DIR, RoutePaths
from webapp.live.hub import Hub
from webapp.live.places import Places
from webapp.live.sources import source_for
from webapp.web import health, live
from webapp.web import routes as pages
from webapp.web.cache_policy import read_site_state
from webapp.web.pages import page_environment
from webapp.web.shared_pages import SharedPageMiddleware

AgoraServices = Services[Hub]


def create_app(
    settings: Settings | None = None, *, migrate_on_start: bool = False, pooled: bool = True
) -> FastAPI:
    settings = settings or Settings()
    settings.check()
    static = Mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    services = build_services(settings, pooled=pooled, static=static)
    app = FastAPI(
        title="Agora API",
        summary="Posts, likes and people of Agora, as JSON.",
        description=api.DESCRIPTION,
        version="1.0.0",
        openapi_tags=api.TAGS,
        lifespan=lifespan(services, migrate_on_start=migrate_on_start),
        # Served from static/docs by webapp.api.docs: the CDN pages break the CSP.
        docs_url=None,
        redoc_url=None,
    )
    keep_services(app, services)
    add_middleware(app, services)
    error_handlers.install(app)
    add_routes(app, static)
    return app


def build_services(settings: Settings, *, pooled: bool, static: Mount) -> AgoraServices:
    """Everything the app holds for its life, built once."""
    engine = create_async_db_engine(settings, pooled=pooled)
    return Services(
        settings=settings,
        engine=engine,
        mail_engine=create_db_engine(settings),
        page_cache=PageCache(read_site_state(engine)),
        postman=postman_for(settings),
        hasher=PasswordHasher(settings.bcrypt_rounds),
        api_tokens=ApiTokens(settings.signing_key, settings.access_token_expire_minutes * 60),
        templates=page_environment(
            auto_reload=settings.templates_auto_reload,
            paths=RoutePaths([*pages.router.routes, *docs.router.routes, static]),
        ),
        security_headers=security_headers(settings),
        live=Hub(engine, source_for(settings, engine), Places(settings.socket_cap)),
    )


def lifespan(
    services: AgoraServices, *, migrate_on_start: bool
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[None]:
        if migrate_on_start:
            migrate(services.settings)
        if services.postman is None:
            logging.getLogger("webapp.mail").warning(
                "SMTP_URL is not set: password resets and address changes are unavailable"
            )
        # What is alive now (the code, the templates, the metadata) lives as long
        # as the process: keep the collector from walking it again on every
        # full collection, which would stall a busy worker for tens of ms.
        gc.collect()
        gc.freeze()
        yield
        await close(services)

    return run


async def close(services: AgoraServices) -> None:
    await services.live.stop()
    if services.postman is not None:
        services.postman.close()
    services.mail_engine.dispose()
    await services.engine.dispose()
    services.hasher.close()


def add_middleware(app: FastAPI, services: AgoraServices) -> None:
    """Added innermost first, so they run in the opposite order: the security
    headers on everything; the client's real address when a trusted proxy
    sends it; foreign hosts refused; HEAD run as GET; the session cookie (read
    before a body is refused, so that the refusal's page knows the visitor);
    no-store for logged-in visitors; the body limit; and anonymous pages
    served from the cache."""
    settings = services.settings
    app.add_middleware(SharedPageMiddleware, cache=services.page_cache)
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
    app.add_middleware(RemovalBarrierMiddleware, cache=services.page_cache)


def add_routes(app: FastAPI, static: Mount) -> None:
    """The static files, then the two doors: pages (session cookie, CSRF) and
    the JSON API (bearer tokens). Matched in this order, the busiest pages first."""
    app.router.routes.append(static)
    app.include_router(pages.router)
    app.include_router(health.router)
    app.include_router(live.router)
    app.include_router(docs.router)
    app.include_router(api.router)


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

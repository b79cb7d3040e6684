"""The application factory: settings in, a FastAPI app out."""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import event
from starlette.routing import Mount

from webapp import error_handlers
from webapp.api import direct_reads as api_reads
from webapp.api import docs
from webapp.api import routes as api
from webapp.core import announcer, images, metrics
from webapp.core.config import Settings, SettingsError
from webapp.core.cookie import SESSION_COOKIE, SESSION_KEY
from webapp.core.db import (
    create_async_db_engine,
    create_db_engine,
    migrate,
    transaction_in_thread,
)
from webapp.core.deps import keep_services
from webapp.core.direct_reads import DirectReads
from webapp.core.mail import postman_for
from webapp.core.media_store import MediaStore
from webapp.core.middleware import Gate, Observer, SessionCookie, security_headers
from webapp.core.page_cache import PageCache
from webapp.core.proxy import TrustedProxy
from webapp.core.removals import Removals
from webapp.core.route_templates import RouteTemplates
from webapp.core.security import ApiTokens, PasswordHasher
from webapp.core.services import Services
from webapp.core.templating import STATIC_DIR, RoutePaths
from webapp.live.hub import Hub
from webapp.live.places import Places
from webapp.live.sources import source_for
from webapp.rules import mail_links, markup, pictures
from webapp.rules.outbox import Outbox
from webapp.web import direct_reads as page_reads
from webapp.web import health, live, metrics_page
from webapp.web import routes as pages
from webapp.web.cache_policy import read_site_state
from webapp.web.pages import page_environment
from webapp.web.shared_pages import SharedPages

AgoraServices = Services[Hub]


def create_app(
    settings: Settings | None = None, *, migrate_on_start: bool = False, pooled: bool = True
) -> FastAPI:
    settings = settings or Settings()
    settings.check()
    if settings.metrics_token:
        metrics.enable()
    # Absolute links to this address are links on this site (no `rel`).
    markup.configure(settings.public_url)
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
        # Agora sends no telemetry: left on, FastAPI asks OpenTelemetry for its
        # providers (reading the environment) on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    keep_services(app, services)
    add_middleware(app, services)
    error_handlers.install(app)
    add_routes(app, static)
    return app


def build_services(settings: Settings, *, pooled: bool, static: Mount) -> AgoraServices:
    """Everything the app holds for its life, built once."""
    engine = create_async_db_engine(settings, pooled=pooled)
    mail_engine = create_db_engine(settings)
    postman = postman_for(settings)
    if postman is not None:
        postman.store = Outbox(
            partial(transaction_in_thread, mail_engine), mail_links.reset_mail(settings.public_url)
        )
    if not settings.is_sqlite:
        # The live events of likes and new posts leave through it (SQLite's
        # triggers write theirs in the writing transaction).
        announcer.for_engine(engine)
    if metrics.enabled():
        event.listen(engine.sync_engine.pool, "checkout", metrics.connection_out)
        event.listen(engine.sync_engine.pool, "checkin", metrics.connection_back)
    return Services(
        settings=settings,
        engine=engine,
        mail_engine=mail_engine,
        page_cache=PageCache(read_site_state(engine)),
        postman=postman,
        hasher=PasswordHasher(settings.bcrypt_rounds),
        api_tokens=ApiTokens(settings.signing_key, settings.access_token_expire_minutes * 60),
        templates=page_environment(
            auto_reload=settings.templates_auto_reload,
            paths=RoutePaths([*pages.router.routes, *docs.router.routes, static]),
            site_url=settings.public_url,
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
        else:
            services.postman.wake()  # what a stopped worker left in the outbox goes now
        sweeper = pictures.Sweeper(services.engine, MediaStore(services.settings.media_dir))
        sweeper.start()
        # What is alive now (the code, the templates, the metadata) lives as long
        # as the process: keep the collector from walking it again on every
        # full collection, which would stall a busy worker for tens of ms.
        gc.collect()
        gc.freeze()
        yield
        await sweeper.stop()
        await close(services)
        metrics.worker_ends()

    return run


async def close(services: AgoraServices) -> None:
    await services.live.stop()
    announcing = announcer.of(services.engine.sync_engine)
    if announcing is not None:
        await announcing.close()  # what is pending goes first
    if services.postman is not None:
        services.postman.close()
    services.mail_engine.dispose()
    await services.engine.dispose()
    services.hasher.close()
    images.close()


def add_middleware(app: FastAPI, services: AgoraServices) -> None:
    """One middleware does every job each request needs around the app
    (`Gate`: its docstring lists them, in order); the client's real address,
    when a trusted proxy sends it, is read before it."""
    settings = services.settings
    observer = None
    if settings.logs_requests or metrics.enabled():
        observer = Observer(
            RouteTemplates(lambda: app.router.routes),
            lines=settings.logs_requests,
            metrics=metrics.enabled(),
        )
    app.add_middleware(
        Gate,
        settings=settings,
        session_cookie=SessionCookie(
            settings.signing_key,
            SESSION_COOKIE,
            settings.session_max_age,
            secure=settings.cookie_secure,
        ),
        session_key=SESSION_KEY,
        refuse=error_handlers.error_response,
        removals=Removals(services.page_cache),
        early=DirectReads(
            [*page_reads.ROUTES, *api_reads.ROUTES, health.ROUTE],
            SharedPages(services.page_cache).answer,
            error_handlers.answer_error,
            api_reads.WRITES,
        ),
        observer=observer,
    )
    if settings.proxy_addresses:
        app.add_middleware(TrustedProxy, trusted_hosts=settings.proxy_addresses)


def add_routes(app: FastAPI, static: Mount) -> None:
    """The static files, then the two doors: pages (session cookie, CSRF) and
    the JSON API (bearer tokens). Matched in this order, the busiest pages
    first, except requests under /api, which go to the API first (`ApiFirst`)."""
    app.router.routes.append(static)
    app.include_router(pages.router)
    app.include_router(health.router)
    app.include_router(metrics_page.router)
    app.include_router(live.router)
    app.include_router(docs.router)
    app.include_router(api.router)
    app.router.routes.insert(0, api.ApiFirst(app.router.routes[-1]))


# The names `__getattr__` builds: `app` migrates on start, as anyone running
# `uvicorn webapp.app:app` expects; `served` is for `python -m webapp serve`,
# which has migrated once before starting its workers, so that none of them
# loads Alembic (about 10 MB a worker) only to find the schema current.
MIGRATES_ON_START = {"app": True, "served": False}


def __getattr__(name: str) -> FastAPI:
    """`uvicorn webapp.app:app` builds the app from the environment on first use,
    so that importing this module (as the tests do) has no side effects."""
    if name not in MIGRATES_ON_START:
        raise AttributeError(name)
    try:
        application = create_app(migrate_on_start=MIGRATES_ON_START[name])
    except SettingsError as error:
        sys.exit(f"agora: {error}")
    globals()[name] = application
    return application

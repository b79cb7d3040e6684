"""Pages every anonymous visitor sees alike: built once by their route
(`shared_page`), their HTML is kept in the page cache, and the next anonymous
visitors are answered with it before routing, dependencies or the database
(`SharedPageMiddleware`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from sqlalchemy.exc import DBAPIError
from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from webapp.core.page_cache import PageCache
from webapp.web import cache_policy
from webapp.web.cache_policy import PageStore
from webapp.web.deps import Visitor

# Neither is a page: files, and the JSON door, which reads no cookie.
NOT_PAGES = ("/static/", "/api/")


class SharedPageMiddleware:
    """Answers an anonymous GET from the HTML the page cache holds for its
    address. Runs inside the session middleware, which has read the cookie."""

    def __init__(self, app: ASGIApp, cache: PageCache) -> None:
        self.app = app
        self.cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and not scope["path"].startswith(NOT_PAGES)
            and scope["path"] != "/api"
        ):
            session = scope.get("session") or {}
            if cache_policy.shares_before_routing(session):
                try:
                    await self.cache.check()
                except DBAPIError:
                    # The database is away: the app answers (503) with its error page.
                    await self.app(scope, receive, send)
                    return
                cache_policy.note_checked(scope)
                kept = cache_policy.shared_html(scope["path"], scope["query_string"])
                html = PageStore(self.cache, session).get(kept)
                if html is not None:
                    await HTMLResponse(html)(scope, receive, send)
                    return
        await self.app(scope, receive, send)


async def shared_page(
    request: Request, visitor: Visitor, pages: PageStore, build: Callable[[], Awaitable[Response]]
) -> Response:
    """A page that every anonymous visitor sees alike: once built, its HTML is
    kept for `SharedPageMiddleware`. Logged-in visitors, and anyone with a
    message to see, get the page built for them."""
    if not cache_policy.shares(visitor.user is not None, request.session):
        return await build()
    seen = pages.seen()
    response = await build()
    if response.status_code == 200 and not visitor.personal:
        kept = cache_policy.shared_html(request.url.path, request.scope["query_string"])
        pages.put(kept, response.body, seen)
    return response

"""Pages every anonymous visitor sees alike: built once by their route
(`shared_page`), their HTML is kept in the page cache, and the next anonymous
visitors are answered with it before routing, dependencies or the database
(`SharedPages`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from sqlalchemy.exc import DBAPIError
from starlette.responses import HTMLResponse, Response
from starlette.types import Scope

from webapp.core.page_cache import PageCache
from webapp.web import cache_policy
from webapp.web.cache_policy import PageStore
from webapp.web.deps import Visitor

# None is a page: files, the JSON door, which reads no cookie, and the health
# check (which must not wait on the data versions' reading before its own).
NOT_PAGES = ("/static/", "/api/", "/healthz")


class SharedPages:
    """Finds the HTML the page cache holds for an anonymous GET's address:
    the answer given before routing (`webapp.core.middleware.Gate`), once the
    session cookie has been read."""

    def __init__(self, cache: PageCache) -> None:
        self.cache = cache

    async def __call__(self, scope: Scope) -> bytes | None:
        if (
            scope["method"] != "GET"
            or scope["path"].startswith(NOT_PAGES)
            or scope["path"] == "/api"
        ):
            return None
        session = scope.get("session") or {}
        if not cache_policy.shares_before_routing(session):
            return None
        try:
            await self.cache.check()
        except DBAPIError:
            # The database is away: the app answers (503) with its error page.
            return None
        cache_policy.note_checked(scope)
        kept = cache_policy.shared_html(scope["path"], scope["query_string"])
        html: bytes | None = PageStore(self.cache, session).get(kept)
        return html

    async def answer(self, scope: Scope) -> Response | None:
        """The kept page as the response to send, or None."""
        html = await self(scope)
        return None if html is None else HTMLResponse(html)


async def shared_page(
    request: Request, visitor: Visitor, pages: PageStore, build: Callable[[], Awaitable[Response]]
) -> Response:
    """A page that every anonymous visitor sees alike: once built, its HTML is
    kept for `SharedPages`. Logged-in visitors, and anyone with a
    message to see, get the page built for them."""
    if not cache_policy.shares(visitor.user is not None, request.session):
        return await build()
    seen = pages.seen()
    response = await build()
    if response.status_code == 200 and not visitor.personal:
        # The address as `SharedPages` looks it up (not `request.url`, which
        # parses the whole URL again).
        kept = cache_policy.shared_html(request.scope["path"], request.scope["query_string"])
        pages.put(kept, response.body, seen)
    return response

"""Pages every anonymous visitor sees alike: built once by their route
(`shared_page`), their HTML is kept in the page cache, and the next anonymous
visitors are answered with it before routing, dependencies or the database
(`SharedPages`).

Kept a few seconds at most (their relative times, a ranked order), a page that
expired is still served while one anonymous request of the app's own, in the
background, builds it again through its route (`rebuild`): no visitor waits
on the database for a page that only the clock ended (`webapp.core.page_cache`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from typing import Any

from fastapi import Request
from sqlalchemy.exc import DBAPIError
from starlette.responses import HTMLResponse, Response
from starlette.types import Message, Receive, Scope

from webapp.core.page_cache import PageCache
from webapp.web import cache_policy
from webapp.web.cache_policy import PageStore
from webapp.web.deps import Visitor

# None is a page: files, the JSON door, which reads no cookie, and the health
# check (which must not wait on the data versions' reading before its own).
NOT_PAGES = ("/static/", "/api/", "/healthz")
# The scope key that marks the app's own request rebuilding a page (`rebuild`):
# it is built by its route, never answered from the cache.
REBUILDING_SCOPE_KEY = "agora.rebuilding"
# What of a visitor's request the rebuild's keeps: the address and the server,
# not who asked (no cookie, no token: the page every anonymous visitor sees).
_KEPT_SCOPE = (
    "type",
    "asgi",
    "http_version",
    "scheme",
    "server",
    "client",
    "root_path",
    "path",
    "raw_path",
    "query_string",
)
_KEPT_HEADERS = (b"host",)


def rebuild(scope: Scope) -> Coroutine[Any, Any, None]:
    """The app's own anonymous GET of the page `scope` asks for, through the
    whole app (the route keeps the page it builds, as for any visitor), its
    answer dropped."""
    own: Scope = {name: scope[name] for name in _KEPT_SCOPE if name in scope}
    own.update(
        method="GET",
        headers=[(name, value) for name, value in scope["headers"] if name in _KEPT_HEADERS],
        state=dict(scope.get("state", {})),
    )
    own[REBUILDING_SCOPE_KEY] = True
    return scope["app"](own, _no_body(), _drop)


def _no_body() -> Receive:
    asked = False

    async def receive() -> Message:
        nonlocal asked
        if asked:
            return {"type": "http.disconnect"}
        asked = True
        return {"type": "http.request", "body": b"", "more_body": False}

    return receive


async def _drop(message: Message) -> None:
    pass


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
            or REBUILDING_SCOPE_KEY in scope
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
        # Made only if the page expired.
        rebuild_it = partial(rebuild, scope)
        html: bytes | None = PageStore(self.cache, session).get(kept, rebuild_it)
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

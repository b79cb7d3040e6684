"""The Jinja environment and the one function that renders a page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from markupsafe import Markup
from starlette.responses import HTMLResponse, Response

from webapp.page_cache import PageCache, Seen, shared_key
from webapp.sessions import FLASH_KEY, Visitor

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

# How long an anonymous page's finished HTML is reused while nothing changes:
# it says "5 minutes ago", which must not fall far behind the clock.
SHARED_HTML_SECONDS = 10.0


def time_ago(moment: datetime, now: datetime | None = None) -> str:
    """A readable age: "just now", "5 minutes ago", "3 days ago"."""
    now = now or datetime.now(UTC)
    seconds = int((now - moment).total_seconds())
    if seconds < 60:
        return "just now"
    for unit, size in (
        ("year", 31_536_000),
        ("month", 2_592_000),
        ("week", 604_800),
        ("day", 86_400),
        ("hour", 3_600),
        ("minute", 60),
    ):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    return "just now"  # unreachable: the loop ends at minutes


def iso_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def long_date(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return f"{moment.day} {moment:%B %Y}"


def browser_name(user_agent: str) -> str:
    """A readable name for a session's browser; the order matters (Edge says Chrome too)."""
    for marker, name in (
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Chromium/", "Chromium"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ):
        if marker in user_agent:
            system = next(
                (
                    os
                    for os in ("Android", "iPhone", "Windows", "Mac OS", "Linux")
                    if os in user_agent
                ),
                "",
            )
            return f"{name} on {system.replace('Mac OS', 'macOS')}" if system else name
    return user_agent[:60] or "Unknown browser"


def excerpt(text: str, length: int = 240) -> str:
    """The start of a text, cut at a word, on one line."""
    flat = " ".join(text.split())
    if len(flat) <= length:
        return flat
    return flat[:length].rsplit(" ", 1)[0] + "…"


def make_environment(*, auto_reload: bool) -> jinja2.Environment:
    """Compiled templates are kept; with `auto_reload` off, no template file is
    looked at again after its first use."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        auto_reload=auto_reload,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        excerpt=excerpt,
        time_ago=time_ago,
        browser_name=browser_name,
        iso_time=iso_time,
        long_date=long_date,
    )
    return env


def visitor_of(request: Request) -> Visitor:
    """Who the page is for: set by the visitor dependency, else nobody (an error
    page for a request that failed before it ran)."""
    visitor = getattr(request.state, "visitor", None)
    if visitor is None:
        visitor = request.state.visitor = Visitor.anonymous(request)
    return visitor


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """Render a page with what every page needs: the visitor, the CSRF token and
    the one-time flash messages. Everything a template sees is a plain value."""
    visitor = visitor_of(request)
    page = {
        "current_user": visitor.user,
        "csrf_token": visitor.csrf_token,
        "flashes": pop_flashes(request),
    }
    page.update(context or {})
    env: jinja2.Environment = request.app.state.templates
    html = env.get_template(name).render(page)
    return HTMLResponse(html, status_code=status_code, headers=headers)


def post_cards(
    request: Request,
    posts: list[Any],
    liked: set[int],
    *,
    key: Hashable | None,
    seen: Seen,
    show_draft: bool = False,
) -> Markup:
    """A list of posts as HTML: the costliest part of a feed to render. For a
    visitor who likes none of them it is the same for everyone, so it is kept
    (while the data versions `seen` before reading the list hold, and a few
    seconds at most for the relative times). Without a `key`, never kept."""
    cache: PageCache = request.app.state.page_cache
    shareable = key is not None and not liked
    if shareable and (html := cache.get(("cards", key))) is not None:
        return html
    env: jinja2.Environment = request.app.state.templates
    html = env.get_template("macros/posts.html").module.post_list(posts, liked, show_draft)  # type: ignore[attr-defined]
    if shareable:
        cache.put(("cards", key), html, seen, likes=True, ttl=SHARED_HTML_SECONDS)
    return html


async def shared_page(request: Request, build: Callable[[], Awaitable[Response]]) -> Response:
    """A page that every anonymous visitor sees alike: once built, its HTML is
    kept, and `SharedPageMiddleware` answers the next anonymous visitors with it
    (see `webapp.page_cache`). Logged-in visitors, and anyone with a message to
    see, get the page built for them."""
    visitor = visitor_of(request)
    if visitor.user is not None or FLASH_KEY in request.session:
        return await build()
    cache: PageCache = request.app.state.page_cache
    seen = cache.seen()
    response = await build()
    if response.status_code == 200 and not visitor.personal:
        key = shared_key(request.url.path, request.scope["query_string"])
        cache.put(key, response.body, seen, likes=True, ttl=SHARED_HTML_SECONDS)
    return response


def flash(request: Request, message: str) -> None:
    """Keep a message for the next page. Starlette saves the session only when
    a key is assigned, so the list is reassigned, not appended to."""
    request.session[FLASH_KEY] = [*request.session.get(FLASH_KEY, []), message]


def pop_flashes(request: Request) -> list[str]:
    if "session" not in request.scope or FLASH_KEY not in request.session:
        return []
    return request.session.pop(FLASH_KEY)

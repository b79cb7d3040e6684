"""The Jinja environment: its filters, and paths to routes and static files."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, MutableMapping
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import MethodType
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute

PROJECT_DIR = Path(__file__).resolve().parent.parent.parent
TEMPLATES_DIR = PROJECT_DIR / "templates"
STATIC_DIR = PROJECT_DIR / "static"


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
    """`moment.astimezone(UTC).isoformat(timespec="seconds")`: "2026-12-06T23:05:07+00:00".
    The offset is written here, not by `isoformat`, which formats it with a
    call of `utcoffset` and a C `printf` of its own: a third of its cost, for a
    suffix that is always the same (a page prints a time for the post and
    each comment)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "+00:00"


# The months as English pages name them, whatever the process's locale
# (`%B` is the C library's, and a call of `strftime` costs more than a page's
# other dates together).
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def long_date(moment: datetime) -> str:
    """ "6 December 2026"."""
    moment = moment.astimezone(UTC)
    return f"{moment.day} {MONTHS[moment.month - 1]} {moment.year}"


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


def counted(count: int, noun: str) -> str:
    """ "1 like", "3 likes": a count with its noun (nouns that take an s)."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


class RoutePaths:
    """Paths to named routes, for templates: `url("show_post", post_id=3)`,
    `static("style.css")`. Only paths, never built from the Host header.

    Starlette's `url_path_for` tries every route in turn and costs tens of
    microseconds a call; a feed prints two links per post, so each route's
    path pattern is looked up once, on first use, and then only formatted.
    """

    def __init__(self, routes: Iterable[BaseRoute]) -> None:
        self._routes = routes
        self._patterns: dict[str, str] | None = None
        # The paths that take no value (the header's links, the static files),
        # made once: every page prints a dozen of them.
        self._made: dict[tuple[str, str], str] = {}

    def _pattern(self, name: str) -> str:
        if self._patterns is None:
            patterns: dict[str, str] = {}
            # Routers are included lazily: this walks into them.
            for route in iter_route_contexts(list(self._routes)):
                if route.name is None or route.path_format is None:
                    continue
                if route.name in patterns:
                    raise ValueError(f"two routes are named {route.name!r}")
                patterns[route.name] = route.path_format
            self._patterns = patterns
        return self._patterns[name]

    def url(self, name: str, **params: Any) -> str:
        if not params:
            made = self._made.get((name, ""))
            if made is None:
                made = self._made[(name, "")] = self._pattern(name).format()
            return made
        if len(params) == 1 and type(next(iter(params.values()))) is int:
            # One id, the most common link (a post's, a person's): digits
            # alone, formatted as `str` makes them.
            return self._pattern(name).format_map(params)
        # An id needs no quoting: digits alone.
        values = {
            key: str(value) if type(value) is int else quote(str(value), safe="")
            for key, value in params.items()
        }
        return self._pattern(name).format(**values)

    def static(self, path: str) -> str:
        """The file's path with its content's version (`?v=`): a proxy may keep
        it for a year, and a new release's file has a new address."""
        made = self._made.get(("static", path))
        if made is None:
            address = self._pattern("static").format(path=quote(path))
            made = self._made[("static", path)] = f"{address}?v={file_version(path)}"
        return made


def file_version(path: str) -> str:
    """The first 10 hex digits of a static file's SHA-256 (empty if missing)."""
    try:
        content = (STATIC_DIR / path).read_bytes()
    except OSError:
        return ""
    return hashlib.sha256(content).hexdigest()[:10]


class FlatGlobals(jinja2.Environment):
    """An environment whose templates see its globals in one plain dict, copied
    when each template is loaded, instead of Jinja's `ChainMap` over the
    environment's: every render and every `{% import %}` walks a template's
    globals (`set(globals)`, `dict(globals)`, a set difference with the
    importer's), and through a `ChainMap` each key costs a Python call, a
    twentieth of a post page's. So every global is set before the first
    template loads, as Jinja advises anyway (`webapp.web.pages`).

    Its bound methods (`url`, `static`, the markup of `webapp.web.person_html`)
    are given to the templates as the same calls without a method object
    (`plain`)."""

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        return {name: plain(value) for name, value in {**self.globals, **(d or {})}.items()}


def plain(value: Any) -> Any:
    """A bound method as a `partial` of its function: the same call. Jinja
    asks every callable a template calls whether it wants the context
    (`hasattr(f, "jinja_pass_arg")`), and a bound method answers by raising
    an AttributeError that is made, message and all, and dropped: a
    microsecond each call, and a profile's page calls `url` a dozen times."""
    if isinstance(value, MethodType) and not hasattr(value, "jinja_pass_arg"):
        return partial(value.__func__, value.__self__)
    return value


def make_environment(*, auto_reload: bool, paths: RoutePaths) -> jinja2.Environment:
    """Compiled templates are kept; with `auto_reload` off, no template file is
    looked at again after its first use."""
    env = FlatGlobals(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        auto_reload=auto_reload,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        counted=counted,
        time_ago=time_ago,
        browser_name=browser_name,
        iso_time=iso_time,
        long_date=long_date,
    )
    env.globals.update(url=paths.url, static=paths.static)
    return env

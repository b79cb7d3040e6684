"""What every page route uses: rendering with the visitor, one-time messages,
redirects, form fields and their errors, page numbers."""

from __future__ import annotations

import time
from typing import Annotated, Any, cast
from urllib.parse import urlsplit

import jinja2
from fastapi import Form, Request
from fastapi.responses import RedirectResponse
from markupsafe import Markup
from pydantic import ValidationError
from starlette.responses import HTMLResponse, Response

from webapp import models
from webapp.core.cookie import FLASH_KEY
from webapp.core.deps import services_of
from webapp.core.responses import PlainPage
from webapp.core.templating import RoutePaths, make_environment
from webapp.rules import posts, search_query
from webapp.web.card_html import CardMarkup
from webapp.web.deps import Visitor
from webapp.web.pager_html import pager_html
from webapp.web.person_html import PersonMarkup, text
from webapp.web.post_html import PostPageMarkup
from webapp.web.profile_html import ProfileMarkup

MAX_PAGE = 1_000_000

FormText = Annotated[str, Form()]
Checkbox = Annotated[str | None, Form()]

# The limits that forms print (maxlength, hints) and the pager's window, from
# the rules themselves so that a page never states a different one.
LIMITS = {
    "username_min": models.USERNAME_MIN,
    "username_max": models.USERNAME_MAX,
    "password_min": models.PASSWORD_MIN,
    "password_max": models.PASSWORD_MAX,
    "title_max": models.TITLE_MAX,
    "content_max": models.CONTENT_MAX,
    "comment_max": models.COMMENT_MAX,
    "display_name_max": models.DISPLAY_NAME_MAX,
    "bio_max": models.BIO_MAX,
    "website_max": models.WEBSITE_MAX,
    "alt_max": models.ALT_MAX,
    "pictures_max": models.PICTURES_MAX,
    "search_max": search_query.MAX_QUERY_CHARS,
    "pages_around": posts.PAGES_AROUND,
}


def page_environment(*, auto_reload: bool, paths: RoutePaths, site_url: str) -> jinja2.Environment:
    env = make_environment(auto_reload=auto_reload, paths=paths)
    env.globals["limits"] = LIMITS
    people = PersonMarkup(paths.url)
    env.globals.update(people.globals())
    env.globals.update(CardMarkup(people).globals())
    env.globals.update(PostPageMarkup(people, site_url, env).globals())
    env.globals.update(ProfileMarkup(paths.url, site_url, env).globals())
    env.globals["pager_html"] = pager_html
    env.globals["anonymous_shell"] = AnonymousShell(env)
    # What a page says its own address is where only an absolute one will do
    # (Open Graph): SITE_URL's, not the Host a request came with.
    env.globals["site_url"] = site_url
    return env


def render(
    request: Request,
    visitor: Visitor,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """A page with what every page shows: the visitor in the header, their CSRF
    token for its forms, the one-time messages. Templates get plain values."""
    page = {
        "current_user": visitor.user,
        "csrf_token": visitor.csrf_token,
        "unread_count": visitor.unread,
        "flashes": pop_flashes(request),
    }
    page.update(context or {})
    html = services_of(request.app).templates.get_template(name).render(page)
    return HTMLResponse(html, status_code=status_code, headers=headers)


class AnonymousShell:
    """The page every anonymous visitor sees around a page's own parts
    (base.html for nobody logged in, with no message to show), cut where the
    title, the head's additions and the content go: rendered once per version
    of base.html (with templates reloaded as they change, looked at again
    once a second). Kept in UTF-8 too (`encoded`): a page's bytes are its
    parts joined, and only what is its own is encoded for each request (the
    shell is Latin-1 alone, but a page's content, with its "♡", is not: the
    whole page in one str was twice as wide, and encoded whole every time)."""

    SOURCE = (
        '{% extends "base.html" %}{% block title %}{{ slot }}{% endblock %}'
        "{% block head %}{{ slot }}{% endblock %}{% block content %}{{ slot }}{% endblock %}"
    )
    SLOT = Markup("\x00")
    CHECK_SECONDS = 1.0

    def __init__(self, env: jinja2.Environment) -> None:
        self.env = env
        self._base: Any = None
        self._parts: list[str] = []
        self._encoded: list[bytes] = []
        self._checked_at = float("-inf")

    def parts(self) -> list[str]:
        env = self.env
        if self._parts and not env.auto_reload:
            return self._parts
        now = time.monotonic()
        if self._parts and now - self._checked_at < self.CHECK_SECONDS:
            return self._parts
        base = env.get_template("base.html")  # a new one when the file changed (auto_reload)
        self._checked_at = now
        if self._parts and base is self._base:
            return self._parts
        html = env.from_string(self.SOURCE).render(
            current_user=None, csrf_token="", unread_count=0, flashes=[], slot=self.SLOT
        )
        parts = html.split(self.SLOT)
        if len(parts) != 4:
            raise RuntimeError("base.html must show its title, head and content blocks once each")
        self._base, self._parts = base, parts
        self._encoded = [part.encode() for part in parts]
        return parts

    def encoded(self) -> list[bytes]:
        """`parts()`, in UTF-8."""
        self.parts()
        return self._encoded


def serves_anonymous_page(request: Request, visitor: Visitor) -> bool:
    """Whether `anonymous_page` makes this visitor's page: nobody is logged
    in, and no message waits to be shown (`render` shows it)."""
    return visitor.user is None and (
        "session" not in request.scope or FLASH_KEY not in request.session
    )


def anonymous_page(
    request: Request,
    title: str,
    head: str,
    content: str,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """A page as `render` makes it for an anonymous visitor with no message to
    see (`serves_anonymous_page`), from its parts made in Python (escaped
    there): the blocks `title` (text, escaped here), `head` and `content` of
    base.html, with no template rendered."""
    shell = cast(AnonymousShell, services_of(request.app).templates.globals["anonymous_shell"])
    start, after_title, after_head, end = shell.encoded()
    body = b"".join(
        (start, text(title).encode(), after_title, head.encode(), after_head, content.encode(), end)
    )
    if headers is None and not (status_code < 200 or status_code in (204, 304)):
        return PlainPage(body, status_code)
    return HTMLResponse(body, status_code=status_code, headers=headers)


def flash(request: Request, message: str) -> None:
    """Keep a message for the next page. Starlette saves the session only when
    a key is assigned, so the list is reassigned, not appended to."""
    request.session[FLASH_KEY] = [*request.session.get(FLASH_KEY, []), message]


def pop_flashes(request: Request) -> list[str]:
    if "session" not in request.scope or FLASH_KEY not in request.session:
        return []
    return request.session.pop(FLASH_KEY)


def redirect(url: str) -> RedirectResponse:
    """After a form: 303, so the browser follows with a GET."""
    return RedirectResponse(url, status_code=303)


def safe_next(target: str | None) -> str:
    """Follow only a path on this site: `//host`, `/\\host`, `https://host` go home."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target or not target.isprintable():
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def page_number(raw: str | None) -> int:
    """?page= as a person might type it: ASCII digits, else page 1 (`"²".isdigit()`
    is true and `int("²")` fails); past the last page, the last there can be
    (and no 5,000-digit number reaches `int()`)."""
    if not raw or not raw.isascii() or not raw.isdigit():
        return 1
    if len(raw) > len(str(MAX_PAGE)):
        return MAX_PAGE
    return min(max(int(raw), 1), MAX_PAGE)


FRIENDLY = {
    "string_too_short": "Must be at least {min_length} characters.",
    "string_too_long": "Must be at most {max_length} characters.",
    "missing": "This field is required.",
}


def field_errors(error: ValidationError, default_field: str) -> dict[str, str]:
    """The first message for each field; errors of the whole form (a model
    validator) go to `default_field`."""
    messages: dict[str, str] = {}
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else default_field
        template = FRIENDLY.get(item["type"])
        if item["type"] == "string_too_short" and item.get("ctx", {}).get("min_length") == 1:
            template = FRIENDLY["missing"]
        if template:
            message = template.format(**item.get("ctx", {}))
        else:
            message = item["msg"].removeprefix("Value error, ")
            message = message[0].upper() + message[1:]
            if not message.endswith("."):
                message += "."
        messages.setdefault(field, message)
    return messages

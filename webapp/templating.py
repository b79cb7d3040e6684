"""The Jinja environment and the one function that renders a page."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

templates = Jinja2Templates(directory=TEMPLATES_DIR)
templates.env.trim_blocks = True
templates.env.lstrip_blocks = True


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


templates.env.filters["excerpt"] = excerpt
templates.env.filters["time_ago"] = time_ago
templates.env.filters["browser_name"] = browser_name
templates.env.filters["iso_time"] = iso_time
templates.env.filters["long_date"] = long_date


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """Render a page with what every page needs: the visitor, the CSRF token and
    the one-time flash messages."""
    state = request.state
    page = {
        "current_user": getattr(state, "user", None),
        "csrf_token": getattr(state, "csrf_token", ""),
        "flashes": pop_flashes(request),
    }
    page.update(context or {})
    return templates.TemplateResponse(request, name, page, status_code=status_code, headers=headers)


def flash(request: Request, message: str) -> None:
    """Keep a message for the next page. Starlette saves the session only when
    a key is assigned, so the list is reassigned, not appended to."""
    request.session["flash"] = [*request.session.get("flash", []), message]


def pop_flashes(request: Request) -> list[str]:
    if "session" not in request.scope or "flash" not in request.session:
        return []
    return request.session.pop("flash")

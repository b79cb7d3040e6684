"""Error pages: the site's layout, the visitor's own header, a sentence a
person can act on."""

from __future__ import annotations

import logging
from html import escape
from http import HTTPStatus

from fastapi import Request
from starlette.responses import HTMLResponse, Response

from webapp.core import request_ids
from webapp.web.deps import visitor_for_error_page
from webapp.web.pages import render

log = logging.getLogger("webapp")

MESSAGES = {
    400: "The request could not be understood.",
    403: "You are not allowed to do that.",
    404: "There is nothing here. The page may have moved, or never existed.",
    405: "That action is not possible on this page.",
    413: "What you sent is too large.",
    422: "Some of what you sent is not valid.",
    429: "Too many attempts. Please wait and try again.",
    500: "Something went wrong on our side. Please try again later.",
    503: "The site is briefly unavailable. Please try again in a moment.",
}


async def error_page(
    request: Request,
    status_code: int,
    message: str | None = None,
    headers: dict[str, str] | None = None,
    *,
    resend_confirmation: bool = False,
) -> Response:
    """`message`: what to tell the visitor, else the usual words for the status
    (always, for a server error: its details are not for visitors).
    `resend_confirmation`: the page offers to mail the address's link again."""
    phrase = HTTPStatus(status_code).phrase
    if status_code >= 500 or not message:
        message = MESSAGES.get(status_code, phrase)
    # A server error's page names the request, for the person to quote.
    request_id = request_ids.of(request.scope) if status_code == 500 else ""
    try:
        return render(
            request,
            await visitor_for_error_page(request),
            "error.html",
            {
                "status_code": status_code,
                "title": phrase,
                "message": message,
                "request_id": request_id,
                "resend_confirmation": resend_confirmation,
            },
            status_code=status_code,
            headers=headers,
        )
    except Exception:
        log.exception("the error page for %d could not be rendered", status_code)
        return fixed_page(status_code, message, headers, request_id)


def fixed_page(
    status_code: int, message: str, headers: dict[str, str] | None = None, request_id: str = ""
) -> Response:
    """An error page that needs nothing that could fail: no template, no visitor."""
    phrase = HTTPStatus(status_code).phrase
    if request_id:
        message = f"{message} (request {request_id})"
    body = FIXED_PAGE.format(status=status_code, phrase=phrase, message=escape(message))
    return HTMLResponse(body, status_code=status_code, headers=headers)


FIXED_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{status} {phrase} · Agora</title></head>
<body><main><h1>{status} {phrase}</h1><p>{message}</p><p><a href="/">Agora</a></p></main></body>
</html>
"""

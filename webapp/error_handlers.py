"""Every error answered at the door it came in by: `{"detail": ...}` under
/api (`webapp.api.error_bodies`), an HTML page everywhere else (`webapp.web.error_pages`).

The one place that knows both doors, beside `app.py`, which installs these.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from webapp.api.error_bodies import error_json, validation_json
from webapp.core import request_ids
from webapp.core.cookie import SESSION_KEY
from webapp.core.deps import services_of
from webapp.errors import DomainError, EmailNotConfirmed
from webapp.web.error_pages import MESSAGES, error_page, fixed_page

log = logging.getLogger("webapp")


def is_api(request: Request) -> bool:
    path = request.url.path
    return path == "/api" or path.startswith("/api/")


async def error_response(
    request: Request,
    status_code: int,
    detail: Any = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """`detail` is the API's answer; a page shows it when it is a sentence."""
    if is_api(request):
        return error_json(status_code, detail, headers)
    return await error_page(
        request, status_code, detail if isinstance(detail, str) else None, headers
    )


async def domain_error_handler(request: Request, exc: DomainError) -> Response:
    if is_api(request):
        detail = exc.detail if exc.api_detail is None else exc.api_detail
        return error_json(exc.status_code, detail, exc.headers)
    return await error_page(
        request,
        exc.status_code,
        exc.page_message,
        exc.headers,
        resend_confirmation=isinstance(exc, EmailNotConfirmed),
    )


async def http_exception_handler(request: Request, exc: HTTPException) -> Response:
    if exc.status_code < 400:
        # Redirects raised as exceptions (e.g. a page that needs a login).
        return Response(status_code=exc.status_code, headers=exc.headers)
    detail: str | None = exc.detail
    if not is_api(request) and detail == HTTPStatus(exc.status_code).phrase:
        detail = None  # Starlette's default: the page's own words read better
    headers = None if exc.headers is None else dict(exc.headers)
    return await error_response(request, exc.status_code, detail, headers)


async def validation_exception_handler(request: Request, exc: RequestValidationError) -> Response:
    if is_api(request):
        return validation_json(exc.errors())
    return await error_page(request, 422)


async def database_unavailable_handler(request: Request, exc: OperationalError) -> Response:
    log.error("database unavailable: %s", exc.orig)
    return await error_response(request, 503, headers={"Retry-After": "5"})


async def server_error_handler(request: Request, exc: Exception) -> Response:
    # Starlette's outermost middleware calls this and still logs the traceback.
    # It runs outside the headers middleware, so it adds the headers itself.
    request_id = request_ids.of(request.scope)
    try:
        response = await error_response(request, 500)
    except Exception:  # never uvicorn's plain-text answer
        log.exception("the 500 answer failed")
        response = fixed_page(500, MESSAGES[500], request_id=request_id)
    response.headers.update(services_of(request.app).security_headers)
    if request_id:
        response.headers["X-Request-ID"] = request_id
    if SESSION_KEY in request.scope.get("session", {}):
        response.headers["Cache-Control"] = "no-store"  # outside NoStoreMiddleware too
    return response


# Each handler takes its own kind of error; Starlette types them all as taking
# any Exception, hence the loose Callable.
HANDLERS: tuple[tuple[type[Exception], Callable[..., Awaitable[Response]]], ...] = (
    (DomainError, domain_error_handler),
    (HTTPException, http_exception_handler),
    (RequestValidationError, validation_exception_handler),
    (OperationalError, database_unavailable_handler),
    (Exception, server_error_handler),
)


async def answer_error(request: Request, exc: Exception) -> Response | None:
    """What the handlers above answer an exception raised before routing
    (`webapp.core.direct_reads`), or None for one only the outermost handler
    answers, as a 500 with its traceback logged."""
    for kind, handler in HANDLERS[:-1]:
        if isinstance(exc, kind):
            return await handler(request, exc)
    return None


def install(app: FastAPI) -> None:
    for kind, handler in HANDLERS:
        app.add_exception_handler(kind, handler)

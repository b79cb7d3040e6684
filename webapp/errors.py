"""Error responses: HTML pages for people, `{"detail": ...}` under /api."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from webapp.posts import NotOwner, PostNotFound
from webapp.templating import render

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


def is_api(request: Request) -> bool:
    path = request.url.path
    return path == "/api" or path.startswith("/api/")


def error_response(
    request: Request,
    status_code: int,
    detail: Any = None,
    headers: dict[str, str] | None = None,
) -> Response:
    phrase = HTTPStatus(status_code).phrase
    if is_api(request):
        return JSONResponse(
            {"detail": detail if detail is not None else phrase},
            status_code=status_code,
            headers=headers,
        )
    message = detail if isinstance(detail, str) and status_code < 500 else None
    return render(
        request,
        "error.html",
        {
            "status_code": status_code,
            "title": phrase,
            "message": message or MESSAGES.get(status_code, phrase),
        },
        status_code=status_code,
        headers=headers,
    )


async def http_exception_handler(request: Request, exc: StarletteHTTPException) -> Response:
    if exc.status_code < 400:
        # Redirects raised as exceptions (e.g. a page that needs a login).
        return Response(status_code=exc.status_code, headers=exc.headers)
    detail = exc.detail
    if not is_api(request) and detail == HTTPStatus(exc.status_code).phrase:
        detail = None
    return error_response(request, exc.status_code, detail, exc.headers)


async def validation_exception_handler(request: Request, exc: RequestValidationError) -> Response:
    if is_api(request):
        return await request_validation_exception_handler(request, exc)
    return error_response(request, 422)


async def database_unavailable_handler(request: Request, exc: OperationalError) -> Response:
    log.error("database unavailable: %s", exc.orig)
    return error_response(request, 503, headers={"Retry-After": "5"})


async def server_error_handler(request: Request, exc: Exception) -> Response:
    # Starlette's outermost middleware calls this and still logs the traceback.
    # It runs outside the headers middleware, so it adds the headers itself.
    response = error_response(request, 500)
    response.headers.update(request.app.state.security_headers)
    return response


async def post_not_found_handler(request: Request, exc: PostNotFound) -> Response:
    return error_response(request, 404, "Post not found" if is_api(request) else None)


async def not_owner_handler(request: Request, exc: NotOwner) -> Response:
    detail = "Not the owner of this post" if is_api(request) else "This post is not yours."
    return error_response(request, 403, detail)


def install(app: FastAPI) -> None:
    app.add_exception_handler(PostNotFound, post_not_found_handler)
    app.add_exception_handler(NotOwner, not_owner_handler)
    app.add_exception_handler(StarletteHTTPException, http_exception_handler)
    app.add_exception_handler(RequestValidationError, validation_exception_handler)
    app.add_exception_handler(OperationalError, database_unavailable_handler)
    app.add_exception_handler(Exception, server_error_handler)

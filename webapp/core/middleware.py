"""ASGI middleware: security headers on every response, and the body limit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from webapp.core import bodies
from webapp.core.bodies import media_type
from webapp.core.config import Settings

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data:",
        "style-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def security_headers(settings: Settings) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    }
    if settings.cookie_secure:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return headers


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.headers = security_headers(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


# refuse(request, status, detail=None): the answer to send instead
Refusal = Callable[..., Awaitable[Response]]


def host_name(host: str) -> str:
    """`Example.com:8000` -> `example.com`; `[::1]:8000` -> `::1`."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class AllowedHostsMiddleware:
    """A request for any host but ours is a 400, before anything can build a
    link or a redirect from its `Host` header (a cache-poisoning vector)."""

    def __init__(self, app: ASGIApp, hosts: frozenset[str], refuse: Refusal) -> None:
        self.app = app
        self.hosts = hosts
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if host_name(headers.get("host", "")) in self.hosts:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        # Answered as if for the first allowed host: the error page builds no
        # absolute link, but nothing downstream should see the foreign one.
        request = Request({**scope, "headers": _without_host(scope["headers"])})
        await (await self.refuse(request, 400, "Unknown host."))(scope, receive, send)


def _without_host(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(name, value) for name, value in headers if name != b"host"]


class HeadMiddleware:
    """HEAD wherever GET: the request runs as a GET and the body is dropped,
    keeping the headers (Content-Length included) that the GET would send."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, send_headers_only)


class NoStoreMiddleware:
    """`Cache-Control: no-store` on every response to a logged-in visitor (their
    pages show their name, their settings show their email) and on /api
    responses that may carry a token or an email: those sent with a bearer
    token, and the login's. Anonymous pages stay cacheable. Runs inside the
    session middleware: a request that logs in or out is judged either way."""

    def __init__(self, app: ASGIApp, session_key: str) -> None:
        self.app = app
        self.session_key = session_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        personal = self.session_key in scope.get("session", {}) or _carries_secrets(scope)

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start" and (
                personal or self.session_key in scope.get("session", {})
            ):
                MutableHeaders(scope=message)["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_no_store)


def _carries_secrets(scope: Scope) -> bool:
    path: str = scope["path"]
    if not (path == "/api" or path.startswith("/api/")):
        return False
    return path == "/api/login" or "authorization" in Headers(scope=scope)


class BodyLimitMiddleware:
    """Refuse a body over the limit before it is read whole: at once when its
    Content-Length says so, else as soon as the bytes received pass the limit.

    Forms and JSON are read here in full (they are small) and refused with 422
    when the framework would misread them (`webapp.core.bodies`): text that is
    not UTF-8, numbers that JSON does not have.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, refuse: Refusal) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # How a refusal is answered (a page or JSON): the app's error answer.
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        declared = request.headers.get("content-length")
        if declared is not None:
            # ASCII digits only: "²".isdigit() is true and int("²") fails.
            number = declared.isascii() and declared.isdigit()
            if not number or len(declared) > 18 or int(declared) > self.max_bytes:
                status = 413 if number else 400
                await (await self.refuse(request, status))(scope, receive, send)
                return

        kind = checked_kind(request.headers.get("content-type", ""))
        if kind is not None:
            body = await self._read_all(receive)
            if body is None:
                await (await self.refuse(request, 413))(scope, receive, send)
                return
            content_type = request.headers.get("content-type", "")
            too_many = kind != JSON and (
                bodies.most_fields_in(body, content_type) > bodies.MAX_FORM_FIELDS
            )
            if too_many:
                await (await self.refuse(request, 413))(scope, receive, send)
                return
            problem = body_problem(kind, body, content_type)
            if problem is not None:
                await (await self.refuse(request, 422, problem))(scope, receive, send)
                return
            if kind == URLENCODED:
                body = bodies.escape_raw_utf8(body)
                _set_content_length(scope, len(body))
            await self.app(scope, _replay(body, receive), send)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413)
            return message

        await self.app(scope, limited_receive, send)

    async def _read_all(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _set_content_length(scope: Scope, length: int) -> None:
    headers = [(name, value) for name, value in scope["headers"] if name != b"content-length"]
    scope["headers"] = [*headers, (b"content-length", str(length).encode())]


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # e.g. http.disconnect

    return replay


URLENCODED, MULTIPART, JSON = "application/x-www-form-urlencoded", "multipart/form-data", "json"


def checked_kind(content_type: str) -> str | None:
    """Which of the bodies checked here this is, or None: forms, and JSON (the
    framework reads `application/json` and every `application/*+json` as JSON)."""
    kind = media_type(content_type)
    if kind in (URLENCODED, MULTIPART):
        return kind
    if kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json")):
        return JSON
    return None


def body_problem(kind: str, body: bytes, content_type: str) -> str | list[dict[str, object]] | None:
    """What is wrong with a body the framework would take, or None."""
    if kind == URLENCODED and not bodies.urlencoded_is_utf8(body):
        return bodies.NOT_UTF8
    if kind == MULTIPART and not bodies.multipart_is_utf8(body, content_type):
        return bodies.NOT_UTF8
    if kind == JSON and not bodies.json_numbers_are_finite(body):
        # Shaped as the framework's own 422 for a body that is not JSON.
        return [{"type": "json_invalid", "loc": ["body"], "msg": bodies.NOT_JSON_NUMBER}]
    return None

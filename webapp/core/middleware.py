"""The one ASGI middleware (`Gate`): security headers, allowed hosts, HEAD,
the session cookie, no-store, the body limit, the removal barrier and the
answers given before routing."""

from __future__ import annotations

import json
import time
from base64 import b64decode, b64encode
from collections.abc import Awaitable, Callable

import itsdangerous
from itsdangerous.exc import BadSignature
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import Session
from starlette.requests import Request, cookie_parser
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from webapp.core import bodies, logs, metrics, request_ids, uploads
from webapp.core.bodies import media_type
from webapp.core.config import Settings
from webapp.core.removals import Removals
from webapp.core.route_templates import RouteTemplates

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


# refuse(request, status, detail=None): the answer to send instead
Refusal = Callable[..., Awaitable[Response]]
# What answers a request before routing, from its scope (with its session),
# or None to let the app answer: the shared pages and the busiest reads
# (`webapp.core.direct_reads`).
EarlyAnswer = Callable[[Scope], Awaitable[ASGIApp | None]]


def host_name(host: str) -> str:
    """`Example.com:8000` -> `example.com`; `[::1]:8000` -> `::1`."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class SessionCookie:
    """The signed session cookie, read into `scope["session"]` and written back
    when a request changed it: Starlette's `SessionMiddleware`, cookie for
    cookie (the same signature, format and attributes), as one job of `Gate`."""

    def __init__(self, secret_key: str, name: str, max_age: int, *, secure: bool) -> None:
        self.signer = itsdangerous.TimestampSigner(secret_key)
        self.name = name
        self.max_age = max_age
        flags = "httponly; samesite=lax" + ("; secure" if secure else "")
        self._set = f"; path=/; Max-Age={max_age}; {flags}"
        self._cleared = (
            f"{name}=null; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; {flags}".encode()
        )

    def read(self, cookie_headers: list[bytes]) -> tuple[Session, bool]:
        """The session the cookies carry (empty when none is validly signed),
        and whether there was one."""
        cookies: dict[str, str] = {}
        for header in cookie_headers:
            cookies.update(cookie_parser(header.decode("latin-1")))
        value = cookies.get(self.name)
        if value is not None:
            try:
                data = self.signer.unsign(value.encode(), max_age=self.max_age)
                return Session(json.loads(b64decode(data))), True
            except BadSignature:
                pass
        return Session(), False

    def set_cookie(self, session: Session, was_there: bool) -> bytes | None:
        """The `Set-Cookie` value for a session the request changed, or None."""
        if not session.modified:
            return None
        if session:
            data = self.signer.sign(b64encode(json.dumps(session).encode()))
            return f"{self.name}={data.decode()}{self._set}".encode()
        return self._cleared if was_there else None


class Observer:
    """What is noted of each answered request: its log line (LOG_FORMAT=json,
    or `serve --access-log`) and its metrics (METRICS_TOKEN)."""

    def __init__(self, templates: RouteTemplates, *, lines: bool, metrics: bool) -> None:
        self.templates = templates
        self.lines = lines
        self.metrics = metrics

    def __call__(self, scope: Scope, method: str, status: int, seconds: float) -> None:
        """`scope`: as routed (a HEAD is routed as a GET); `method`: as sent."""
        route = self.templates(scope)
        if self.metrics:
            metrics.request_done(method, route, status, seconds)
        if self.lines:
            account = scope.get(logs.ACCOUNT_KEY)
            logs.request_done(
                request_ids.of(scope),
                method,
                route,
                status,
                seconds,
                account if isinstance(account, int) else None,
                scope["client"][0] if scope.get("client") else "",
            )


class Gate:
    """Every job that each request needs before and after the app, in one pass
    and with `send` wrapped once (each was a middleware of its own, and each
    wrapped `send` again):

    0. the request's id (`webapp.core.request_ids`) in `X-Request-ID`, and,
       when asked for, its log line and metrics (`Observer`);
    1. what a request took away is seen by every worker before any of its
       answer leaves (`webapp.core.removals`);
    2. the security headers on every response (unless a route set its own);
    3. a request for any host but ours is a 400 (or a closed socket), before
       anything can build a link or a redirect from its `Host` header (a
       cache-poisoning vector);
    4. HEAD wherever GET: the request runs as a GET and the body is dropped,
       keeping the headers (Content-Length included) that the GET would send;
    5. the session cookie, read before a body is refused, so that the
       refusal's page knows the visitor;
    6. `Cache-Control: no-store` on every response to a logged-in visitor
       (their pages show their name, their settings show their email) and on
       /api responses that may carry a token or an email: those sent with a
       bearer token, and the login's. Anonymous pages stay cacheable. Judged
       after the app too: a request that logs in or out is judged either way;
    7. the body limit (`BodyLimit`);
    8. an early answer (the shared pages, the busiest reads), before routing.

    Each refusal is answered by `refuse`, inside the jobs above it.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: Settings,
        session_cookie: SessionCookie,
        session_key: str,
        refuse: Refusal,
        removals: Removals,
        early: EarlyAnswer | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.app = app
        self.observer = observer
        self.hosts = settings.host_names
        # Built once: (name, value) as raw header pairs, in the order they go out.
        self.security_headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in security_headers(settings).items()
        ]
        self.security_names = frozenset(name for name, _ in self.security_headers)
        # The `Host` header values already found to be ours, as sent: most
        # requests send one of a few, and each is judged once.
        self._our_hosts: set[bytes] = set()
        self.session_cookie = session_cookie
        self.session_key = session_key
        self.refuse = refuse
        self.removals = removals
        self.body_limit = BodyLimit(
            settings.max_body_bytes, refuse, picture_bytes=settings.max_picture_request_bytes
        )
        self.early = early

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http":
            if kind == "websocket":
                await self._socket(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        moments, token = self.removals.watch()
        try:
            if self.observer is None:
                await self._http(scope, receive, send, moments)
            else:
                await self._observed(scope, receive, send, moments, self.observer)
        finally:
            self.removals.unwatch(token)

    async def _observed(
        self, scope: Scope, receive: Receive, send: Send, moments: list[float], observer: Observer
    ) -> None:
        started = time.perf_counter()
        answered = [500]  # what an exception that escapes will be answered with

        async def noting(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered[0] = message["status"]
            await send(message)

        try:
            await self._http(scope, receive, noting, moments)
        finally:
            seconds = time.perf_counter() - started
            observer(scope.get(_ANSWERED_AS, scope), scope["method"], answered[0], seconds)

    async def _socket(self, scope: Scope, receive: Receive, send: Send) -> None:
        host, cookies = b"", []
        for name, value in scope["headers"]:
            if name == b"host":
                host = host or value
            elif name == b"cookie":
                cookies.append(value)
        if host_name(host.decode("latin-1")) not in self.hosts:
            await send({"type": "websocket.close", "code": 1008})
            return
        scope["session"], _ = self.session_cookie.read(cookies)
        await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send, moments: list[float]) -> None:
        host, cookies, authorized, sent_id = b"", [], False, None
        # The first of each, as `Request.headers` reads them (for `BodyLimit`).
        content_type: bytes | None = None
        content_length: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"host":
                host = host or value
            elif name == b"cookie":
                cookies.append(value)
            elif name == b"authorization":
                authorized = True
            elif name == request_ids.HEADER:
                sent_id = value
            elif name == b"content-type":
                content_type = value if content_type is None else content_type
            elif name == b"content-length":
                content_length = value if content_length is None else content_length
        the_id = request_ids.request_id(scope, sent_id)
        scope[request_ids.SCOPE_KEY] = the_id
        request_ids.current.set(the_id)
        id_header = (request_ids.HEADER, the_id.encode("ascii"))
        head = scope["method"] == "HEAD"
        # The session, once read; the no-store check reads it as it is when
        # the answer starts.
        inner = scope
        session: Session | None = None
        session_was_there = False
        personal = False
        # Public files say how they may be kept (`/media/`, `/static/`).
        files = scope["path"].startswith(("/media/", "/static/"))

        async def send_once(message: Message) -> None:
            if message["type"] == "http.response.start":
                if moments:
                    await self.removals.hold(moments)
                message["headers"] = self._headers(
                    list(message.get("headers", ())), session, session_was_there, personal, files
                )
                message["headers"].append(id_header)
            elif head and message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        if host not in self._our_hosts and not self._ours(host):
            # Answered as if for the first allowed host: the error page builds
            # no absolute link, but nothing downstream should see the foreign one.
            request = Request({**scope, "headers": _without_host(scope["headers"])})
            await (await self.refuse(request, 400, "Unknown host."))(scope, receive, send_once)
            return
        if head:
            inner = {**scope, "method": "GET"}
            scope[_ANSWERED_AS] = inner  # where routing will name its route
        session, session_was_there = self.session_cookie.read(cookies)
        inner["session"] = session
        personal = self.session_key in session or _carries_secrets(inner["path"], authorized)
        body = await self.body_limit.check(
            inner,
            receive,
            send_once,
            "" if content_type is None else content_type.decode("latin-1"),
            None if content_length is None else content_length.decode("latin-1"),
        )
        if body is None:  # refused
            return
        if self.early is not None:
            answer = await self.early(inner)
            if answer is not None:
                await answer(inner, body, send_once)
                return
        try:
            await self.app(inner, body, send_once)
        finally:
            uploads.close_form(inner)

    def _ours(self, host: bytes) -> bool:
        """Whether a `Host` header names one of our hosts (remembered when it does)."""
        if host_name(host.decode("latin-1")) not in self.hosts:
            return False
        if len(self._our_hosts) < _OUR_HOSTS_KEPT:
            self._our_hosts.add(host)
        return True

    def _headers(
        self,
        headers: list[tuple[bytes, bytes]],
        session: Session | None,
        session_was_there: bool,
        personal: bool,
        files: bool = False,
    ) -> list[tuple[bytes, bytes]]:
        """The response's headers with what each job adds, in the order the
        jobs used to add them (the innermost first). The names the response
        came with are looked at once: the jobs add none of the security
        headers, and only replace the one they set."""
        present = {name for name, _ in headers}
        if session is not None:
            cached = b"cache-control" in present
            if (personal or self.session_key in session) and not (files and cached):
                if cached:
                    _set_header(headers, b"cache-control", b"no-store")
                else:
                    headers.append((b"cache-control", b"no-store"))
            if session.accessed:
                vary = [value for name, value in headers if name == b"vary"]
                _set_header(headers, b"vary", b", ".join([*vary, b"Cookie"]))
            if session.modified:
                cookie = self.session_cookie.set_cookie(session, session_was_there)
                if cookie is not None:
                    headers.append((b"set-cookie", cookie))
        if self.security_names.isdisjoint(present):  # a route seldom sets one of them
            headers.extend(self.security_headers)
        else:
            headers.extend(pair for pair in self.security_headers if pair[0] not in present)
        return headers


# A HEAD request is answered as a GET, in a scope of its own.
_ANSWERED_AS = "agora.answered_as"
# At most this many `Host` values are remembered as ours (with and without a
# port, in any case: a few in practice).
_OUR_HOSTS_KEPT = 64


def _set_header(headers: list[tuple[bytes, bytes]], name: bytes, value: bytes) -> None:
    """`MutableHeaders.__setitem__`: the first one replaced, the others gone."""
    found = [index for index, (key, _) in enumerate(headers) if key == name]
    if not found:
        headers.append((name, value))
        return
    headers[found[0]] = (name, value)
    for index in reversed(found[1:]):
        del headers[index]


def _without_host(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(name, value) for name, value in headers if name != b"host"]


def _carries_secrets(path: str, authorized: bool) -> bool:
    if not (path == "/api" or path.startswith("/api/")):
        return False
    return path == "/api/login" or authorized


class BodyLimit:
    """Refuse a body over the limit before it is read whole: at once when its
    Content-Length says so, else as soon as the bytes received pass the limit.

    Forms and JSON are read here in full (they are small) and refused with 422
    when the framework would misread them (`webapp.core.bodies`): text that is
    not UTF-8, numbers that JSON does not have.
    """

    def __init__(self, max_bytes: int, refuse: Refusal, *, picture_bytes: int = 0) -> None:
        self.max_bytes = max_bytes
        # The routes that take pictures (`webapp.core.uploads`) read their
        # multipart bodies as they come, up to this.
        self.picture_bytes = max(picture_bytes, max_bytes)
        # How a refusal is answered (a page or JSON): the app's error answer.
        self.refuse = refuse

    async def check(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        content_type: str,
        declared: str | None,
    ) -> Receive | None:
        """The `receive` the app is to read the body with, or None when the
        request has been refused. `content_type` ("" without one) and
        `declared` (its Content-Length, or None): the request's first such
        headers, which `Gate` read already."""
        kind = checked_kind(content_type) if content_type else None
        streamed = kind == MULTIPART and uploads.carries_pictures(scope["method"], scope["path"])
        max_bytes = self.picture_bytes if streamed else self.max_bytes
        if declared is not None:
            # ASCII digits only: "²".isdigit() is true and int("²") fails.
            number = declared.isascii() and declared.isdigit()
            if not number or len(declared) > 18 or int(declared) > max_bytes:
                status = 413 if number else 400
                await self._refused(scope, receive, send, status)
                return None

        if kind is not None and not streamed:
            body = await self._read_all(receive)
            if body is None:
                await self._refused(scope, receive, send, 413)
                return None
            too_many = kind != JSON and (
                bodies.most_fields_in(body, content_type) > bodies.MAX_FORM_FIELDS
            )
            if too_many:
                await self._refused(scope, receive, send, 413)
                return None
            problem = body_problem(kind, body, content_type, scope)
            if problem is not None:
                await self._refused(scope, receive, send, 422, problem)
                return None
            if kind == URLENCODED:
                body = bodies.escape_raw_utf8(body)
                _set_content_length(scope, len(body))
            return _replay(body, receive)

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise HTTPException(413)
            return message

        return limited_receive

    async def _refused(
        self, scope: Scope, receive: Receive, send: Send, status: int, *detail: object
    ) -> None:
        """Answer the request refused; its `Request` is made only then (most
        bodies pass, and making one cost every write two calls)."""
        await (await self.refuse(Request(scope), status, *detail))(scope, receive, send)

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
    if content_type == "application/json":  # what API clients send
        return JSON
    kind = media_type(content_type)
    if kind in (URLENCODED, MULTIPART):
        return kind
    if kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json")):
        return JSON
    return None


def body_problem(
    kind: str, body: bytes, content_type: str, scope: Scope
) -> str | list[dict[str, object]] | None:
    """What is wrong with a body the framework would take, or None. A JSON
    body, read here to check it, is kept in the scope (`bodies.JSON_VALUE`)
    for the writes answered before routing."""
    if kind == URLENCODED and not bodies.urlencoded_is_utf8(body):
        return bodies.NOT_UTF8
    if kind == MULTIPART and not bodies.multipart_is_utf8(body, content_type):
        return bodies.NOT_UTF8
    if kind == JSON:
        finite, value = bodies.read_json(body)
        if not finite:
            # Shaped as the framework's own 422 for a body that is not JSON.
            return [{"type": "json_invalid", "loc": ["body"], "msg": bodies.NOT_JSON_NUMBER}]
        if value is not bodies.NOT_JSON and bodies.plainly_json(content_type):
            scope[bodies.JSON_VALUE] = value
    return None

"""A trusted reverse proxy (FORWARDED_ALLOW_IPS): uvicorn's middleware takes
the client's address and scheme from its headers, and marks the request as
having come through it, so that its `X-Request-ID` is kept too."""

from __future__ import annotations

from starlette.types import Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from webapp.core import request_ids


class TrustedProxy(ProxyHeadersMiddleware):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # type: ignore[override]
        client = scope.get("client")
        if scope["type"] != "lifespan" and client and client[0] in self.trusted_hosts:
            scope[request_ids.PROXIED_KEY] = True
        await super().__call__(scope, receive, send)  # type: ignore[arg-type]

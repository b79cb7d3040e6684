"""Where a request comes from, for the limits that count per address."""

from __future__ import annotations

from starlette.requests import HTTPConnection


def client_ip(connection: HTTPConnection) -> str:
    """The client's address, which the throttles count (a trusted proxy's
    client: see FORWARDED_ALLOW_IPS), for a page, an API call or a socket."""
    return connection.client.host if connection.client else ""

"""Responses whose headers are set at once, for the answers every uncached
page and every API read makes."""

from __future__ import annotations

from starlette.responses import Response


class BodyOnly(Response):
    """`Response(body, status_code, media_type=...)` for a status with a body
    (not 1xx, 204 or 304) and no headers of its own: the same body and
    headers, set at once. Starlette's `init_headers` looks each one up, a
    tenth of the Python calls of a random post's page outside its statements.
    `body`: the bytes as sent."""

    # The Content-Type header's value, as `media_type` (with its charset) gives it.
    content_type = b"application/octet-stream"

    def __init__(self, body: bytes, status_code: int = 200) -> None:
        self.status_code = status_code
        self.background = None
        self.body = body
        self.raw_headers = [
            (b"content-length", str(len(body)).encode()),
            (b"content-type", self.content_type),
        ]


class PlainPage(BodyOnly):
    """An HTML page in UTF-8."""

    media_type = "text/html"
    content_type = b"text/html; charset=utf-8"


class PlainJSON(BodyOnly):
    """A JSON answer (200 or 201)."""

    media_type = "application/json"
    content_type = b"application/json"

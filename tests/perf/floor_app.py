"""The floor: the least an ASGI app can do for a page, to measure the machine by.

It answers every request with the same bytes from memory (the bench gives it
Agora's front page, read once) and nothing else: no middleware, no routing,
no template. The bench serves it as Agora is served (as_agora.py: uvicorn, the
same workers, forked, each on a socket of its own, uvloop and httptools), so
what its latency shows, in the same run, is what the machine and the server add
to any page served from memory. On a 2-core machine that wrk shares, that is
mostly the scheduler: a worker or a wrk thread that waits for a CPU waits about
a tick.

    FLOOR_BODY_FILE=page.html python as_agora.py floor_app:app --workers 2 --port 8123

With FLOOR_PAGES (a JSON object: each request target, as a client sends it,
path and query, to the file of its bytes) it answers each of those targets
with its own page's bytes, and any other with FLOOR_BODY_FILE's: the bench
measures each page Agora serves from memory against the floor serving the
same bytes (a 74 KB Markdown post costs the kernel more to send than a 20 KB
front page, and a 3 KB page less). One dict lookup a request: still nothing.

A live socket likewise: accepted, then read until it closes, and nothing kept
of it (`socket_flood.py --floor` measures what a socket costs a worker, and
whether that memory goes back to the system once it closes, with nothing of
Agora's in the way).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def answer(body: bytes) -> tuple[list[tuple[bytes, bytes]], bytes]:
    headers = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
    ]
    return headers, body


DEFAULT = answer(Path(os.environ["FLOOR_BODY_FILE"]).read_bytes())
# The request target (raw path, and `?query` when there is one) -> its answer.
PAGES = {
    target.encode(): answer(Path(file).read_bytes())
    for target, file in (
        json.loads(Path(os.environ["FLOOR_PAGES"]).read_text()).items()
        if os.environ.get("FLOOR_PAGES")
        else ()
    )
}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while (await receive())["type"] != "websocket.disconnect":
            pass
        return
    headers, body = DEFAULT
    if PAGES:
        query = scope["query_string"]
        target = scope["raw_path"] + b"?" + query if query else scope["raw_path"]
        headers, body = PAGES.get(target, DEFAULT)
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})

"""`/ws`: the socket open pages keep for live updates.

It is not a page route (no form, so no CSRF check), but it belongs to the page
door: it knows the visitor by the session cookie, and only when a browser
sends it from the site's own pages. A handshake from another origin is
refused, so another site cannot open a socket in a visitor's name; one with
no `Origin` (not a browser) gets public events only.

A socket first takes one of the worker's places (`webapp.live.places`): past
20 from one client address it is closed with 1008, past MAX_SOCKETS_PER_WORKER
with 1013 (try again later), before its cookie is read.

One kind of message comes in, `subscribe`; anything else closes the socket
with a policy code (1003 for what is not JSON text, 1008 for the rest, 1009
for a message over 64 KB). What goes out is `webapp.live.hub`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from datetime import datetime
from typing import NamedTuple
from urllib.parse import urlsplit

from fastapi import WebSocket, WebSocketDisconnect
from sqlalchemy.exc import DBAPIError

from webapp.core.area_routes import area_router
from webapp.core.client_address import client_ip
from webapp.core.config import Settings
from webapp.core.db import new_session
from webapp.core.deps import services_of
from webapp.live import events
from webapp.live.hub import MAX_WATCHED, POLICY, Client, Hub
from webapp.live.places import TRY_AGAIN_LATER, Refusal
from webapp.models import MAX_ID
from webapp.rules import safety
from webapp.web import login_cookie

router = area_router(include_in_schema=False)
log = logging.getLogger("webapp.live")

MAX_MESSAGE_BYTES = 64 * 1024
UNSUPPORTED = 1003
TOO_BIG = 1009
LISTEN_TIMEOUT = 5.0  # seconds to wait for this worker to hear events (its first socket)
# A page subscribes once per load, and again on reconnecting: a burst of 10
# messages, then one every 2 seconds, is plenty.
BURST, REFILL_PER_SECOND = 10, 0.5


class Visitor(NamedTuple):
    """Whom a socket is for, as plain values: the database session and the
    loaded row are not kept for the socket's life, which would cost every
    idle socket memory."""

    user_id: int | None = None
    session_id: int | None = None
    unread: int | None = None
    expires_at: datetime | None = None  # the session's end, when the socket closes
    shield: safety.Shield = safety.NOBODY  # whom the visitor blocks or mutes


ANONYMOUS = Visitor()


def hub_of(websocket: WebSocket) -> Hub:
    """This app's hub (a socket has no dependencies to be given it by)."""
    hub: Hub = services_of(websocket.app).live
    return hub


def own_origins(websocket: WebSocket, settings: Settings) -> set[str]:
    """The site's own origins: where this request was sent (its Host passed
    the allowed-hosts check already), and SITE_URL's."""
    scheme = "https" if websocket.url.scheme == "wss" else "http"
    origins = {f"{scheme}://{websocket.headers.get('host', '').lower()}"}
    site = urlsplit(settings.public_url)
    origins.add(f"{site.scheme}://{site.netloc}".lower())
    return origins


@router.websocket("/ws")
async def live(websocket: WebSocket) -> None:
    """Take a place for the socket first, before anything is read or made for
    it, and give it back however the socket ends (a handshake that fails
    midway included)."""
    places = hub_of(websocket).places
    address = client_ip(websocket)
    refusal = places.take(address)
    if refusal is not None:
        await _turn_away(websocket, refusal)
        return
    try:
        await _open(websocket)
    finally:
        places.give_back(address)


async def _turn_away(websocket: WebSocket, refusal: Refusal) -> None:
    """Accepted to be closed at once, so that a browser's script sees the code
    and backs off (a refused handshake would reach it as 1006, with no reason).
    A client that is already gone is no error of the server's."""
    with contextlib.suppress(WebSocketDisconnect, OSError, RuntimeError):
        await websocket.accept()
        await websocket.close(*refusal)


async def _open(websocket: WebSocket) -> None:
    """The handshake (Origin, cookie), then the conversation."""
    hub = hub_of(websocket)
    origin = websocket.headers.get("origin")
    visitor = ANONYMOUS
    if origin is not None:
        if origin.lower() not in own_origins(websocket, services_of(websocket.app).settings):
            await websocket.close(POLICY)  # before the handshake: a 403
            return
        try:
            visitor = await _visitor(websocket)
        except DBAPIError:
            await websocket.close(TRY_AGAIN_LATER)  # the database is away (a 403 here)
            return
    try:
        await asyncio.wait_for(hub.start(), LISTEN_TIMEOUT)
    except TimeoutError:  # the database is away: the page's script tries again later
        await websocket.close(TRY_AGAIN_LATER)
        return
    await websocket.accept()
    client = hub.join(
        websocket, visitor.user_id, visitor.session_id, visitor.expires_at, visitor.shield
    )
    try:
        if visitor.unread is not None:
            client.send(events.unread_message(visitor.unread))
        await _converse(hub, client)
    finally:
        hub.leave(client)
        await client.finish()


async def _visitor(websocket: WebSocket) -> Visitor:
    """The visitor of the socket's cookie, or ANONYMOUS."""
    async with new_session(services_of(websocket.app).engine) as db:
        loaded = await login_cookie.load(db, websocket)
    if loaded is None:
        return ANONYMOUS
    return Visitor(loaded.user.id, loaded.id, loaded.unread, loaded.expires_at, loaded.shield)


async def _converse(hub: Hub, client: Client) -> None:
    """Read the client's messages until it leaves or breaks a rule."""
    websocket = client.websocket
    allowance, refilled_at = float(BURST), time.monotonic()
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is None:
            return await _refuse(client, UNSUPPORTED, "Text frames only.")
        if len(text) > MAX_MESSAGE_BYTES // 4 and len(text.encode()) > MAX_MESSAGE_BYTES:
            return await _refuse(client, TOO_BIG, "Messages are at most 64 KB.")
        now = time.monotonic()
        allowance = min(BURST, allowance + (now - refilled_at) * REFILL_PER_SECOND)
        refilled_at = now
        if allowance < 1:
            return await _refuse(client, POLICY, "Too many messages.")
        allowance -= 1
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            return await _refuse(client, UNSUPPORTED, "Messages are JSON.")
        post_ids = _subscription(data)
        if post_ids is None:
            return await _refuse(client, POLICY, 'The one message is {"type": "subscribe", …}.')
        try:
            await hub.subscribe(client, post_ids)
        except DBAPIError:
            return await _refuse(client, TRY_AGAIN_LATER, "The database is away.")


def _subscription(data: object) -> list[int] | None:
    """The post ids of a well-formed `subscribe` (ids past the first 100, and
    what cannot be a post id, left out), or None."""
    if not isinstance(data, dict) or data.get("type") != "subscribe":
        return None
    posts = data.get("posts")
    if not isinstance(posts, list):
        return None
    return [
        item
        for item in posts[:MAX_WATCHED]
        if type(item) is int and 0 < item <= MAX_ID  # not bool, which is an int too
    ]


async def _refuse(client: Client, code: int, reason: str) -> None:
    client.close(code, reason)
    await client.finish()

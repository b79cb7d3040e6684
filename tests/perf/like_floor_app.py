"""The write floors: Agora's statements for a like and for a new post, sent by the
least an async app can be.

A raw ASGI callable (no framework, no middleware, no ORM) that answers
`POST /api/vote` (JSON `{post_id, dir}`) by sending PostgreSQL the statements
Agora sends for the same like, in the same transactions and the same order:

1. `SELECT caller, done, events FROM agora_like(post, user, stamp, false,
   'add' or 'remove', now)`, autocommitted: the database's function
   (migrations 0011 and 0025) checks the caller (an account with that id and
   that security stamp: Agora reads both from the bearer token), locks the
   post's row (FOR NO KEY UPDATE), inserts (dir 1) or deletes (dir 0) the
   like's row, moves the kept count and inserts or deletes the owner's
   notification, and holds back the live events its triggers describe; at
   its commit the schema's deferred triggers move a row of `site_state`. One
   round trip, run again after a deadlock;
2. the live events, once the like has committed (when it changed
   something), handed to the worker's announcer after the answer's status is
   known: as Agora's (`webapp.core.announcer`), it sends what it holds as one
   autocommitted `SELECT agora_live_announce(events)` (payloads one a line),
   at once when idle, else in the next statement once the one out returns,
   on a connection of its own kept for it, run again after a deadlock.

`POST /api/posts` (JSON `{title, content, published}`) the same way:
`SELECT caller, post_id, events, retry_after, owner_… FROM
agora_new_post(title, content, published, owner, stamp, false, now, html,
excerpt, tags, mentioned, per_hour)` autocommitted (migrations 0016, 0025
and 0026: the caller, the hourly limit, counted only for a writer whose
tally of posts reaches it, the INSERT, its live event held back, the owner
as the post shows them), its live event to the announcer; it
answers 201 with the post as JSON, as Agora does (429 past the limit,
`POSTS_PER_HOUR` as Agora reads it, 30 when unset; 401 for a caller
refused). The content's HTML is the text escaped in one paragraph, as
Agora's Markdown makes of a plain sentence: the statement is Agora's, the
rendering is not.

What it leaves out is what it costs Agora to get there: routing, middleware,
validation, the token's signature (its bearer token is the user's id and
security stamp, `ID:STAMP`, read as they are).
Run on a copy of Agora's database with Agora's triggers, it measures what
those statements cost on this machine: the most a like through Agora can
reach, so that Agora's figure can be held against a share of it.

    LIKE_FLOOR_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/agora_bench_floor \\
        python as_agora.py like_floor_app:app --workers 2 --port 8124

`GET /healthz` runs `SELECT 1`.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from datetime import UTC, datetime
from html import escape
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

# Agora's pool: 10 connections a worker (webapp.core.db).
POOL_SIZE = 10
RETRYABLE = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)
ATTEMPTS = 4

# Agora's statements (webapp.rules.likes.LIKE, webapp.rules.posts.NEW_POST).
LIKE = "SELECT caller, done, events FROM agora_like(%s::integer, %s::integer, %s, %s, %s, %s)"
NEW_POST = (
    "SELECT caller, post_id, events, retry_after, owner_name, owner_since, owner_display_name, "
    "owner_bio_html, owner_website, owner_avatar FROM agora_new_post(%s, %s, %s, %s::integer, "
    "%s, %s, %s, %s, %s, %s::text[], %s::integer[], %s::integer)"
)
# Agora's default (webapp.core.config), read from the same variable.
POSTS_PER_HOUR = int(os.environ.get("POSTS_PER_HOUR", "30"))
ANNOUNCE = "SELECT agora_live_announce(%s)"

pool: AsyncConnectionPool | None = None


class Announcer:
    """Agora's announcer (`webapp.core.announcer`), least: the events handed
    over wait in one list; one statement at a time sends all of them, on the
    announcer's own connection."""

    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self.conn = conn
        self.pending: list[str] = []
        self.sending: asyncio.Task[None] | None = None

    def hand_over(self, events: str) -> None:
        self.pending.append(events)
        if self.sending is None:
            self.sending = asyncio.get_running_loop().create_task(self.send_all())

    async def send_all(self) -> None:
        while self.pending:
            batch, self.pending = "\n".join(self.pending), []
            for attempt in range(1, ATTEMPTS + 1):
                try:
                    await self.conn.execute(ANNOUNCE, (batch,))
                    break
                except RETRYABLE:
                    if attempt == ATTEMPTS:
                        break
                except psycopg.Error:
                    break  # Agora logs it; the next batch goes all the same
                await asyncio.sleep(random.uniform(0.005, 0.02) * 2**attempt)  # jitter, as Agora
        self.sending = None


announcer: Announcer | None = None


async def change_like(
    conn: psycopg.AsyncConnection, caller: tuple[int, str], post_id: int, on: bool
) -> int:
    """The like's transaction, one autocommitted statement that checks its
    caller, then its live events; the status Agora answers with."""
    user_id, stamp = caller
    change = "add" if on else "remove"
    cursor = await conn.execute(LIKE, (post_id, user_id, stamp, False, change, now()))
    row = await cursor.fetchone()
    refused, done, events = (None, None, None) if row is None else row
    if refused is not None:
        return 401
    if events:
        assert announcer is not None
        announcer.hand_over(events)
    if done is None:
        return 404
    if on:
        return 201 if done else 409
    return 200 if done else 404


async def vote(caller: tuple[int, str], post_id: int, on: bool) -> int:
    assert pool is not None
    async with pool.connection() as conn:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await change_like(conn, caller, post_id, on)
            except RETRYABLE:
                if attempt == ATTEMPTS:
                    raise
            await asyncio.sleep(random.uniform(0.005, 0.02) * 2**attempt)  # jitter, as Agora
    raise AssertionError("unreachable: the last attempt returns or raises")


async def new_post(
    caller: tuple[int, str], title: str, content: str, published: bool
) -> tuple[int, Any]:
    """The post's INSERT as its own transaction, its caller checked in it (run
    again after a deadlock), its live event: the status and the post Agora
    answers."""
    assert pool is not None
    user_id, stamp = caller
    async with pool.connection() as conn:
        at = now()
        html = f"<p>{escape(content)}</p>\n"
        params: list[Any] = [title, content, published, user_id, stamp, False, at, html]
        params += [content, [], [], POSTS_PER_HOUR]
        for attempt in range(1, ATTEMPTS + 1):
            try:
                cursor = await conn.execute(NEW_POST, params)
                row = await cursor.fetchone()
                break
            except RETRYABLE:
                if attempt == ATTEMPTS:
                    raise
            await asyncio.sleep(random.uniform(0.005, 0.02) * 2**attempt)  # jitter, as Agora
        assert row is not None
        refused, post_id, events, retry_after, owner_name, owner_since, *_ = row
        if refused is not None:
            return 401, {"detail": "The token is invalid, expired or revoked"}
        if post_id is None:
            return 429, {"detail": f"Too many posts: try again in {retry_after} s"}
    if events:
        assert announcer is not None
        announcer.hand_over(events)
    stamp = at.isoformat()
    owner = {"id": user_id, "username": owner_name, "created_at": owner_since.isoformat()}
    post = {"title": title, "content": content, "published": published, "id": post_id}
    return 201, {
        **post,
        "created_at": stamp,
        "updated_at": stamp,
        "owner_id": user_id,
        "owner": owner,
        "votes": 0,
        "comments": 0,
    }


def now() -> datetime:
    return datetime.now(UTC)


async def read_body(receive: Any) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def answer(send: Any, status: int, payload: object) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def bearer_caller(scope: dict[str, Any]) -> tuple[int, str] | None:
    """`Authorization: Bearer ID:STAMP` -> (id, stamp)."""
    for name, value in scope["headers"]:
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            user_id, _, stamp = value[7:].strip().decode("latin-1").partition(":")
            return (int(user_id), stamp) if user_id.isdigit() else None
    return None


async def http(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["path"] == "/healthz":
        assert pool is not None
        async with pool.connection() as conn:
            await conn.execute("SELECT 1")
        await answer(send, 200, {"status": "ok"})
        return
    if scope["path"] not in ("/api/vote", "/api/posts") or scope["method"] != "POST":
        await answer(send, 404, {"detail": "Not Found"})
        return
    data = json.loads(await read_body(receive) or b"{}")
    caller = bearer_caller(scope)
    if caller is None:
        await answer(send, 401, {"detail": "Not authenticated"})
        return
    if scope["path"] == "/api/posts":
        published = data.get("published", True)
        await answer(send, *await new_post(caller, data["title"], data["content"], published))
        return
    status = await vote(caller, int(data["post_id"]), data["dir"] == 1)
    await answer(send, status, {"message": "done"} if status < 400 else {"detail": "no"})


async def lifespan(receive: Any, send: Any) -> None:
    global pool, announcer
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            pool = AsyncConnectionPool(
                os.environ["LIKE_FLOOR_DATABASE_URL"],
                min_size=POOL_SIZE,
                max_size=POOL_SIZE,
                kwargs={"autocommit": True},
                open=False,
            )
            await pool.open(wait=True)
            url = os.environ["LIKE_FLOOR_DATABASE_URL"]
            announcer = Announcer(await psycopg.AsyncConnection.connect(url, autocommit=True))
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if announcer is not None:
                if announcer.sending is not None:
                    await announcer.sending  # what is pending goes first
                await announcer.conn.close()
            if pool is not None:
                await pool.close()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
    elif scope["type"] == "http":
        await http(scope, receive, send)

"""The like floor: Agora's statements for a like, sent by the least an async app can be.

A raw ASGI callable (no framework, no middleware, no ORM) that answers
`POST /api/vote` (JSON `{post_id, dir}`) by sending PostgreSQL the statements
Agora sends for the same like, in the same transactions and the same order:

1. the caller's row (Agora loads the user its bearer token names), on its own;
2. BEGIN ISOLATION LEVEL READ COMMITTED; the post's row locked (FOR NO KEY
   UPDATE); the like's row inserted (dir 1) or deleted (dir 0); the kept count
   moved; the owner's notification inserted or deleted; COMMIT, at which the
   schema's deferred triggers move `site_state` and notify the live channel.

What it leaves out is what it costs Agora to get there: routing, middleware,
validation, the ORM, the token's signature (its bearer token is the user's id).
Run on a copy of Agora's database with Agora's triggers, it measures what
those statements cost on this machine: the most a like through Agora can
reach, so that Agora's figure can be held against a share of it.

    LIKE_FLOOR_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/agora_bench_floor \\
        python -m uvicorn like_floor_app:app --workers 2

`GET /healthz` runs `SELECT 1`.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

# Agora's pool: 10 connections a worker (webapp.core.db).
POOL_SIZE = 10
RETRYABLE = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)
ATTEMPTS = 4

USER = (
    "SELECT users.username, users.id, users.email, users.password_hash, "
    "users.security_stamp, users.created_at FROM users WHERE users.id = %s"
)
LOCK_POST = (
    "SELECT posts.owner_id, posts.published FROM posts WHERE posts.id = %s FOR NO KEY UPDATE"
)
INSERT_LIKE = (
    "INSERT INTO votes (user_id, post_id, created_at) VALUES (%s, %s, %s) "
    "ON CONFLICT DO NOTHING RETURNING votes.post_id"
)
DELETE_LIKE = (
    "DELETE FROM votes WHERE votes.user_id = %s AND votes.post_id = %s RETURNING votes.post_id"
)
COUNT = "UPDATE posts SET votes = (posts.votes + %s) WHERE posts.id = %s"
NOTIFY = (
    "INSERT INTO notifications (recipient_id, kind, actor_id, post_id, comment_id, "
    "created_at, read) VALUES (%s, 'like', %s, %s, NULL, %s, false) RETURNING notifications.id"
)
WITHDRAW = (
    "DELETE FROM notifications WHERE notifications.actor_id = %s AND notifications.kind = 'like' "
    "AND notifications.recipient_id = %s AND notifications.post_id = %s"
)

pool: AsyncConnectionPool | None = None


async def configure(conn: psycopg.AsyncConnection) -> None:
    """Agora's transactions say their level, as its engine does (READ COMMITTED)."""
    await conn.set_isolation_level(psycopg.IsolationLevel.READ_COMMITTED)


async def change_like(conn: psycopg.AsyncConnection, user_id: int, post_id: int, on: bool) -> int:
    """The like's transaction; the status Agora answers with."""
    async with conn.transaction():  # BEGIN ISOLATION LEVEL READ COMMITTED (`configure`)
        post = await (await conn.execute(LOCK_POST, (post_id,))).fetchone()
        if post is None or not (post[1] or post[0] == user_id):
            return 404
        owner_id = post[0]
        if on:
            if await (await conn.execute(INSERT_LIKE, (user_id, post_id, now()))).fetchone():
                await conn.execute(COUNT, (1, post_id))
                if owner_id != user_id:
                    await conn.execute(NOTIFY, (owner_id, user_id, post_id, now()))
                return 201
            return 409
        if await (await conn.execute(DELETE_LIKE, (user_id, post_id))).fetchone():
            await conn.execute(COUNT, (-1, post_id))
            await conn.execute(WITHDRAW, (user_id, owner_id, post_id))
            return 200
        return 404


async def vote(user_id: int, post_id: int, on: bool) -> int:
    assert pool is not None
    async with pool.connection() as conn:
        if await (await conn.execute(USER, (user_id,))).fetchone() is None:
            return 401
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await change_like(conn, user_id, post_id, on)
            except RETRYABLE:
                if attempt == ATTEMPTS:
                    raise
            await asyncio.sleep(random.uniform(0.005, 0.02) * 2**attempt)  # jitter, as Agora
    raise AssertionError("unreachable: the last attempt returns or raises")


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


def bearer_user(scope: dict[str, Any]) -> int:
    for name, value in scope["headers"]:
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            token = value[7:].strip()
            return int(token) if token.isdigit() else 0
    return 0


async def http(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["path"] == "/healthz":
        assert pool is not None
        async with pool.connection() as conn:
            await conn.execute("SELECT 1")
        await answer(send, 200, {"status": "ok"})
        return
    if scope["path"] != "/api/vote" or scope["method"] != "POST":
        await answer(send, 404, {"detail": "Not Found"})
        return
    data = json.loads(await read_body(receive) or b"{}")
    user_id = bearer_user(scope)
    if not user_id:
        await answer(send, 401, {"detail": "Not authenticated"})
        return
    status = await vote(user_id, int(data["post_id"]), data["dir"] == 1)
    await answer(send, status, {"message": "done"} if status < 400 else {"detail": "no"})


async def lifespan(receive: Any, send: Any) -> None:
    global pool
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            pool = AsyncConnectionPool(
                os.environ["LIKE_FLOOR_DATABASE_URL"],
                min_size=POOL_SIZE,
                max_size=POOL_SIZE,
                kwargs={"autocommit": True},
                configure=configure,
                open=False,
            )
            await pool.open(wait=True)
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if pool is not None:
                await pool.close()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
    elif scope["type"] == "http":
        await http(scope, receive, send)

"""Your data: everything an account wrote and chose, as one ZIP archive a
person can take elsewhere. JSON files (the account, its posts with their
Markdown source and drafts, comments, likes, the people followed and
following, blocks and mutes) and the picture files themselves.

An account may hold tens of thousands of posts, so nothing is read whole:
each file's rows come from a server-side cursor in batches, each batch is
written into the archive (`webapp.core.zip_stream`) and the archive's bytes
leave as soon as there are enough of them. Memory stays that of one batch
and one picture's piece, whatever the account's size; the statements are
one per file, whatever the number of rows. All of them read one snapshot
(PostgreSQL: a repeatable-read transaction), so a post written during the
export is in none of its files or consistently in all of them.

Who may export is the doors' question: they pass the account they have
authenticated.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import IO, Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from webapp.core.media_paths import avatar_file
from webapp.core.media_store import MediaStore
from webapp.core.zip_stream import FLUSH_BYTES, ZipStream
from webapp.models import Block, Comment, Follow, Like, Media, Mute, Post, User
from webapp.rules.media_copy import FIELDS

# Rows fetched from the cursor at a time.
BATCH = 500
# A picture file is copied into the archive in pieces of this size.
FILE_PIECE = 256 * 1024

USERS, POSTS, COMMENTS = User.__table__, Post.__table__, Comment.__table__  # type: ignore[attr-defined]
LIKES, FOLLOWS, BLOCKS = Like.__table__, Follow.__table__, Block.__table__  # type: ignore[attr-defined]
MUTES, MEDIA = Mute.__table__, Media.__table__  # type: ignore[attr-defined]


def file_name(username: str, now: datetime | None = None) -> str:
    """What the download is saved as."""
    day = (now or datetime.now(UTC)).strftime("%Y-%m-%d")
    return f"agora-{username}-{day}.zip"


async def archive(engine: AsyncEngine, store: MediaStore, user_id: int) -> AsyncIterator[bytes]:
    """The account's archive, in pieces, as it is written."""
    out = ZipStream()
    async with _snapshot(engine) as db:
        avatar = await _account(db, out, user_id)
        for name, statement in _lists(user_id):
            async for piece in _json_rows(db, out, name, statement):
                yield piece
        async for piece in _pictures(db, out, store, user_id):
            yield piece
    if avatar:
        async for piece in _copy(out, f"avatar.{avatar.rpartition('.')[2]}", store, avatar):
            yield piece
    yield out.finish()


@asynccontextmanager
async def _snapshot(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection of the engine in a transaction that reads one snapshot
    (repeatable read on PostgreSQL; SQLite's reader sees one anyway), given
    back, rolled back (nothing was written), however the export ends."""
    async with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection = await connection.execution_options(isolation_level="REPEATABLE READ")
        async with connection.begin():
            yield connection


async def _account(db: AsyncConnection, out: ZipStream, user_id: int) -> str:
    """account.json; the avatar's stored name ("" for none)."""
    columns = (
        USERS.c.id,
        USERS.c.username,
        USERS.c.email,
        USERS.c.email_confirmed,
        USERS.c.created_at,
        USERS.c.role,
        USERS.c.display_name,
        USERS.c.bio,
        USERS.c.website,
        USERS.c.avatar,
    )
    row = (await db.execute(select(*columns).where(USERS.c.id == user_id))).mappings().first()
    account: dict[str, Any] = dict(row) if row is not None else {"id": user_id}
    avatar = account.pop("avatar", "") or ""
    account["avatar"] = f"avatar.{avatar.rpartition('.')[2]}" if avatar else None
    account["exported_at"] = datetime.now(UTC)
    with out.member("account.json") as handle:
        handle.write(_encode(account, indent=2) + b"\n")
    return avatar_file(avatar, 256) if avatar else ""


def _lists(user_id: int) -> list[tuple[str, Select[Any]]]:
    """Each JSON list of the archive and the statement of its rows."""
    post_columns = (
        POSTS.c.id,
        POSTS.c.title,
        POSTS.c.content,
        POSTS.c.published,
        POSTS.c.created_at,
        POSTS.c.updated_at,
        POSTS.c.published_at,
        POSTS.c.tags,
        POSTS.c.votes.label("likes"),
        POSTS.c.comments,
        POSTS.c.media.label("pictures"),
    )
    comment_columns = (
        COMMENTS.c.id,
        COMMENTS.c.post_id,
        COMMENTS.c.parent_id,
        COMMENTS.c.content,
        COMMENTS.c.created_at,
        COMMENTS.c.edited_at,
    )
    return [
        ("posts.json", select(*post_columns).where(POSTS.c.owner_id == user_id)),
        (
            "comments.json",
            select(*comment_columns).where(
                COMMENTS.c.author_id == user_id, COMMENTS.c.deleted.is_(False)
            ),
        ),
        (
            "likes.json",
            select(LIKES.c.post_id, LIKES.c.created_at).where(LIKES.c.user_id == user_id),
        ),
        ("following.json", _people(FOLLOWS, FOLLOWS.c.follower_id, FOLLOWS.c.followed_id, user_id)),
        ("followers.json", _people(FOLLOWS, FOLLOWS.c.followed_id, FOLLOWS.c.follower_id, user_id)),
        ("blocks.json", _people(BLOCKS, BLOCKS.c.blocker_id, BLOCKS.c.blocked_id, user_id)),
        ("mutes.json", _people(MUTES, MUTES.c.muter_id, MUTES.c.muted_id, user_id)),
    ]


def _people(table: Any, mine: Any, theirs: Any, user_id: int) -> Select[Any]:
    """The people at the other end of the account's rows of `table`, and since when."""
    return (
        select(USERS.c.id, USERS.c.username, table.c.created_at.label("since"))
        .join_from(table, USERS, USERS.c.id == theirs)
        .where(mine == user_id)
    )


async def _json_rows(
    db: AsyncConnection, out: ZipStream, name: str, statement: Select[Any]
) -> AsyncIterator[bytes]:
    """One JSON list, an object a line, its rows read a batch at a time."""
    ordered = statement.order_by(statement.selected_columns[0]).execution_options(yield_per=BATCH)
    result = await db.stream(ordered)
    with out.member(name) as handle:
        handle.write(b"[")
        lines: list[bytes] = []  # a run of rows, written together: a write per row costs more
        size, first = 0, True
        async for batch in result.mappings().partitions():
            for row in batch:
                lines.append(_line(row))
                size += len(lines[-1])
                if size >= FLUSH_BYTES:
                    first = _write_lines(handle, lines, first)
                    size = 0
                    piece = out.ready()
                    if piece:
                        yield piece
        _write_lines(handle, lines, first)
        handle.write(b"\n]\n")


def _write_lines(handle: IO[bytes], lines: list[bytes], first: bool) -> bool:
    """The lines kept so far, an object a line, then forgotten; whether the
    list is still empty."""
    if not lines:
        return first
    handle.write((b"\n" if first else b",\n") + b",\n".join(lines))
    lines.clear()
    return False


def _line(row: Any) -> bytes:
    item = dict(row)
    if "pictures" in item:  # a post: its tags and its copy of its pictures, as lists
        item["tags"] = item["tags"].split()
        item["pictures"] = _pictures_of(item["pictures"])
    return _encode(item)


def _pictures_of(copy: str) -> list[dict[str, Any]]:
    pictures = []
    for values in json.loads(copy) if copy else []:
        picture = dict(zip(FIELDS, values, strict=True))
        pictures.append(
            {
                "file": f"pictures/{picture['file']}",
                "alt": picture["alt"],
                "width": picture["width"],
                "height": picture["height"],
            }
        )
    return pictures


async def _pictures(
    db: AsyncConnection, out: ZipStream, store: MediaStore, user_id: int
) -> AsyncIterator[bytes]:
    """Every picture the account uploaded, once each (two uploads of the same
    picture share a file)."""
    files = (
        select(MEDIA.c.file)
        .where(MEDIA.c.owner_id == user_id)
        .distinct()
        .order_by(MEDIA.c.file)
        .execution_options(yield_per=BATCH)
    )
    result = await db.stream(files)
    async for batch in result.scalars().partitions():
        for name in batch:
            async for piece in _copy(out, f"pictures/{name}", store, name, folder="posts"):
                yield piece


async def _copy(
    out: ZipStream, name: str, store: MediaStore, stored: str, folder: str = "avatars"
) -> AsyncIterator[bytes]:
    """A stored file into the archive, a piece at a time, read off the event
    loop. One deleted meanwhile (its post deleted during the export) is left out."""
    try:
        source = await asyncio.to_thread(store.path_of(folder, stored).open, "rb")
    except FileNotFoundError:
        return
    try:
        with out.member(name, compress=False) as handle:
            while piece := await asyncio.to_thread(source.read, FILE_PIECE):
                handle.write(piece)
                ready = out.ready()
                if ready:
                    yield ready
    finally:
        source.close()


def _encode(value: Any, indent: int | None = None) -> bytes:
    encoder = _ENCODER if indent is None else json.JSONEncoder(**_JSON, indent=indent)
    return encoder.encode(value).encode()


def _plain(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


_JSON: dict[str, Any] = {"ensure_ascii": False, "default": _plain}
_ENCODER = json.JSONEncoder(**_JSON)  # made once: json.dumps makes one per call

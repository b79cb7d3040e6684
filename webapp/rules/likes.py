"""Likes. The database's primary key on (user, post) decides every race: an
insert that finds the like already there does nothing, and the kept count on
the post moves only with a row that really was added or removed, as does the
notification to the post's owner.

On PostgreSQL the whole unit of work is one statement, the database's function
`agora_like` (migration 0011), which runs the statements below in the same
order, under the same lock: one round trip, and the post's row is held for no
round trip; its live events follow once it has committed, sent by the
worker's announcer (`webapp.core.announcer`) after the answer.
A like through the API has the same statement check its caller first
(`webapp.rules.callers`, migration 0025). SQLite, one writer at a time, sends
them one by one, after reading the caller."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.dml import ReturningDelete, ReturningInsert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.core.announcer import announce
from webapp.core.db import (
    Link,
    dialect_name,
    insert_ignoring_duplicates,
    transaction,
    transaction_of_one,
)
from webapp.errors import PostNotFound
from webapp.models import MAX_ID, Like, Post, utcnow
from webapp.rules import callers, notifications
from webapp.rules.posts import lock_post

# Lock order, the same in every write that touches a post and its likes: the
# post's row first, then like rows. A like locks the post row (FOR NO KEY
# UPDATE: it will change the count) before it adds or removes its own row; a
# post's deletion locks the row (FOR UPDATE) and then its likes, by cascade. So
# a like and a deletion never each hold what the other waits for: one waits,
# and a like that waited for a deletion finds no post (404).


def _insert(db: AsyncSession, post_id: int, user_id: int) -> ReturningInsert[int]:
    # RETURNING tells whether a row went in: none when the like was there.
    return (
        insert_ignoring_duplicates(db, Like)
        .values(user_id=user_id, post_id=post_id)
        .returning(col(Like.post_id))
    )


def _delete(post_id: int, user_id: int) -> ReturningDelete[int]:
    return (
        delete(Like)
        .where(col(Like.user_id) == user_id, col(Like.post_id) == post_id)
        .returning(col(Like.post_id))
    )


async def _like(db: AsyncSession, post_id: int, owner_id: int, user_id: int) -> bool:
    added = (await db.exec(_insert(db, post_id, user_id))).first() is not None
    if added:
        await _count(db, post_id, +1)
        told = notifications.notify(owner_id, "like", user_id, post_id=post_id)
        if told is not None:
            await db.exec(told)
    return added


async def _unlike(db: AsyncSession, post_id: int, owner_id: int, user_id: int) -> bool:
    removed = (await db.exec(_delete(post_id, user_id))).first() is not None
    if removed:
        await _count(db, post_id, -1)
        await db.exec(
            notifications.withdraw("like", user_id, post_id=post_id, recipient_id=owner_id)
        )
    return removed


async def _on_locked_post(
    db: AsyncSession,
    post_id: int,
    user_id: int,
    change: Callable[[int], Awaitable[bool]],
    *,
    adding: bool = True,
) -> bool:
    """Run a change of likes in one transaction, retried on a deadlock, after
    locking the post's row; `change` gets the post's owner. PostNotFound if the
    post is gone or a draft the user may not see, or (`adding` a like) if a
    block stands between the user and its owner: checked under the lock, so
    that a like needs no statement before its transaction. Taking a like back
    is never refused for a block."""

    async def work() -> bool:
        post = await lock_post(db, post_id, user_id)
        if not (post.reachable_by(user_id) if adding else post.visible_to(user_id)):
            raise PostNotFound
        return await change(post.owner_id)

    try:
        return await transaction(db, work)
    except IntegrityError:  # the foreign key: the post went all the same
        raise PostNotFound from None


Change = Literal["add", "remove", "toggle"]


LIKE = "SELECT caller, done, events FROM agora_like(%s::integer, %s::integer, %s, %s, %s, %s)"


async def _in_database(
    db: AsyncSession | Link,
    post_id: int,
    user_id: int,
    change: Change,
    caller: callers.Caller | None = None,
) -> bool:
    """`agora_like`: what `add`, `remove` or `toggle` answers, in one statement
    (which checks the `caller` first, when there is one to check); then its
    live events, handed to the announcer once it has committed."""
    stamp, must_confirm = (caller.stamp, caller.must_confirm) if caller else (None, False)
    if not 0 < post_id <= MAX_ID:
        if caller is None:
            raise PostNotFound
        post_id = 0  # no post has it: the caller is still answered first
    params = (post_id, user_id, stamp, must_confirm, change, utcnow())
    row = await transaction_of_one(db, LIKE, params)
    assert row is not None  # it returns one row
    refusal, done, events = row
    callers.answered(refusal)
    if done is None:
        raise PostNotFound
    await announce(db, events)
    return bool(done)


async def add(
    db: AsyncSession | Link, *, post_id: int, user_id: int, caller: callers.Caller | None = None
) -> bool:
    """Like a post the user can see; False when the like was already there.
    `caller`: the user as a bearer token names them, checked first
    (`webapp.rules.callers`)."""
    if isinstance(db, Link) or dialect_name(db) == "postgresql":
        return await _in_database(db, post_id, user_id, "add", caller)
    if caller is not None:
        await callers.check(db, caller)
    return await _on_locked_post(
        db, post_id, user_id, lambda owner: _like(db, post_id, owner, user_id)
    )


async def remove(
    db: AsyncSession | Link, *, post_id: int, user_id: int, caller: callers.Caller | None = None
) -> bool:
    """Take the like back; False when there was none. `caller` as for `add`."""
    if isinstance(db, Link) or dialect_name(db) == "postgresql":
        return await _in_database(db, post_id, user_id, "remove", caller)
    if caller is not None:
        await callers.check(db, caller, acting=False)
    return await _on_locked_post(
        db, post_id, user_id, lambda owner: _unlike(db, post_id, owner, user_id), adding=False
    )


async def toggle(db: AsyncSession | Link, *, post_id: int, user_id: int) -> bool:
    """Like, or take the like back; True when the post is now liked. Two
    toggles racing from one person take turns on the post's lock, so the
    second undoes the first, as two clicks would."""
    if isinstance(db, Link) or dialect_name(db) == "postgresql":
        return await _in_database(db, post_id, user_id, "toggle")

    async def flip(owner_id: int) -> bool:
        if await _unlike(db, post_id, owner_id, user_id):
            return False
        await _like(db, post_id, owner_id, user_id)
        return True

    return await _on_locked_post(db, post_id, user_id, flip)


async def _count(db: AsyncSession, post_id: int, change: int) -> None:
    await db.exec(
        update(Post).where(col(Post.id) == post_id).values(votes=col(Post.votes) + change)
    )


async def liked_ids(db: AsyncSession, *, user_id: int | None, post_ids: list[int]) -> set[int]:
    """Which of these posts the user likes: one statement for a whole page."""
    if user_id is None or not post_ids:
        return set()
    statement = select(col(Like.post_id)).where(
        col(Like.user_id) == user_id, col(Like.post_id).in_(post_ids)
    )
    return set(await db.exec(statement))

"""Likes. The database's primary key on (user, post) decides every race: an
insert that finds the like already there does nothing, and the kept count on
the post moves only with a row that really was added or removed."""

from __future__ import annotations

from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.core.db import atomic
from webapp.errors import PostNotFound
from webapp.models import Post, Vote


async def add(db: AsyncSession, *, post_id: int, user_id: int) -> bool:
    """Like the post; False when the like was already there."""
    insert = pg_insert if db.bind.dialect.name == "postgresql" else sqlite_insert
    # RETURNING tells whether a row went in: SQLAlchemy keeps no rowcount for an
    # INSERT, and ON CONFLICT DO NOTHING returns no row when the like was there.
    statement = (
        insert(Vote)
        .values(user_id=user_id, post_id=post_id)
        .on_conflict_do_nothing()
        .returning(Vote.post_id)
    )
    try:
        async with atomic(db):
            added = (await db.exec(statement)).first() is not None
            if added:
                await _count(db, post_id, +1)
    except IntegrityError:  # the post was deleted meanwhile
        raise PostNotFound from None
    return added


async def remove(db: AsyncSession, *, post_id: int, user_id: int) -> bool:
    """Take the like back; False when there was none."""
    statement = (
        delete(Vote)
        .where(col(Vote.user_id) == user_id, col(Vote.post_id) == post_id)
        .returning(Vote.post_id)
    )
    async with atomic(db):
        removed = (await db.exec(statement)).first() is not None
        if removed:
            await _count(db, post_id, -1)
    return removed


async def toggle(db: AsyncSession, *, post_id: int, user_id: int) -> bool:
    """Like, or take the like back; True when the post is now liked.

    Two clicks racing from one person both find no like to remove, and both
    try to add one: one adds it, the other finds it there. Liked, count right.
    """
    if await remove(db, post_id=post_id, user_id=user_id):
        return False
    await add(db, post_id=post_id, user_id=user_id)
    return True


async def _count(db: AsyncSession, post_id: int, change: int) -> None:
    await db.exec(
        update(Post).where(col(Post.id) == post_id).values(votes=col(Post.votes) + change)
    )


async def liked_ids(db: AsyncSession, *, user_id: int | None, post_ids: list[int]) -> set[int]:
    """Which of these posts the user likes: one statement for a whole page."""
    if user_id is None or not post_ids:
        return set()
    statement = select(Vote.post_id).where(
        col(Vote.user_id) == user_id, col(Vote.post_id).in_(post_ids)
    )
    return set(await db.exec(statement))

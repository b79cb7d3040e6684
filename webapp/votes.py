"""Likes. The database's primary key on (user, post) decides every race: an
insert that finds the like already there does nothing, and the kept count on
the post moves only with a row that really was added or removed."""

from __future__ import annotations

from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from webapp.models import Post, User, Vote
from webapp.posts import PostNotFound


def add(db: Session, *, post: Post, user: User) -> bool:
    """Like the post; False when the like was already there."""
    dialect = db.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    # RETURNING tells whether a row went in: SQLAlchemy keeps no rowcount for an
    # INSERT, and ON CONFLICT DO NOTHING returns no row when the like was there.
    statement = (
        insert(Vote)
        .values(user_id=user.id, post_id=post.id)
        .on_conflict_do_nothing()
        .returning(Vote.post_id)
    )
    try:
        added = db.connection().execute(statement).first() is not None
        if added:
            _count(db, post, +1)
        db.commit()
    except IntegrityError:  # the post was deleted meanwhile
        db.rollback()
        raise PostNotFound from None
    return added


def remove(db: Session, *, post: Post, user: User) -> bool:
    """Take the like back; False when there was none."""
    statement = (
        delete(Vote)
        .where(col(Vote.user_id) == user.id, col(Vote.post_id) == post.id)
        .returning(Vote.post_id)
    )
    removed = db.connection().execute(statement).first() is not None
    if removed:
        _count(db, post, -1)
    db.commit()
    return removed


def toggle(db: Session, *, post: Post, user: User) -> bool:
    """Like, or take the like back; True when the post is now liked.

    Two clicks racing from one person both find no like to remove, and both
    try to add one: one adds it, the other finds it there. Liked, count right.
    """
    if remove(db, post=post, user=user):
        return False
    add(db, post=post, user=user)
    return True


def _count(db: Session, post: Post, change: int) -> None:
    db.exec(update(Post).where(col(Post.id) == post.id).values(votes=col(Post.votes) + change))


def refresh_count(db: Session, post: Post) -> None:
    post.votes = db.exec(select(Post.votes).where(Post.id == post.id)).one()


def liked_ids(db: Session, *, user: User | None, post_ids: list[int]) -> set[int]:
    """Which of these posts the user likes: one statement for a whole page."""
    if user is None or not post_ids:
        return set()
    statement = select(Vote.post_id).where(Vote.user_id == user.id, col(Vote.post_id).in_(post_ids))
    return set(db.exec(statement))

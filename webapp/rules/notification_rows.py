"""Who is told of a follow, a like, a comment or a reply, as rows to insert:
the followed person, the post's owner, or the author of the comment a reply
answers (once a comment); and nobody of their own doing.

Each `of_*` selects, for the follows, likes or comments its conditions pick,
the notification each one calls for (none for one's own), so that many are
written by one `INSERT … SELECT` (`tell`): the seed derives its notifications
this way instead of restating the rule. `is_told` is the same rule for one
action at a time.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Insert, Select, insert, literal, null, or_, select
from sqlalchemy.orm import Mapped, aliased
from sqlmodel import col

from webapp.models import Comment, Follow, Like, Notification, NotificationKind, Post

Column = ColumnElement[Any] | Mapped[Any]
# The columns each `of_*` selects, in this order: what `tell` inserts.
COLUMNS = ("recipient_id", "kind", "actor_id", "post_id", "comment_id", "created_at", "read")


def is_told(recipient_id: int, actor_id: int) -> bool:
    """Whether the recipient hears of the actor's action: not of their own."""
    return recipient_id != actor_id


def _rows(
    kind: NotificationKind,
    recipient: Column,
    actor: Column,
    post: Column,
    comment: Column,
    created_at: Column,
    read: bool,
) -> Select[*tuple[Any, ...]]:
    return select(recipient, literal(kind), actor, post, comment, created_at, literal(read)).where(
        recipient != actor
    )


def of_follows(*where: ColumnElement[bool], read: bool = False) -> Select[*tuple[Any, ...]]:
    """A follow tells the followed person, when it was made."""
    rows = _rows(
        "follow",
        col(Follow.followed_id),
        col(Follow.follower_id),
        null(),
        null(),
        col(Follow.created_at),
        read,
    )
    return rows.where(*where)


def of_likes(*where: ColumnElement[bool], read: bool = False) -> Select[*tuple[Any, ...]]:
    """A like tells the post's owner."""
    rows = _rows(
        "like",
        col(Post.owner_id),
        col(Like.user_id),
        col(Like.post_id),
        null(),
        col(Like.created_at),
        read,
    )
    return rows.join_from(Like, Post, col(Post.id) == col(Like.post_id)).where(*where)


def of_comments(*where: ColumnElement[bool], read: bool = False) -> Select[*tuple[Any, ...]]:
    """A comment tells the post's owner, and points at itself; unless it is a
    reply to the owner's own comment (`of_replies` tells them: once a comment)."""
    parent = aliased(Comment, name="parent")
    rows = _rows(
        "comment",
        col(Post.owner_id),
        col(Comment.author_id),
        col(Comment.post_id),
        col(Comment.id),
        col(Comment.created_at),
        read,
    )
    return (
        rows.join_from(Comment, Post, col(Post.id) == col(Comment.post_id))
        .outerjoin(parent, col(parent.id) == col(Comment.parent_id))
        .where(
            or_(
                col(parent.id).is_(None),
                col(parent.author_id) != col(Post.owner_id),
                col(parent.deleted).is_(True),
            ),
            *where,
        )
    )


def of_replies(*where: ColumnElement[bool], read: bool = False) -> Select[*tuple[Any, ...]]:
    """A reply tells the author of the comment it answers (not a deleted one)."""
    parent = aliased(Comment, name="parent")
    rows = _rows(
        "reply",
        col(parent.author_id),
        col(Comment.author_id),
        col(Comment.post_id),
        col(Comment.id),
        col(Comment.created_at),
        read,
    )
    return rows.join_from(Comment, parent, col(parent.id) == col(Comment.parent_id)).where(
        col(parent.deleted).is_(False), *where
    )


def tell(rows: Select[*tuple[Any, ...]]) -> Insert:
    """Write the notifications that `rows` (an `of_*`) selects."""
    return insert(Notification).from_select(list(COLUMNS), rows)

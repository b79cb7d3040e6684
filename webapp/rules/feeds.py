"""What a feed reader is given: the newest published posts of the site, of one
person, or of one tag (hidden ones and a suspended person's left out, as
everywhere), each as an entry that says when it was first published
and last changed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.core.db import rows
from webapp.errors import UserNotFound
from webapp.models import MAX_ID, Post, PostTag, User
from webapp.rules import accounts, posts
from webapp.rules.posts import NEWEST_FIRST

# Entries in a feed: a reader that polls sees what came since, and older posts
# are on the site.
FEED_SIZE = 20


@dataclass(frozen=True)
class Entry:
    post_id: int
    title: str
    html: str  # the post as its page shows it
    author_id: int
    author: str
    published: datetime  # when it was first published
    updated: datetime


# A post published when it was written has no `published_at` of its own: it
# was first published when it was created.
_FIRST_PUBLISHED = func.coalesce(col(Post.published_at), col(Post.created_at))

_ENTRIES: Select[*tuple[Any, ...]] = (
    Select(
        col(Post.id).label("post_id"),
        col(Post.title),
        col(Post.content_html).label("html"),
        col(Post.owner_id).label("author_id"),
        col(User.username).label("author"),
        _FIRST_PUBLISHED.label("published"),
        col(Post.updated_at).label("updated"),
    )
    .join(User, col(User.id) == col(Post.owner_id))
    .where(posts.LISTED)
    .order_by(*NEWEST_FIRST)
    .limit(FEED_SIZE)
)


async def _entries(db: AsyncSession, statement: Select[*tuple[Any, ...]]) -> list[Entry]:
    return [Entry(**row._mapping) for row in await rows(db, statement)]


async def site_entries(db: AsyncSession) -> list[Entry]:
    """The newest published posts of the whole site."""
    return await _entries(db, _ENTRIES)


async def person_entries(db: AsyncSession, user_id: int) -> tuple[str, list[Entry]]:
    """A person's name and their newest published posts; UserNotFound for
    nobody. One statement when they have written something."""
    if not 0 < user_id <= MAX_ID:
        raise UserNotFound
    entries = await _entries(db, _ENTRIES.where(col(Post.owner_id) == user_id))
    if entries:
        return entries[0].author, entries
    return (await accounts.get_public_user(db, user_id)).username, entries


async def tag_entries(db: AsyncSession, tag: str) -> list[Entry]:
    """The newest published posts carrying a tag (a folded name)."""
    tagged = _ENTRIES.join(PostTag, col(PostTag.post_id) == col(Post.id))
    return await _entries(db, tagged.where(col(PostTag.tag) == tag))

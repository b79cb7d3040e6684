"""The API's plain list of posts (`GET /api/posts` with no search, no other
order, and nobody the caller blocks or mutes), newest first: one statement,
whose rows become the list's JSON items as they come.

A `PostPublic` per row cost the newest page more than its statement: half of
its Python time went to making twenty models (and their authors') that were
only ever serialized. The items here are what `PostPublic` serializes to,
field for field and byte for byte (tests/test_api_posts.py holds them to it).

PostgreSQL plans the newest page once per connection. A prepared statement is
planned for its values on each of its first five runs; then PostgreSQL keeps
the generic plan, planned for any values, if its estimated cost is no higher.
Here it is: the page's ids are at most `page_sizes.API_MOST` (a constant the
generic plan can count on), and the newest page has no OFFSET at all, whose
unknown value would cost the generic plan a guess that a custom plan for
`OFFSET 0` never pays. Planned again for every request, the page spent twice
as long being planned as being run.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, literal_column
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select

from webapp.core.db import DriverStatement
from webapp.core.media_paths import avatar_url
from webapp.models import Post, User
from webapp.rules import page_sizes, suspensions
from webapp.rules.media_copy import media_of
from webapp.rules.posts import NEWEST_FIRST, listed_for


def _page(offset: bool) -> Select[*tuple[Any, ...]]:
    """The columns of an item, in its fields' order, for a page of the list
    from `skip` (`offset`) or from the start: the ids and times of the page
    from the feed's index alone (a deep page walks index entries, not rows),
    then their rows and authors, in the page's order."""
    ids = select(col(Post.id), col(Post.created_at)).where(listed_for(None))
    # Written in, not bound: the generic plan counts on it.
    ids = ids.order_by(*NEWEST_FIRST).limit(literal_column(str(page_sizes.API_MOST)))
    page = (ids.offset(bindparam("skip")) if offset else ids).subquery("page")
    return (
        Select(
            col(Post.title),
            col(Post.content),
            col(Post.published),
            col(Post.id),
            col(Post.created_at),
            col(Post.updated_at),
            col(Post.owner_id),
            col(User.username),
            col(User.created_at),
            col(User.display_name),
            col(User.bio_html),
            col(User.website),
            col(User.avatar),
            col(Post.votes),
            suspensions.COMMENT_COUNT,
            col(Post.content_html),
            col(Post.tags),
            col(Post.media),
        )
        .select_from(page)
        .join(Post, col(Post.id) == page.c.id)
        .join(User, col(User.id) == col(Post.owner_id))
        # The page's own order: a nested loop keeps it, with nothing to sort.
        .order_by(page.c.created_at.desc(), page.c.id.desc())
        .limit(bindparam("limit"))
    )


_NEWEST = DriverStatement(_page(offset=False))
_FROM_SKIP = DriverStatement(_page(offset=True))


def as_item(row: Any) -> dict[str, Any]:
    """A row of `_page` as `PostPublic` serializes the post: its fields in
    their order, the author's `UserPublic` with its `avatar_url`, the
    pictures (`MediaPublic`, serialized as such), and none of the fields it
    keeps for pages and moderators (a listed post is published, shown, and
    by someone not suspended)."""
    (
        title,
        content,
        published,
        post_id,
        created_at,
        updated_at,
        owner_id,
        username,
        owner_created_at,
        display_name,
        bio_html,
        website,
        avatar,
        votes,
        comments,
        content_html,
        tags,
        media,
    ) = row
    return {
        "title": title,
        "content": content,
        "published": published,
        "id": post_id,
        "created_at": created_at,
        "updated_at": updated_at,
        "owner_id": owner_id,
        "owner": {
            "id": owner_id,
            "username": username,
            "created_at": owner_created_at,
            "display_name": display_name or "",
            "bio_html": bio_html or "",
            "website": website or "",
            "avatar_url": avatar_url(owner_id, avatar or "", large=True),
        },
        "votes": votes,
        "comments": comments,
        "content_html": content_html,
        "tags": tags.split(),
        "media": media_of(media) if media else [],
    }


async def newest(db: AsyncSession, *, offset: int, limit: int) -> list[dict[str, Any]]:
    """`limit` (at most `page_sizes.API_MOST`) published posts from `offset`,
    newest first (of two in one instant, the higher id first), as items."""
    if not 0 < limit <= page_sizes.API_MOST:
        raise ValueError(f"limit {limit}: 1 to {page_sizes.API_MOST}")
    if offset:
        found = await _FROM_SKIP.rows(db, {"skip": offset, "limit": limit})
    else:
        found = await _NEWEST.rows(db, {"limit": limit})
    return [as_item(row) for row in found]

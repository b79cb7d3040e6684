"""The rules for posts: who may see one, who may change it, how lists are
found and paged. Called by both the pages and the API."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, delete, func, literal_column, or_
from sqlalchemy.orm import selectinload
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from webapp.models import MAX_ID, Post, PostCreate, PostUpdate, User, utcnow

MAX_QUERY_WORDS = 10
MAX_QUERY_CHARS = 200


class PostNotFound(Exception):
    """Missing, or a draft the viewer may not see: to them it does not exist."""


class NotOwner(Exception):
    """The post exists and is visible, but belongs to someone else."""


# --- who sees what ------------------------------------------------------------


def visible_to(viewer: User | None) -> ColumnElement[bool]:
    """A draft is visible to its owner alone."""
    if viewer is None:
        return col(Post.published).is_(True)
    return or_(col(Post.published).is_(True), col(Post.owner_id) == viewer.id)


def get_visible_post(db: Session, post_id: int, viewer: User | None) -> Post:
    if not 0 < post_id <= MAX_ID:
        raise PostNotFound
    statement = (
        select(Post).where(Post.id == post_id, visible_to(viewer)).options(selectinload(Post.owner))  # type: ignore[arg-type]
    )
    post = db.exec(statement).first()
    if post is None:
        raise PostNotFound
    return post


def get_own_post(db: Session, post_id: int, user: User) -> Post:
    """The one ownership check: missing or invisible → PostNotFound, someone
    else's → NotOwner."""
    post = get_visible_post(db, post_id, user)
    if post.owner_id != user.id:
        raise NotOwner
    return post


# --- lists --------------------------------------------------------------------


def search_words(query: str | None) -> list[str]:
    """The words of a search: the first 200 characters and the first 10 words
    count; control characters are spaces."""
    if not query:
        return []
    text = "".join(
        " " if unicodedata.category(char) in ("Cc", "Cs") else char
        for char in query[:MAX_QUERY_CHARS]
    )
    return text.split()[:MAX_QUERY_WORDS]


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# The same expression as the PostgreSQL trigram index (migration 0002), written
# with a literal separator so that the planner can match the two.
SEARCHABLE = col(Post.title).op("||")(literal_column("' '")).op("||")(col(Post.content))


def matches_all(words: list[str]) -> ColumnElement[bool]:
    """Every word in the title or the text, case-insensitively, as plain text.
    A word holds no space, so it cannot match across the separator."""
    return and_(*(SEARCHABLE.ilike(f"%{_escape_like(word)}%", escape="\\") for word in words))


def newest_first(statement: SelectOfScalar[Post]) -> SelectOfScalar[Post]:
    return statement.order_by(col(Post.created_at).desc(), col(Post.id).desc())


@dataclass
class PostPage:
    """One page of a list, and what the pager may link to."""

    posts: list[Post]
    page: int
    per_page: int
    last_page: int  # the last page known to exist
    more: bool = False  # pages exist beyond last_page (not counted)
    total: int | None = None  # when it was cheap enough to count

    @property
    def past_end(self) -> bool:
        return not self.posts and self.page > 1


# A pager shows this many pages on each side of the current one.
PAGES_AROUND = 2


def list_published(
    db: Session, *, offset: int, limit: int, words: list[str] | None = None
) -> list[Post]:
    """Published posts, newest first, with their owners: two statements."""
    condition = col(Post.published).is_(True)
    if words:
        condition = and_(condition, matches_all(words))
    statement = newest_first(select(Post).where(condition)).offset(offset).limit(limit)
    return list(db.exec(statement.options(selectinload(Post.owner))))  # type: ignore[arg-type]


def published_page(
    db: Session, *, page: int, per_page: int, words: list[str] | None = None
) -> PostPage:
    """Published posts, newest first, with their owners, in a fixed number of
    statements whatever the page.

    Counting every match costs a scan of all of them (a common search word
    matches a third of 100,000 posts), so the pager instead looks ahead: the
    ids of this page and of the next two come from the index, and only this
    page's rows are read. Only a page past the end counts, to link back.
    """
    condition = col(Post.published).is_(True)
    if words:
        condition = and_(condition, matches_all(words))
    offset = (page - 1) * per_page
    ahead = per_page * (PAGES_AROUND + 1) + 1
    ids = list(db.exec(newest_first(select(Post.id).where(condition)).offset(offset).limit(ahead)))
    if not ids:
        total = (
            db.exec(select(func.count()).select_from(Post).where(condition)).one()
            if page > 1
            else 0
        )
        return PostPage([], page, per_page, last_page=max(1, -(-total // per_page)))
    page_ids = ids[:per_page]
    rows = db.exec(
        select(Post).where(col(Post.id).in_(page_ids)).options(selectinload(Post.owner))  # type: ignore[arg-type]
    )
    by_id = {post.id: post for post in rows}
    extra_pages = -(-(len(ids) - len(page_ids)) // per_page)
    return PostPage(
        posts=[by_id[post_id] for post_id in page_ids if post_id in by_id],
        page=page,
        per_page=per_page,
        last_page=page + min(extra_pages, PAGES_AROUND),
        more=len(ids) == ahead,
    )


def owner_page(
    db: Session, *, owner: User, viewer: User | None, page: int, per_page: int
) -> PostPage:
    """A profile's posts: the published ones, and the drafts too for their owner.
    One author's posts are few enough to count, through their index."""
    condition = and_(col(Post.owner_id) == owner.id, visible_to(viewer))
    total = db.exec(select(func.count()).select_from(Post).where(condition)).one()
    statement = (
        newest_first(select(Post).where(condition)).offset((page - 1) * per_page).limit(per_page)
    )
    posts = list(db.exec(statement))
    for post in posts:
        post.owner = owner  # known already: no statement to load it
    return PostPage(posts, page, per_page, last_page=max(1, -(-total // per_page)), total=total)


# --- changes ------------------------------------------------------------------


def create_post(db: Session, *, owner: User, data: PostCreate) -> Post:
    now = utcnow()
    post = Post.model_validate(
        data, update={"owner_id": owner.id, "created_at": now, "updated_at": now}
    )
    db.add(post)
    db.commit()
    db.refresh(post)
    post.owner = owner
    return post


def update_post(db: Session, *, post: Post, data: PostUpdate | PostCreate) -> Post:
    """Change what was sent (PATCH), or everything (PUT, with a PostCreate)."""
    changes = data.model_dump(exclude_unset=isinstance(data, PostUpdate))
    changes = {name: value for name, value in changes.items() if value is not None}
    if changes:
        post.sqlmodel_update(changes)
        post.updated_at = utcnow()
        db.add(post)
        db.commit()
        db.refresh(post)
    return post


def delete_post(db: Session, *, post: Post) -> None:
    """Its likes go with it (the database cascades)."""
    db.exec(delete(Post).where(col(Post.id) == post.id))
    db.commit()

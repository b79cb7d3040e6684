"""A post's page, with one page of its comments and the comment form: what
GET /posts/{id} shows (`webapp.web.posts`), and what a refused comment comes
back to (`webapp.web.comments`)."""

from __future__ import annotations

from fastapi import Request
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.responses import Response

from webapp.models import PostPublic
from webapp.rules import comments, posts
from webapp.web import cache_policy
from webapp.web.cache_policy import PageStore
from webapp.web.deps import Visitor
from webapp.web.listing import liked_among
from webapp.web.pages import render


async def post_page(
    request: Request,
    db: AsyncSession,
    visitor: Visitor,
    pages: PageStore,
    post_id: int,
    *,
    page: int = 1,
    comment: str = "",
    errors: dict[str, str] | None = None,
) -> Response:
    """A post and one page of its comments, with the comment form; with
    `comment`, the text typed, and its `errors`: a 422.

    A published post, its counts and its comments are kept for everyone (a
    comment moves the comment count, so the likes version, which drops the
    counts and the comments kept); a draft is read for its owner alone, and
    nothing of it is kept."""
    kept = cache_policy.post(post_id)
    counts = cache_policy.counts(kept)
    seen = pages.seen()

    async def load() -> PostPublic | None:
        found = await posts.find_visible_post(db, post_id, None)
        if found is not None:
            pages.put(counts, {found.id: (found.votes, found.comments)}, seen)
        return found

    post = await pages.fetch(kept, load)
    if post is None:  # a draft, or nothing: PostNotFound but for its owner
        post = await posts.get_visible_post(db, post_id, visitor.user_id)
        thread = await comments.page_of(db, post, page=page)
    else:
        now = await pages.fetch(counts, lambda: posts.counts_of(db, [post_id]))
        post = published = posts.with_count(post, now)
        thread = await pages.fetch(
            cache_policy.comments(post_id, page),
            lambda: comments.page_of(db, published, page=page),
        )
    liked = post.id in await liked_among(db, pages, visitor, kept, [post.id])
    context = {
        "post": post,
        "liked": liked,
        "is_owner": visitor.user_id == post.owner_id,
        "thread": thread,
        "comment": comment,
        "errors": errors or {},
    }
    status_code = 422 if errors else 200
    return render(request, visitor, "posts/show.html", context, status_code=status_code)

"""A post's page, with one page of its comments and the comment form: what
GET /posts/{id} shows (`webapp.web.posts`), and what a refused comment comes
back to (`webapp.web.comments`)."""

from __future__ import annotations

from typing import cast

from fastapi import Request
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.responses import Response

from webapp.core.deps import services_of
from webapp.core.page_cache import Seen
from webapp.errors import PostNotFound
from webapp.rules import comments, posts, roles
from webapp.rules.safety import Shield
from webapp.web import cache_policy
from webapp.web.cache_policy import PageStore
from webapp.web.deps import Visitor
from webapp.web.pages import anonymous_page, render, serves_anonymous_page
from webapp.web.post_html import PostPageMarkup


async def post_page(
    request: Request,
    db: AsyncSession,
    visitor: Visitor,
    pages: PageStore,
    post_id: int,
    *,
    page: int = 1,
    comment: str = "",
    parent_id: str = "",
    errors: dict[str, str] | None = None,
    status_code: int = 422,
    headers: dict[str, str] | None = None,
) -> Response:
    """A post and one page of its comments, with the comment form; with
    `comment` (and `parent_id`, for a reply), what was typed, and its
    `errors`: a 422 (or `status_code`). A post by someone the visitor blocks
    is not there for them (404), and comments of such people are collapsed."""
    moderator = roles.moderates(visitor.role)
    thread = None if moderator else kept_thread(pages, visitor, post_id, page)
    if thread is None:
        seen = pages.seen()
        thread = await comments.thread(db, post_id, visitor.user_id, page=page, moderator=moderator)
        if not moderator:
            keep_thread(pages, visitor, thread, seen)
    if visitor.shield.hides_post_of(thread.post.owner_id):
        raise PostNotFound
    status = status_code if errors else 200
    shown = collapsed_page(thread.comments, visitor.shield)
    if serves_anonymous_page(request, visitor):
        markup = post_markup(request)
        post = thread.post
        return anonymous_page(
            request,
            post.title,
            markup.head_html(post),
            markup.content_html(post, shown),
            status_code=status,
            headers=headers,
        )
    context = {
        "post": thread.post,
        "liked": thread.liked,
        "is_owner": visitor.user_id == thread.post.owner_id,
        "thread": shown,
        "comment": comment,
        "parent_id": parent_id,
        "errors": errors or {},
    }
    return render(
        request,
        visitor,
        "posts/show.html",
        context,
        status_code=status,
        headers=headers,
    )


def post_markup(request: Request) -> PostPageMarkup:
    """The app's `PostPageMarkup`, as its templates hold it."""
    return cast(PostPageMarkup, services_of(request.app).templates.globals["post_page"])


def collapsed_page(page: comments.CommentPage, shield: Shield) -> comments.CommentPage:
    if not shield.blocked:
        return page
    shown = [comments.collapsed(comment, shield) for comment in page.items]
    return comments.CommentPage(shown, page.page, page.per_page, page.total)


# What the page cache keeps of a post's page, for logged-in visitors: the
# published post, its counts, a page of its comments (a comment moves the
# comment count, so the likes version drops the counts and the comments kept),
# and whether the visitor likes it. Anonymous visitors are served the page's
# finished HTML (`webapp.web.shared_pages`), so their pages keep nothing more:
# a stream of posts read once each would only push out what is read again.
# A draft is read for its owner alone, and nothing of it is kept; nor is a page
# that shows its visitor what others may not read (a post or comment of theirs
# that is hidden; a moderator's page, which shows everything hidden).


def kept_thread(
    pages: PageStore, visitor: Visitor, post_id: int, page: int
) -> comments.PostThread | None:
    """The page as the cache holds it, or None if any part of it is missing:
    then one statement reads it all again."""
    user_id = visitor.user_id
    if user_id is None:
        return None
    kept = cache_policy.post(post_id)
    post = pages.get(kept)
    counts = pages.get(cache_policy.counts(kept))
    thread = pages.get(cache_policy.comments(post_id, page))
    liked = pages.get(cache_policy.liked(user_id, kept))
    if post is None or counts is None or thread is None or liked is None:
        return None
    return comments.PostThread(posts.with_count(post, counts), post_id in liked, thread)


def keep_thread(
    pages: PageStore, visitor: Visitor, thread: comments.PostThread, seen: Seen
) -> None:
    user_id = visitor.user_id
    post = thread.post
    if user_id is None or not post.published or post.hidden or post.owner_suspended:
        return
    if any(comment.moderated for comment in thread.comments.comments):
        return
    kept = cache_policy.post(post.id)
    pages.put(kept, post, seen)
    pages.put(cache_policy.counts(kept), {post.id: (post.votes, post.comments)}, seen)
    pages.put(cache_policy.comments(post.id, thread.comments.page), thread.comments, seen)
    pages.put(cache_policy.liked(user_id, kept), {post.id} if thread.liked else set(), seen)

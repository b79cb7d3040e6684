"""A post's page, its article and its thread of comments, as HTML made in
Python: the one place that markup is made. templates/posts/show.html calls it
(with the logged-in visitor's forms, which stay Jinja macros, passed in as
`VisitorParts`), as does a comment's fragment (`comment_html`); an anonymous
visitor's page is this content in the header and footer that every
anonymous visitor shares (`webapp.web.pages.anonymous_page`), with no
template rendered at all. As a template, the page was most of the Python
time of a random post (each value through the context, `getattr`, `escape`
and a macro call for each comment).

For static/live.js: `data-post-id` marks the post (its `.likes` follow its
count), and the section `data-comments-of` its comments (new ones are
inserted in their thread, deleted ones dropped).

Every value put into the markup is escaped here (`person_html.text`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import jinja2
from markupsafe import Markup

from webapp.core.templating import counted, iso_time, time_ago
from webapp.web.card_html import draft_badge
from webapp.web.person_html import PersonMarkup, avatar_html, like_count_html, text

# Pages indent replies up to this level (`webapp.rules.comments.SHOWN_LEVELS`);
# deeper ones show there, saying whom they answer.
SHOWN_LEVELS = 4
LAZY = ' loading="lazy"'
QUOTE = '"'


# What `quote(path, safe="/")` leaves as it is.
_UNQUOTED = re.compile(r"[A-Za-z0-9_.~/-]*")


def _quoted_path(path: str) -> str:
    """`quote(path, safe="/")`, without its calls for a path that has nothing
    to quote (a post's: `/posts/3`)."""
    return path if _UNQUOTED.fullmatch(path) else quote(path, safe="/")


@dataclass(frozen=True)
class VisitorParts:
    """What a logged-in visitor's page adds (Jinja macros of
    templates/posts/show.html and macros/comments.html): the post's like form
    and its owner's or reader's buttons, each comment's actions, and the form
    for a new comment."""

    post_actions: Callable[[], Any]
    comment_actions: Callable[[Any, bool], Any]
    comment_form: Callable[[], Any]


class PostPageMarkup:
    """The post page's markup, made with the app's paths and bylines."""

    def __init__(self, people: PersonMarkup, site_url: str, env: jinja2.Environment) -> None:
        self.people = people
        self.site_url = site_url
        self.env = env

    def head_html(self, post: Any) -> str:
        """What the page adds to `<head>`: its Open Graph card."""
        address = text(self.site_url + self.people.url("show_post", post_id=post.id))
        return (
            '  <meta property="og:type" content="article">\n'
            f'  <meta property="og:title" content="{text(post.title)}">\n'
            f'  <meta property="og:description" content="{text(post.excerpt)}">\n'
            f'  <meta property="og:url" content="{address}">\n'
            '  <meta property="og:site_name" content="Agora">\n'
        )

    def head(self, post: Any) -> Markup:
        return Markup(self.head_html(post))  # noqa: S704  (built of escaped parts)

    def content_html(
        self,
        post: Any,
        thread: Any,
        is_owner: bool = False,
        visitor: VisitorParts | None = None,
    ) -> str:
        """The page's content: the article, then the comments section with
        one page of the thread (`thread`, a `CommentPage`). Without `visitor`,
        as every anonymous visitor sees it: a link to log in where the forms
        would be."""
        url = self.people.url
        post_id = int(post.id)
        here = url("show_post", post_id=post_id)
        login = text(url("login_form")) + "?next=" + text(_quoted_path(here))
        here = text(here)
        parts = [
            f'<article class="card post" data-post-id="{post_id}">\n'
            "  <header>\n"
            f"    <h1>{text(post.title)}"
            f"{'' if post.published else draft_badge}</h1>\n"
            '    <p class="post-meta">\n'
            f"      {self.people.post_meta_html(post, edited=True)}\n"
            "    </p>\n"
        ]
        notice = None
        if post.hidden == "moderators":
            notice = f"Hidden by moderators: {text(str(post.hidden_reason))}"
        elif post.hidden:
            notice = "Hidden pending review: people reported it."
        elif post.owner_suspended:
            notice = "Hidden while its author is suspended."
        if notice is not None:
            parts.append(f'    <p class="notice hidden-notice" role="status">{notice}</p>\n')
        parts.append(f'  </header>\n  <div class="post-body">{post.content_html}</div>\n')
        if post.media:
            parts.append('  <div class="post-pictures">\n')
            for number, picture in enumerate(post.media):
                source = text(picture.url)
                parts.append(
                    f'    <a href="{source}"><img src="{source}" alt="{text(str(picture.alt))}"'
                    f' width="{text(str(picture.width))}" height="{text(str(picture.height))}"'
                    f"{LAZY if number else ''}></a>\n"
                )
            parts.append("  </div>\n")
        parts.append('  <footer class="actions">\n')
        if visitor is None:
            parts.append(
                '    <p class="like-form">\n'
                f'      <a class="button like" href="{login}">♡ Like</a>\n'
                f"      {like_count_html(post.votes)}\n"
                "    </p>\n"
            )
        else:
            parts.append(str(visitor.post_actions()))
        comments = thread.items
        parts.append(
            "  </footer>\n</article>\n\n"
            f'<section class="comments" id="comments" aria-labelledby="comments-heading"'
            f' data-comments-of="{post_id}" data-page="{int(thread.page)}"'
            f' data-last-page="{int(thread.last_page)}">\n'
            f'  <h2 id="comments-heading">{counted(int(post.comments), "comment")}</h2>\n'
        )
        if comments:
            actions = None if visitor is None else visitor.comment_actions
            parts.append('  <ol class="comment-list">\n')
            parts.extend(self.comment_html(comment, is_owner, actions) for comment in comments)
            parts.append("  </ol>\n  ")
            if thread.last_page > 1 or thread.page > 1:
                parts.append(str(self.pager(thread, here)))
            parts.append("\n")
        elif thread.past_end:
            last = int(thread.last_page)
            parts.append(
                '  <div class="empty">\n'
                "    <p>This page of comments is past the end:"
                f" there {'is' if last == 1 else 'are'} only {counted(last, 'page')}.</p>\n"
                f'    <p><a href="{here}?page={last}#comments">Go to the last page</a>'
                f' or <a href="{here}#comments">back to the first</a>.</p>\n'
                "  </div>\n"
            )
        else:
            parts.append(
                '  <ol class="comment-list" hidden></ol>\n'
                '  <p class="muted no-comments">No comments yet.</p>\n'
            )
        if visitor is None:
            parts.append(
                f'  <p class="comment-login"><a href="{login}">Log in</a> to comment.</p>\n'
            )
        else:
            parts.append(str(visitor.comment_form()))
        parts.append("</section>\n")
        return "".join(parts)

    def content(
        self,
        post: Any,
        thread: Any,
        is_owner: bool = False,
        visitor: VisitorParts | None = None,
    ) -> Markup:
        return Markup(self.content_html(post, thread, is_owner, visitor))  # noqa: S704  (built of escaped parts)

    def pager(self, thread: Any, here: str) -> Any:
        """The pages of comments: the pager every counted list shows (a macro)."""
        pager = self.env.get_template("macros/posts.html").module.pager  # type: ignore[attr-defined]  # a macro
        return pager(
            thread,
            Markup(here),  # noqa: S704  (escaped by the caller)
            previous="← Earlier",
            next="Later →",
            label="Pages of comments",
            anchor="#comments",
        )

    def comment_html(
        self,
        comment: Any,
        is_owner: bool = False,
        actions: Callable[[Any, bool], Any] | None = None,
    ) -> str:
        """One comment of a thread, an `<li>`: a placeholder if it was deleted,
        removed by moderators, or is by someone the reader blocks; with
        `actions` (a logged-in reader), its reply form and buttons."""
        comment_id = int(comment.id)
        depth = int(comment.depth)
        written = text(iso_time(comment.created_at))
        parent_id = comment.parent_id
        placeholder = comment.deleted or comment.blocked
        parts = [
            f'<li class="comment" id="comment-{comment_id}">\n'
            f'<div class="thread-item" data-level="{min(depth, SHOWN_LEVELS)}"'
            f' data-depth="{depth}"'
            f"{f' data-parent-id={QUOTE}{int(parent_id)}{QUOTE}' if parent_id else ''}"
            f"{' data-deleted' if comment.deleted else ''}"
            f"{' data-blocked' if comment.blocked else ''}>\n"
            '  <p class="comment-meta">\n'
        ]
        ago = time_ago(comment.created_at)
        link = (
            f'    · <a class="comment-link" href="#comment-{comment_id}">'
            f'<time datetime="{written}" title="{written}">{ago}</time></a>\n'
        )
        if placeholder:
            if comment.blocked:
                label = "A comment from someone you blocked"
            elif comment.removed:
                label = "[removed by moderators]"
            else:
                label = "[deleted]"
            parts.append(f'    <span class="comment-deleted">{label}</span>\n{link}  </p>\n')
        else:
            author = comment.author
            parts.append(
                f"    {avatar_html(author)}{self.people.name_link_html(author, 'comment-author')}\n"
            )
            if parent_id:
                replying = comment.replying_to
                parts.append(
                    f'<span class="{"replying-to" if depth > SHOWN_LEVELS else "visually-hidden"}">'
                    "replying to "
                    f"{'@' + text(replying) if replying else 'a deleted comment'}</span>"
                )
            parts.append(link)
            if comment.edited:
                parts.append('· <span class="edited">edited</span>')
            parts.append("  </p>\n")
            if comment.moderated:
                parts.append(f'<p class="notice hidden-notice">{text(comment.moderated)}</p>')
            parts.append(f'  <div class="comment-body">{comment.content_html}</div>\n')
            if actions is not None:
                parts.append(str(actions(comment, is_owner)))
        parts.append("</div>\n</li>\n")
        return "".join(parts)

    def comment(
        self,
        comment: Any,
        is_owner: bool = False,
        actions: Callable[[Any, bool], Any] | None = None,
    ) -> Markup:
        return Markup(self.comment_html(comment, is_owner, actions))  # noqa: S704  (built of escaped parts)

    def globals(self) -> dict[str, Any]:
        return {
            "post_head": self.head,
            "post_content": self.content,
            "comment_html": self.comment,
            "VisitorParts": VisitorParts,
            "post_page": self,
        }

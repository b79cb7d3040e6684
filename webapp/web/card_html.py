"""A list of posts as cards, as HTML made in Python: a profile, a feed or a
search prints twenty of them, and as a Jinja macro the cards were most of the
Python calls of a random profile (each value through the template's context,
`getattr`, `escape` and a macro call for the byline). The one place a card's
markup is made; `webapp.web.listing` calls it (and keeps what it makes).

For static/live.js: `data-post-id` marks a post shown (its `.likes` and
`.comment-count` follow its counts), and `data-liked` that the visitor likes
it (the count then says "(including you)"). With `can_like`, each card has
the post page's like form; its token and the page it returns to are the
stand-ins `csrf_slot` and `back_slot`, which the caller fills in. A search's
results show their `highlights` (excerpts, escaped, the matched words in
`<mark>`) in place of the excerpt.

Every value put into the markup is escaped here (`person_html.text`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from markupsafe import Markup

from webapp.core.templating import counted
from webapp.web.person_html import PersonMarkup, like_count_html, text

# CardMarkup.post_list, as `webapp.web.listing` finds it among the templates' globals.
PostList = Callable[..., Markup]


class CardMarkup:
    """The cards, made with the app's paths and bylines."""

    def __init__(self, people: PersonMarkup) -> None:
        self.people = people

    def post_list(
        self,
        posts: Iterable[Any],
        liked: set[int] | frozenset[int],
        show_draft: bool = False,
        can_like: bool = False,
        csrf_slot: str = "",
        back_slot: str = "",
        highlights: Mapping[int, Markup] | None = None,
    ) -> Markup:
        url = self.people.url
        found_in = highlights or {}
        token, back = text(csrf_slot), text(back_slot)
        parts = ['<ol class="post-list">\n']
        # Each author's byline, made once: a profile's twenty cards share one.
        bylines: dict[int, str] = {}
        for post in posts:
            post_id = int(post.id)
            yours = post_id in liked
            href = text(url("show_post", post_id=post_id))
            title = text(post.title)
            found = found_in.get(post_id)
            parts.append(
                f'  <li>\n    <article class="card post-card" data-post-id="{post_id}"'
                f"{' data-liked' if yours else ''}>\n"
                f'      <h2><a href="{href}">{title}</a>'
                f"{draft_badge if show_draft and not post.published else ''}</h2>\n"
            )
            if post.media:
                first = post.media[0]
                parts.append(
                    f'      <a class="card-picture" href="{href}" tabindex="-1">'
                    f'<img src="{text(first.thumbnail_url)}" alt="{text(first.alt)}"'
                    f' width="{int(first.thumbnail_width)}"'
                    f' height="{int(first.thumbnail_height)}" loading="lazy"></a>\n'
                )
            excerpt = found if found else text(post.excerpt)
            likes = like_count_html(post.votes, yours)
            owner = post.owner
            byline = bylines.get(owner.id)
            if byline is None:
                byline = bylines[owner.id] = self.people.byline_html(owner)
            meta = self.people.post_meta_html(post, byline=byline)
            parts.append(
                f'      <p class="post-excerpt{" search-excerpt" if found else ""}">{excerpt}</p>\n'
                '      <div class="post-meta">\n'
                f"        <span>{meta}</span>\n"
            )
            if can_like:
                vote = text(url("vote", post_id=post_id))
                parts.append(
                    f'        <form method="post" action="{vote}" class="like-form card-like">\n'
                    f'          <input type="hidden" name="csrf_token" value="{token}">\n'
                    f'          <input type="hidden" name="dir" value="{"0" if yours else "1"}">\n'
                    f'          <input type="hidden" name="next" value="{back}">\n'
                    '          <button type="submit" class="like"'
                    f' aria-pressed="{"true" if yours else "false"}">'
                    f"{'♥ Liked' if yours else '♡ Like'}"
                    f'<span class="visually-hidden">: {title}</span></button>\n'
                    f"          {likes}\n"
                    "        </form>\n"
                )
            else:
                parts.append(f"        {likes}\n")
            comments = text(counted(post.comments, "comment"))
            parts.append(
                f'        <a class="comments-link" href="{href}#comments">'
                f'<span class="comment-count">{comments}</span></a>\n'
                "      </div>\n    </article>\n  </li>\n"
            )
        parts.append("</ol>\n")
        return Markup("".join(parts))  # noqa: S704  (built of escaped parts)

    def globals(self) -> dict[str, Any]:
        return {"post_list": self.post_list}


draft_badge = ' <span class="badge draft">draft</span>'

"""A person beside what they wrote, and a post's byline and like count, as HTML
made in Python: a feed prints them for every card, and a Jinja macro call
costs several times a function's (its arguments become a new context). The
templates call these as globals, the one place each piece of markup is made.

Every value put into the markup is escaped here (`text`, markupsafe's
`escape` for a str; `Markup.format` would do it too, at four times the cost
of these functions)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from markupsafe import Markup

from webapp.core.templating import counted, iso_time, time_ago

Url = Callable[..., str]


class Person(Protocol):
    id: int
    username: str
    display_name: str | None

    @property
    def avatar_url(self) -> str: ...

    @property
    def small_avatar_url(self) -> str: ...


# markupsafe's `escape` for a str, as a str: `escape` makes a `Markup` of each
# value (six calls), and a profile's cards escape two hundred of them. The
# same five characters, replaced the same way. Looked for one by one (`in`
# runs at memory speed; a regular expression's class walks each character,
# ten times slower over an excerpt), and replaced by `str.replace`
# (`str.translate` with a table costs an excerpt with one apostrophe 30 µs).
def text(value: str) -> str:
    """`str(escape(value))`, for a str."""
    if "&" in value or "<" in value or ">" in value or '"' in value or "'" in value:
        return (
            value.replace("&", "&amp;")
            .replace("<", "&lt;")
            .replace(">", "&gt;")
            .replace('"', "&#34;")
            .replace("'", "&#39;")
        )
    return value


def avatar_html(user: Person, size: int = 32, large: bool = False) -> str:
    source = text(user.avatar_url if large else user.small_avatar_url)
    side = int(size)
    return (
        f'<img class="avatar" src="{source}" alt="" width="{side}" height="{side}" loading="lazy">'
    )


def avatar(user: Person, size: int = 32, large: bool = False) -> Markup:
    """A person's avatar beside their name: decorative (the name is beside
    it), with its size set so that nothing moves while it loads."""
    return Markup(avatar_html(user, size, large))  # noqa: S704  (escaped there)


def like_count_html(count: int, yours: bool = False) -> str:
    including = " (including you)" if yours else ""
    return f'<span class="likes">{counted(int(count), "like")}{including}</span>'


def like_count(count: int, yours: bool = False) -> Markup:
    """A post's like count, as a person reads it."""
    return Markup(like_count_html(count, yours))  # noqa: S704  (a number and fixed words)


class PersonMarkup:
    """The markup that links to a profile, made with the app's paths. Each
    piece as `Markup` for the templates, and as a str (`..._html`) for the
    markup made in Python (`webapp.web.card_html`)."""

    def __init__(self, url: Url) -> None:
        self.url = url

    def name_link_html(self, user: Person, class_: str | None = None) -> str:
        attributes = f' class="{text(class_)}"' if class_ else ""
        link = f'<a{attributes} href="{text(self.url("profile", user_id=user.id))}">'
        if user.display_name:
            return (
                f"{link}{text(user.display_name)}</a>"
                f' <span class="username">@{text(user.username)}</span>'
            )
        return f"{link}{text(user.username)}</a>"

    def name_link(self, user: Person, class_: str | None = None) -> Markup:
        """The display name and the @username, or the username alone without
        a display name, as a link to the profile."""
        return Markup(self.name_link_html(user, class_))  # noqa: S704  (escaped there)

    def person_link(self, user: Person, class_: str | None = None) -> Markup:
        """The avatar, then the name."""
        return Markup(avatar_html(user) + self.name_link_html(user, class_))  # noqa: S704  (escaped there)

    def byline_html(self, user: Person) -> str:
        """A post's author in its byline: the avatar, then "by" and the name."""
        return f"{avatar_html(user)} by {self.name_link_html(user)}"

    def post_meta_html(self, post: Any, edited: bool = False, byline: str | None = None) -> str:
        """`byline`: the author's `byline_html`, when the caller made it
        already (a list's cards make each author's once)."""
        created = text(iso_time(post.created_at))
        meta = (
            f"{self.byline_html(post.owner) if byline is None else byline}\n"
            f'  · <time datetime="{created}" title="{created}">{time_ago(post.created_at)}</time>'
        )
        if edited and post.edited:
            changed = text(iso_time(post.updated_at))
            meta += (
                f'\n  · edited <time datetime="{changed}" title="{changed}">'
                f"{time_ago(post.updated_at)}</time>"
            )
        return meta

    def post_meta(self, post: Any, edited: bool = False) -> Markup:
        """Who wrote a post and when; with `edited`, when it last changed too."""
        return Markup(self.post_meta_html(post, edited))  # noqa: S704  (built of escaped parts)

    def globals(self) -> dict[str, Any]:
        return {
            "avatar": avatar,
            "name_link": self.name_link,
            "person_link": self.person_link,
            "post_meta": self.post_meta,
            "like_count": like_count,
        }

"""A person beside what they wrote, and a post's byline and like count, as HTML
made in Python: a feed prints them for every card, and a Jinja macro call
costs several times a function's (its arguments become a new context). The
templates call these as globals, the one place each piece of markup is made.

Every value put into the markup goes through `escape` here (`Markup.format`
would do it too, at four times the cost of these functions)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from markupsafe import Markup, escape

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


def avatar(user: Person, size: int = 32, large: bool = False) -> Markup:
    """A person's avatar beside their name: decorative (the name is beside
    it), with its size set so that nothing moves while it loads."""
    source = escape(user.avatar_url if large else user.small_avatar_url)
    side = int(size)
    return Markup(  # noqa: S704  (escaped above)
        f'<img class="avatar" src="{source}" alt="" width="{side}" height="{side}" loading="lazy">'
    )


def like_count(count: int, yours: bool = False) -> Markup:
    """A post's like count, as a person reads it."""
    including = " (including you)" if yours else ""
    return Markup(f'<span class="likes">{counted(int(count), "like")}{including}</span>')  # noqa: S704  (a number and fixed words)


class PersonMarkup:
    """The markup that links to a profile, made with the app's paths."""

    def __init__(self, url: Url) -> None:
        self.url = url

    def name_link(self, user: Person, class_: str | None = None) -> Markup:
        """The display name and the @username, or the username alone without
        a display name, as a link to the profile."""
        attributes = f' class="{escape(class_)}"' if class_ else ""
        link = f'<a{attributes} href="{escape(self.url("profile", user_id=user.id))}">'
        if user.display_name:
            return Markup(  # noqa: S704  (escaped here)
                f"{link}{escape(user.display_name)}</a>"
                f' <span class="username">@{escape(user.username)}</span>'
            )
        return Markup(f"{link}{escape(user.username)}</a>")  # noqa: S704  (escaped here)

    def person_link(self, user: Person, class_: str | None = None) -> Markup:
        """The avatar, then the name."""
        return avatar(user) + self.name_link(user, class_)

    def post_meta(self, post: Any, edited: bool = False) -> Markup:
        """Who wrote a post and when; with `edited`, when it last changed too."""
        created = escape(iso_time(post.created_at))
        meta = (
            f"{avatar(post.owner)} by {self.name_link(post.owner)}\n"
            f'  · <time datetime="{created}" title="{created}">{time_ago(post.created_at)}</time>'
        )
        if edited and post.edited:
            changed = escape(iso_time(post.updated_at))
            meta += (
                f'\n  · edited <time datetime="{changed}" title="{changed}">'
                f"{time_ago(post.updated_at)}</time>"
            )
        return Markup(meta)  # noqa: S704  (built of escaped parts)

    def globals(self) -> dict[str, Any]:
        return {
            "avatar": avatar,
            "name_link": self.name_link,
            "person_link": self.person_link,
            "post_meta": self.post_meta,
            "like_count": like_count,
        }

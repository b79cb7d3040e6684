"""A profile's page as an anonymous visitor sees it, as HTML made in Python:
its head and content in the header and footer that every anonymous visitor
shares (`webapp.web.pages.anonymous_page`), with no template rendered. The
same bytes as templates/users/profile.html makes for them (the template
stays, for everyone else: logged-in visitors, a message to show, a search of
the person's posts); as a template, the page was a fifth of the Python time
of a random profile (each value through the context, `getattr` and `escape`).

Every value put into the markup is escaped here (`person_html.text`)."""

from __future__ import annotations

from typing import Any

import jinja2
from jinja2.filters import do_urlencode
from markupsafe import Markup

from webapp.core.templating import counted, iso_time, long_date
from webapp.models import ProfilePublic
from webapp.rules.posts import PostPage
from webapp.web.pager_html import pager_html
from webapp.web.person_html import Url, avatar_html, text

# The roles whose badge a profile shows.
BADGED_ROLES = ("moderator", "admin")


class ProfileMarkup:
    """The anonymous profile's markup, made with the app's paths."""

    def __init__(self, url: Url, site_url: str, env: jinja2.Environment) -> None:
        self.url = url
        self.site_url = site_url
        self.env = env

    def head_html(self, profile: ProfilePublic) -> str:
        """What the page adds to `<head>`: its feed and its Open Graph card."""
        name = text(profile.username)
        feed = text(self.url("person_feed", user_id=profile.id))
        address = text(self.site_url + self.url("profile", user_id=profile.id))
        return (
            f'  <link rel="alternate" type="application/atom+xml" title="{name} on Agora"'
            f' href="{feed}">\n'
            '  <meta property="og:type" content="profile">\n'
            f'  <meta property="og:title" content="{name}">\n'
            f'  <meta property="og:url" content="{address}">\n'
            f'  <meta property="profile:username" content="{name}">\n'
        )

    def content_html(self, profile: Any, listing: PostPage, cards: Markup) -> str:
        """The person (a `ProfilePublic`), their counts, the search of their
        posts, then the cards (`cards`, made by `webapp.web.listing.post_cards`)
        and the pager."""
        url = self.url
        user_id = profile.id
        name = text(profile.username)
        here = url("profile", user_id=user_id)
        if profile.display_name:
            title = f'{text(profile.display_name)} <span class="username">@{name}</span>'
        else:
            title = name
        if profile.role in BADGED_ROLES:
            title += f' <span class="badge role">{text(profile.role)}</span>'
        login = text(f"{url('login_form')}?next={do_urlencode(here)}")
        # The template's lines that hold only an `{% if %}` print nothing, not
        # even their line's end, so a bio or a website runs into the next line.
        about = ""
        if profile.bio_html:
            about += f'<div class="bio">{profile.bio_html}</div>'  # sanitized HTML, as stored
        if profile.website:
            website = text(profile.website)
            about += (
                f'<p class="website"><a href="{website}" rel="me nofollow noopener">'
                f"{website}</a></p>"
            )
        joined = profile.created_at
        followers = profile.followers
        noun = "follower" if followers == 1 else "followers"
        search_max = int(self.env.globals["limits"]["search_max"])  # type: ignore[index]  # LIMITS
        parts = [
            '\n<section class="profile-head">\n'
            '  <div class="profile-title">\n'
            f"    {avatar_html(profile, 96, large=True)}\n"
            f"    <h1>{title}</h1>\n"
            f'      <a class="button primary follow-form" href="{login}">Follow</a>\n'
            "  </div>\n"
            f"{about}"
            f'  <p class="muted">Joined <time datetime="{text(iso_time(joined))}">'
            f"{text(long_date(joined))}</time> · {text(counted(listing.total or 0, 'post'))}</p>\n"
            '  <p class="follow-counts">\n'
            f'    <a href="{text(url("followers_list", user_id=user_id))}">'
            f"<strong>{int(followers)}</strong> {noun}</a>\n"
            f'    <a href="{text(url("following_list", user_id=user_id))}">'
            f"<strong>{int(profile.following)}</strong> following</a>\n"
            "  </p>\n"
            "</section>\n"
            "<h2>Posts</h2>\n"
            '<form class="search profile-search" role="search" method="get"'
            f' action="{text(here)}">\n'
            f'  <label class="visually-hidden" for="profile-search">Search {name}’s posts</label>\n'
            '  <input id="profile-search" type="search" name="q" value=""'
            f' placeholder="Search {name}’s posts" maxlength="{search_max}">\n'
            "</form>\n"
        ]
        if listing.posts:
            parts.append(f"  {cards}\n  {pager_html(listing, here)}\n")
        elif listing.past_end:
            parts.append(
                '  <p class="card empty">This page is past the end.'
                f' <a href="{text(here)}">Back to the first page</a>.</p>\n'
            )
        else:
            parts.append(f'  <p class="card empty">{name} has not published anything yet.</p>\n')
        return "".join(parts)

    def globals(self) -> dict[str, Any]:
        return {"profile_page": self}

"""The page of an anonymous visitor's search, made without rendering its
template each time: searches are as many as the words people type, so the
page cache rarely holds one, and rendering the template (the header, the
order links, the pager) cost such a page a sixth of its Python time.

What the template shows of a search is the query (escaped as text, and
quoted in its links), the cards (made in Python already) and the shape of
its list (the page, the pages the pager links to, whether there are
results): the template is rendered once for each shape, with stand-ins for
the query and the cards, and each search fills in its own. The page is the
template's byte for byte, since it is the template's own output; it is made
again whenever the template changes (`TEMPLATES_AUTO_RELOAD`)."""

from __future__ import annotations

import re
import secrets
import weakref
from typing import Any

import jinja2
from markupsafe import Markup, escape

from webapp.rules import ordering, posts

# The query's stand-in holds "&", which the template's escaping and its
# `urlencode` write differently, so that each place gets its own form of the
# query; the random part is in no query or post. The cards' is printed as it is.
QUERY_SLOT = "query&" + secrets.token_hex(12)
ESCAPED_QUERY_SLOT = str(escape(QUERY_SLOT))
CARDS_SLOT = Markup("cards-" + secrets.token_hex(12))  # noqa: S704 (hex digits)
# A query of ASCII letters, digits and spaces (most): its `urlencode` quotes
# the spaces alone, which is done here without the filter's look at each byte.
_PLAIN = re.compile(r"[A-Za-z0-9 ]*")
# Shapes kept per template: page 1 to a few pages deep, in either order.
MAX_SHAPES = 256


class SearchPages:
    """An environment's search pages by shape (`page`)."""

    def __init__(self, env: jinja2.Environment) -> None:
        self.env = env
        self.quoted_slot: str = env.filters["urlencode"](QUERY_SLOT)
        self._made: dict[tuple[Any, ...], tuple[jinja2.Template, str]] = {}

    def page(
        self,
        name: str,
        *,
        query: str,
        listing: posts.PostPage,
        cards: Markup,
        order: ordering.Order,
    ) -> str:
        """The template `name` as `webapp.web.pages.render` renders it for an
        anonymous visitor with no message to see, searching for `query`."""
        template = self.env.get_template(name)  # a new one when the file changed
        shape = (name, order, listing.page, listing.last_page, listing.more, bool(listing.posts))
        made = self._made.get(shape)
        if made is None or made[0] is not template:
            html = template.render(
                {
                    "current_user": None,
                    "csrf_token": "",
                    "unread_count": 0,
                    "flashes": [],
                    "listing": listing,
                    "cards": CARDS_SLOT,
                    "search_query": QUERY_SLOT,
                    "searching": True,
                    "order": order,
                }
            )
            made = (template, html)
            if len(self._made) >= MAX_SHAPES:
                self._made.clear()
            self._made[shape] = made
        quoted = (
            query.replace(" ", "%20")
            if _PLAIN.fullmatch(query)
            else self.env.filters["urlencode"](query)
        )
        return (
            made[1]
            .replace(ESCAPED_QUERY_SLOT, str(escape(query)))
            .replace(self.quoted_slot, quoted)
            .replace(CARDS_SLOT, cards)
        )


_BY_ENVIRONMENT: weakref.WeakKeyDictionary[jinja2.Environment, SearchPages] = (
    weakref.WeakKeyDictionary()
)


def search_pages(env: jinja2.Environment) -> SearchPages:
    """The environment's `SearchPages` (one per app)."""
    found = _BY_ENVIRONMENT.get(env)
    if found is None:
        found = _BY_ENVIRONMENT[env] = SearchPages(env)
    return found

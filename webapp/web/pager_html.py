"""The pager under every counted list (newer, older and the page numbers near
this one), as HTML made in Python: the one place its markup is made. The
templates' `pager` macro (templates/macros/posts.html) calls it, and so do
the pages made without a template; as the macro's own body, it was a third of
the Python time of a random profile's content.

Every value put into the markup is escaped here (markupsafe's `escape`, which
leaves `Markup` as it is, as the template did)."""

from __future__ import annotations

from typing import Any

from jinja2.filters import do_urlencode
from markupsafe import Markup, escape

from webapp.rules.posts import PAGES_AROUND

GAP = '<li class="gap" aria-hidden="true">…</li>'


def pager_html(
    listing: Any,
    base: str,
    query: str = "",
    previous: str = "← Newer",
    next: str = "Older →",  # the macro's own name for it
    label: str = "Pages",
    anchor: str = "",
    order_query: str = "",
) -> Markup:
    """Links to the pages of `listing` (its `page`, `last_page` and, when more
    pages exist than were counted, `more`) at `base?page=N`, each keeping the
    search `query`, the order's `order_query` and landing on `anchor`;
    nothing for a list of one page."""
    page, last = int(listing.page), int(listing.last_page)
    if not (last > 1 or page > 1):
        return Markup("")
    searched = "&q=" + do_urlencode(query) if query else ""
    extra = f"{escape(searched)}{escape(order_query)}{escape(anchor)}"
    to = f"{escape(base)}?page="
    first = max(1, page - PAGES_AROUND)
    parts = [f'<nav class="pager" aria-label="{escape(label)}">\n']
    if page > 1:
        parts.append(f'    <a rel="prev" href="{to}{page - 1}{extra}">{escape(previous)}</a>\n')
    parts.append("  <ul>\n")
    if first > 1:
        parts.append(f'      <li><a href="{to}1{extra}">1</a></li>\n')
        if first > 2:
            parts.append(GAP)
    for number in range(first, min(page + PAGES_AROUND, last) + 1):
        current = ' aria-current="page"' if number == page else ""
        parts.append(f'      <li><a href="{to}{number}{extra}"{current}>{number}</a></li>\n')
    if last > page + PAGES_AROUND:
        if last > page + PAGES_AROUND + 1:
            parts.append(GAP)
        parts.append(f'      <li><a href="{to}{last}{extra}">{last}</a></li>\n')
    elif getattr(listing, "more", False):
        parts.append(f"      {GAP}\n")
    parts.append("  </ul>\n")
    if page < last:
        parts.append(f'    <a rel="next" href="{to}{page + 1}{extra}">{escape(next)}</a>\n')
    parts.append("</nav>\n")
    return Markup("".join(parts))  # noqa: S704  (built of escaped parts)

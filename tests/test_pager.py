"""The pager under every counted list: made in Python (`webapp.web.pager_html`),
the same bytes as the macro it replaced made, for every shape of list."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import jinja2
import pytest
from markupsafe import Markup

from webapp.core.templating import TEMPLATES_DIR
from webapp.rules.posts import PAGES_AROUND
from webapp.web.pager_html import pager_html

# The macro's body as it was, with the environment's settings.
MACRO = """{% macro pager(listing, base, query="", previous="← Newer", next="Older →", label="Pages", anchor="", order_query="") %}
{% if listing.last_page > 1 or listing.page > 1 %}
{% set extra = ("&q=" ~ (query | urlencode) if query else "") ~ order_query ~ anchor %}
{% set around = limits.pages_around %}
{% set first = [1, listing.page - around] | max %}
<nav class="pager" aria-label="{{ label }}">
  {% if listing.page > 1 %}
    <a rel="prev" href="{{ base }}?page={{ listing.page - 1 }}{{ extra }}">{{ previous }}</a>
  {% endif %}
  <ul>
    {% if first > 1 %}
      <li><a href="{{ base }}?page=1{{ extra }}">1</a></li>
      {% if first > 2 %}<li class="gap" aria-hidden="true">…</li>{% endif %}
    {% endif %}
    {% for number in range(first, [listing.page + around, listing.last_page] | min + 1) %}
      <li><a href="{{ base }}?page={{ number }}{{ extra }}"{% if number == listing.page %} aria-current="page"{% endif %}>{{ number }}</a></li>
    {% endfor %}
    {% if listing.last_page > listing.page + around %}
      {% if listing.last_page > listing.page + around + 1 %}<li class="gap" aria-hidden="true">…</li>{% endif %}
      <li><a href="{{ base }}?page={{ listing.last_page }}{{ extra }}">{{ listing.last_page }}</a></li>
    {% elif listing.more %}
      <li class="gap" aria-hidden="true">…</li>
    {% endif %}
  </ul>
  {% if listing.page < listing.last_page %}
    <a rel="next" href="{{ base }}?page={{ listing.page + 1 }}{{ extra }}">{{ next }}</a>
  {% endif %}
</nav>
{% endif %}
{% endmacro %}"""  # noqa: E501  (the template as it was)


@dataclass
class Listing:
    page: int
    last_page: int
    more: bool = False


@dataclass
class Uncounted:
    """A list without `more` (the macro read it as undefined)."""

    page: int
    last_page: int


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(limits={"pages_around": PAGES_AROUND}, pager_html=pager_html)
    return env


SHAPES = [
    Listing(page, last, more)
    for page, last, more in itertools.product(range(1, 9), range(1, 9), (False, True))
] + [Uncounted(1, 1), Uncounted(2, 5), Uncounted(7, 7)]
CALLS = [
    {"base": "/users/5"},
    {"base": "/", "query": 'café & "tea" <b>/x', "order_query": "&sort=new"},
    {
        "base": Markup("/posts/3"),
        "previous": "← Earlier",
        "next": "Later →",
        "label": "Pages of comments",
        "anchor": "#comments",
    },
    {"base": "/search?x=<1>", "order_query": Markup("&amp;sort=top"), "anchor": "#a&b"},
]


@pytest.mark.parametrize("call", CALLS)
def test_the_pager_is_the_macros_bytes_for_every_list(call: dict) -> None:
    env = environment()
    old = env.from_string(MACRO).module.pager  # type: ignore[attr-defined]
    new = env.get_template("macros/posts.html").module.pager  # type: ignore[attr-defined]
    for listing in SHAPES:
        made = str(pager_html(listing, **call))
        assert made == str(old(listing, **call)), (listing, call)
        assert str(new(listing, **call)) == made, (listing, call)


def test_a_list_of_one_page_has_no_pager() -> None:
    assert pager_html(Listing(1, 1), "/") == ""
    assert 'aria-current="page">3</a>' in pager_html(Listing(3, 9), "/")

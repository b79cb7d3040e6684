"""Hostile and odd text through every field that takes it, by the pages and
the API: rendered inert, or refused with a 422, never a 500."""

from __future__ import annotations

import json
import re
import string
import unicodedata

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.api import Caller, write
from tests.support.pages import post_form, write_post
from tests.test_markup import PATHOLOGICAL, XSS
from webapp.models import (
    CONTENT_WHITESPACE,
    check_title,
    is_visible,
    normalize_content,
    reject_control_characters,
)
from webapp.rules import markup

# An element the rendered text may hold, and the attributes it may carry.
ALLOWED = re.compile(
    r"</?(p|br|strong|em|s|del|code|pre|blockquote|ul|ol|li|a|hr|h[2-6])( [^<>]*)?>"
)


def inert(html: str) -> None:
    for element in re.findall(r"<[^>]*>", html):
        assert ALLOWED.fullmatch(element), element
        for name, value in re.findall(r'\s([a-z-]+)="([^"]*)"', element):
            assert name in ("href", "rel", "start"), element
            if name == "href":
                assert markup.link_target(value) is not None, element


def body_of(page: str, css_class: str) -> str:
    match = re.search(rf'<div class="{css_class}">(.*?)</div>', page, re.S)
    assert match, css_class
    return match.group(1)


@pytest.mark.parametrize("source", XSS)
def test_hostile_markdown_through_the_api_is_stored_and_shown_inert(
    client: TestClient, alice_api: Caller, source: str
) -> None:
    post = write(client, alice_api, title=re.sub(r"\s", " ", source)[:200], content=source)
    assert post["content"] == source  # the source is kept as typed
    inert(post["content_html"])
    answer = client.post(
        f"/api/posts/{post['id']}/comments", json={"content": source}, headers=alice_api.headers
    )
    assert answer.status_code == 201
    inert(answer.json()["content_html"])
    page = client.get(f"/posts/{post['id']}").text
    inert(body_of(page, "post-body"))
    inert(body_of(page, "comment-body"))
    # The title is plain text wherever it shows.
    assert "<script>" not in page.split("<body", 1)[1].replace("&lt;script&gt;", "")


def test_hostile_markdown_through_the_pages_is_shown_inert(alice_browser: TestClient) -> None:
    source = "\n\n".join(XSS)[:20_000]
    post_id = write_post(alice_browser, "<script>alert(1)</script>", source)
    page = alice_browser.get(f"/posts/{post_id}").text
    inert(body_of(page, "post-body"))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    edit = alice_browser.get(f"/posts/{post_id}/edit").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in edit  # the source, escaped, to edit
    answer = post_form(
        alice_browser, f"/posts/{post_id}/comments", {"content": XSS[0]}, page=f"/posts/{post_id}"
    )
    assert answer.status_code == 303
    inert(body_of(alice_browser.get(f"/posts/{post_id}").text, "comment-body"))
    preview = post_form(
        alice_browser, "/posts/preview", {"title": "t", "content": source}, page="/posts/new"
    )
    assert preview.status_code == 200
    inert(body_of(preview.text, "post-body"))


@pytest.mark.parametrize("name", list(PATHOLOGICAL))
def test_pathological_markdown_is_a_normal_answer(
    client: TestClient, alice_api: Caller, name: str
) -> None:
    post = write(client, alice_api, content=PATHOLOGICAL[name])
    inert(post["content_html"])
    assert client.get(f"/posts/{post['id']}").status_code == 200
    answer = client.post(
        f"/api/posts/{post['id']}/comments",
        json={"content": PATHOLOGICAL[name][:2_000]},
        headers=alice_api.headers,
    )
    assert answer.status_code == 201


@pytest.mark.parametrize(
    "content",
    ["\x00", "a\x07b", "a\ud800", "\u0085x", "x" * 20_001],
    ids=["NUL", "bell", "lone surrogate", "NEL", "too long"],
)
def test_text_the_rules_refuse_is_a_422(
    client: TestClient, alice_api: Caller, content: str
) -> None:
    # As JSON escapes: a lone surrogate cannot be sent any other way.
    answer = client.post(
        "/api/posts",
        content=json.dumps({"title": "t", "content": content}),
        headers={**alice_api.headers, "content-type": "application/json"},
    )
    assert answer.status_code == 422, answer.text


ODD_TAGS = {
    "#ｆｕｌｌ": "full",
    "#Ωmega": "ωmega",
    "#naïve": "naïve",
    "#שלום": "שלום",
    "#zero\u200dwidth": "zero",
    "#ǅungla": "džungla",  # a title-case digraph, decomposed
}


@pytest.mark.parametrize(("source", "tag"), ODD_TAGS.items())
def test_odd_unicode_tags_fold_to_one_page(
    client: TestClient, alice_api: Caller, source: str, tag: str
) -> None:
    post = write(client, alice_api, content=source)
    assert post["tags"] == [tag]
    listed = client.get(f"/api/tags/{tag}/posts").json()
    assert [p["id"] for p in listed] == [post["id"]]
    assert client.get(markup.tag_path(tag)).status_code == 200


@pytest.mark.parametrize(
    "name",
    ["%00", "%3Cscript%3E", "a%2Fb", "%E2%80%AE", "%F0%9F%98%80", "a" * 51, "a%20b"],
)
def test_odd_tag_names_in_addresses_are_404(client: TestClient, name: str) -> None:
    assert client.get(f"/tags/{name}").status_code == 404
    assert client.get(f"/api/tags/{name}/posts").status_code == 404


@settings(max_examples=500, database=None)
@given(
    title=st.one_of(
        st.text(st.characters(max_codepoint=127), max_size=12),
        st.text(st.sampled_from(string.printable + "\x00\x7f"), max_size=12),
        st.text(max_size=6),
    )
)
def test_a_title_is_taken_when_it_holds_a_visible_character_and_no_control(title: str) -> None:
    """The rule as stated, character by character, against `check_title`
    (which takes a printable ASCII title without looking at each)."""
    controls = any(unicodedata.category(char) in ("Cc", "Cs") for char in title)
    taken = not controls and any(is_visible(char) for char in title)
    try:
        assert check_title(title) == title
    except ValueError:
        assert not taken
    else:
        assert taken


@settings(max_examples=500, database=None)
@given(
    text=st.one_of(
        st.text(st.sampled_from("ab \t\n\r\x00\x07\x7f\x85\u2028\u200b\u00a0é"), max_size=20),
        st.text(max_size=20),
    ),
    allowed=st.sampled_from(["", CONTENT_WHITESPACE]),
)
def test_a_text_is_refused_for_a_control_character_it_is_not_allowed(
    text: str, allowed: str
) -> None:
    """The rule as stated, character by character, against
    `reject_control_characters` (which looks at each only when the text less
    its allowed characters is not printable)."""
    refused = any(
        char not in allowed and unicodedata.category(char) in ("Cc", "Cs") for char in text
    )
    try:
        assert reject_control_characters(text, allowed) == text
    except ValueError:
        assert refused
    else:
        assert not refused


def test_a_post_of_many_lines_keeps_its_breaks_and_tabs_and_a_nul_among_them_is_refused() -> None:
    """Forty lines, taken by the check of the text less its breaks and tabs."""
    text = "A line of a real post, with some words in it.\r\n\tand a tab\n" * 40
    assert normalize_content(text) == text.replace("\r\n", "\n")
    with pytest.raises(ValueError, match="control characters"):
        normalize_content(text + "\x00")

"""A person's name, avatar and byline as every page prints them: escaped,
linked to the profile, the same markup wherever they appear."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from webapp.web.person_html import PersonMarkup, avatar, like_count


def someone(display_name: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(
        id=7,
        username="ada_7",
        display_name=display_name,
        avatar_url="/avatars/7.svg?large&x=<",
        small_avatar_url="/avatars/7.svg?a=1&b=2",
    )


def markup() -> PersonMarkup:
    return PersonMarkup(lambda name, **params: f"/users/{params['user_id']}")


def test_a_display_name_is_text_never_markup() -> None:
    link = markup().name_link(someone('<script>alert("x")</script>'), "comment-author")
    assert link == (
        '<a class="comment-author" href="/users/7">'
        "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</a>"
        ' <span class="username">@ada_7</span>'
    )


def test_without_a_display_name_the_username_is_the_link() -> None:
    assert markup().name_link(someone()) == '<a href="/users/7">ada_7</a>'


def test_an_avatar_is_decorative_with_its_size_set() -> None:
    assert avatar(someone()) == (
        '<img class="avatar" src="/avatars/7.svg?a=1&amp;b=2" alt="" width="32" height="32"'
        ' loading="lazy">'
    )
    assert 'src="/avatars/7.svg?large&amp;x=&lt;" alt="" width="96"' in avatar(
        someone(), 96, large=True
    )


def test_a_byline_says_who_and_when_and_when_edited() -> None:
    written = datetime.now(UTC) - timedelta(hours=3)
    post = SimpleNamespace(
        owner=someone("Ada"),
        created_at=written,
        updated_at=written + timedelta(hours=1),
        edited=True,
    )
    plain = markup().post_meta(post)
    assert plain.startswith('<img class="avatar"')
    assert ' by <a href="/users/7">Ada</a> <span class="username">@ada_7</span>' in plain
    assert ">3 hours ago</time>" in plain and "edited" not in plain
    assert "· edited <time" in markup().post_meta(post, edited=True)


def test_a_like_count_reads_as_a_sentence() -> None:
    assert like_count(1) == '<span class="likes">1 like</span>'
    assert like_count(3, yours=True) == '<span class="likes">3 likes (including you)</span>'


def test_text_is_escaped_as_markupsafe_escapes_it() -> None:
    from markupsafe import escape

    from webapp.web.person_html import text

    for value in ("", "plain words", "<script>alert('x')</script>", 'a "b" & c > d', "é ♥ &amp;"):
        assert text(value) == str(escape(value))
        assert type(text(value)) is str

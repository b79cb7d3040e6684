"""Markdown to safe HTML: what each construct renders as, what never renders,
mentions and tags, excerpts, and how long the worst inputs take."""

from __future__ import annotations

import html as html_module
import random
import re
import sys
from collections.abc import Callable, Iterator
from types import FrameType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.app import on_own_loop
from webapp.rules import markup, posts

SITE = "https://agora.example"


@pytest.fixture(autouse=True)
def site() -> Iterator[None]:
    markup.configure(SITE)
    yield
    markup.configure("")


EXTERNAL = 'rel="nofollow ugc noopener"'

# Markdown in, HTML out (a post's rendering unless the kind says otherwise).
RENDERED = [
    ("plain words", "<p>plain words</p>\n"),
    ("one\ntwo", "<p>one<br>\ntwo</p>\n"),
    ("one\n\ntwo", "<p>one</p>\n<p>two</p>\n"),
    ("*em* and _em_", "<p><em>em</em> and <em>em</em></p>\n"),
    ("**strong**", "<p><strong>strong</strong></p>\n"),
    ("~~gone~~", "<p><s>gone</s></p>\n"),
    ("`x < y`", "<p><code>x &lt; y</code></p>\n"),
    ("```\nif a < b:\n```", "<pre><code>if a &lt; b:\n</code></pre>\n"),
    ("```python\nprint(1)\n```", "<pre><code>print(1)\n</code></pre>\n"),
    ("    indented", "<pre><code>indented\n</code></pre>\n"),
    ("> quoted", "<blockquote>\n<p>quoted</p>\n</blockquote>\n"),
    ("- a\n- b", "<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n"),
    ("3. c\n4. d", '<ol start="3">\n<li>c</li>\n<li>d</li>\n</ol>\n'),
    ("---", "<hr>\n"),
    ("# One", "<h2>One</h2>\n"),
    ("### Three", "<h4>Three</h4>\n"),
    ("###### Six", "<h6>Six</h6>\n"),
    (
        "[site](https://other.example/a)",
        f'<p><a href="https://other.example/a" {EXTERNAL}>site</a></p>\n',
    ),
    ("[here](/posts/1)", '<p><a href="/posts/1">here</a></p>\n'),
    (
        "[home](https://agora.example/posts/2)",
        '<p><a href="https://agora.example/posts/2">home</a></p>\n',
    ),
    ("[mail](mailto:a@b.example)", f'<p><a href="mailto:a@b.example" {EXTERNAL}>mail</a></p>\n'),
    (
        "see https://x.example/p?q=1",
        f'<p>see <a href="https://x.example/p?q=1" {EXTERNAL}>https://x.example/p?q=1</a></p>\n',
    ),
    ("example.com and a@b.example", "<p>example.com and a@b.example</p>\n"),
    ("ftp://files.example/x", "<p>ftp://files.example/x</p>\n"),
    (
        "![a cat](https://img.example/cat.png)",
        f'<p><a href="https://img.example/cat.png" {EXTERNAL}>a cat</a></p>\n',
    ),
    ("![local](/static/x.png)", '<p><a href="/static/x.png">local</a></p>\n'),
    ("![bad](javascript:alert(1))", "<p>bad</p>\n"),
    ("<b>bold</b>", "<p>&lt;b&gt;bold&lt;/b&gt;</p>\n"),
    ("<div>\nblock\n</div>", "<p>&lt;div&gt;<br>\nblock<br>\n&lt;/div&gt;</p>\n"),
    ("&amp; &lt;", "<p>&amp; &lt;</p>\n"),
    ("#python rocks", '<p><a href="/tags/python">#python</a> rocks</p>\n'),
    ("`#code` [#link](/x)", '<p><code>#code</code> <a href="/x">#link</a></p>\n'),
    ("\\#escaped", "<p>#escaped</p>\n"),
    ("a#b ##c", "<p>a#b ##c</p>\n"),
    ("#1st", "<p>#1st</p>\n"),
    ("#" + "a" * 50, f'<p><a href="/tags/{"a" * 50}">#{"a" * 50}</a></p>\n'),
    ("#" + "a" * 51, f"<p>#{'a' * 51}</p>\n"),
]


@pytest.mark.parametrize(("source", "expected"), RENDERED, ids=[s for s, _ in RENDERED])
def test_markdown_renders_as_expected(source: str, expected: str) -> None:
    assert markup.render(source, "post") == expected


def test_headings_in_comments_are_paragraphs() -> None:
    assert markup.render("# Big\n## Less", "comment") == "<p>Big</p>\n<p>Less</p>\n"


def test_mentions_link_existing_accounts_only() -> None:
    parsed = markup.parse("hi @Alice_1, @nobody_here and `@code` [@link](/x) mail@alice_1.example")
    assert parsed.mentions == ["alice_1", "nobody_here"]
    rendered = parsed.render({"alice_1": 7})
    assert rendered.html == (
        '<p>hi <a href="/users/7">@Alice_1</a>, @nobody_here and <code>@code</code> '
        '<a href="/x">@link</a> mail@alice_1.example</p>\n'
    )
    assert rendered.mentioned == [7]


def test_a_name_too_long_for_an_account_mentions_nobody() -> None:
    assert markup.parse("@" + "a" * 31).mentions == []
    assert markup.parse("@ab").mentions == []


TAGS = [
    ("#Python", "python"),
    ("#ＰＹＴＨＯＮ", "python"),  # full-width letters fold to ASCII
    ("#Straße", "strasse"),
    ("#cafe\u0301", "café"),  # a combining accent composes
    ("#עברית", "עברית"),  # right to left
    ("#हिन्दी", "हिन्दी"),  # vowel signs are marks inside the word
    ("#snake_case_2", "snake_case_2"),
    ("#tag\u200bnext", "tag"),  # a zero-width space ends the tag
    ("#\u200btag", None),
    ("#_under", None),
    ("#9lives", None),
    ("#\u202etag", None),  # a direction override is no letter
    ("#\ufb01sh", "fish"),  # a ligature unfolds
    ("#ΣΟΦΙΑ", "σοφια"),
    ("#مرحبا", "مرحبا"),  # right to left, Arabic
    ("#\U0001d400bold", "abold"),  # mathematical bold folds to plain
    ("#tag\u200dx", "tag"),  # a zero-width joiner ends the tag
    ("#ab\u200fcd", "ab"),  # so does a right-to-left mark
    ("#tag\ufe0f", "tag"),  # and a variation selector
    ("#\u0301tag", None),  # a combining mark cannot start one
    ("#\u2460x", None),  # a circled digit is a digit first
    ("#" + "ａ" * 51, None),  # 51 full-width letters: too long, once folded
    ("#" + "e\u0301" * 30, "é" * 30),  # 60 characters typed, 30 once composed
]


@pytest.mark.parametrize(("source", "tag"), TAGS)
def test_odd_unicode_tags_fold_or_are_not_tags(source: str, tag: str | None) -> None:
    assert markup.parse(source).tags == ([tag] if tag else [])


def test_fold_tag_checks_a_name() -> None:
    assert markup.fold_tag("Python") == "python"
    assert markup.fold_tag("ｐｙｔｈｏｎ") == "python"
    assert markup.fold_tag("") is None
    assert markup.fold_tag("1a") is None
    assert markup.fold_tag("a b") is None
    assert markup.fold_tag("a" * 51) is None
    assert markup.fold_tag("a" * 50) == "a" * 50


def test_a_posts_tags_are_the_first_ten_of_title_then_content() -> None:
    content = " ".join(f"#t{i}" for i in range(12)) + " #Title"
    parsed = markup.parse(content, "post")
    assert markup.post_tags("A #Title", parsed) == ["title"] + [f"t{i}" for i in range(9)]


def test_the_excerpt_is_the_text_without_markup() -> None:
    html = markup.render("# Head\n\n**Bold** [link](/x) `code` &amp;\n- one\n- two", "post")
    assert markup.excerpt(html) == "Head Bold link code & one two"
    long = markup.excerpt(markup.render("word " * 100))
    assert long.endswith("…") and 270 < len(long.removesuffix("…")) <= 280


# Each must render with no active content: no script, no event handler, no
# link to a scheme that runs code, nothing outside the allow-list.
XSS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<iframe src=javascript:alert(1)>",
    "<a href='javascript:alert(1)'>x</a>",
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](  javascript:alert(1))",
    "[x](<javascript:alert(1)>)",
    "[x](java\tscript:alert(1))",
    "[x](<java\nscript:alert(1)>)",
    "[x](&#106;avascript:alert(1))",
    "[x](&#x6A;&#x61;vascript:alert(1))",
    "[x](javascript&colon;alert(1))",
    "[x](jav&#x09;ascript:alert(1))",
    "[x](%6Aavascript:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](DATA:text/html,<script>alert(1)</script>)",
    "[x](vbscript:msgbox(1))",
    "[x](file:///etc/passwd)",
    "[x](\\\\evil.example)",
    "[x](/\\evil.example)",
    '[x](https://ok.example "title" onmouseover="alert(1)")',
    '[x](https://ok.example/"onmouseover="alert(1))',
    "![x](javascript:alert(1))",
    "![x](data:image/svg+xml,<svg onload=alert(1)>)",
    "<javascript:alert(1)>",
    "<vbscript:alert(1)>",
    "[x]: javascript:alert(1)\n\n[x]",
    "[x][r]\n\n[r]: data:text/html,hi",
    "https://ok.example/<script>alert(1)</script>",
    "https://ok.example/\"onmouseover='alert(1)'",
    "`<script>alert(1)</script>`",
    "```html\n<script>alert(1)</script>\n```",
    "<!-- <script>alert(1)</script> -->",
    "<style>body{display:none}</style>",
    "<details open ontoggle=alert(1)>",
    '<p style="background:url(javascript:alert(1))">x</p>',
    "@<script>alert(1)</script>",
    "#<img src=x onerror=alert(1)>",
    "[<img src=x onerror=alert(1)>](https://ok.example)",
    "[x](https://ok.example)<img src=x onerror=alert(1)>",
    "\u202e[x](javascript:alert(1))",
    "[x](\u200bjavascript:alert(1))",
    '<a href="&#1;javascript:alert(1)">x</a>',
    # Schemes hidden by case, entities, escapes, spaces and control characters.
    "[x](jAvAsCrIpT&colon;alert(1))",
    "[x](java&Tab;script:alert(1))",
    "[x](java&NewLine;script:alert(1))",
    "[x](&#0000106avascript:alert(1))",
    "[x](&#x6a&#x61&#x76&#x61script:alert(1))",
    "[x](\\u006Aavascript:alert(1))",
    "[x](javascript://%0aalert(1))",
    "[x](%20javascript:alert(1))",
    "[x](\u3000javascript:alert(1))",
    "[x](javascript\u2028:alert(1))",
    "[x](data&colon;text/html,x)",
    "[x](MAILTO:javascript:alert(1))",
    '<a href="javascript&#58;alert(1)">x</a>',
    '<a href="jav&#x0A;ascript:alert(1)">x</a>',
    "<a href='vbscript:msgbox(1)'>x</a>",
    # Targets that leave the site while looking like paths on it.
    "[x](//evil.example)",
    "[x](/\\/evil.example)",
    "[x](\\\\evil.example)",
    "[x](<//evil.example>)",
    "[x](///evil.example)",
    "[x](https:evil.example)",
    "[x](https:/\\evil.example)",
    "[x](https://agora.example@evil.example)",
    "[x](https://ok.example'onclick='alert(1))",
    # SVG, MathML and the elements that carry a target or run something.
    '<svg><a xlink:href="javascript:alert(1)">x</a></svg>',
    "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
    '<math href="javascript:alert(1)">x</math>',
    "<math><maction actiontype=statusline xlink:href=javascript:alert(1)>x</maction></math>",
    "<form action=javascript:alert(1)><button>x",
    "<base href=//evil.example>",
    '<meta http-equiv=refresh content="0;url=javascript:alert(1)">',
    "<object data=javascript:alert(1)>",
    "<embed src=javascript:alert(1)>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "<template><script>alert(1)</script></template>",
    '<x onclick="alert(1)">click</x>',
    "[x](https://ok.example) [y]: javascript:alert(1)",
]

# Control characters too: the fields refuse them (a 422), but the renderer
# must hold without that.
RENDERED_ONLY = ["[x](\x01javascript:alert(1))", "[x](\x00javascript:alert(1))"]

ALLOWED_ELEMENT = re.compile(
    r"</?(p|br|strong|em|s|del|code|pre|blockquote|ul|ol|li|a|hr|h[2-6])( [^<>]*)?>"
)


@pytest.mark.parametrize("source", XSS + RENDERED_ONLY)
@pytest.mark.parametrize("kind", ["post", "comment"])
def test_hostile_markdown_renders_inert(source: str, kind: markup.Kind) -> None:
    html = markup.parse(source, kind).render({"script": 1}).html
    for element in re.findall(r"<[^>]*>", html):
        assert ALLOWED_ELEMENT.fullmatch(element), element
        for name, value in re.findall(r'\s([a-z-]+)="([^"]*)"', element):
            assert name in ("href", "rel", "start"), element
            if name == "href":
                assert markup.link_target(value) is not None, element
                assert browser_scheme(value) in (None, "http", "https", "mailto"), element
    lowered = html.lower()
    assert "<script" not in lowered


def browser_scheme(href: str) -> str | None:
    """The scheme a browser reads in an attribute's value: entities decoded,
    C0 controls and spaces around it dropped, tabs and line breaks anywhere
    removed (the URL standard's parser), then letters, digits, `+-.` up to `:`."""
    url = html_module.unescape(href).strip(
        "\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b\x0c\r"
        "\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18"
        "\x19\x1a\x1b\x1c\x1d\x1e\x1f "
    )
    url = re.sub(r"[\t\n\r]", "", url)
    found = re.match(r"([a-zA-Z][a-zA-Z0-9+.\-]*):", url)
    return found.group(1).lower() if found else None


def test_the_second_wall_removes_what_the_parser_would_let_through() -> None:
    dirty = (
        '<p onclick="x()">a<script>b()</script><a href="javascript:c()">c</a>'
        '<a href="https://ok.example" rel="opener">d</a><img src=x></p>'
    )
    assert markup.sanitize(dirty) == '<p>a<a>c</a><a href="https://ok.example">d</a></p>'


def test_link_targets() -> None:
    assert markup.link_target("/posts/1") == "internal"
    assert markup.link_target("#top") == "internal"
    assert markup.link_target("https://agora.example/x") == "internal"
    assert markup.link_target("https://agora.example:8443/x") == "external"
    assert markup.link_target("//other.example/x") == "external"
    assert markup.link_target("HTTP://other.example") == "external"
    assert markup.link_target("javascript:alert(1)") is None
    assert markup.link_target("http:alert(1)") is None
    assert markup.link_target("/\\evil.example") is None
    # Another site's address written as a path: a link to that site, with its rel.
    assert markup.link_target("//agora.example/x") == "external"
    assert markup.link_target("///evil.example") is None
    assert markup.link_target("\\\\evil.example") is None
    assert markup.link_target("https://agora.example@evil.example") == "external"
    assert markup.link_target("https://agora.example.evil.example") == "external"


@pytest.mark.parametrize(
    "source",
    ["[x](//evil.example)", "[x](/\\/evil.example)", "[x](<//evil.example>)"],
)
def test_a_protocol_relative_target_is_another_site(source: str) -> None:
    assert markup.render(source) == f'<p><a href="//evil.example" {EXTERNAL}>x</a></p>\n'


@pytest.mark.parametrize("source", ["[x](\\\\evil.example)", "[x](/\\evil.example)"])
def test_a_backslash_never_makes_a_target_another_site(source: str) -> None:
    html = markup.render(source)
    # The backslash is escaped into the path: the browser stays on this site.
    assert "evil.example" in html and "rel=" not in html
    href = re.search(r'href="([^"]*)"', html)
    assert href is None or (href.group(1).startswith(("%5C", "/%5C")))


# The inputs known to make Markdown parsers slow.
PATHOLOGICAL = {
    "10,000 >": ">" * 10_000,
    "10,000 > and spaces": "> " * 10_000,
    "10,000 [": "[" * 10_000,
    "10,000 ![": "![" * 10_000,
    "20,000 *": "*" * 20_000,
    "20,000 _": "_" * 20_000,
    "20,000 `": "`" * 20_000,
    "deep list": "".join("  " * depth + "- x\n" for depth in range(130)),  # 17,000 characters
    "10,000 nested list markers": "- " * 10_000,
    "10,000 ordered markers": "1. " * 6_000,
    "quotes on lines": ">\n" * 10_000,
    "20,000 #": "#" * 20_000,
    "20,000 ~": "~" * 20_000,
    "2,500 <http://": "<http://" * 2_500,
    "4,000 [a](": "[a](" * 4_000,
    "5,000 [![": "[![" * 5_000,
    "10,000 *a": "*a" * 10_000,
    "10,000 _a": "_a" * 10_000,
    "6,600 ~~a": "~~a" * 6_600,
    "20,000 &": "&" * 20_000,
    "20,000 <": "<" * 20_000,
    "1,600 bare addresses": "http://a.io " * 1_600,
    "6,000 tags": "#t " * 6_000,
    "1,800 different mentions": " ".join(f"@user{n:05d}" for n in range(1_800)),
    "1,400 mailto links": "[a](mailto:x) " * 1_400,
    "2,900 entities": "&amp; " * 2_900,
    "1,000 strong words": "**a** " * 1_000,
}


def test_paragraphs_past_the_markup_budget_show_their_plain_words() -> None:
    """A text whose markup would cost the parser too much keeps the formatting
    of its first paragraphs and shows the rest as words: escaped, line breaks
    kept, no links, mentions or tags."""
    source = "*first* @alice\n\n" + "*a*" * 2_000 + "\n<b>@bob #tag http://x.io</b>"
    parsed = markup.parse(source, "post")
    rendered = parsed.render({"alice": 1, "bob": 2})
    assert rendered.html.startswith('<p><em>first</em> <a href="/users/1">@alice</a></p>')
    assert "*a**a*" in rendered.html
    assert "<br>\n&lt;b&gt;@bob #tag http://x.io&lt;/b&gt;</p>" in rendered.html
    assert rendered.html.count("<a ") == 1
    assert parsed.mentions == ["alice"] and parsed.tags == []
    assert rendered.mentioned == [1]


def calls_while(work: Callable[[], object]) -> int:
    """How many functions, Python's and C's, `work` calls: a count of the work
    that is the same on a busy machine as on a quiet one."""
    calls = 0

    def count(frame: FrameType, event: str, arg: object) -> None:
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    sys.setprofile(count)
    try:
        work()
    finally:
        sys.setprofile(None)
    return calls


@pytest.mark.parametrize("source", PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_pathological_inputs_cost_a_few_calls_per_character(source: str) -> None:
    """The work of rendering grows with the text, not with its square: at most
    8 calls for each of its up to 20,000 characters, where a parser that
    backtracks or rescans makes millions. (What one C call does inside, a
    regular expression's or the sanitizer's, is not counted.)"""
    calls = calls_while(lambda: markup.parse(source, "post").render({}))
    assert calls <= 8 * len(source), f"{calls} calls for {len(source)} characters"


# Texts with no markup at all, which `parse` renders without the parser, and
# texts one character away from that, which it must leave to the parser.
PLAIN = [
    "plain words",
    "Written through the API by the benchmark.",
    "It's (nearly) done: see you at 5, or 6; ok?",
    "A - b -- c",
    "e-mail me, x",
    "Word -",
    "Ab  cd",
    "A 1. b",
    "Z)",
    "a",
]
NEARLY_PLAIN = [
    "- a",
    "1. first",
    "2) second",
    "# heading",
    "plain ",
    " plain",
    "one\ntwo",
    "say @alice",
    "a #tag",
    "see http://x.io",
    "a *b*",
    'a "quote"',
    "a & b",
    "é and more",
    "a\tb",
    "",
]


@pytest.mark.parametrize("source", PLAIN + NEARLY_PLAIN)
@pytest.mark.parametrize("kind", ["post", "comment"])
def test_a_text_without_markup_renders_as_the_parser_renders_it(source: str, kind: str) -> None:
    fast = markup.parse(source, kind)  # type: ignore[arg-type]
    parsed = markup.parse_markdown(source, kind)  # type: ignore[arg-type]
    assert (fast.plain is not None) == (source in PLAIN)
    users = {"alice": 1}
    assert fast.render(users) == parsed.render(users)
    assert (fast.mentions, fast.tags) == (parsed.mentions, parsed.tags)


def test_random_texts_render_alike_with_and_without_the_parser() -> None:
    """Texts drawn from the characters a plain text may hold, and a few that
    start markup: whichever `parse` takes, the HTML, the excerpt, the
    mentions and the tags are the parser's."""
    rng = random.Random(24)
    plain_alphabet = "aZ09 ,.;:?'()-"
    alphabet = plain_alphabet * 4 + '\n#@*_`<>&!/[]~\\"é\t'
    plain = 0
    for number in range(3_000):
        # Every other text from the plain characters alone, to reach the fast way.
        drawn_from = plain_alphabet if number % 2 else alphabet
        source = "".join(rng.choice(drawn_from) for _ in range(rng.randint(1, 40)))
        fast = markup.parse(source, "post")
        plain += fast.plain is not None
        parsed = markup.parse_markdown(source, "post")
        assert fast.render({}) == parsed.render({}), repr(source)
        assert (fast.mentions, fast.tags) == (parsed.mentions, parsed.tags), repr(source)
    assert plain > 150  # the fast way was taken often enough to be tested


# The fast way, tried on many generated texts: pieces of plain words and of
# what starts, ends or breaks markup (blocks, inline marks, entities,
# addresses, mentions, tags, odd spaces and characters), and the texts the
# fast way takes, with such a piece put in anywhere.
EDGES = [
    " ", "  ", "    ", "\t", "\n", "\r", "\r\n", "\x00", "\u00a0", "\u2028", "\u200b",
    "&", "&amp;", "&#35;", "&copy", "<", ">", "<b>", "*", "**", "_", "__", "`", "~~",
    "\\", "!", "[", "]", "](", "\"", "'", "(", ")", ":", "//", "#", "# ", "## ", "#tag",
    "@alice", "@al", "a@b.co", "1.", "1. ", "1)", "12) ", "9.", "-", "- ", "+ ", "> ",
    "=", "===", "---", "***", "___", "http://x.io", "https://agora.example/p",
    "www.example.com", "mailto:a@b.co", "é", "日本語", "𝐀", "\u0301", "\ufeff",
]  # fmt: skip
PLAIN_WORDS = st.from_regex(markup._PLAIN, fullmatch=True)
PIECES = st.one_of(
    st.sampled_from(EDGES),
    PLAIN_WORDS,
    st.text(st.sampled_from("aZ09 ,.;:?'()-"), min_size=1, max_size=6),
    st.text(max_size=3),
)
TEXTS = st.one_of(
    st.lists(PIECES, max_size=8).map("".join),
    st.tuples(PLAIN_WORDS, st.sampled_from(EDGES), st.integers(min_value=0)).map(
        lambda drawn: drawn[0][: drawn[2] % 41] + drawn[1] + drawn[0][drawn[2] % 41 :]
    ),
)
MANY = settings(
    max_examples=600,
    deadline=None,
    database=None,  # each run explores afresh
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def _the_parsers(source: str, kind: markup.Kind) -> markup.Rendered:
    return markup.parse_markdown(source, kind).render({"alice": 1})


@MANY
@given(source=TEXTS, kind=st.sampled_from(["post", "comment"]))
def test_the_fast_way_takes_only_texts_it_renders_as_the_parser_does(
    source: str, kind: markup.Kind
) -> None:
    plain = markup.plain_html(source)
    if plain is None:
        return
    rendered = _the_parsers(source, kind)
    assert plain == rendered.html
    assert markup.plain_excerpt(plain) == rendered.excerpt
    parsed = markup.parse_markdown(source, kind)
    assert (parsed.mentions, parsed.tags, rendered.mentioned) == ([], [], [])


@MANY
@given(source=PLAIN_WORDS, kind=st.sampled_from(["post", "comment"]))
def test_the_fast_way_takes_every_plain_text(source: str, kind: markup.Kind) -> None:
    plain = markup.plain_html(source)
    assert plain is not None
    assert markup.parse(source, kind).render() == _the_parsers(source, kind)


@pytest.mark.parametrize(
    "source",
    [
        " a", "a ", "\ta", "    a", "1. a", "1) a", "- a", "+ a", "> a", "# a", "a\n===",
        "a\n---", "a\nb", "a\rb", "a\x00", "a & b", "a < b", "a *b*", "a _b_", "a `b`",
        "see http://x.io", "mail a@b.co", "hi @alice", "a #tag", "caf\u00e9",
    ],
)  # fmt: skip
def test_the_fast_way_leaves_every_text_with_markup_to_the_parser(source: str) -> None:
    assert markup.plain_html(source) is None


@MANY
@given(title=TEXTS)
def test_a_titles_tags_are_found_without_a_search_when_it_holds_no_hash(title: str) -> None:
    assert markup.title_tags(title) == [tag for _, _, tag in markup.tags_in_text(title)]


async def _marked_by_the_parser(title: str, content: str) -> posts.Marked:
    parsed = markup.parse_markdown(content, "post")
    rendered = parsed.render({})
    tags = markup.post_tags(title, parsed)
    return posts.Marked(rendered.html, rendered.excerpt, tags, rendered.mentioned)


@MANY
@given(title=TEXTS, content=st.one_of(PLAIN_WORDS, TEXTS.filter(lambda text: "@" not in text)))
def test_a_new_posts_html_excerpt_and_tags_are_the_parsers_whichever_way(
    title: str, content: str
) -> None:
    """`mark_up` of a post without markup makes its HTML, excerpt and tags
    without the parser; any other (that mentions nobody: no account to look
    up) is the parser's own."""

    async def both_ways() -> tuple[posts.Marked, posts.Marked]:
        made = await posts.mark_up(None, title, content)  # type: ignore[arg-type]  # no names
        return made, await _marked_by_the_parser(title, content)

    # On a loop of its own: after a browser test, Playwright's sync API keeps
    # one running in this thread, where `asyncio.run` refuses to start.
    made, parsed = on_own_loop(both_ways())
    assert made == parsed

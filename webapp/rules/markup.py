"""Markdown in, safe HTML out: the one place text becomes a page's markup.

Posts, comments and bios are CommonMark, with strikethrough, bare
`http(s)://` addresses as links, and a single line break kept as a line break.
Raw HTML shows as text. A link keeps its target only when it is `http:`,
`https:`, `mailto:` or a path on this site (else its words show as text); an
image becomes a link with its alt text, or the alt text alone. Links to other
sites carry `rel="nofollow ugc noopener"`. `@username` of an existing account
links to the profile, `#tag` to the tag's page, neither inside code or a link.
Then nh3 cleans the result against an allow-list, a second wall should the
parser ever let something through.

Text is rendered when it is written, never when it is read: `parse` finds the
names a text mentions (the caller looks them up, in the same round trip as its
other reads), and `Parsed.render` makes the HTML and its plain-text excerpt.
"""

from __future__ import annotations

import bisect
import html
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlsplit

# markdown-it, linkify-it and nh3 are imported when the first text is parsed
# (`_parsers`): a text is rendered when it is written, and a worker that only
# serves pages, which show the HTML kept then, never loads them (3 MB).
if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.renderer import RendererHTML
    from markdown_it.rules_core import StateCore
    from markdown_it.rules_inline import StateInline
    from markdown_it.token import Token
    from markdown_it.utils import EnvType, OptionsDict

    InlineRule = Callable[[StateInline, bool], bool]

Kind = Literal["post", "comment"]  # a bio renders as a comment

TAG_MAX = 50
TAGS_PER_POST = 10
EXCERPT_MAX = 280
ELLIPSIS = "…"
EXTERNAL_REL = "nofollow ugc noopener"
# Block quotes and lists nest at most this deep (markdown-it's own limit on
# the depth of its token tree); deeper markers are text. It bounds the work
# of inputs such as 10,000 `>` in a row.
MAX_NESTING = 20
# A text's inline content may cost the parser this much: one for each
# character that may start markup (emphasis, links, code, entities, escapes,
# autolinks), more for each `://`, `@` and `#`, which may become links. The
# paragraphs past it show as their plain words, with no links. Each unit is a
# few microseconds: 10,000 `*a` in a row took 100 ms, 6,000 `#t` 90 ms; no
# text written for people comes near the budget.
MARKUP_BUDGET = 2_000

# `@name` after a start, a space or a punctuation mark that is not part of a
# name or an address (an email's `bob@example.com` mentions nobody), and not
# running on into a longer name.
MENTION = re.compile(r"(?<![\w@/.+-])@([A-Za-z0-9_]{3,30})(?![\w@])")
# `#` and a run of word characters (letters, digits, `_`, and the marks that
# letters of many scripts carry), not after a word character or another `#`
# (`a#b`, `##b` and `&#1;` hold no tag).
TAG_RUN = re.compile(
    r"(?<![\w#&/])#((?:\w|[\u0300-\u036f\u0900-\u0dff\u1ab0-\u1aff\u20d0-\u20ff])+)"
)
SCHEME = re.compile(r"([a-z][a-z0-9+.\-]*):")
SAFE_SCHEMES = frozenset({"http", "https", "mailto"})


# --- tags ---------------------------------------------------------------------


def _is_tag_character(char: str) -> bool:
    return char == "_" or char.isalnum() or unicodedata.category(char) in ("Mn", "Mc")


def fold_tag(name: str) -> str | None:
    """The tag a name stands for (NFKC-normalized, case-folded), or None when
    it cannot be one: 1 to 50 letters, digits or `_`, starting with a letter."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    if not 0 < len(folded) <= TAG_MAX:
        return None
    if not unicodedata.category(folded[0]).startswith("L"):
        return None
    if not all(_is_tag_character(char) for char in folded):
        return None
    return folded


def tags_in_text(text: str) -> list[tuple[int, int, str]]:
    """The `#tag`s of plain text: (start, end, folded tag) of each."""
    found = []
    for match in TAG_RUN.finditer(text):
        tag = fold_tag(match.group(1))
        if tag is not None:
            found.append((match.start(), match.end(), tag))
    return found


def tag_path(tag: str) -> str:
    return "/tags/" + quote(tag, safe="")


def first_tags(tags: Iterable[str], limit: int = TAGS_PER_POST) -> list[str]:
    """The first `limit` distinct tags, in order."""
    kept: list[str] = []
    for tag in tags:
        if tag not in kept:
            kept.append(tag)
            if len(kept) == limit:
                break
    return kept


# --- links --------------------------------------------------------------------

_site_origin = ""


def configure(site_url: str) -> None:
    """The site's own address: absolute links to it are links on this site."""
    global _site_origin
    _site_origin = _origin(site_url)


def _origin(url: str) -> str:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    port = parts.port
    default = 443 if parts.scheme == "https" else 80
    host = parts.hostname
    return f"{parts.scheme}://{host}" + ("" if port in (None, default) else f":{port}")


def link_target(href: str) -> Literal["internal", "external"] | None:
    """Where a link goes: this site, another one, or nowhere it may go (None)."""
    if not href or "\\" in href:
        return None
    if any(unicodedata.category(char) in ("Cc", "Cf", "Zs", "Zl", "Zp") for char in href):
        return None
    scheme = SCHEME.match(href.lower())
    if scheme is not None:
        name = scheme.group(1)
        if name not in SAFE_SCHEMES:
            return None
        if name == "mailto":
            return "external"
        try:
            origin = _origin(href)
        except ValueError:
            return None
        if not origin:
            return None
        return "internal" if origin == _site_origin else "external"
    if href.startswith("//"):
        try:
            host = urlsplit("http:" + href).hostname
        except ValueError:
            return None
        return "external" if host else None
    return "internal"  # a path, a query or a fragment on this site


# --- the parser -----------------------------------------------------------------


def _validate_link(url: str) -> bool:
    """Every target is taken in by the parser and judged after it (`_safe_links`):
    a refused link keeps its words, a refused image its alt text."""
    return True


_MARKS = "!&*_[]\\`<~"


def _cost(content: str) -> int:
    marks = sum(content.count(mark) for mark in _MARKS)
    links = content.count("://") + content.count("](")
    return marks + 10 * links + 5 * (content.count("@") + content.count("#"))


def _inline_within_budget(state: StateCore) -> None:
    """markdown-it's `inline` rule, parsing each paragraph's content while
    the text's `MARKUP_BUDGET` lasts, and keeping only the words (line breaks
    still breaks) of those past it."""
    from markdown_it.token import Token

    budget = MARKUP_BUDGET
    for block in state.tokens:
        if block.type != "inline":
            continue
        block.children = []
        budget -= _cost(block.content)
        if budget >= 0:
            state.md.inline.parse(block.content, state.md, state.env, block.children)
            continue
        for number, line in enumerate(block.content.split("\n")):
            if number:
                block.children.append(Token("softbreak", "br", 0, level=block.level + 1))
            block.children.append(Token("words", "", 0, level=block.level + 1, content=line))


def _render_words(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return html.escape(tokens[idx].content, quote=False)


def _mentions_and_tags(state: StateCore) -> None:
    """`@name` and `#tag` in the text of inline content, outside code and links."""
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        children: list[Token] = []
        in_link = 0
        for token in block.children:
            if token.type == "link_open":
                in_link += 1
            elif token.type == "link_close":
                in_link -= 1
            if (
                token.type != "text"
                or in_link
                or not ("@" in token.content or "#" in token.content)
            ):
                children.append(token)
                continue
            children.extend(_split_text(token))
        block.children = children


def _split_text(token: Token) -> list[Token]:
    from markdown_it.token import Token

    text = token.content
    found: list[tuple[int, int, str, str]] = [
        (start, end, "tag", tag) for start, end, tag in tags_in_text(text)
    ]
    found += [(m.start(), m.end(), "mention", m.group(1)) for m in MENTION.finditer(text)]
    if not found:
        return [token]
    found.sort()
    pieces: list[Token] = []
    position = 0
    for start, end, kind, value in found:
        if start < position:
            continue
        if start > position:
            pieces.append(_text(text[position:start], token.level))
        if kind == "tag":
            opening = Token("link_open", "a", 1, level=token.level, attrs={"href": tag_path(value)})
            opening.meta = {"tag": value}
            closing = Token("link_close", "a", -1, level=token.level)
            pieces += [opening, _text(text[start:end], token.level + 1), closing]
        else:
            mention = Token("mention", "", 0, level=token.level, content=text[start:end])
            mention.meta = {"name": value.lower()}
            pieces.append(mention)
        position = end
    if position < len(text):
        pieces.append(_text(text[position:], token.level))
    return pieces


def _text(content: str, level: int) -> Token:
    from markdown_it.token import Token

    return Token("text", "", 0, level=level, content=content)


def _safe_links(state: StateCore) -> None:
    """Links only to where they may go, `rel` on those to other sites; images
    as links with their alt text, or the alt text alone."""
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        children: list[Token] = []
        refused: list[bool] = []  # for each link open here: whether it was refused
        for token in block.children:
            if token.type == "link_open":
                href = str(token.attrGet("href") or "")
                where = link_target(href)
                refused.append(where is None or any(refused))
                if refused[-1]:
                    continue
                if where == "external":
                    token.attrSet("rel", EXTERNAL_REL)
            elif token.type == "link_close":
                if refused.pop() if refused else True:
                    continue
            elif token.type == "image":
                children.extend(_image(state, token, inside_link=bool(refused)))
                continue
            children.append(token)
        block.children = children


_AS_TEXT: list[RendererHTML] = []  # made with the parsers


def _image(state: StateCore, token: Token, *, inside_link: bool) -> list[Token]:
    from markdown_it.token import Token

    alt = _AS_TEXT[0].renderInlineAsText(token.children or [], state.md.options, state.env)
    src = str(token.attrGet("src") or "")
    where = link_target(src)
    if where is None or inside_link:
        return [_text(alt, token.level)] if alt else []
    opening = Token("link_open", "a", 1, level=token.level, attrs={"href": src})
    if where == "external":
        opening.attrSet("rel", EXTERNAL_REL)
    words = _text(alt or src, token.level + 1)
    return [opening, words, Token("link_close", "a", -1, level=token.level)]


# The characters at which one of the enabled inline rules may start (a line
# break, `!` images, `&` entities, emphasis, links, escapes, code spans,
# autolinks, strikethrough, and `:` of a bare address): every other character
# is text. markdown-it's own text rule also stops at `#`, `@`, `$`, `-`, `+`,
# `=` and more, for plugins this parser does not have, and so tried every
# inline rule at each of 20,000 `#`.
_PLAIN_RUN = re.compile(r"[^\n!&*_\[\]\\`<~:]+")


def _plain_text(state: StateInline, silent: bool) -> bool:
    run = _PLAIN_RUN.match(state.src, state.pos, state.posMax)
    if run is None:
        return False
    if not silent:
        state.pending += run.group()
    state.pos = run.end()
    return True


def _following(state: StateInline, char: str) -> bool:
    """Whether `char` occurs between the rule's position and its end: found
    by bisection in the positions of that character, listed once a text."""
    marks: dict[str, list[int]] | None = getattr(state, "agora_marks", None)
    if marks is None or getattr(state, "agora_marked", None) is not state.src:
        marks = {}
        state.agora_marks = marks  # type: ignore[attr-defined]  # our mark on the state
        state.agora_marked = state.src  # type: ignore[attr-defined]
    if char not in marks:
        marks[char] = [i for i, found in enumerate(state.src) if found == char]
    places = marks[char]
    following = bisect.bisect_right(places, state.pos)
    return following < len(places) and places[following] < state.posMax


def _needs_a_close(rule: InlineRule) -> InlineRule:
    """A link or image rule that does not start where no `]` follows: its
    label could never end, and looking for the end from each of thousands of
    `[` costs seconds. Nor, in a text that defines no references, where no `)`
    follows: an inline link's target could never end, and each `](` would
    look for it to the end of the text."""

    def guarded(state: StateInline, silent: bool) -> bool:
        if state.src[state.pos] not in "![":
            return False
        if not _following(state, "]"):
            return False
        if not state.env.get("references") and not _following(state, ")"):
            return False
        return rule(state, silent)

    return guarded


# The schemes that become links, as linkify finds them (`_parser`).
_SCHEME_AT_END = re.compile(r"(?:^|[^a-z0-9.+-])(https?)$", re.IGNORECASE)
# The longest bare address looked for: a longer one is linked up to here.
_LONGEST_ADDRESS = 2_048


def _linkify(state: StateInline, silent: bool) -> bool:
    """markdown-it's rule for bare addresses, looking only as far as it needs:
    its own searched the whole text before each `://` for the scheme, and
    copied the whole text after it, so 3,000 `<http://` took a second."""
    pos, maximum = state.pos, state.posMax
    if state.linkLevel > 0 or pos + 3 > maximum or state.src[pos : pos + 3] != "://":
        return False
    scheme = _SCHEME_AT_END.search(state.pending[-7:])
    if scheme is None:
        return False
    proto = scheme.group(1)
    start = pos - len(proto)
    linkify = state.md.linkify
    assert linkify is not None  # set by `_parser`
    found = linkify.match_at_start(state.src[start : start + _LONGEST_ADDRESS])
    if not found:
        return False
    url = found.url.rstrip("*")  # a `*` at the end is emphasis
    full_url = state.md.normalizeLink(url)
    if not state.md.validateLink(full_url):
        return False
    if not silent:
        state.pending = state.pending[: -len(proto)]
        token = state.push("link_open", "a", 1)
        token.attrs = {"href": full_url}
        token.markup = "linkify"
        token.info = "auto"
        token = state.push("text", "", 0)
        token.content = state.md.normalizeLinkText(url)
        token = state.push("link_close", "a", -1)
        token.markup = "linkify"
        token.info = "auto"
    state.pos += len(url) - len(proto)
    return True


def _render_mention(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    user_id = env.get("users", {}).get(token.meta["name"])
    words = html.escape(token.content, quote=False)
    if user_id is None:
        return words
    return f'<a href="/users/{int(user_id)}">{words}</a>'


def _heading_below(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    level = min(int(token.tag[1]) + 1, 6)
    return f"<h{level}>" if token.nesting == 1 else f"</h{level}>\n"


def _heading_as_paragraph(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return "<p>" if tokens[idx].nesting == 1 else "</p>\n"


def _parser(kind: Kind) -> MarkdownIt:
    from linkify_it import LinkifyIt
    from markdown_it import MarkdownIt
    from markdown_it.rules_inline.image import image
    from markdown_it.rules_inline.link import link

    md = MarkdownIt(
        "commonmark",
        {"html": False, "breaks": True, "linkify": True, "maxNesting": MAX_NESTING},
    )
    md.enable(["strikethrough", "linkify"])
    # Bare http(s) addresses only: no `example.com` without a scheme, no emails.
    md.linkify = LinkifyIt({"ftp:": None, "//": None, "mailto:": None}).set(
        {"fuzzy_link": False, "fuzzy_email": False, "fuzzy_ip": False}
    )
    md.validateLink = _validate_link  # type: ignore[method-assign]  # judged in _safe_links
    md.inline.ruler.at("text", _plain_text)
    md.inline.ruler.at("link", _needs_a_close(link))
    md.inline.ruler.at("image", _needs_a_close(image))
    md.inline.ruler.at("linkify", _linkify)
    md.core.ruler.at("inline", _inline_within_budget)
    md.core.ruler.after("linkify", "mentions_and_tags", _mentions_and_tags)
    md.core.ruler.after("mentions_and_tags", "safe_links", _safe_links)
    md.add_render_rule("mention", _render_mention)
    md.add_render_rule("words", _render_words)
    heading = _heading_below if kind == "post" else _heading_as_paragraph
    md.add_render_rule("heading_open", heading)
    md.add_render_rule("heading_close", heading)
    return md


_PARSERS: dict[Kind, MarkdownIt] = {}


def _parsers() -> dict[Kind, MarkdownIt]:
    """The two parsers, made at the first text (on one event loop's thread,
    or the migration's: made twice at worst, never half)."""
    if not _PARSERS:
        from markdown_it.renderer import RendererHTML

        made: dict[Kind, MarkdownIt] = {"post": _parser("post"), "comment": _parser("comment")}
        _AS_TEXT[:] = [RendererHTML()]
        _PARSERS.update(made)
    return _PARSERS


# --- the second wall --------------------------------------------------------------

ALLOWED_TAGS = frozenset(
    {
        "p", "br", "strong", "em", "s", "del", "code", "pre", "blockquote",
        "ul", "ol", "li", "a", "hr", "h2", "h3", "h4", "h5", "h6",
    }
)  # fmt: skip


def sanitize(markup: str) -> str:
    """Keep only the allow-listed elements and attributes, links of safe schemes."""
    import nh3

    return nh3.clean(
        markup,
        tags=set(ALLOWED_TAGS),
        clean_content_tags={"script", "style"},
        attributes={"a": {"href"}, "ol": {"start"}},
        tag_attribute_values={"a": {"rel": {EXTERNAL_REL}}},
        url_schemes=set(SAFE_SCHEMES),
        link_rel=None,
        strip_comments=True,
    )


# --- what callers use ---------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    html: str
    excerpt: str
    mentioned: list[int] = field(default_factory=list)  # account ids, first mention first


@dataclass(frozen=True)
class Parsed:
    """A text parsed once: the names it mentions, its tags, and its HTML to come
    (`plain`: the HTML of a text without any markup, made without a parser)."""

    kind: Kind
    tokens: list[Token]
    env: dict[str, Any]
    plain: str | None = None

    @property
    def mentions(self) -> list[str]:
        """The names `@`-mentioned (lower case, first mention first, once each)."""
        names: dict[str, None] = {}
        for token in _inline_tokens(self.tokens):
            if token.type == "mention":
                names[token.meta["name"]] = None
        return list(names)

    @property
    def tags(self) -> list[str]:
        """Every `#tag` of the text, in order (with repeats)."""
        return [
            token.meta["tag"]
            for token in _inline_tokens(self.tokens)
            if token.type == "link_open" and token.meta and "tag" in token.meta
        ]

    def render(self, users: Mapping[str, int] | None = None) -> Rendered:
        """The sanitized HTML, with `users` (lower-case name → id) the accounts
        that exist among `mentions`."""
        if self.plain is not None:
            return Rendered(self.plain, plain_excerpt(self.plain))
        known = dict(users or {})
        md = _parsers()[self.kind]
        markup = sanitize(md.renderer.render(self.tokens, md.options, {**self.env, "users": known}))
        mentioned = [known[name] for name in self.mentions if name in known]
        return Rendered(markup, excerpt(markup), mentioned)


def _inline_tokens(tokens: list[Token]) -> Iterable[Token]:
    for block in tokens:
        if block.type == "inline" and block.children:
            yield from block.children


# A text that is one line of ASCII words, spaces and the commonest punctuation,
# beginning with a letter and ending with no space: nothing in it can start a
# block (a list's `-` or `1.`, a heading's `#`, a quote's `>`, code's
# indent), inline markup (`*_~`[]!<&\`), an address (`://`), a mention or a
# tag, and none of its characters is escaped in HTML. Its HTML is the one
# paragraph of its characters, as the parser and the sanitizer make it
# (tests/test_markup.py holds the two against each other), and most short
# posts and comments are such a text.
_PLAIN = re.compile(r"[A-Za-z](?:[A-Za-z0-9 ,.;:?'()-]*[A-Za-z0-9,.;:?'()-])?")


def plain_html(source: str) -> str | None:
    """The HTML of a text without any markup (`_PLAIN`), made without the
    parser; None for any other text."""
    if _PLAIN.fullmatch(source) is None:
        return None
    return f"<p>{source}</p>\n"


def parse(source: str, kind: Kind = "comment") -> Parsed:
    plain = plain_html(source)
    if plain is not None:
        return Parsed(kind, [], {}, plain=plain)
    return parse_markdown(source, kind)


def parse_markdown(source: str, kind: Kind = "comment") -> Parsed:
    """`parse` by the parser itself, whatever the text."""
    env: dict[str, Any] = {}
    return Parsed(kind, _parsers()[kind].parse(source, env), env)


def render(source: str, kind: Kind = "comment", users: Mapping[str, int] | None = None) -> str:
    """The sanitized HTML of a text (with `users`, the accounts its mentions name)."""
    return parse(source, kind).render(users).html


# Elements that end a line of text, so that their words do not run together.
_BLOCK_ENDS = re.compile(r"<(?:br|/p|/h\d|/li|/pre|/blockquote|hr)\b[^>]*>")
_ELEMENT = re.compile(r"<[^>]*>")
_WORD = re.compile(r"\S+")


def excerpt(markup: str, limit: int = EXCERPT_MAX) -> str:
    """The words of rendered HTML without the markup: at most `limit`
    characters, and an ellipsis when cut."""
    text = _ELEMENT.sub("", _BLOCK_ENDS.sub(" ", markup))
    # Entities hold no whitespace: unescaping word by word, only as far as the
    # excerpt goes, spares a text of 20,000 `&amp;` most of the work.
    words: list[str] = []
    length = -1
    for found in _WORD.finditer(text):
        for word in html.unescape(found.group()).split():
            words.append(word)
            length += len(word) + 1
        if length > limit:
            break
    joined = " ".join(words)
    if len(joined) <= limit:
        return joined
    return joined[:limit].rstrip() + ELLIPSIS


def plain_excerpt(markup: str, limit: int = EXCERPT_MAX) -> str:
    """`excerpt` of a plain text's HTML (`plain_html`: `<p>TEXT</p>\n`,
    TEXT holding no markup, entity nor character that HTML escapes): its
    words, without the element tags, regular expressions nor unescaping."""
    joined = " ".join(markup[3:-5].split())
    if len(joined) <= limit:
        return joined
    return joined[:limit].rstrip() + ELLIPSIS


def title_tags(title: str) -> list[str]:
    """The `#tag`s of a title, in order (with repeats): none without a `#`,
    which most titles hold none of."""
    if "#" not in title:
        return []
    return [tag for _, _, tag in tags_in_text(title)]


def post_tags(title: str, parsed: Parsed) -> list[str]:
    """A post's tags: those of its title, then of its content, the first 10."""
    return first_tags(title_tags(title) + parsed.tags)

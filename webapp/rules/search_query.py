"""What a person typed into a search box, understood once: words, quoted
phrases, `-exclusions`, `OR`, `#tag` and `@name`, and the same query written
in each database's own language.

The words kept are runs of letters, digits and marks only, so nothing a person
types can reach either database as query syntax: PostgreSQL is handed a
`websearch_to_tsquery` text rebuilt from them, and SQLite an FTS5 expression in
which every term is quoted here. Anything else (unbalanced quotes, a lone `-` or
`OR`, operators, control characters, lone surrogates) is a separator or is
dropped: a malformed query matches what it can, or nothing, and never fails.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from markupsafe import Markup, escape

from webapp.rules import markup

# The first 200 characters and the first 10 words count.
MAX_QUERY_CHARS = 200
MAX_QUERY_WORDS = 10

# PostgreSQL's English stop words (tsearch_data/english.stop): both databases
# leave them out of a search as a word by itself, so a search for "the" means
# the same on either (PostgreSQL would drop it, SQLite would match nearly all).
_STOP_WORDS = """i me my myself we our ours ourselves you your yours yourself yourselves he
him his himself she her hers herself it its itself they them their theirs
themselves what which who whom this that these those am is are was were be
been being have has had having do does did doing a an the and but if or
because as until while of at by for with about against between into through
during before after above below to from up down in out on off over under
again further then once here there when where why how all any both each few
more most other some such no nor not only own same so than too very s t can
will just don should now"""
STOP_WORDS = frozenset(_STOP_WORDS.split())

# A username as `@name` may give it (webapp.models' rule for usernames).
_USERNAME = re.compile(r"[A-Za-z0-9_]{1,30}")


def _is_word_character(char: str) -> bool:
    return unicodedata.category(char)[0] in "LNM"


# What most queries are made of, read without a look at each character: in
# ASCII, the letters and digits are the word characters (it has no marks), and
# the control characters the ones to make spaces (it has no surrogates and no
# unassigned code points).
_ASCII_WORD = re.compile(r"[A-Za-z0-9]+")
_ASCII_CONTROLS = {code: " " for code in [*range(32), 127]}


def _pieces(text: str) -> list[str]:
    """The words of a piece of text: runs of letters, digits and marks that
    hold at least one letter or digit, lower-cased."""
    if text.isascii():
        return [word.lower() for word in _ASCII_WORD.findall(text)]
    found: list[str] = []
    current: list[str] = []
    for char in text + " ":
        if _is_word_character(char):
            current.append(char)
            continue
        if current:
            word = "".join(current).lower()
            if any(unicodedata.category(c)[0] in "LN" for c in word):
                found.append(word)
            current = []
    return found


# A term: one word, or a phrase (its words next to each other, in order).
Term = tuple[str, ...]


@dataclass(frozen=True)
class SearchQuery:
    """A query as understood: every group must match (a group is one term, or
    several joined by OR), no excluded term may, and the post must carry every
    tag and be by one of the people named."""

    text: str = ""
    groups: tuple[tuple[Term, ...], ...] = ()
    excluded: tuple[Term, ...] = ()
    tags: tuple[str, ...] = ()
    people: tuple[str, ...] = ()

    @property
    def given(self) -> bool:
        """Whether anything was typed at all: then the page is a search."""
        return bool(self.text.strip())

    @property
    def matches_text(self) -> bool:
        """Whether it asks for words (else only filters)."""
        return bool(self.groups)

    @property
    def can_match(self) -> bool:
        """A query needs a word or a filter to match anything; one of only
        exclusions, stop words or punctuation matches nothing."""
        return bool(self.groups or self.tags or self.people)

    @property
    def person_words(self) -> tuple[str, ...]:
        """The words a person's name may hold: those asked for, and the
        people named."""
        words = [word for group in self.groups for term in group for word in term]
        return tuple(dict.fromkeys([*words, *self.people]))

    @property
    def key(self) -> tuple[object, ...]:
        """What a cache key holds of it: the query as understood, so that two
        spellings of one query share their pages."""
        return (self.groups, self.excluded, self.tags, self.people)

    def websearch(self) -> list[str]:
        """The query as texts for PostgreSQL's `websearch_to_tsquery`, rebuilt
        from words alone, for the caller to join with `&&`: one text for every
        group of one term and every excluded term (words side by side: all
        must match), and one for each group joined by OR (within one text, `OR`
        binds more loosely than the words next to it: `a or b c` is
        `a | (b & c)`). Empty when nothing is asked for."""
        alone = [_websearch_term(group[0]) for group in self.groups if len(group) == 1]
        alone += ["-" + _websearch_term(term) for term in self.excluded]
        either = [
            " or ".join(_websearch_term(term) for term in group)
            for group in self.groups
            if len(group) > 1
        ]
        return ([" ".join(alone)] if alone else []) + either

    def fts5(self) -> str:
        """The words to find as an FTS5 expression, every term quoted (empty
        without words)."""
        return " AND ".join(
            "(" + " OR ".join(_fts5_term(term) for term in group) + ")" for group in self.groups
        )

    def fts5_excluded(self) -> str:
        """The excluded terms as one FTS5 expression (empty without any)."""
        return " OR ".join(_fts5_term(term) for term in self.excluded)

    def fts5_near(self) -> str:
        """The required terms close together (within 10 words), to rank posts
        that hold them so above those that hold them far apart; empty when fewer
        than two terms are required."""
        single = [group[0] for group in self.groups if len(group) == 1]
        if len(single) < 2:
            return ""
        return "NEAR(" + " ".join(_fts5_term(term) for term in single) + ", 10)"


def _websearch_term(term: Term) -> str:
    return term[0] if len(term) == 1 else '"' + " ".join(term) + '"'


def _fts5_term(term: Term) -> str:
    # FTS5 reads a double-quoted string as one phrase of the words in it; a
    # word here holds no quote, and one would be doubled.
    return '"' + " ".join(term).replace('"', '""') + '"'


def _clean(query: str) -> str:
    """The part of a query that counts, as NFKC text with control characters,
    surrogates and unassigned code points made spaces."""
    if query.isascii():  # NFKC leaves ASCII as it is
        return query[:MAX_QUERY_CHARS].translate(_ASCII_CONTROLS)
    text = "".join(
        " " if unicodedata.category(char) in ("Cc", "Cs", "Cn") else char
        for char in query[:MAX_QUERY_CHARS]
    )
    return unicodedata.normalize("NFKC", text)


def _chunks(text: str) -> list[tuple[str, bool]]:
    """The query cut at spaces, a quoted run kept whole: (text, quoted). A
    quote that is never closed runs to the end."""
    found: list[tuple[str, bool]] = []
    position = 0
    while position < len(text):
        char = text[position]
        if char.isspace():
            position += 1
            continue
        if char == '"' or (char == "-" and text[position + 1 : position + 2] == '"'):
            start = position + (2 if char == "-" else 1)
            end = text.find('"', start)
            end = len(text) if end == -1 else end
            found.append((("-" if char == "-" else "") + text[start:end], True))
            position = end + 1
            continue
        end = position
        while end < len(text) and not text[end].isspace() and text[end] != '"':
            end += 1
        found.append((text[position:end], False))
        position = end
    return found


class _Builder:
    """Collects the parts of a query, counting its words."""

    def __init__(self) -> None:
        self.groups: list[list[Term]] = []
        self.excluded: list[Term] = []
        self.tags: list[str] = []
        self.people: list[str] = []
        self.words: list[str] = []
        self.join_next = False

    @property
    def full(self) -> bool:
        return len(self.words) >= MAX_QUERY_WORDS

    def take(self, words: list[str]) -> Term:
        room = MAX_QUERY_WORDS - len(self.words)
        kept = tuple(words[:room])
        self.words += kept
        return kept

    def add(self, term: Term) -> None:
        if not term or (len(term) == 1 and term[0] in STOP_WORDS):
            self.join_next = False
            return
        if self.join_next and self.groups:
            self.groups[-1].append(term)
        else:
            self.groups.append([term])
        self.join_next = False


def _filter(builder: _Builder, chunk: str) -> bool:
    """A `#tag` or an `@name`: kept when it can be one. Whether it was one."""
    if chunk[0] == "#" and len(chunk) > 1:
        tag = markup.fold_tag(chunk[1:])
        if tag is not None and tag not in builder.tags:
            builder.tags.append(tag)
        return True
    if chunk[0] == "@" and len(chunk) > 1:
        name = chunk[1:]
        if _USERNAME.fullmatch(name) and name.lower() not in builder.people:
            builder.people.append(name.lower())
            builder.words.append(name.lower())
        return True
    return False


# A query of plain words alone (ASCII letters and digits between spaces, as
# cleaned, and no `OR`): most queries. Each word is a group of its own, the
# stop words left out once counted, as the whole reading below makes them,
# without its look at every chunk (a fifth of the Python of a 10-word search
# that matches nothing).
_PLAIN = re.compile(r"[A-Za-z0-9 ]*")


def parse(query: str | None) -> SearchQuery:
    """The query as understood. Never fails, whatever it holds."""
    if not query:
        return SearchQuery()
    text = _clean(query)
    if _PLAIN.fullmatch(text):
        chunks = text.split()
        if "OR" not in chunks:
            words = [chunk.lower() for chunk in chunks[:MAX_QUERY_WORDS]]
            groups = tuple(((word,),) for word in words if word not in STOP_WORDS)
            return SearchQuery(text=text, groups=groups)
    return read_in_full(text)


def read_in_full(text: str) -> SearchQuery:
    """A query (cleaned, `_clean`) read chunk by chunk: quotes, `-`, `OR`,
    `#tag`, `@name` and words."""
    builder = _Builder()
    for chunk, quoted in _chunks(text):
        if builder.full:
            break
        if not quoted and chunk == "OR":
            builder.join_next = bool(builder.groups)
            continue
        if not quoted and _filter(builder, chunk):
            continue
        excluded = chunk.startswith("-")
        pieces = _pieces(chunk[1:] if excluded else chunk)
        if excluded:
            builder.join_next = False
            term = builder.take(pieces)
            if term and not (len(term) == 1 and term[0] in STOP_WORDS):
                builder.excluded.append(term)
            continue
        builder.add(builder.take(pieces))
    return SearchQuery(
        text=text,
        groups=tuple(tuple(group) for group in builder.groups),
        excluded=tuple(builder.excluded),
        tags=tuple(builder.tags),
        people=tuple(builder.people),
    )


# What each database puts around a matched word: characters no title or text
# may hold (control characters are refused on the way in), so that the text
# can be escaped whole and only they become `<mark>`.
MARK_START = "\x02"
MARK_END = "\x03"


def marked(text: str | None) -> Markup:
    """Text with the database's marks around matched words, as HTML: every
    character escaped, the marks made `<mark>` elements, runs of white space
    one space."""
    if not text:
        return Markup("")
    escaped = str(escape(" ".join(text.split())))
    if escaped.count(MARK_START) != escaped.count(MARK_END):  # never half a mark
        escaped = escaped.replace(MARK_START, "").replace(MARK_END, "")
    html = escaped.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>")
    return Markup(html)  # noqa: S704  (escaped above, marks alone added)

"""Searching posts and people: the statements of a search on each database,
its ranking, its excerpts, its pages. Called by both doors.

What may be found is what the lists show (`posts.listed_for`: published, not
hidden, not by someone suspended, not by the people the reader blocks or
mutes), so a search can never reach a post that its list would not.

PostgreSQL matches `posts.search` (a weighted `tsvector`, migration
0022_search) with `websearch_to_tsquery` through its GIN index, ranks with
`ts_rank_cd` (cover density: title words weigh more, close words more than far
ones), and makes the excerpts with `ts_headline` for the posts shown alone.
SQLite matches `posts_fts` (FTS5) with the same query in FTS5's language,
ranks with `bm25` (title weighed ten times the text) doubled for posts that
hold the words close together, and makes excerpts with `snippet`.
Among equals, newer first (then the higher id).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any

from markupsafe import Markup
from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    and_,
    any_,
    bindparam,
    case,
    column,
    false,
    func,
    literal,
    literal_column,
    or_,
    table,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.core.db import DriverStatement, unprepared
from webapp.models import Post, PostPublic, PostTag, User, UserPublic, person
from webapp.rules import ordering, page_sizes, posts, safety, suspensions
from webapp.rules.follows import PROFILE_OF_USER
from webapp.rules.search_query import MARK_END, MARK_START, SearchQuery, marked

# The people a search shows above its posts on /search.
PEOPLE_SHOWN = page_sizes.PEOPLE_FOUND

# --- PostgreSQL ---------------------------------------------------------------

CONFIG: ColumnElement[Any] = literal_column("'agora_search'::regconfig")
DOCUMENT: ColumnElement[Any] = literal_column("posts.search")
EXCERPT_MARKS = (
    f"StartSel={MARK_START}, StopSel={MARK_END}, MaxWords=30, MinWords=12, "
    'ShortWord=2, MaxFragments=2, FragmentDelimiter=" … "'
)


def _tsquery(texts: Sequence[ColumnElement[Any]], once: bool = False) -> ColumnElement[Any]:
    """The query as one `tsquery`: each text of `SearchQuery.websearch` (texts
    made of words alone) through `websearch_to_tsquery`, joined with `&&`.
    Most queries are one text, so one function call, whatever their words:
    building the expression of a call a word cost a 10-word search more
    Python than its statement cost PostgreSQL.

    `once`: as a subquery of its own (`(SELECT websearch_to_tsquery(…))`),
    which PostgreSQL works out once per run (an InitPlan), even in a plan made
    for any text (a prepared statement's generic plan): inline, such a plan
    would work it out again for every post it matches and ranks. The planner
    then cannot read the words (it estimates how many posts hold them), which
    a plan ranking every match needs not (see "the common search")."""
    parts: list[ColumnElement[Any]] = [
        func.websearch_to_tsquery(CONFIG, func.agora_fold(text)) for text in texts
    ]
    tsquery = reduce(lambda left, right: left.op("&&")(right), parts)
    return select(tsquery).scalar_subquery() if once else tsquery


def _texts(query: SearchQuery) -> list[ColumnElement[Any]]:
    return [literal(part) for part in query.websearch()]


# --- SQLite -------------------------------------------------------------------

FTS = table("posts_fts", column("rowid"))
FTS_TABLE: ColumnElement[Any] = literal_column("posts_fts")


def _fts_match(expression: str) -> ColumnElement[bool]:
    return FTS_TABLE.op("MATCH")(literal(expression))


def _fts_ids(expression: str) -> Any:
    # Never correlated with the outer statement's own `posts_fts`: a query of
    # its own.
    return select(FTS.c.rowid).where(_fts_match(expression)).correlate(None)


def _fts5_expression(query: SearchQuery) -> str:
    """The words to find, without the excluded ones, in FTS5's language."""
    found, excluded = query.fts5(), query.fts5_excluded()
    return f"({found}) NOT ({excluded})" if excluded else found


# --- the statements -------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """Where a search looks: a list's posts (everyone's, the people one
    follows, a tag's, one person's), without the reader's `unlisted`."""

    followed_by: int | None = None
    tag: str | None = None
    owner_id: int | None = None
    unlisted: posts.Unlisted = posts.NOBODY


def _filters(query: SearchQuery, scope: Scope) -> list[ColumnElement[bool]]:
    conditions = [posts.listed_for(scope.followed_by, scope.unlisted)]
    for tag in (*query.tags, *([scope.tag] if scope.tag else [])):
        tagged = select(col(PostTag.post_id)).where(col(PostTag.tag) == tag)
        conditions.append(col(Post.id).in_(tagged))
    if query.people:
        named = select(col(User.id)).where(func.lower(col(User.username)).in_(query.people))
        conditions.append(col(Post.owner_id).in_(named))
    if scope.owner_id is not None:
        conditions.append(col(Post.owner_id) == scope.owner_id)
    return conditions


def _matching(
    dialect: str,
    query: SearchQuery,
    scope: Scope,
    relevance: bool,
    texts: Sequence[ColumnElement[Any]] | None = None,
    once: bool = False,
) -> Any:
    """The ids of the posts matching, each with its score (lower first), in
    the order of the results; without offset or limit. On PostgreSQL, the
    query's `texts` for `websearch_to_tsquery` are its own unless given, and
    the query is worked out `once` (`_tsquery`) when asked."""
    conditions = _filters(query, scope)
    score: ColumnElement[Any] = literal(0)
    if dialect == "postgresql":
        texts = _texts(query) if texts is None else texts
        if texts:
            tsquery = _tsquery(texts, once)
            conditions.append(DOCUMENT.op("@@")(tsquery))
            if relevance and query.matches_text:
                score = -func.ts_rank_cd(DOCUMENT, tsquery)
        statement: Any = select(col(Post.id), score.label("score"))
    elif query.matches_text:
        if relevance:
            near = query.fts5_near()
            closer = case((col(Post.id).in_(_fts_ids(near)), 2.0), else_=1.0) if near else 1.0
            score = func.bm25(FTS_TABLE, 10.0, 1.0) * closer
        statement = (
            select(col(Post.id), score.label("score"))
            .join(FTS, FTS.c.rowid == col(Post.id))
            .where(_fts_match(_fts5_expression(query)))
        )
    else:
        if query.excluded:
            conditions.append(col(Post.id).not_in(_fts_ids(query.fts5_excluded())))
        statement = select(col(Post.id), score.label("score"))
    if not query.can_match:
        conditions.append(false())
    return statement.where(and_(*conditions)).order_by(literal_column("score"), *posts.NEWEST_FIRST)


def _rows(
    dialect: str,
    query: SearchQuery,
    ids: Sequence[int] | ColumnElement[bool],
    texts: Sequence[ColumnElement[Any]] | None = None,
    once: bool = False,
) -> Any:
    """The rows of these posts (or those of a condition on their ids) with
    their owners, and (when the query has words) an excerpt of the text with
    the matched words marked. (Titles are shown as they are: the title is the
    card's link, read whole.)"""
    chosen = ids if isinstance(ids, ColumnElement) else col(Post.id).in_(ids)
    statement: Any = posts.WITH_OWNER.where(chosen)
    if not query.matches_text:
        return statement
    if dialect == "postgresql":
        tsquery = _tsquery(_texts(query) if texts is None else texts, once)
        return statement.add_columns(
            func.ts_headline(CONFIG, func.agora_fold(col(Post.content)), tsquery, EXCERPT_MARKS)
        )
    return (
        statement.add_columns(func.snippet(FTS_TABLE, 1, MARK_START, MARK_END, "…", 24))
        .join(FTS, FTS.c.rowid == col(Post.id))
        .where(_fts_match(query.fts5()))
    )


def _listed(matching: Any, offset: Any, limit: Any) -> Any:
    """The rows of the posts `matching` from `offset` (the API's list), in its
    order: one statement."""
    page = (
        matching.add_columns(col(Post.created_at).label("at"))
        .offset(offset)
        .limit(limit)
        .subquery("matching")
    )
    return posts.WITH_OWNER.join(page, page.c.id == col(Post.id)).order_by(
        page.c.score, page.c.at.desc(), page.c.id.desc()
    )


# --- the common search, built once ----------------------------------------------
#
# Words, phrases and exclusions (or one OR group) alone, with no `#tag` or
# `@name`, in everyone's published posts as anyone reads them (the home page,
# /search, the API without a token) on PostgreSQL: one text for
# `websearch_to_tsquery`. These are most searches, and those the page cache
# helps least (each is typed once), so their statements are built once with
# the text bound and run on the driver (`DriverStatement`): statements built
# for each request, keyed and run through the session, cost a 10-word search
# more Python than PostgreSQL spent on it.
#
# A page of results is one statement: the ids of this page and the next two
# (a `matching` CTE, ranked once), then the rows of this page's posts, by
# their ids, with their excerpts (`ts_headline` for those alone), each row
# carrying the ids found in order, for the pager. A search that matches
# nothing answers no row, and costs one round trip in all.
#
# In relevance order (the default) the statements are prepared, and
# PostgreSQL soon runs them with a plan made once for any text (a generic
# plan), which spares each search its planning (a third of what a search
# matching little costs the database): every match is ranked whatever the
# words, so one plan serves them all (the GIN index, then a top-N sort), and
# the query is worked out once per run (`_tsquery`'s `once`), never again for
# each post. `sort=new` is planned for its own words every time (never
# prepared, `prepare=False`): for a common word, the newest posts holding it
# are best read in date order, for a rare one through the index.

QUERY_TEXT = bindparam("query_text", type_=String())
_A_QUERY = SearchQuery(text="a", groups=((("a",),),))
# The people the reader blocks or mutes, as one array (empty for everyone
# else): the common search has one statement whoever reads, so a reader with
# a shield runs as many statements as one without (`Scope.unlisted`).
UNLISTED = bindparam("unlisted", type_=ARRAY(Integer))
_NOT_UNLISTED = ~(col(Post.owner_id) == any_(UNLISTED))


def _common_page(relevance: bool) -> DriverStatement:
    matching = (
        _matching("postgresql", _A_QUERY, Scope(), relevance, [QUERY_TEXT], once=relevance)
        .where(_NOT_UNLISTED)
        .add_columns(col(Post.created_at).label("at"))
        .offset(bindparam("skip"))
        .limit(bindparam("limit"))
        .cte("matching")
    )
    order = (matching.c.score, matching.c.at.desc(), matching.c.id.desc())
    shown = select(matching.c.id).order_by(*order).limit(bindparam("per_page"))
    found = select(func.array_agg(aggregate_order_by(matching.c.id, *order))).scalar_subquery()
    rows = _rows("postgresql", _A_QUERY, col(Post.id).in_(shown), [QUERY_TEXT], once=relevance)
    return DriverStatement(rows.add_columns(found.label("found")), prepare=relevance)


_COMMON_PAGE = {relevance: _common_page(relevance) for relevance in (True, False)}
_COMMON_LIST = {
    relevance: DriverStatement(
        _listed(
            _matching(
                "postgresql", _A_QUERY, Scope(), relevance, [QUERY_TEXT], once=relevance
            ).where(_NOT_UNLISTED),
            bindparam("skip"),
            bindparam("limit"),
        ),
        prepare=relevance,
    )
    for relevance in (True, False)
}


def _common_text(dialect: str, query: SearchQuery, scope: Scope) -> str | None:
    """The one text of a common search (above: everyone's posts but for the
    reader's `unlisted`), or None for any other."""
    if dialect != "postgresql" or scope != Scope(unlisted=scope.unlisted):
        return None
    if query.tags or query.people:
        return None
    texts = query.websearch()
    return texts[0] if query.matches_text and len(texts) == 1 else None


def _read(rows: Any, query: SearchQuery) -> tuple[list[PostPublic], dict[int, Markup]]:
    found, highlights = [], {}
    for row in rows:
        if query.matches_text:
            post = posts.as_public(row[:-1])
            highlights[post.id] = marked(row[-1])
        else:
            post = posts.as_public(row)
        found.append(post)
    return found, highlights


def _relevance(order: ordering.Order) -> bool:
    return not order.newest


async def results_page(
    db: AsyncSession,
    query: SearchQuery,
    *,
    page: int,
    per_page: int,
    scope: Scope = Scope(),
    order: ordering.Order = ordering.RELEVANCE,
) -> posts.PostPage:
    """A page of the posts matching, with their owners and excerpts, in two
    statements whatever the page: the ids of this page and the next two (to
    link to them without counting every match), then this page's rows; in
    one for the common search (above). A page past the end counts the
    matches, to link back."""
    dialect = db.get_bind().dialect.name
    offset = (page - 1) * per_page
    ahead = per_page * (posts.PAGES_AROUND + 1) + 1
    relevance = _relevance(order)
    common = _common_text(dialect, query, scope)
    if common is not None:
        params = {"query_text": common, "skip": offset, "limit": ahead, "per_page": per_page}
        params["unlisted"] = sorted(scope.unlisted)
        shown = await _COMMON_PAGE[relevance].rows(db, params)
        ids: list[int] = list(shown[0][-1]) if shown else []
    else:
        matching = _matching(dialect, query, scope, relevance).offset(offset).limit(ahead)
        ids = [row[0] for row in await unprepared(db, matching)]
    if not ids:
        total = 0
        if page > 1:
            every = _matching(dialect, query, scope, relevance).order_by(None).subquery()
            total = (await db.exec(select(func.count()).select_from(every))).one()
        return posts.PostPage([], page, per_page, last_page=max(1, -(-total // per_page)))
    page_ids = ids[:per_page]
    if common is not None:
        rows = [row[:-1] for row in shown]
    else:
        rows = await unprepared(db, _rows(dialect, query, page_ids))
    found, highlights = _read(rows, query)
    by_id = {post.id: post for post in found}
    extra_pages = -(-(len(ids) - len(page_ids)) // per_page)
    return posts.PostPage(
        posts=[by_id[post_id] for post_id in page_ids if post_id in by_id],
        page=page,
        per_page=per_page,
        last_page=page + min(extra_pages, posts.PAGES_AROUND),
        more=len(ids) == ahead,
        highlights=highlights,
    )


async def results(
    db: AsyncSession,
    query: SearchQuery,
    *,
    offset: int,
    limit: int,
    scope: Scope = Scope(),
    order: ordering.Order = ordering.RELEVANCE,
) -> list[PostPublic]:
    """The posts matching from `offset` (the API's list): one statement."""
    dialect = db.get_bind().dialect.name
    relevance = _relevance(order)
    common = _common_text(dialect, query, scope)
    if common is not None:
        params = {"query_text": common, "skip": offset, "limit": limit}
        params["unlisted"] = sorted(scope.unlisted)
        rows = await _COMMON_LIST[relevance].rows(db, params)
    else:
        matching = _matching(dialect, query, scope, relevance)
        rows = await unprepared(db, _listed(matching, offset, limit))
    return [posts.as_public(row) for row in rows]


# --- people ---------------------------------------------------------------------


def _like(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def people(
    db: AsyncSession,
    query: SearchQuery,
    *,
    offset: int = 0,
    limit: int = PEOPLE_SHOWN,
    unlisted: posts.Unlisted = posts.NOBODY,
) -> list[UserPublic]:
    """The people whose username or display name holds a word of the query,
    in any letter case: those whose username is the word first, then the
    shortest names. Nobody suspended, nobody the reader blocks or mutes; one
    statement (none for a query without words)."""
    words = query.person_words
    if not words:
        return []
    holds = [
        or_(
            func.lower(col(User.username)).like(_like(word), escape="\\"),
            func.lower(col(User.display_name)).like(_like(word), escape="\\"),
        )
        for word in words
    ]
    conditions = [or_(*holds), suspensions.ACTIVE]
    if unlisted:
        conditions.append(safety.none_of(col(User.id), unlisted))
    exact = func.lower(col(User.username)).in_(words)
    statement = (
        select(col(User.id), col(User.username), col(User.created_at), *PROFILE_OF_USER)
        .where(*conditions)
        .order_by(case((exact, 0), else_=1), func.length(col(User.username)), col(User.id))
        .offset(offset)
        .limit(limit)
    )
    rows: Any = await db.exec(statement)
    return [person(*row) for row in rows]


# --- a list, searched or not ------------------------------------------------------


def order_of(query: SearchQuery, sort: str | None, t: str | None) -> ordering.Order:
    """A list's order as sent: a search's (`ordering.search_order`) when
    something was typed, else the list's own."""
    return ordering.search_order(sort) if query.given else ordering.order_of(sort, t)


async def list_page(
    db: AsyncSession,
    query: SearchQuery,
    *,
    page: int,
    per_page: int,
    order: ordering.Order,
    scope: Scope = Scope(),
) -> posts.PostPage:
    """A page of a list of posts: its search's results when something was
    typed, else the list itself (`posts.published_page`)."""
    if query.given:
        return await results_page(db, query, page=page, per_page=per_page, scope=scope, order=order)
    return await posts.published_page(
        db,
        page=page,
        per_page=per_page,
        followed_by=scope.followed_by,
        tag=scope.tag,
        order=order,
        unlisted=scope.unlisted,
    )


async def list_posts(
    db: AsyncSession,
    query: SearchQuery,
    *,
    offset: int,
    limit: int,
    order: ordering.Order,
    scope: Scope = Scope(),
) -> list[PostPublic]:
    """A list of posts from `offset` (the API's lists): its search's results
    when something was typed, else the list itself (`posts.list_published`)."""
    if query.given:
        return await results(db, query, offset=offset, limit=limit, scope=scope, order=order)
    return await posts.list_published(
        db,
        offset=offset,
        limit=limit,
        followed_by=scope.followed_by,
        tag=scope.tag,
        order=order,
        unlisted=scope.unlisted,
    )

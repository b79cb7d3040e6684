"""The reference app: Agora's read pages written the plain Flask way, as a yardstick.

A competent Flask developer's version (flaskr style) of `/`, `/?page=N`, `/?q=words`,
`/posts/<id>`, `/users/<id>`, a tiny JSON API (`/api/posts`, `/api/posts/<id>`,
`/api/login`, `/api/vote`, `POST /api/posts`), a login and two write endpoints,
on the same database schema as Agora. Hand-written SQL, one query per list with
the authors joined and the likes counted, a connection pool sized for the
threads, Jinja templates of the same size as Agora's. It is not a straw man: it
should be about as fast as a sync Python web app can reasonably be without
caching.

A like is its row and nothing else (no kept count, no notification): the pages
count the rows. The API's bearer token is the reference's own kind, signed with
the app's secret key (itsdangerous, which Flask ships), so that checking it costs
no statement.

Served by gunicorn (gthread workers):

    REF_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/agora_bench_ref \
        gunicorn -w 2 -k gthread --threads 4 -b 127.0.0.1:8001 'app:create_app()'

`REF_DATABASE_URL` may be `sqlite:///path/to/file.db` (stdlib sqlite3, one
connection per thread). `REF_POOL_SIZE` (default 4) should equal `--threads`.
What it leaves out on purpose: CSRF tokens, password checking (see `login`),
validation beyond lengths, flash messages, security headers.
"""

from __future__ import annotations

import html as html_module
import os
import re
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import nh3
from flask import Flask, Response, abort, g, jsonify, redirect, render_template, request, session
from itsdangerous import BadSignature, URLSafeSerializer
from markdown_it import MarkdownIt
from markupsafe import Markup

PER_PAGE = 20
# The windows of `sort=top`, in days (None: every post).
TOP_DAYS: dict[str, int | None] = {"day": 1, "week": 7, "month": 30, "year": 365, "all": None}
MAX_PAGE = 1_000_000
MAX_QUERY_WORDS = 10
MAX_QUERY_CHARS = 200
TITLE_MAX, CONTENT_MAX = 200, 20_000

Row = Mapping[str, Any]

# --- the database: PostgreSQL through a psycopg pool, or SQLite -------------------------


class Database:
    """What the views need: run a statement and get rows (each statement commits alone).

    Statements are written with `%s` placeholders (psycopg's); on SQLite they
    become `?` and ILIKE becomes LIKE (case-insensitive for ASCII there).
    """

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        raise NotImplementedError

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    def now(self) -> Any:
        return datetime.now(UTC)

    def ago(self, days: int) -> Any:
        return datetime.now(UTC) - timedelta(days=days)

    # Hours since a post (`p`) was first published, given now as a parameter.
    HOURS = "extract(epoch FROM (%s - coalesce(p.published_at, p.created_at))) / 3600"


class PostgresDatabase(Database):
    def __init__(self, url: str, size: int) -> None:
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        # Autocommit: a statement is one round trip, not BEGIN/statement/COMMIT.
        self.pool = ConnectionPool(
            url,
            min_size=size,
            max_size=size,
            kwargs={"autocommit": True, "row_factory": dict_row},
            open=True,
        )
        self.pool.wait()

    def connection(self) -> Any:
        """The request's connection, taken from the pool once and given back at teardown."""
        if "db_connection" not in g:
            g.db_connection = self.pool.getconn()
        return g.db_connection

    def release(self) -> None:
        connection = g.pop("db_connection", None)
        if connection is not None:
            self.pool.putconn(connection)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self.connection().execute(sql, params).fetchall()


class SqliteDatabase(Database):
    def __init__(self, path: str) -> None:
        self.path = path
        self.local = threading.local()

    def connection(self) -> sqlite3.Connection:
        """One connection per thread, kept for the thread's life."""
        connection: sqlite3.Connection | None = getattr(self.local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, timeout=15, isolation_level=None)
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA foreign_keys=ON")
            self.local.connection = connection
        return connection

    def release(self) -> None:
        pass

    @staticmethod
    def translate(sql: str) -> str:
        return sql.replace("%s", "?").replace("ILIKE", "LIKE")

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self.connection().execute(self.translate(sql), params).fetchall()

    def now(self) -> Any:
        # The format SQLAlchemy stores on SQLite (naive UTC), so ORDER BY stays right.
        return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    def ago(self, days: int) -> Any:
        return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%d %H:%M:%S.%f")

    HOURS = "(julianday(%s) - julianday(coalesce(p.published_at, p.created_at))) * 24"


def open_database(url: str, pool_size: int) -> Database:
    if url.startswith("sqlite:///"):
        return SqliteDatabase(url.removeprefix("sqlite:///"))
    url = re.sub(r"^postgres(ql)?\+psycopg://", "postgresql://", url)
    return PostgresDatabase(url, pool_size)


# --- template filters ---------------------------------------------------------------


def as_datetime(value: datetime | str) -> datetime:
    if isinstance(value, str):  # SQLite: naive UTC text
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def time_ago(value: datetime | str) -> str:
    seconds = int((datetime.now(UTC) - as_datetime(value)).total_seconds())
    for unit, size in (
        ("year", 31_536_000),
        ("month", 2_592_000),
        ("week", 604_800),
        ("day", 86_400),
        ("hour", 3_600),
        ("minute", 60),
    ):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    return "just now"


def iso_time(value: datetime | str) -> str:
    return as_datetime(value).astimezone(UTC).isoformat(timespec="seconds")


def long_date(value: datetime | str) -> str:
    moment = as_datetime(value)
    return f"{moment.day} {moment:%B %Y}"


def excerpt(text: str, length: int = 240) -> str:
    flat = " ".join(text.split())
    if len(flat) <= length:
        return flat
    return flat[:length].rsplit(" ", 1)[0] + "…"


# --- Markdown, as a Flask developer renders it: on every request --------------------------

MARKDOWN = MarkdownIt("commonmark", {"html": False, "breaks": True, "linkify": True}).enable(
    ["strikethrough", "linkify"]
)
MARKDOWN_TAGS = {
    "p", "br", "strong", "em", "s", "del", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "hr", "h1", "h2", "h3", "h4", "h5", "h6",
}  # fmt: skip


def markdown(text: str) -> Markup:
    """The text's Markdown as HTML, sanitized (nh3's allow-list, links of
    safe schemes with `rel="nofollow ugc noopener"`)."""
    html = nh3.clean(
        MARKDOWN.render(text),
        tags=MARKDOWN_TAGS,
        attributes={"a": {"href"}, "ol": {"start"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow ugc noopener",
    )
    return Markup(html)  # noqa: S704 (sanitized just above)


def markdown_excerpt(text: str, length: int = 240) -> str:
    """The start of the rendered text, without its markup."""
    return excerpt(html_module.unescape(re.sub(r"<[^>]*>", " ", str(markdown(text)))), length)


# --- the app ---------------------------------------------------------------------------

# A post's likes are counted from their rows (the index on votes.post_id serves it).
LIKES = "(SELECT count(*) FROM votes v WHERE v.post_id = p.id) AS votes"
POST_COLUMNS = (
    "p.id, p.title, p.content, p.published, p.owner_id, p.created_at, p.updated_at, "
    f"{LIKES}, u.username"
)
# What the API shows of a post: the fields of Agora's PostPublic.
API_COLUMNS = f"{POST_COLUMNS}, p.comments, u.created_at AS owner_created_at"
# The expression of the trigram GIN index the bench builds for this app (ix_posts_search).
SEARCHABLE = "(p.title || ' ' || p.content)"


def page_number(raw: str | None) -> int:
    if raw and raw.isdigit():
        return min(max(int(raw), 1), MAX_PAGE)
    return 1


def search_words(query: str) -> list[str]:
    return query[:MAX_QUERY_CHARS].split()[:MAX_QUERY_WORDS]


def like_pattern(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def post_json(row: Row) -> dict[str, Any]:
    """A post as Agora's API shows it (PostPublic)."""
    return {
        "title": row["title"],
        "content": row["content"],
        "published": bool(row["published"]),
        "id": row["id"],
        "created_at": iso_time(row["created_at"]),
        "updated_at": iso_time(row["updated_at"]),
        "owner_id": row["owner_id"],
        "owner": {
            "id": row["owner_id"],
            "username": row["username"],
            "created_at": iso_time(row["owner_created_at"]),
        },
        "votes": row["votes"],
        "comments": row["comments"],
    }


def valid_post(title: object, content: object) -> bool:
    return (
        isinstance(title, str)
        and isinstance(content, str)
        and bool(title.strip())
        and bool(content)
        and len(title) <= TITLE_MAX
        and len(content) <= CONTENT_MAX
    )


def create_app() -> Flask:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = os.environ.get("REF_SECRET_KEY", "reference-app-bench-secret-key")
    app.jinja_env.filters.update(
        time_ago=time_ago,
        iso_time=iso_time,
        long_date=long_date,
        excerpt=excerpt,
        markdown=markdown,
        markdown_excerpt=markdown_excerpt,
    )
    db = open_database(
        os.environ.get("REF_DATABASE_URL", "sqlite:///agora.db"),
        int(os.environ.get("REF_POOL_SIZE", "4")),
    )
    app.extensions["reference_db"] = db

    @app.teardown_appcontext
    def release_connection(_error: BaseException | None) -> None:
        db.release()

    @app.before_request
    def load_user() -> None:
        user_id = session.get("user_id")
        g.user = None
        if user_id is not None:
            g.user = db.one("SELECT id, username FROM users WHERE id = %s", (user_id,))

    @app.get("/healthz")
    def healthz() -> Response:
        db.rows("SELECT 1")
        return jsonify(status="ok")

    @app.get("/")
    def index() -> str:
        page = page_number(request.args.get("page"))
        query = request.args.get("q", "")
        words = search_words(query)
        where = "p.published" + "".join(f" AND {SEARCHABLE} ILIKE %s ESCAPE '\\'" for _ in words)
        params: list[Any] = [like_pattern(word) for word in words]
        # The orders as a Flask developer would write them: the formula in ORDER BY.
        order = "p.created_at DESC, p.id DESC"
        sort = request.args.get("sort")
        if sort == "hot":
            order = f"(p.votes + 2 * p.comments + 1) / power({db.HOURS} + 2, 1.5) DESC, " + order
            params.append(db.now())
        elif sort == "top":
            days = TOP_DAYS.get(request.args.get("t", ""), TOP_DAYS["week"])
            if days is not None:
                where += " AND p.created_at >= %s"
                params.append(db.ago(days))
            order = "p.votes DESC, " + order
        posts = db.rows(
            f"SELECT {POST_COLUMNS} FROM posts p JOIN users u ON u.id = p.owner_id "  # noqa: S608 (fixed text)
            f"WHERE {where} ORDER BY {order} LIMIT %s OFFSET %s",
            [*params, PER_PAGE + 1, (page - 1) * PER_PAGE],
        )
        return render_template(
            "home.html",
            posts=posts[:PER_PAGE],
            page=page,
            has_older=len(posts) > PER_PAGE,
            search_query=query,
            searching=bool(words),
        )

    @app.get("/posts/<int:post_id>")
    def show_post(post_id: int) -> str:
        post = db.one(
            f"SELECT {POST_COLUMNS} FROM posts p JOIN users u ON u.id = p.owner_id "  # noqa: S608
            "WHERE p.id = %s AND p.published",
            (post_id,),
        )
        if post is None:
            abort(404)
        return render_template("posts/show.html", post=post)

    @app.get("/md/posts/<int:post_id>")
    def show_markdown_post(post_id: int) -> str:
        """A post and its first 50 comments, each Markdown rendered as it is read."""
        post = db.one(
            f"SELECT {POST_COLUMNS} FROM posts p JOIN users u ON u.id = p.owner_id "  # noqa: S608
            "WHERE p.id = %s AND p.published",
            (post_id,),
        )
        if post is None:
            abort(404)
        comments = db.rows(
            "SELECT c.id, c.content, c.created_at, c.author_id, u.username "
            "FROM comments c JOIN users u ON u.id = c.author_id WHERE c.post_id = %s "
            "ORDER BY c.created_at, c.id LIMIT 50",
            (post_id,),
        )
        return render_template("posts/show_markdown.html", post=post, comments=comments)

    @app.get("/md/tags/<tag>")
    def tag_posts(tag: str) -> str:
        """The published posts carrying a tag, 20 a page, their cards' excerpts
        from their Markdown rendered as it is read."""
        page = page_number(request.args.get("page"))
        posts = db.rows(
            f"SELECT {POST_COLUMNS} FROM posts p JOIN users u ON u.id = p.owner_id "  # noqa: S608
            "JOIN post_tags t ON t.post_id = p.id WHERE t.tag = %s AND p.published "
            "ORDER BY p.created_at DESC, p.id DESC LIMIT %s OFFSET %s",
            (tag.casefold(), PER_PAGE + 1, (page - 1) * PER_PAGE),
        )
        return render_template(
            "tags/show.html", tag=tag, posts=posts[:PER_PAGE], page=page,
            has_older=len(posts) > PER_PAGE,
        )  # fmt: skip

    @app.get("/users/<int:user_id>")
    def profile(user_id: int) -> str:
        user = db.one("SELECT id, username, created_at FROM users WHERE id = %s", (user_id,))
        if user is None:
            abort(404)
        page = page_number(request.args.get("page"))
        posts = db.rows(
            f"SELECT {POST_COLUMNS} FROM posts p JOIN users u ON u.id = p.owner_id "  # noqa: S608
            "WHERE p.owner_id = %s AND p.published "
            "ORDER BY p.created_at DESC, p.id DESC LIMIT %s OFFSET %s",
            (user_id, PER_PAGE + 1, (page - 1) * PER_PAGE),
        )
        total = db.one(
            "SELECT count(*) AS n FROM posts WHERE owner_id = %s AND published", (user_id,)
        )
        return render_template(
            "users/profile.html",
            profile=user,
            posts=posts[:PER_PAGE],
            page=page,
            has_older=len(posts) > PER_PAGE,
            total=total["n"] if total else 0,
        )

    @app.get("/api/posts")
    def api_posts() -> Response:
        """The fields of Agora's PostPublic, newest first."""
        limit = min(max(request.args.get("limit", 10, type=int), 1), 100)
        skip = max(request.args.get("skip", 0, type=int), 0)
        rows = db.rows(
            f"SELECT {API_COLUMNS} FROM posts p JOIN users u ON u.id = p.owner_id "  # noqa: S608
            "WHERE p.published ORDER BY p.created_at DESC, p.id DESC LIMIT %s OFFSET %s",
            (limit, skip),
        )
        return jsonify([post_json(row) for row in rows])

    @app.get("/api/posts/<int:post_id>")
    def api_post(post_id: int) -> Response:
        row = db.one(
            f"SELECT {API_COLUMNS} FROM posts p JOIN users u ON u.id = p.owner_id "  # noqa: S608
            "WHERE p.id = %s AND p.published",
            (post_id,),
        )
        if row is None:
            abort(404)
        return jsonify(post_json(row))

    tokens = URLSafeSerializer(app.config["SECRET_KEY"], salt="api-token")

    def api_user() -> tuple[int, str]:
        """The caller's (id, username), read from the bearer token; 401 without one."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        try:
            user_id, username = tokens.loads(token) if scheme.lower() == "bearer" else (0, "")
        except BadSignature:
            user_id = 0
        if not user_id:
            abort(401)
        return user_id, username

    @app.post("/api/login")
    def api_login() -> Any:
        """A token for the named account (the password is not checked: see `login`)."""
        user = db.one(
            "SELECT id, username FROM users WHERE username = %s",
            (request.form.get("username", ""),),
        )
        if user is None:
            return jsonify(detail="wrong credentials"), 401
        token = tokens.dumps([user["id"], user["username"]])
        return jsonify(access_token=token, token_type="bearer")

    @app.post("/api/vote")
    def api_vote() -> Any:
        """Like (dir 1) or take the like back (dir 0): one statement on the like's row."""
        user_id, _ = api_user()
        data = request.get_json(silent=True) or {}
        post_id, direction = data.get("post_id"), data.get("dir")
        if not isinstance(post_id, int) or direction not in (0, 1):
            return jsonify(detail="post_id and dir (0 or 1) are required"), 422
        if direction == 1:
            added = db.rows(
                "INSERT INTO votes (user_id, post_id, created_at) VALUES (%s, %s, %s) "
                "ON CONFLICT DO NOTHING RETURNING post_id",
                (user_id, post_id, db.now()),
            )
            if not added:
                return jsonify(detail="You already like this post"), 409
            return jsonify(message="Liked"), 201
        removed = db.rows(
            "DELETE FROM votes WHERE user_id = %s AND post_id = %s RETURNING post_id",
            (user_id, post_id),
        )
        if not removed:
            return jsonify(detail="You do not like this post"), 404
        return jsonify(message="Like removed")

    @app.post("/api/posts")
    def api_create_post() -> Any:
        user_id, username = api_user()
        data = request.get_json(silent=True) or {}
        title, content = data.get("title"), data.get("content")
        if not valid_post(title, content):
            return jsonify(detail="title and content are required"), 422
        published = bool(data.get("published", True))
        row = insert_post(user_id, title, content, published)
        post = {"title": title, "content": content, "published": published, **row}
        post["owner"] = {"id": user_id, "username": username}
        return jsonify(post), 201

    @app.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        # The benchmark logs in once per account and then measures what every
        # logged-in request costs: the `g.user` load in `load_user`. So the
        # password is not checked here (a real app would verify the hash).
        error = None
        if request.method == "POST":
            user = db.one(
                "SELECT id FROM users WHERE username = %s", (request.form.get("username", ""),)
            )
            if user is not None:
                session.clear()
                session["user_id"] = user["id"]
                return redirect("/", code=303)
            error = "The username or password is not right."
        return render_template("login.html", error=error)

    @app.post("/logout")
    def logout() -> Any:
        session.clear()
        return redirect("/", code=303)

    @app.post("/posts/<int:post_id>/like")
    def toggle_like(post_id: int) -> Any:
        """Like the post, or take the like back: the like's row is all there is of it."""
        if g.user is None:
            return redirect("/login", code=303)
        if db.one("SELECT id FROM posts WHERE id = %s AND published", (post_id,)) is None:
            abort(404)
        user_id = g.user["id"]
        added = db.rows(
            "INSERT INTO votes (user_id, post_id, created_at) VALUES (%s, %s, %s) "
            "ON CONFLICT DO NOTHING RETURNING post_id",
            (user_id, post_id, db.now()),
        )
        if not added:
            db.rows("DELETE FROM votes WHERE user_id = %s AND post_id = %s", (user_id, post_id))
        return redirect(f"/posts/{post_id}", code=303)

    @app.post("/posts")
    def create_post() -> Any:
        if g.user is None:
            return redirect("/login", code=303)
        title = request.form.get("title", "")
        content = request.form.get("content", "").replace("\r\n", "\n")
        if not valid_post(title, content):
            return Response("title and content are required", status=422)
        post_id = insert_post(g.user["id"], title, content, True)["id"]
        return redirect(f"/posts/{post_id}", code=303)

    def insert_post(owner_id: int, title: str, content: str, published: bool) -> Row:
        now = db.now()
        found = db.one(
            "INSERT INTO posts (title, content, published, owner_id, created_at, "
            "updated_at, votes, comments) VALUES (%s, %s, %s, %s, %s, %s, 0, 0) "
            "RETURNING id, owner_id, created_at, updated_at, votes, comments",
            (title, content, published, owner_id, now, now),
        )
        assert found is not None  # RETURNING gives the row it inserted
        return {
            **found,
            "created_at": iso_time(found["created_at"]),
            "updated_at": iso_time(found["updated_at"]),
        }

    return app

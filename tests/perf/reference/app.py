"""The reference app: Agora's read pages written the plain Flask way, as a yardstick.

A competent Flask developer's version (flaskr style) of `/`, `/?page=N`, `/?q=words`,
`/posts/<id>`, `/users/<id>`, a tiny `/api/posts`, a login and two write endpoints,
on the same database schema as Agora. Hand-written SQL, one query per list with
the authors joined, a connection pool sized for the threads, Jinja templates of
the same size as Agora's. It is not a straw man: it should be about as fast as
a sync Python web app can reasonably be without caching.

Served by gunicorn (gthread workers):

    REF_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/agora_bench_ref \
        gunicorn -w 2 -k gthread --threads 4 -b 127.0.0.1:8001 'app:create_app()'

`REF_DATABASE_URL` may be `sqlite:///path/to/file.db` (stdlib sqlite3, one
connection per thread). `REF_POOL_SIZE` (default 4) should equal `--threads`.
What it leaves out on purpose: CSRF tokens, password checking (see `login`),
validation beyond lengths, flash messages, security headers.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, abort, g, jsonify, redirect, render_template, request, session

PER_PAGE = 20
MAX_PAGE = 1_000_000
MAX_QUERY_WORDS = 10
MAX_QUERY_CHARS = 200
TITLE_MAX, CONTENT_MAX = 200, 20_000

Row = Mapping[str, Any]

# --- the database: PostgreSQL through a psycopg pool, or SQLite -------------------------


class Database:
    """What the views need: run a statement and get rows, or run a transaction.

    Statements are written with `%s` placeholders (psycopg's); on SQLite they
    become `?` and ILIKE becomes LIKE (case-insensitive for ASCII there).
    """

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        raise NotImplementedError

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        raise NotImplementedError
        yield

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    def now(self) -> Any:
        return datetime.now(UTC)


class PostgresDatabase(Database):
    def __init__(self, url: str, size: int) -> None:
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        # Autocommit: a read is one round trip, not BEGIN/SELECT/COMMIT; writes
        # open an explicit transaction.
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

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        connection = self.connection()
        with connection.transaction():
            yield connection


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

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        connection = self.connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield _SqliteCursorAdapter(connection)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def now(self) -> Any:
        # The format SQLAlchemy stores on SQLite (naive UTC), so ORDER BY stays right.
        return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class _SqliteCursorAdapter:
    """`execute` with `%s` placeholders inside a transaction, as on a psycopg connection."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.connection.execute(SqliteDatabase.translate(sql), params)


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


# --- the app ---------------------------------------------------------------------------

POST_COLUMNS = (
    "p.id, p.title, p.content, p.published, p.owner_id, p.created_at, p.updated_at, "
    "p.votes, u.username"
)
# The expression Agora's pg_trgm GIN index ix_posts_search is built on.
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


def create_app() -> Flask:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = os.environ.get("REF_SECRET_KEY", "reference-app-bench-secret-key")
    app.jinja_env.filters.update(
        time_ago=time_ago, iso_time=iso_time, long_date=long_date, excerpt=excerpt
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
        posts = db.rows(
            f"SELECT {POST_COLUMNS} FROM posts p JOIN users u ON u.id = p.owner_id "  # noqa: S608 (fixed text)
            f"WHERE {where} ORDER BY p.created_at DESC, p.id DESC LIMIT %s OFFSET %s",
            [*(like_pattern(word) for word in words), PER_PAGE + 1, (page - 1) * PER_PAGE],
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
            "SELECT p.id, p.title, p.content, p.published, p.owner_id, p.created_at, "
            "p.updated_at, p.votes, u.username, u.created_at AS owner_created_at "
            "FROM posts p JOIN users u ON u.id = p.owner_id WHERE p.published "
            "ORDER BY p.created_at DESC, p.id DESC LIMIT %s OFFSET %s",
            (limit, skip),
        )
        return jsonify(
            [
                {
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
                }
                for row in rows
            ]
        )

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
        """Like the post, or take the like back; the kept count changes with the row."""
        if g.user is None:
            return redirect("/login", code=303)
        if db.one("SELECT id FROM posts WHERE id = %s AND published", (post_id,)) is None:
            abort(404)
        user_id = g.user["id"]
        with db.transaction() as tx:
            added = tx.execute(
                "INSERT INTO votes (user_id, post_id, created_at) VALUES (%s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                (user_id, post_id, db.now()),
            ).rowcount
            if not added:
                tx.execute(
                    "DELETE FROM votes WHERE user_id = %s AND post_id = %s", (user_id, post_id)
                )
            tx.execute(
                "UPDATE posts SET votes = votes + %s WHERE id = %s",
                (1 if added else -1, post_id),
            )
        return redirect(f"/posts/{post_id}", code=303)

    @app.post("/posts")
    def create_post() -> Any:
        if g.user is None:
            return redirect("/login", code=303)
        title = request.form.get("title", "")
        content = request.form.get("content", "").replace("\r\n", "\n")
        if not title.strip() or not content or len(title) > TITLE_MAX or len(content) > CONTENT_MAX:
            return Response("title and content are required", status=422)
        now = db.now()
        with db.transaction() as tx:
            post_id = tx.execute(
                "INSERT INTO posts (title, content, published, owner_id, created_at, "
                "updated_at, votes) VALUES (%s, %s, %s, %s, %s, %s, 0) RETURNING id",
                (title, content, True, g.user["id"], now, now),
            ).fetchone()["id"]
        return redirect(f"/posts/{post_id}", code=303)

    return app

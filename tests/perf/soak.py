"""Soak test: many people using Agora at once for a while, then a check of what was kept.

Usage (from the repository root):

    python tests/perf/soak.py                      # PostgreSQL (database agora_soak), 60 s
    python tests/perf/soak.py --sqlite             # a SQLite file in a temporary directory
    python tests/perf/soak.py --users 32 --seconds 60 --workers 2
    python tests/perf/soak.py --agora-dir /tmp/agora-base   # serve another checkout

What it does:

1. Makes a fresh database (PostgreSQL: drops and creates `agora_soak`; SQLite: a file
   in a temporary directory) and seeds a little demo data with `python -m webapp seed`.
2. Starts `python -m webapp serve --workers N` on a free port (bcrypt at cost 4, so
   that logging in does not dominate) and waits for /healthz.
3. Runs `--users` simulated people, one thread each, for `--seconds`. Each registers
   through the HTML form, then picks weighted actions the way a browser does them
   (reading every CSRF token from the page it shows, following no redirect by itself):
   browse `/` and its pages, read a post, a profile, search, log out and in again,
   write a post (some with non-ASCII text and line breaks sent as CRLF, some drafts),
   edit and delete their own posts, and like or unlike other people's posts, often the
   newest ones, which their owners may be deleting at that very moment (some likes
   from a stale tab, without reading the page; one in ten double-clicked).
4. Counts every request. An error is a 5xx, a socket error or timeout, or a 4xx that
   the action does not allow (a 404 on a post is allowed only when its owner has
   deleted it, is deleting it, or it is a draft), or a page that contradicts what was
   just acknowledged (a new or edited post without its title, a like button that
   does not show the like just made).
5. Stops the users and the server, then checks the database directly: every
   acknowledged post that was not deleted exists with exactly the title, content and
   published flag last acknowledged; every deleted one is gone; nobody has posts the
   server did not acknowledge; every post's kept like count (`posts.votes`) equals its
   rows in `votes`; no like points at a missing post; and each person's like on each
   post they voted on is there exactly when their last acknowledged wish was "like".

It prints a summary and exits 1 when there was any error or any check failed.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import os
import random
import re
import secrets
import shlex
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
from servers import Server, ServerError, catch_signals, free_port
from smtp_trap import MailTrap, Received

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
DEFAULT_DATABASE = "agora_soak"
SECRET_KEY = "agora-soak-" + "k" * 40
PASSWORD = "soak-password-7315"
SEED = ("--users", "50", "--posts", "500", "--votes", "1000")

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
DIR_RE = re.compile(r'name="dir" value="([01])"')
PRESSED_RE = re.compile(r'class="like" aria-pressed="(true|false)"')
POST_LINK_RE = re.compile(r'href="/posts/(\d+)"')
USER_LINK_RE = re.compile(r'href="/users/(\d+)"')
CREATED_RE = re.compile(r"^/posts/(\d+)$")
RESET_SUBJECT = "Reset your Agora password"
TAG_RE = re.compile(r"<[^>]+>")

# How often each action is picked (relative weights).
ACTIONS: dict[str, int] = {
    "browse": 16,
    "page": 8,
    "read post": 14,
    "profile": 7,
    "search": 10,
    "like": 20,
    "write": 10,
    "edit": 6,
    "delete": 5,
    "log in again": 4,
    "reset": 4,
}
# Reset mails one address gets in an hour (webapp.rules.mail_links.RESETS_PER_HOUR):
# each person asks this many for their own address, then for addresses nobody has.
RESETS_PER_ADDRESS = 3
# A row taken by a worker that was then killed waits this long for another
# worker (webapp.rules.outbox.LEASE), and the drain at the end as long, and more.
OUTBOX_LEASE = 120.0

WORDS = (
    "harbor", "lantern", "meadow", "copper", "violet", "thunder", "orchard",
    "glacier", "pepper", "saddle", "quiet", "river", "marble", "echo", "window",
    "garden", "silver", "planet", "morning", "basket",
)  # fmt: skip
ODD_WORDS = (
    "Zürich",
    "café",
    "naïve",
    "Ωmega",
    "日本語",
    "Привет",
    "ελληνικά",
    "🎉",
    "👩‍💻",
    "<b>bold</b>",
    "a & b",
    "100%",
    "snake_case",
    "back\\slash",
    '"quoted"',
    "it's",
)


class SoakError(Exception):
    """Something the soak test cannot go on without."""


def log(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- the database ------------------------------------------------------------------------


@dataclass(frozen=True)
class Database:
    url: str  # what Agora is given

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite:///")

    @property
    def label(self) -> str:
        return "SQLite" if self.is_sqlite else "PostgreSQL"

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement (`%s` placeholders) on a connection of its own."""
        if self.is_sqlite:
            path = self.url.removeprefix("sqlite:///")
            with contextlib.closing(sqlite3.connect(path)) as connection:
                return connection.execute(sql.replace("%s", "?"), params).fetchall()
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as connection:
            cursor = connection.execute(sql, params)  # type: ignore[arg-type]
            return cursor.fetchall() if cursor.description else []


def fresh_postgres(name: str) -> Database:
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise SoakError(f"not a plain database name: {name!r}")
    admin = Database(f"{PG_SERVER}/postgres")
    admin.rows(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.rows(f"CREATE DATABASE {name}")
    return Database(f"{PG_SERVER}/{name}")


def fresh_sqlite(folder: Path) -> Database:
    return Database(f"sqlite:///{folder / 'soak.db'}")


def agora_env(database: Database, smtp_url: str = "") -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database.url,
        SECRET_KEY=SECRET_KEY,
        WEBAPP_ENV="development",
        BCRYPT_ROUNDS="4",
        # Every simulated person registers and asks for resets from 127.0.0.1;
        # the limits per client address are not what this measures.
        REGISTRATIONS_PER_HOUR="0",
        LOGIN_MAX_ATTEMPTS="100000",
        SMTP_URL=smtp_url,
        PYTHONUNBUFFERED="1",
    )
    return env


def seed(agora_dir: Path, database: Database) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "webapp", "seed", *SEED],
        cwd=agora_dir,
        env=agora_env(database),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SoakError(f"seeding failed:\n{result.stderr[-3000:]}")
    log(f"seeded ({' '.join(SEED)}) in {time.monotonic() - started:.1f} s")


# --- the server --------------------------------------------------------------------------


def agora_server(
    agora_dir: Path, database: Database, workers: int, smtp_url: str, port: int = 0
) -> Server:
    port = port or free_port()
    argv = [sys.executable, "-m", "webapp", "serve", "--workers", str(workers)]
    argv += ["--host", "127.0.0.1", "--port", str(port)]
    return Server("agora", argv, agora_dir, agora_env(database, smtp_url), port)


class Killer:
    """Every `every` seconds, SIGKILL one worker at random, and see the
    server start another in its place."""

    def __init__(self, server: Server, workers: int, every: float, shared: Shared) -> None:
        self.server, self.workers, self.every, self.shared = server, workers, every, shared
        self.rng = random.Random(7)
        self.stop = threading.Event()
        self.restarts: list[float] = []  # seconds until the killed one was replaced
        self.not_replaced = 0
        self.thread = threading.Thread(target=self.run, name="killer", daemon=True)

    def run(self) -> None:
        while not self.stop.wait(self.every):
            self.kill_one()

    def kill_one(self) -> None:
        pids = self.server.worker_pids()
        if self.server.process is not None and pids == [self.server.process.pid]:
            return  # no worker yet (a single process is never killed)
        victim = self.rng.choice(pids)
        self.shared.killed()
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)
        started = time.monotonic()
        while time.monotonic() - started < 30:
            pids = self.server.worker_pids()
            if victim not in pids and len(pids) >= self.workers:
                self.restarts.append(time.monotonic() - started)
                log(f"killed worker {victim}; replaced in {self.restarts[-1]:.1f} s")
                return
            time.sleep(0.05)
        self.not_replaced += 1
        log(f"killed worker {victim}; NOT replaced in 30 s (workers now {pids})")

    def __enter__(self) -> Killer:
        if self.every > 0:
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()


def drain_outbox(database: Database, timeout: float) -> tuple[float, int, int]:
    """Wait until the outbox holds nothing to send (a row a killed worker held
    waits for its lease to end): the seconds it took, the rows left, and the
    rows given up."""
    started = time.monotonic()
    open_rows = "SELECT count(*) FROM outbox WHERE gave_up_at IS NULL"
    while True:
        left = database.rows(open_rows)[0][0]
        if left == 0 or time.monotonic() - started > timeout:
            break
        time.sleep(0.5)
    given_up = database.rows("SELECT count(*) FROM outbox WHERE gave_up_at IS NOT NULL")[0][0]
    return time.monotonic() - started, left, given_up


# --- what everyone did, and what the server acknowledged ----------------------------------


@dataclass
class PostRecord:
    """One post a simulated person wrote, as the server last acknowledged it."""

    id: int
    owner: str
    title: str
    content: str
    published: bool
    deleting: bool = False  # its owner has sent the delete and had no answer yet
    deleted: bool = False  # the delete was acknowledged (or a later one found it gone)
    maybe_deleted: bool = False  # a delete failed: it may or may not have happened
    # (title, content) pairs it may hold after an edit failed: the server may or may
    # not have applied it. Empty when the last edit was acknowledged.
    maybe: list[tuple[str, str]] = field(default_factory=list)
    edits: int = 0

    @property
    def may_be_gone(self) -> bool:
        """Whether a 404 for someone else is a normal answer."""
        return self.deleting or self.deleted or self.maybe_deleted or not self.published


@dataclass(frozen=True)
class Failure:
    action: str
    method: str
    path: str
    status: str  # a status code, or the name of a socket error
    snippet: str

    @property
    def kind(self) -> str:
        return f"{self.status} {self.method} {route_of(self.path)}"


def route_of(path: str) -> str:
    """/posts/123/vote -> /posts/{id}/vote; the query string dropped."""
    return re.sub(r"/\d+", "/{id}", path.split("?", 1)[0])


def snippet_of(body: str) -> str:
    """The readable start of an error page: its <main>, without tags."""
    start = body.find("<main")
    text = TAG_RE.sub(" ", body[start:] if start >= 0 else body)
    return " ".join(html.unescape(text).split())[:200]


class Shared:
    """What the simulated people share: the posts written, the ids seen, the counts."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.posts: dict[int, PostRecord] = {}
        # SQLite gives the id of a deleted newest post to the next one (no
        # AUTOINCREMENT): what was acknowledged about the old post, its likes
        # above all (they went with it), says nothing about the new one.
        self.reused: set[int] = set()
        self.recent: deque[int] = deque(maxlen=40)  # newest published soak posts
        self.seen_posts: set[int] = set()
        self.seen_users: set[int] = set()
        self.requests = 0
        self.by_route: Counter[str] = Counter()
        self.actions: Counter[str] = Counter()
        self.normal_404s: Counter[str] = Counter()
        self.double_clicks = 0
        self.latencies: list[float] = []
        self.failures: list[Failure] = []
        self.kills: list[float] = []  # when a worker was killed (monotonic)
        self.cut: Counter[str] = Counter()  # requests whose connection a kill cut
        self.maybe_written: set[str] = set()  # titles of posts whose answer a kill cut

    def killed(self) -> None:
        with self.lock:
            self.kills.append(time.monotonic())

    def cut_by_kill(self, started: float, ended: float) -> bool:
        """Whether a kill fell while the request ran (or just before it: a
        connection the killed worker held may fail on its next request)."""
        with self.lock:
            return any(started - 1.0 <= kill <= ended + 0.2 for kill in self.kills)

    def time_is_up(self) -> bool:
        return self.stop.is_set() or time.monotonic() >= self.deadline

    def counted(self, method: str, path: str, seconds: float) -> None:
        with self.lock:
            self.requests += 1
            self.by_route[f"{method} {route_of(path)}"] += 1
            self.latencies.append(seconds)

    def gone(self, method: str, path: str) -> None:
        with self.lock:
            self.normal_404s[f"{method} {route_of(path)}"] += 1

    def failed(self, failure: Failure) -> None:
        with self.lock:
            self.failures.append(failure)

    def saw(self, page: str) -> None:
        post_ids = {int(n) for n in POST_LINK_RE.findall(page)}
        user_ids = {int(n) for n in USER_LINK_RE.findall(page)}
        with self.lock:
            if len(self.seen_posts) < 5_000:
                self.seen_posts |= post_ids
            self.seen_users |= user_ids

    def record(self, post: PostRecord) -> None:
        with self.lock:
            if post.id in self.posts:
                self.reused.add(post.id)
            self.posts[post.id] = post
            if post.published:
                self.recent.append(post.id)

    def may_be_gone(self, post_id: int) -> bool:
        with self.lock:
            post = self.posts.get(post_id)
            return post_id in self.reused or (post is not None and post.may_be_gone)

    def someone_elses_post(self, rng: random.Random, me: str) -> int | None:
        """Often one of the newest soak posts, the top of the front page (their
        owners may be deleting them right now), else any post seen on a page."""
        with self.lock:
            recent = [i for i in self.recent if self.posts[i].owner != me]
            chance = rng.random()
            if recent and chance < 0.35:
                return rng.choice(recent[-6:])
            if recent and chance < 0.6:
                return rng.choice(recent)
            seen = [i for i in self.seen_posts if i not in self.posts or self.posts[i].owner != me]
            return rng.choice(seen) if seen else None

    def some_user(self, rng: random.Random) -> int | None:
        with self.lock:
            return rng.choice(sorted(self.seen_users)) if self.seen_users else None


# --- one simulated person ----------------------------------------------------------------

Expect = Callable[[int], bool]


def statuses(*codes: int) -> Expect:
    return lambda status: status in codes


OK, SEE_OTHER = statuses(200), statuses(303)


class Person:
    """A browser with one cookie jar, driven by one thread."""

    def __init__(
        self, number: int, tag: str, base_url: str, shared: Shared, timeout: float
    ) -> None:
        self.username = f"soak_{tag}_{number}"
        self.shared = shared
        self.rng = random.Random(f"{tag}-{number}")
        self.client = httpx2.Client(
            base_url=base_url, follow_redirects=False, timeout=httpx2.Timeout(timeout)
        )
        self.action = "register"
        self.csrf: dict[int, str] = {}  # each client's (cookie jar's) form token
        # A browser without my cookie, where I ask for password resets.
        self.stranger = httpx2.Client(
            base_url=base_url, follow_redirects=False, timeout=httpx2.Timeout(timeout)
        )
        self.email = f"{self.username}@example.com"
        # Reset mails asked for, by address: [acknowledged, unsure (a kill cut the answer)].
        self.resets: dict[str, list[int]] = {}
        self.user_id: int | None = None
        self.logged_in = False
        self.own: list[int] = []  # ids of my posts that are not deleted
        self.wishes: dict[int, int | None] = {}  # post id -> last acknowledged dir (None: unsure)
        self.written = 0
        self.gave_up = False

    # -- HTTP --

    def request(
        self,
        method: str,
        path: str,
        expect: Expect,
        form: dict[str, str] | None = None,
        client: httpx2.Client | None = None,
    ) -> httpx2.Response | None:
        """One request; None when it failed (and was counted as an error, or
        as a connection a kill cut)."""
        client = client or self.client
        started = time.monotonic()
        try:
            response = client.request(method, path, data=form)
            response.read()
        except httpx2.TransportError as error:
            ended = time.monotonic()
            self.shared.counted(method, path, ended - started)
            # A kill resets or closes connections; a timeout is never its doing.
            timed_out = isinstance(error, httpx2.TimeoutException)
            if not timed_out and self.shared.cut_by_kill(started, ended):
                with self.shared.lock:
                    self.shared.cut[f"{method} {route_of(path)}"] += 1
                return None
            self.shared.failed(Failure(self.action, method, path, type(error).__name__, str(error)))
            return None
        self.shared.counted(method, path, time.monotonic() - started)
        if not expect(response.status_code):
            body = snippet_of(response.text)
            self.shared.failed(Failure(self.action, method, path, str(response.status_code), body))
            return None
        if response.status_code == 404:  # allowed: the post was deleted meanwhile
            self.shared.gone(method, path)
        if response.headers.get("content-type", "").startswith("text/html"):
            found = CSRF_RE.search(response.text)
            if found:
                self.csrf[id(client)] = html.unescape(found.group(1))
        return response

    def get(self, path: str, expect: Expect = OK) -> httpx2.Response | None:
        return self.request("GET", path, expect)

    def post(
        self, path: str, form: dict[str, str], expect: Expect = SEE_OTHER
    ) -> httpx2.Response | None:
        return self.request(
            "POST", path, expect, {**form, "csrf_token": self.csrf[id(self.client)]}
        )

    def problem(self, path: str, what: str, method: str = "GET") -> None:
        """A wrong answer that came with a normal status."""
        self.shared.failed(Failure(self.action, method, path, "wrong answer", what))

    def post_or_gone(self, post_id: int) -> Expect:
        """200, or 404 when the post is (being) deleted or a draft."""
        return lambda status: status == 200 or (status == 404 and self.shared.may_be_gone(post_id))

    # -- the life of a person --

    def run(self) -> None:
        try:
            if not self.register():
                self.gave_up = True
                return
            names, weights = list(ACTIONS), list(ACTIONS.values())
            while not self.shared.time_is_up():
                if not self.logged_in:  # logging in again failed: try once more
                    self.action = "log in again"
                    self.log_in()
                    continue
                self.action = self.rng.choices(names, weights)[0]
                with self.shared.lock:
                    self.shared.actions[self.action] += 1
                getattr(self, "do_" + self.action.replace(" ", "_"))()
        finally:
            self.client.close()
            self.stranger.close()

    def register(self) -> bool:
        """Register; when a kill cut the answer, again: a 409 then says the
        first one was made, and I log in."""
        form = {"username": self.username, "email": self.email}
        form |= {"password": PASSWORD, "password_confirm": PASSWORD}
        made_maybe = False
        for _ in range(5):
            if self.get("/register") is None:
                continue
            expect = statuses(303, 409) if made_maybe else SEE_OTHER
            answer = self.post("/register", form, expect)
            if answer is None:
                made_maybe = True
                continue
            if answer.status_code == 409:
                self.log_in()
                return self.logged_in
            return self.arrive_logged_in()
        return False

    def arrive_logged_in(self) -> bool:
        """Follow the 303 home; the header names me and links my profile."""
        page = self.get("/")
        if page is None:
            return False
        found = re.search(rf'href="/users/(\d+)">{self.username}</a>', page.text)
        if not found:
            self.problem("/", f"{self.username} is not shown as logged in")
            return False
        self.user_id = int(found.group(1))
        self.logged_in = True
        self.shared.saw(page.text)
        return True

    # -- reading --

    def do_browse(self) -> None:
        page = self.get("/")
        if page is not None:
            self.shared.saw(page.text)

    def do_page(self) -> None:
        number = self.rng.choice([2, 2, 3, 4, 5, 8, 15, 400])  # 400: past the end
        page = self.get(f"/?page={number}")
        if page is not None:
            self.shared.saw(page.text)

    def do_read_post(self) -> None:
        post_id = self.shared.someone_elses_post(self.rng, self.username)
        if post_id is None:
            return self.do_browse()
        page = self.get(f"/posts/{post_id}", self.post_or_gone(post_id))
        if page is not None:
            self.shared.saw(page.text)

    def do_profile(self) -> None:
        user_id = self.shared.some_user(self.rng)
        if self.rng.random() < 0.2 or user_id is None:
            user_id = self.user_id  # my own, drafts included
        page = self.get(f"/users/{user_id}")
        if page is not None:
            self.shared.saw(page.text)

    def do_search(self) -> None:
        words = self.rng.sample(WORDS, self.rng.choice([1, 1, 2]))
        if self.rng.random() < 0.2:
            words = [self.rng.choice(ODD_WORDS)]
        query = urllib.parse.urlencode({"q": " ".join(words)})
        if self.get(f"/?{query}") is not None and self.rng.random() < 0.3:
            self.get(f"/?page=2&{query}")

    # -- logging out and in --

    def do_log_in_again(self) -> None:
        if self.post("/logout", {}) is None:
            return
        self.logged_in = False
        if self.get("/") is not None:  # follow the 303
            self.log_in()

    def log_in(self) -> None:
        page = self.get("/login", lambda status: status in (200, 303))
        if page is None:
            return
        if page.status_code == 303:
            # Logged in already: the login went through, and a kill cut the
            # page after it before the header could say so.
            self.arrive_logged_in()
            return
        form = {"username": self.username, "password": PASSWORD, "next": "/"}
        if self.post("/login", form) is not None:
            self.arrive_logged_in()

    # -- asking for a password reset --

    def do_reset(self) -> None:
        """From a browser without my cookie, as someone who forgot: my own
        address up to the hourly number of mails, then addresses nobody has."""
        mine = self.resets.setdefault(self.email, [0, 0])
        if sum(mine) < RESETS_PER_ADDRESS:
            address = self.email
        else:
            address = f"nobody_{self.username}_{len(self.resets)}@example.com"
        if self.request("GET", "/password-reset", OK, client=self.stranger) is None:
            return
        form = {"email": address, "csrf_token": self.csrf.get(id(self.stranger), "")}
        answer = self.request("POST", "/password-reset", SEE_OTHER, form, client=self.stranger)
        asked = self.resets.setdefault(address, [0, 0])
        asked[0 if answer is not None else 1] += 1

    # -- writing --

    def text(self, lines: int) -> str:
        chosen = []
        for _ in range(lines):
            words = self.rng.sample(WORDS, self.rng.randint(3, 12))
            if self.rng.random() < 0.5:
                words.insert(self.rng.randrange(len(words)), self.rng.choice(ODD_WORDS))
            chosen.append(" ".join(words).capitalize() + ".")
        return "\n".join(chosen)

    def new_title_and_content(self) -> tuple[str, str, str]:
        """(title, content as sent, content as it must be kept)."""
        self.written += 1
        odd = self.rng.choice(ODD_WORDS) if self.rng.random() < 0.5 else ""
        title = " ".join(filter(None, [self.rng.choice(WORDS).title(), odd]))
        title += f" by {self.username} #{self.written}"
        kept = self.text(self.rng.choice([1, 1, 2, 3, 6]))
        if self.rng.random() < 0.3:
            kept = kept.replace("\n", "\n\n", 1)  # a blank line between paragraphs
        if self.rng.random() < 0.05:
            kept = "\n".join([kept] * 40)  # a long one, a few thousand characters
        # Browsers send line breaks as CRLF; the server keeps them as LF.
        sent = kept.replace("\n", "\r\n") if self.rng.random() < 0.7 else kept
        return title, sent, kept

    def check_shows(self, post: PostRecord) -> None:
        """Follow the 303 to my post, and see it as it now is."""
        path = f"/posts/{post.id}"
        page = self.get(path, self.mine(post, 200))
        if (
            page is not None
            and page.status_code == 200
            and post.title not in html.unescape(page.text)
        ):
            self.problem(path, f"the page does not show the title {post.title!r}")

    def mine(self, post: PostRecord, success: int) -> Expect:
        """My own post answers `success`; 404 only after a delete of mine failed
        (it may have happened)."""
        return lambda status: status == success or (status == 404 and post.maybe_deleted)

    def do_write(self) -> None:
        if self.get("/posts/new") is None:
            return
        title, sent, kept = self.new_title_and_content()
        published = self.rng.random() < 0.9
        form = {"title": title, "content": sent} | ({"published": "on"} if published else {})
        answer = self.post("/posts", form)
        if answer is None:
            with self.shared.lock:  # written or not: a kill may have cut the answer
                self.shared.maybe_written.add(title)
            return
        found = CREATED_RE.match(answer.headers.get("location", ""))
        if not found:
            self.problem("/posts", f"303 to {answer.headers.get('location')!r}", "POST")
            return
        post = PostRecord(int(found.group(1)), self.username, title, kept, published)
        self.shared.record(post)
        self.own.append(post.id)
        self.check_shows(post)

    def my_post(self) -> PostRecord | None:
        if not self.own:
            return None
        # Mostly among the newest: those are on the front page, being liked.
        post_id = self.rng.choice(self.own[-3:] if self.rng.random() < 0.7 else self.own)
        with self.shared.lock:
            return self.shared.posts[post_id]

    def found_gone(self, post: PostRecord) -> None:
        """A 404 for my post: a delete of mine that failed did happen after all."""
        with self.shared.lock:
            post.deleted, post.maybe_deleted = True, False
        self.own.remove(post.id)

    def do_edit(self) -> None:
        post = self.my_post()
        if post is None:
            return self.do_write()
        path = f"/posts/{post.id}/edit"
        page = self.get(path, self.mine(post, 200))
        if page is None:
            return
        if page.status_code == 404:
            return self.found_gone(post)
        title, sent, kept = self.new_title_and_content()
        title = f"{title} (edited)"
        form = {"title": title, "content": sent} | ({"published": "on"} if post.published else {})
        answer = self.post(path, form, self.mine(post, 303))
        if answer is None:
            with self.shared.lock:  # it may have been applied, or not
                post.maybe.append((title, kept))
            return
        if answer.status_code == 404:
            return self.found_gone(post)
        with self.shared.lock:
            post.title, post.content, post.maybe = title, kept, []
            post.edits += 1
        self.check_shows(post)

    def do_delete(self) -> None:
        post = self.my_post()
        if post is None:
            return self.do_write()
        # As a browser does: the post's page has the delete form (and a fresh token).
        page = self.get(f"/posts/{post.id}", self.mine(post, 200))
        if page is None:
            return
        if page.status_code == 404:
            return self.found_gone(post)
        with self.shared.lock:
            post.deleting = True
        answer = self.post(f"/posts/{post.id}/delete", {}, self.mine(post, 303))
        with self.shared.lock:
            post.deleting = False
            if answer is None:  # deleted or not: either is accepted at the end
                post.maybe_deleted = True
                return
            post.deleted, post.maybe_deleted = True, False
        self.own.remove(post.id)
        self.get("/")  # follow the 303

    # -- liking --

    def do_like(self) -> None:
        post_id = self.shared.someone_elses_post(self.rng, self.username)
        if post_id is None:
            return self.do_browse()
        path = f"/posts/{post_id}"
        if self.rng.random() < 0.3:
            # A tab left open: send a wish without looking at the page first.
            wish = self.rng.choice([0, 1, 1])
        else:
            page = self.get(path, self.post_or_gone(post_id))
            if page is None or page.status_code == 404:
                return
            found = DIR_RE.search(page.text)
            if not found:
                return self.problem(path, "no like button")
            wish = int(found.group(1))
        answer = self.vote(post_id, wish)
        if answer is None:
            self.wishes[post_id] = None  # done or not: unsure
            return
        if answer.status_code == 404:
            return
        self.wishes[post_id] = wish
        page = self.get(path, self.post_or_gone(post_id))  # follow the 303
        if page is not None and page.status_code == 200:
            pressed = PRESSED_RE.search(page.text)
            shown = pressed.group(1) if pressed else "missing"
            # A delete committed while the page was built takes the like with it.
            if shown != ("true" if wish else "false") and not self.shared.may_be_gone(post_id):
                self.problem(path, f"after dir={wish} the like button shows pressed={shown}")

    def vote(self, post_id: int, wish: int) -> httpx2.Response | None:
        """POST the like button; one time in ten a double click: the same wish twice
        at once, which must be answered normally both times."""
        path, form, expect = (
            f"/posts/{post_id}/vote",
            {"dir": str(wish)},
            self.voted_or_gone(post_id),
        )
        if self.rng.random() >= 0.1:
            return self.post(path, form, expect)
        second: list[httpx2.Response | None] = []
        click = threading.Thread(target=lambda: second.append(self.post(path, form, expect)))
        click.start()
        first = self.post(path, form, expect)
        click.join()
        with self.shared.lock:
            self.shared.double_clicks += 1
        return None if first is None or not second or second[0] is None else first

    def voted_or_gone(self, post_id: int) -> Expect:
        return lambda status: status == 303 or (status == 404 and self.shared.may_be_gone(post_id))


# --- the run -----------------------------------------------------------------------------


@dataclass
class Load:
    people: list[Person]
    shared: Shared
    seconds: float


def run_load(server: Server, shared: Shared, users: int, seconds: float, timeout: float) -> Load:
    tag = secrets.token_hex(3)
    people = [Person(n, tag, server.url, shared, timeout) for n in range(users)]
    shared.deadline = time.monotonic() + seconds  # from when they start
    threads = [threading.Thread(target=p.run, name=p.username, daemon=True) for p in people]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    try:
        last = started
        while any(t.is_alive() for t in threads):
            time.sleep(0.5)
            if time.monotonic() - last >= 10:
                last = time.monotonic()
                log(f"{shared.requests:,} requests, {len(shared.failures)} errors so far")
            if time.monotonic() > shared.deadline + timeout + 30:
                raise SoakError("simulated users did not stop after the time was up")
    finally:
        shared.stop.set()
        for thread in threads:
            thread.join(timeout=timeout + 5)
    return Load(people, shared, time.monotonic() - started)


@dataclass
class Verdict:
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        self.problems.append(text)


def verify(database: Database, load: Load) -> Verdict:
    """What the database holds against what the server acknowledged."""
    verdict = Verdict()
    shared, people = load.shared, load.people
    names = {p.username for p in people}
    user_ids = {
        row[1]: row[0] for row in database.rows("SELECT id, username FROM users") if row[1] in names
    }
    stored = {
        row[0]: row
        for row in database.rows("SELECT id, owner_id, title, content, published FROM posts")
    }
    soak_owned = {i for i, row in stored.items() if row[1] in user_ids.values()}

    exact = gone = unsure = 0
    for post in shared.posts.values():
        row = stored.get(post.id)
        where = f"post {post.id} by {post.owner}"
        if row is not None and row[1] != user_ids.get(post.owner):
            verdict.problem(f"{where}: owned by user {row[1]}")
        if post.deleted:
            if row is None:
                gone += 1
            else:
                verdict.problem(f"{where}: deleted (acknowledged) but still there")
            continue
        if row is None:
            if post.maybe_deleted:
                unsure += 1
            else:
                verdict.problem(f"{where}: acknowledged, never deleted, but missing")
            continue
        if (row[2], row[3]) == (post.title, post.content) and bool(row[4]) == post.published:
            exact += 1
        elif (row[2], row[3]) in post.maybe:
            unsure += 1
        else:
            verdict.problem(
                f"{where}: holds title {row[2]!r}, content {row[3][:80]!r}, published {row[4]}; "
                f"acknowledged {post.title!r}, {post.content[:80]!r}, {post.published}"
            )
    unacknowledged = soak_owned - set(shared.posts)
    maybe_written = {i for i in unacknowledged if stored[i][2] in shared.maybe_written}
    unsure += len(maybe_written)
    strays = sorted(unacknowledged - maybe_written)
    if strays:
        verdict.problem(f"{len(strays)} posts the server never acknowledged: ids {strays[:10]}")

    counts = database.rows(
        "SELECT p.id, p.votes, (SELECT count(*) FROM votes v WHERE v.post_id = p.id) FROM posts p"
    )
    wrong = [(i, kept, rows) for i, kept, rows in counts if kept != rows]
    for post_id, kept, rows in wrong[:10]:
        verdict.problem(f"post {post_id}: like count {kept}, but {rows} like rows")
    if len(wrong) > 10:
        verdict.problem(f"... and {len(wrong) - 10} more posts whose like count is wrong")
    orphans = database.rows(
        "SELECT count(*) FROM votes v "
        "WHERE NOT EXISTS (SELECT 1 FROM posts p WHERE p.id = v.post_id)"
    )[0][0]
    if orphans:
        verdict.problem(f"{orphans} likes of posts that do not exist")

    liked = set(database.rows("SELECT user_id, post_id FROM votes"))
    wishes_checked = wishes_unsure = 0
    for person in people:
        me = user_ids.get(person.username)
        for post_id, wish in person.wishes.items():
            if post_id not in stored:
                continue  # deleted: its likes went with it (orphans are checked above)
            if wish is None or me is None or post_id in shared.reused:
                wishes_unsure += 1
            elif ((me, post_id) in liked) == bool(wish):
                wishes_checked += 1
            else:
                verdict.problem(
                    f"{person.username} on post {post_id}: last acknowledged dir={wish}, "
                    f"but the like is {'there' if (me, post_id) in liked else 'missing'}"
                )

    acknowledged = len(shared.posts)
    edited = sum(1 for p in shared.posts.values() if p.edits)
    drafts = sum(1 for p in shared.posts.values() if not p.published)
    verdict.lines += [
        f"posts: {acknowledged:,} acknowledged ({drafts:,} drafts, {edited:,} edited, "
        f"{gone:,} deleted): {exact:,} verified with their exact title, content and "
        f"published flag, {gone:,} verified gone, {unsure:,} unsure after a failed "
        f"request, {len(strays)} never acknowledged",
        f"like counts: {len(counts) - len(wrong):,} of {len(counts):,} posts have "
        f"posts.votes = their rows in votes; {orphans} likes of missing posts",
        f"likes: {wishes_checked:,} (person, post) likes match the last acknowledged wish "
        f"({wishes_unsure} unsure after a failed request or on a reused id); "
        f"{len(liked):,} like rows in all; ids SQLite gave again: {len(shared.reused)}",
    ]
    return verdict


def verify_mail(people: list[Person], received: list[Received], verdict: Verdict) -> None:
    """Every reset asked for and acknowledged was delivered, once; one whose
    answer a kill cut, at most once; an address nobody has got nothing."""
    resets = [mail for mail in received if mail.subject == RESET_SUBJECT]
    by_address = Counter(mail.to for mail in resets)
    twice = [body for body, n in Counter(mail.body for mail in resets).items() if n > 1]
    acknowledged = unsure = lost = extra = 0
    for person in people:
        for address, (asked, maybe) in person.resets.items():
            got = by_address.pop(address.lower(), 0)
            expected = asked if address == person.email else 0
            acknowledged += expected
            unsure += maybe if address == person.email else 0
            if got < expected:
                lost += expected - got
                verdict.problem(f"{address}: {expected} resets acknowledged, {got} mails")
            elif got > expected + (maybe if address == person.email else 0):
                extra += got - expected
                verdict.problem(
                    f"{address}: {expected} resets acknowledged (+{maybe} cut), {got} mails"
                )
    for address, got in by_address.items():
        verdict.problem(f"{address}: {got} reset mails nobody asked for")
    for body in twice[:5]:
        verdict.problem(f"the same reset mail delivered twice: {body[:120]!r}")
    asked_unknown = sum(
        sum(counts) for p in people for a, counts in p.resets.items() if a != p.email
    )
    verdict.lines.append(
        f"mail: {len(received):,} received by the test's SMTP server, {len(resets):,} resets: "
        f"{acknowledged:,} acknowledged resets, {lost} lost, {extra} extra, "
        f"{len(twice)} delivered twice; {unsure} whose answer a kill cut "
        f"(0 or 1 mail each); {asked_unknown:,} for addresses nobody has, 0 mails expected"
    )


def server_log_summary(text: str) -> list[str]:
    """The exceptions the server logged (it logs errors only, no access log)."""
    tracebacks = text.count("Traceback (most recent call last)")
    kinds = Counter(
        m.group(1)
        for m in re.finditer(r"^([A-Za-z_][\w.]*(?:Error|Exception|Deadlock\w*)):", text, re.M)
    )
    if not tracebacks and not kinds:
        return ["server log: no tracebacks"]
    listed = ", ".join(f"{kind} ×{n}" for kind, n in kinds.most_common(8))
    return [f"server log: {tracebacks} tracebacks; last lines: {listed or '–'}"]


def report(
    database: Database, workers: int, users: int, load: Load, verdict: Verdict, server: Server
) -> bool:
    shared = load.shared
    failures = shared.failures
    latencies = sorted(shared.latencies)
    p50 = statistics.median(latencies) * 1000 if latencies else float("nan")
    p99 = latencies[int(len(latencies) * 0.99)] * 1000 if latencies else float("nan")
    gave_up = [p.username for p in load.people if p.gave_up]
    cpu = os.times().user + os.times().system  # the simulated users share the machine
    print()
    print(f"Soak: {database.label}, serve --workers {workers}, {users} users, {load.seconds:.1f} s")
    print(
        f"  requests: {shared.requests:,} ({shared.requests / load.seconds:,.1f} req/s); "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms; this script used {cpu:.0f} s of CPU"
    )
    actions = ", ".join(f"{name} {n:,}" for name, n in shared.actions.most_common())
    votes = shared.by_route["POST /posts/{id}/vote"]
    print(
        f"  actions: {actions}; POST /posts/{{id}}/vote {votes:,} "
        f"(with {shared.double_clicks:,} double clicks)"
    )
    gone = ", ".join(f"{route} {n:,}" for route, n in shared.normal_404s.most_common())
    print(f"  404s for posts deleted meanwhile or drafts (normal): {gone or 'none'}")
    cut = ", ".join(f"{route} {n:,}" for route, n in shared.cut.most_common())
    print(f"  connections cut by the kills (allowed): {cut or 'none'}")
    kinds = Counter(f.kind for f in failures)
    listed = "; ".join(f"{kind} ×{n}" for kind, n in kinds.most_common())
    print(f"  errors: {len(failures)}" + (f" ({listed})" if listed else ""))
    if gave_up:
        print(f"  users that could not register: {len(gave_up)}")
    distinct: dict[tuple[str, str, str], Failure] = {}
    for failure in failures:
        distinct.setdefault((failure.method, route_of(failure.path), failure.status), failure)
    for failure in list(distinct.values())[:10]:
        print(
            f"    {failure.method} {failure.path} -> {failure.status} "
            f"(while {failure.action}): {failure.snippet}"
        )
    for line in verdict.lines:
        print(f"  {line}")
    for problem in verdict.problems[:20]:
        print(f"  FAILED CHECK: {problem}")
    for line in server_log_summary(server.log_text()):
        print(f"  {line} ({server.log_file.name})")
    ok = not failures and not verdict.problems and not gave_up
    print(f"  result: {'PASS' if ok else 'FAIL'}")
    return ok


def soak(args: argparse.Namespace, agora_dir: Path, folder: Path) -> bool:
    database = fresh_sqlite(folder) if args.sqlite else fresh_postgres(args.database)
    log(f"Agora from {agora_dir} on {database.label} ({database.url})")
    if not args.no_seed:
        seed(agora_dir, database)
    with MailTrap(args.smtp_port) as trap:
        server = agora_server(agora_dir, database, args.workers, trap.url, args.port)
        shared = Shared(time.monotonic() + args.seconds)
        killer = Killer(server, args.workers, args.kill_every, shared)
        try:
            server.start()
            server.wait_ready()
            log(
                f"serving at {server.url} with {args.workers} workers, mail to {trap.url}; "
                f"{args.users} users for {args.seconds:g} s; a worker killed every "
                f"{args.kill_every:g} s"
            )
            with killer:
                load = run_load(server, shared, args.users, args.seconds, args.timeout)
            log(f"users stopped after {load.seconds:.1f} s; waiting for the outbox to empty")
            drained = drain_outbox(database, OUTBOX_LEASE + 30)
            time.sleep(1)  # the last mail's SMTP exchange, after its row went
            log(f"outbox empty after {drained[0]:.1f} s; stopping the server")
        finally:
            server.stop()
        received = trap.received()
    log("checking the database and the mail")
    verdict = verify(database, load)
    verify_mail(load.people, received, verdict)
    seconds, left, given_up = drained
    if left or given_up:
        verdict.problem(f"outbox: {left} mails still waiting, {given_up} given up")
    if killer.not_replaced:
        verdict.problem(f"{killer.not_replaced} killed workers were not replaced")
    restarts = killer.restarts
    verdict.lines.insert(
        0,
        f"kills: {len(shared.kills)} workers killed with SIGKILL, {len(restarts)} replaced "
        f"(in {max(restarts, default=0):.1f} s at most); the outbox emptied "
        f"{seconds:.1f} s after the users stopped",
    )
    return report(database, args.workers, args.users, load, verdict, server)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file, not PostgreSQL")
    parser.add_argument(
        "--database", default=DEFAULT_DATABASE, help="PostgreSQL database to drop and create"
    )
    parser.add_argument("--users", type=int, default=32, help="simulated people at once")
    parser.add_argument("--seconds", type=float, default=60, help="how long they go on")
    parser.add_argument("--workers", type=int, default=2, help="serve --workers")
    parser.add_argument("--timeout", type=float, default=30, help="seconds a request may take")
    parser.add_argument("--no-seed", action="store_true", help="start from an empty database")
    parser.add_argument("--port", type=int, default=0, help="Agora's port (default: a free one)")
    parser.add_argument(
        "--smtp-port", type=int, default=0, help="the test SMTP server's (default: a free one)"
    )
    parser.add_argument(
        "--kill-every",
        type=float,
        default=10,
        help="seconds between two workers killed with SIGKILL (0: none)",
    )
    parser.add_argument(
        "--agora-dir",
        type=Path,
        default=Path(__file__).resolve().parents[2],
        help="the checkout to serve",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    agora_dir = args.agora_dir.resolve()
    if not (agora_dir / "webapp").is_dir():
        print(f"soak: no webapp package in {agora_dir}", file=sys.stderr)
        return 2
    catch_signals()
    log(f"command: {shlex.join([Path(sys.executable).name, *sys.argv])}")
    try:
        with tempfile.TemporaryDirectory(prefix="agora-soak-") as tmp:
            ok = soak(args, agora_dir, Path(tmp))
    except (SoakError, ServerError) as error:
        print(f"soak: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("soak: interrupted; server stopped", file=sys.stderr)
        return 130
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

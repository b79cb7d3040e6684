"""`python -m webapp seed`: realistic demo data, inserted in large batches.

People, posts, follows, likes and comments, with the skew of a real site: who
is followed follows a Zipf law (a few people are followed by nearly everyone,
most by a handful), and a post's likes and comments go with its author's
following and a heavy-tailed luck of its own, so that a few posts gather
hundreds of comments while most have none. Every like, comment and follow
tells its recipient (never oneself), as the site would; most of those
notifications are read, each person's newest few are not.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, Update, func, insert, select, text, update
from sqlmodel import col
from tqdm import tqdm

from webapp.core.config import Settings
from webapp.core.db import create_db_engine
from webapp.core.security import PasswordHasher, new_token
from webapp.models import (
    COMMENT_MAX,
    Comment,
    Follow,
    Like,
    Notification,
    Post,
    PostTag,
    User,
)
from webapp.rules import comments, markup, notification_rows

DEMO_PASSWORD = "agora-demo-password"  # noqa: S105 (documented in the README)
BATCH = 2_000
NAMES_SHOWN = 3  # of the people made, named at the end: whom to log in as

FIRST_NAMES = [
    "ada",
    "alan",
    "grace",
    "linus",
    "guido",
    "barbara",
    "ken",
    "dennis",
    "margaret",
    "edsger",
    "donald",
    "radia",
    "frances",
    "john",
    "sophie",
    "tim",
    "katherine",
    "hedy",
    "annie",
    "niklaus",
    "bjarne",
    "yukihiro",
    "rasmus",
    "brendan",
    "anders",
    "james",
    "lynn",
    "mary",
    "joan",
    "carol",
]
WORDS = [
    "garden",
    "river",
    "morning",
    "coffee",
    "city",
    "bicycle",
    "library",
    "winter",
    "summer",
    "market",
    "window",
    "music",
    "street",
    "letter",
    "mountain",
    "harbour",
    "kitchen",
    "recipe",
    "travel",
    "weekend",
    "project",
    "idea",
    "question",
    "answer",
    "story",
    "photo",
    "neighbour",
    "festival",
    "train",
    "station",
    "bread",
    "tomato",
    "forest",
    "evening",
    "school",
    "book",
    "chapter",
    "concert",
    "rain",
    "sunshine",
    "walk",
    "bridge",
    "lighthouse",
    "museum",
    "painting",
    "notebook",
    "friend",
    "family",
    "holiday",
    "island",
    "journey",
    "village",
    "code",
    "python",
    "database",
    "server",
    "design",
    "lesson",
]
VERBS = [
    "found",
    "visited",
    "tried",
    "built",
    "wrote",
    "read",
    "noticed",
    "shared",
    "cooked",
    "fixed",
    "learned",
    "painted",
    "planned",
    "started",
    "finished",
    "remembered",
    "discovered",
    "loved",
]


# Words that few posts use, the first more often than the last (a Zipf tail):
# with the common words above, searches range from a third of all posts to
# about one in a hundred, as searches on a real site do.
RARE_WORDS = [
    "telescope",
    "sourdough",
    "accordion",
    "glacier",
    "lantern",
    "kayak",
    "violin",
    "orchard",
    "meadow",
    "canyon",
    "saffron",
    "bamboo",
    "pottery",
    "chess",
    "tandem",
    "falcon",
    "juniper",
    "cathedral",
    "observatory",
    "lavender",
    "walnut",
    "marzipan",
    "quince",
    "zeppelin",
    "origami",
    "harpsichord",
    "xylophone",
    "gondola",
    "tapestry",
    "sextant",
]
RARE_WEIGHTS = [1 / rank for rank in range(1, len(RARE_WORDS) + 1)]
RARE_SHARE = 0.2  # of sentences that carry one rare word

# Who is followed: the person of rank r (in a shuffled order) draws 1 / r**FOLLOW_ZIPF
# of the follows, short of being followed by everyone. At 1,000 people and 20,000
# follows the top ten have 300 to 999 followers each and the median person 7.
FOLLOW_ZIPF = 1.0
# A post's own luck, a Pareto factor: most posts get little, a few a great deal
# (at 100,000 posts and as many comments, a third of the posts have comments and
# the most commented a few hundred).
POST_LUCK_SHAPE = 2.0
OWN_ANSWERS = 0.15  # of comments written by the post's author, answering
REPLY_SHARE = 0.3  # of comments that answer another comment


def sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(3, 9))]
    words.insert(1, rng.choice(VERBS))
    if rng.random() < RARE_SHARE:
        words.insert(rng.randint(2, len(words)), rng.choices(RARE_WORDS, RARE_WEIGHTS)[0])
    return " ".join(words).capitalize() + rng.choice(".!?.")


# Markdown in the seeded texts: in this share of them, a few of the things
# people write (emphasis, code, a link, a mention, tags).
MARKUP_SHARE = 0.5
TAG_WORDS = [
    "python", "postgres", "gardening", "music", "books", "cooking", "travel",
    "photography", "running", "chess", "astronomy", "history", "design", "cats",
]  # fmt: skip
LINKS = [
    "https://example.com/notes",
    "https://www.python.org/",
    "https://en.wikipedia.org/wiki/Computer",
    "/posts/1",
]


def with_markdown(rng: random.Random, text: str, names: Sequence[str]) -> str:
    """The text, sometimes with some Markdown: a word emphasized or strong, a
    bit of code, a link, a mention of one of `names`, a tag or two."""
    if rng.random() >= MARKUP_SHARE:
        return text
    words = text.split(" ")
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(words))
        word = words[at]
        if not word.isalpha():
            continue
        style = rng.random()
        if style < 0.4:
            words[at] = f"*{word}*"
        elif style < 0.65:
            words[at] = f"**{word}**"
        elif style < 0.85:
            words[at] = f"`{word}`"
        else:
            words[at] = f"[{word}]({rng.choice(LINKS)})"
    text = " ".join(words)
    if names and rng.random() < 0.3:
        text += f" Thanks @{rng.choice(names)}."
    if rng.random() < 0.2:
        text += f" More at {rng.choice(LINKS[:3])}"
    if rng.random() < 0.6:
        text += "\n\n" + " ".join(f"#{tag}" for tag in rng.sample(TAG_WORDS, rng.randint(1, 3)))
    return text


def post_text(rng: random.Random, sentences: Sequence[str], names: Sequence[str] = ()) -> str:
    paragraphs = [
        " ".join(rng.sample(sentences, rng.randint(2, 5))) for _ in range(rng.randint(1, 3))
    ]
    return with_markdown(rng, "\n\n".join(paragraphs), names)


def title(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6))).capitalize()


def comment_text(rng: random.Random, sentences: Sequence[str], names: Sequence[str] = ()) -> str:
    """A word, a few sentences, or (one in ten) paragraphs up to 2,000 characters."""
    kind = rng.random()
    if kind < 0.15:
        return rng.choice(WORDS).capitalize() + rng.choice("!?.")
    if kind < 0.9:
        return with_markdown(rng, " ".join(rng.sample(sentences, rng.randint(1, 3))), names)
    wanted = rng.randint(300, COMMENT_MAX)
    paragraphs: list[str] = []
    while sum(len(paragraph) + 2 for paragraph in paragraphs) < wanted:
        paragraphs.append(" ".join(rng.sample(sentences, rng.randint(2, 5))))
    text = "\n\n".join(paragraphs)
    if len(text) > COMMENT_MAX:
        text = text[:COMMENT_MAX].rsplit(" ", 1)[0].rstrip()
    return text


def later(rng: random.Random, start: datetime, now: datetime, skew: float = 1.0) -> datetime:
    """A moment after `start` (by a second at least) and not after `now`; the
    larger `skew`, the sooner after `start`."""
    span = (now - start).total_seconds()
    return start + timedelta(seconds=min(span, 1 + max(span - 1, 0) * rng.random() ** skew))


def spread(
    rng: random.Random, weights: Sequence[float], total: int, caps: Sequence[int]
) -> list[int]:
    """`total` draws among the items by weight, none drawn more than its cap
    (what a full item would have drawn goes to the others): how many followers
    each person gets, how many likes each post."""
    counts = [0] * len(weights)
    active = [i for i, cap in enumerate(caps) if cap > 0]
    remaining = min(total, sum(caps[i] for i in active))
    while remaining > 0 and active:
        for i in rng.choices(active, [weights[i] for i in active], k=remaining):
            counts[i] += 1
        remaining, still = 0, []
        for i in active:
            if counts[i] >= caps[i]:
                remaining += counts[i] - caps[i]
                counts[i] = caps[i]
            else:
                still.append(i)
        active = still
    return counts


def batches(rows: Sequence[Any], size: int = BATCH) -> Iterator[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


Row = dict[str, Any]


def _bulk_insert(
    connection: Connection, model: type, rows: list[Row], progress: tqdm | None = None
) -> None:
    """COPY on PostgreSQL (several times faster than INSERT), batched INSERTs elsewhere."""
    if not rows:
        return
    if connection.dialect.name != "postgresql":
        for chunk in batches(rows):
            connection.execute(insert(model), list(chunk))
            if progress is not None:
                progress.update(len(chunk))
        return
    _copy(connection, model, rows, progress)


def _copy(connection: Connection, model: type, rows: list[Row], progress: tqdm | None) -> None:
    columns = list(rows[0])
    table = model.__table__.name  # type: ignore[attr-defined]  # SQLModel adds __table__ at class creation
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]  # psycopg's, on PostgreSQL
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for number, row in enumerate(rows, 1):
            copy.write_row([row[column] for column in columns])
            if progress is not None and number % BATCH == 0:
                progress.update(BATCH)
    if progress is not None:
        progress.update(len(rows) % BATCH)


def _next_id(connection: Connection, column: Any) -> int:
    return (connection.scalar(select(func.max(column))) or 0) + 1


class SeededPost(NamedTuple):
    id: int
    owner_id: int
    published: bool
    created_at: datetime


@dataclass
class Sizes:
    """How many of each a run makes (asked for: fewer when too few people)."""

    users: int
    posts: int
    votes: int
    follows: int
    comments: int


@dataclass
class Seeded:
    """What one run made, for its closing lines."""

    users: int = 0
    posts: int = 0
    follows: int = 0
    likes: int = 0
    comments: int = 0
    notifications: int = 0
    told: int = 0  # the notifications that the follows, likes and comments call for
    names: list[str] = field(default_factory=list)  # of the first people made


@dataclass
class Firsts:
    """Where this run's follows and comments begin: ids above those of what
    was there before, so that only this run's tell anyone."""

    follow: int
    comment: int
    notification: int


@dataclass
class Run:
    """What every step of one run works with."""

    connection: Connection
    rng: random.Random
    now: datetime
    made: Seeded
    # Sentences drawn from a pool: varied enough to read, cheap enough for
    # 100,000 posts and as many comments.
    sentences: list[str]
    # The people a text may mention: lower-case name → id.
    people: dict[str, int] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return list(self.people)


def seed(
    settings: Settings,
    *,
    users: int,
    posts: int,
    votes: int,
    follows: int = 0,
    comments: int = 0,
    seed: int | None = None,
) -> None:
    """Add demo people, posts, follows, likes and comments, with the
    notifications they call for, in one transaction; then say what was made."""
    sizes = Sizes(users, posts, votes, follows, comments)
    rng = random.Random(seed)
    password_hash = PasswordHasher(settings.bcrypt_rounds).hash_now(DEMO_PASSWORD)
    engine = create_db_engine(settings)
    try:
        with engine.begin() as connection:
            made = _fill(connection, rng, sizes, password_hash)
        if engine.dialect.name == "postgresql":
            _analyze(engine)
    finally:
        engine.dispose()
    print(summary(made))


def _fill(connection: Connection, rng: random.Random, sizes: Sizes, password_hash: str) -> Seeded:
    queued = _quiet(connection)
    run = Run(connection, rng, datetime.now(UTC), Seeded(), [sentence(rng) for _ in range(5_000)])
    user_ids = _seed_users(run, sizes.users, password_hash)
    if not user_ids and (sizes.posts or sizes.votes or sizes.follows or sizes.comments):
        user_ids = list(connection.scalars(select(col(User.id))))
    people = _joined(connection, user_ids)
    run.people = _names(connection, user_ids)
    new_posts = _seed_posts(run, user_ids, sizes.posts)
    firsts = Firsts(
        follow=_next_id(connection, col(Follow.id)),
        comment=_next_id(connection, col(Comment.id)),
        notification=_next_id(connection, col(Notification.id)),
    )
    followers = _seed_follows(run, people, sizes.follows)
    # Published posts only: nobody else sees a draft, let alone likes it.
    shown = [post for post in new_posts if post.published]
    # A post's pull: its author's following, times a luck of its own.
    pull = [
        (1 + followers.get(post.owner_id, 0)) * rng.paretovariate(POST_LUCK_SHAPE) for post in shown
    ]
    _seed_likes(run, people, shown, pull, sizes.votes)
    _seed_comments(run, people, shown, pull, sizes.comments)
    _seed_notifications(run, firsts, new_posts)
    if queued is not None:
        connection.execute(text("DELETE FROM live_events WHERE id > :id"), {"id": queued})
    return run.made


def _quiet(connection: Connection) -> int | None:
    """Insert without live events (migration 0006): a bulk of demo rows is no
    change anyone watches happen, and a notification for each row would cost
    more than the row. On SQLite, the last event queued before: the seed's
    own are deleted at its end."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SET LOCAL agora.quiet = 'on'"))
        return None
    return connection.execute(text("SELECT coalesce(max(id), 0) FROM live_events")).scalar_one()


def _analyze(engine: Engine) -> None:
    """Fresh statistics and a visibility map, so that the feed's index-only
    scans work at once instead of after autovacuum's next round."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(
            text("VACUUM ANALYZE users, posts, votes, follows, comments, notifications")
        )


def summary(made: Seeded) -> str:
    """What was made, and how to log in as one of the people made."""
    lines = [
        f"agora: seeded {made.users} users, {made.posts} posts, {made.follows} follows, "
        f"{made.likes} likes, {made.comments} comments and {made.notifications} notifications"
    ]
    if made.names:
        names = ", ".join(made.names)
        lines.append(
            f"agora: log in as {names} or any other of them with the password {DEMO_PASSWORD}"
        )
    else:
        lines.append(f"agora: demo users log in with the password {DEMO_PASSWORD}")
    return "\n".join(lines)


def _joined(connection: Connection, user_ids: list[int]) -> dict[int, datetime]:
    """When each of these people joined: nothing they do is older."""
    wanted = set(user_ids)
    rows = connection.execute(select(col(User.id), col(User.created_at)))
    return {row.id: row.created_at for row in rows if row.id in wanted}


def _names(connection: Connection, user_ids: list[int]) -> dict[str, int]:
    """The names of these people (lower case → id), for mentions."""
    wanted = set(user_ids)
    rows = connection.execute(select(col(User.id), col(User.username)))
    return {row.username.lower(): row.id for row in rows if row.id in wanted}


def _seed_users(run: Run, count: int, password_hash: str) -> list[int]:
    start = _next_id(run.connection, col(User.id))
    rows: list[Row] = []
    for number in range(start, start + count):
        name = f"{run.rng.choice(FIRST_NAMES)}_{number}"
        rows.append(
            {
                "username": name,
                "email": f"{name}@example.com",
                "password_hash": password_hash,
                "security_stamp": new_token()[:32],
                "created_at": run.now - timedelta(days=run.rng.uniform(366, 1000)),
                # Demo people can do everything at once, confirmation required or not.
                "email_confirmed": True,
            }
        )
    with tqdm(total=len(rows), desc="users", unit="user", disable=not rows) as progress:
        _bulk_insert(run.connection, User, rows, progress)
    run.made.users = len(rows)
    run.made.names = [row["username"] for row in rows[:NAMES_SHOWN]]
    made = select(col(User.id)).where(col(User.id) >= start).order_by(col(User.id))
    return list(run.connection.scalars(made))


def _seed_posts(run: Run, user_ids: list[int], count: int) -> list[SeededPost]:
    if not user_ids:
        return []
    first_new = _next_id(run.connection, col(Post.id))
    with tqdm(total=count, desc="posts", unit="post") as progress:
        for start in range(0, count, BATCH):
            rows = [_post_row(run, user_ids) for _ in range(min(BATCH, count - start))]
            _bulk_insert(run.connection, Post, rows)
            progress.update(len(rows))
    found = select(col(Post.id), col(Post.owner_id), col(Post.published), col(Post.created_at))
    found = found.where(col(Post.id) >= first_new).order_by(col(Post.id))
    posts = [SeededPost._make(row) for row in run.connection.execute(found)]
    tagged = select(col(Post.id), col(Post.tags), col(Post.published), col(Post.created_at))
    tagged = tagged.where(col(Post.id) >= first_new, col(Post.tags) != "")
    tags = [
        {"post_id": post_id, "tag": tag, "published": published, "created_at": created_at}
        for post_id, tags, published, created_at in run.connection.execute(tagged)
        for tag in tags.split()
    ]
    _bulk_insert(run.connection, PostTag, tags)
    run.made.posts = len(posts)
    return posts


def _post_row(run: Run, user_ids: list[int]) -> Row:
    rng = run.rng
    created = run.now - timedelta(seconds=rng.uniform(0, 365 * 86_400))
    edited = rng.random() < 0.1
    heading = title(rng)
    content = post_text(rng, run.sentences, run.names)
    # Rendered as a person's post is, when it is written.
    parsed = markup.parse(content, "post")
    rendered = parsed.render(run.people)
    return {
        "title": heading,
        "content": content,
        "content_html": rendered.html,
        "excerpt": rendered.excerpt,
        "tags": " ".join(markup.post_tags(heading, parsed)),
        "published": rng.random() > 0.05,
        "owner_id": rng.choice(user_ids),
        "created_at": created,
        "updated_at": created + timedelta(hours=rng.uniform(1, 48)) if edited else created,
    }


def _seed_follows(run: Run, people: dict[int, datetime], count: int) -> dict[int, int]:
    """Follows among these people, a few followed by many (Zipf), never oneself,
    never twice. Returns everyone's follower count."""
    taken: dict[int, set[int]] = {}  # followed -> their followers already
    for follower, followed in run.connection.execute(
        select(col(Follow.follower_id), col(Follow.followed_id))
    ):
        taken.setdefault(followed, set()).add(follower)
    rows = _follow_rows(run, people, count, taken) if count > 0 and len(people) >= 2 else []
    with tqdm(total=len(rows), desc="follows", unit="follow", disable=not rows) as progress:
        _bulk_insert(run.connection, Follow, rows, progress)
    run.made.follows = len(rows)
    run.made.told += len(rows)  # one each, to the followed person (never oneself)
    followers = {person: len(them) for person, them in taken.items()}
    for row in rows:
        followers[row["followed_id"]] = followers.get(row["followed_id"], 0) + 1
    return followers


def _follow_rows(
    run: Run, people: dict[int, datetime], count: int, taken: dict[int, set[int]]
) -> list[Row]:
    rng = run.rng
    ids = list(people)
    order = rng.sample(ids, len(ids))  # who is most followed, by rank
    weights = [1 / rank**FOLLOW_ZIPF for rank in range(1, len(order) + 1)]
    caps = [len(ids) - 1 - len(taken.get(person, set()) & people.keys()) for person in order]
    position = {person: index for index, person in enumerate(ids)}
    rows: list[Row] = []
    for followed, number in zip(order, spread(rng, weights, count, caps), strict=True):
        if not number:
            continue
        if taken.get(followed):
            others = [p for p in ids if p != followed and p not in taken[followed]]
            chosen = rng.sample(others, number)
        else:  # everyone but the followed person, without building that list
            skip = position[followed]
            chosen = [ids[i + (i >= skip)] for i in rng.sample(range(len(ids) - 1), number)]
        rows += [
            {
                "follower_id": follower,
                "followed_id": followed,
                "created_at": later(rng, max(people[follower], people[followed]), run.now),
            }
            for follower in chosen
        ]
    rows.sort(key=lambda row: row["created_at"])  # ids grow with time, as on the site
    return rows


def _seed_likes(
    run: Run, people: dict[int, datetime], posts: list[SeededPost], pull: list[float], count: int
) -> None:
    """Likes of these posts by these people, more of the posts with more pull."""
    user_ids = list(people)
    if not user_ids or not posts or count <= 0:
        return
    rows: list[Row] = []
    caps = [len(user_ids)] * len(posts)
    for post, number in zip(posts, spread(run.rng, pull, count, caps), strict=True):
        for user in run.rng.sample(user_ids, number):
            since = max(post.created_at, people[user])
            liked = later(run.rng, since, run.now, 2)
            rows.append({"user_id": user, "post_id": post.id, "created_at": liked})
            run.made.told += notification_rows.is_told(post.owner_id, user)
    with tqdm(total=len(rows), desc="likes", unit="like") as progress:
        _bulk_insert(run.connection, Like, rows, progress)
    run.made.likes = len(rows)
    _recount(run.connection, posts, col(Post.votes), col(Like.post_id))


def _seed_comments(
    run: Run, people: dict[int, datetime], posts: list[SeededPost], pull: list[float], count: int
) -> None:
    """Comments on these posts, most of them on the few with the most pull, some
    by the post's author answering, and a share of them replies in threads
    (to a comment or to a reply); then each post's kept count, exactly.
    Their ids are given here, oldest first, so that each reply's path is
    written with it."""
    user_ids = list(people)
    if not user_ids or not posts or count <= 0:
        return
    replies = int(count * REPLY_SHARE) if count > 1 else 0
    rows: list[Row] = []
    for post in run.rng.choices(posts, pull, k=count - replies):
        own = run.rng.random() < OWN_ANSWERS
        author = post.owner_id if own else run.rng.choice(user_ids)
        since = max(post.created_at, people[author])
        content = comment_text(run.rng, run.sentences, run.names)
        rendered = markup.parse(content, "comment").render(run.people)
        rows.append(
            {
                "content": content,
                "content_html": rendered.html,
                "excerpt": rendered.excerpt,
                "post_id": post.id,
                "author_id": author,
                "created_at": later(run.rng, since, run.now, 3),
                "parent": None,
            }
        )
    owners = {post.id: post.owner_id for post in posts}
    # A reply answers an earlier comment of the run (a reply too, at times):
    # the busy threads grow deeper.
    for _ in range(replies):
        parent = run.rng.choice(rows)
        own = run.rng.random() < OWN_ANSWERS
        author = owners[parent["post_id"]] if own else run.rng.choice(user_ids)
        since = max(parent["created_at"], people[author])
        content = comment_text(run.rng, run.sentences, run.names)
        rendered = markup.parse(content, "comment").render(run.people)
        rows.append(
            {
                "content": content,
                "content_html": rendered.html,
                "excerpt": rendered.excerpt,
                "post_id": parent["post_id"],
                "author_id": author,
                "created_at": later(run.rng, since, run.now, 3),
                "parent": parent,
            }
        )
    rows.sort(key=lambda row: row["created_at"])
    first = _next_comment_id(run.connection)
    for number, row in enumerate(rows):
        row["id"] = first + number
    for row in rows:  # a parent is older, so it has its id and path by now
        parent = row.pop("parent")
        row["parent_id"] = parent["id"] if parent else None
        row["root_id"] = (parent["root_id"] or parent["id"]) if parent else None
        row["path"] = parent["path"] + comments.path_step(row["id"]) if parent else ""
        told = {owners[row["post_id"]]}
        if parent and notification_rows.is_told(parent["author_id"], row["author_id"]):
            told.add(parent["author_id"])
        run.made.told += len(told - {row["author_id"]})
    with tqdm(total=len(rows), desc="comments", unit="comment") as progress:
        _bulk_insert(run.connection, Comment, rows, progress)
    if run.connection.dialect.name == "postgresql":
        run.connection.execute(
            text("SELECT setval(pg_get_serial_sequence('comments', 'id'), :id)"),
            {"id": first + len(rows) - 1},
        )
    run.made.comments = len(rows)
    _recount(run.connection, posts, col(Post.comments), col(Comment.post_id))


def _next_comment_id(connection: Connection) -> int:
    """Above every comment id given so far, deleted comments' too."""
    if connection.dialect.name == "postgresql":
        given = connection.scalar(
            text(
                "SELECT pg_sequence_last_value(CAST(pg_get_serial_sequence('comments', 'id') "
                "AS regclass))"
            )
        )
    else:
        given = connection.scalar(text("SELECT seq FROM sqlite_sequence WHERE name = 'comments'"))
    return max(given or 0, _next_id(connection, col(Comment.id)) - 1) + 1


def _recount(connection: Connection, posts: list[SeededPost], kept: Any, counted_by: Any) -> None:
    """Bring a count kept on the posts seeded now in line with its rows."""
    counted = (
        select(counted_by.label("post_id"), func.count().label("n"))
        .where(counted_by.between(posts[0].id, posts[-1].id))
        .group_by(counted_by)
        .subquery()
    )
    connection.execute(
        update(Post).where(col(Post.id) == counted.c.post_id).values({kept: counted.c.n})
    )


# Each person's newest (their id modulo UNREAD_AT_MOST) notifications stay unread:
# from none to a few, the rest read, as on a site people visit.
UNREAD_AT_MOST = 6


def _seed_notifications(run: Run, firsts: Firsts, posts: list[SeededPost]) -> None:
    """What the site would have written for each follow, like and comment of
    this run, told as the site tells them (`webapp.rules.notification_rows`),
    all read but each person's newest few."""
    if not run.made.told:
        return
    told = [notification_rows.of_follows(col(Follow.id) >= firsts.follow, read=True)]
    if posts:
        this_run = col(Like.post_id).between(posts[0].id, posts[-1].id)
        told.append(notification_rows.of_likes(this_run, read=True))
    told.append(notification_rows.of_replies(col(Comment.id) >= firsts.comment, read=True))
    told.append(notification_rows.of_comments(col(Comment.id) >= firsts.comment, read=True))
    # Counted, not taken from the driver: psycopg gives no row count for an
    # INSERT … SELECT that SQLAlchemy built.
    made = select(func.count()).where(col(Notification.id) >= firsts.notification)
    with tqdm(total=run.made.told, desc="notifications", unit="notification") as progress:
        for rows in told:
            run.connection.execute(notification_rows.tell(rows))
            written = run.connection.scalar(made) or 0
            progress.update(written - run.made.notifications)
            run.made.notifications = written
    run.connection.execute(_keep_newest_unread(firsts.notification))


def _keep_newest_unread(first: int) -> Update:
    newest = (
        func.row_number()
        .over(
            partition_by=col(Notification.recipient_id),
            order_by=(col(Notification.created_at).desc(), col(Notification.id).desc()),
        )
        .label("newest")
    )
    ranked = (
        select(col(Notification.id), col(Notification.recipient_id), newest)
        .where(col(Notification.id) >= first)
        .subquery()
    )
    unread = select(ranked.c.id).where(ranked.c.newest <= ranked.c.recipient_id % UNREAD_AT_MOST)
    return update(Notification).where(col(Notification.id).in_(unread)).values(read=False)

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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, func, insert, select, text
from sqlmodel import col
from tqdm import tqdm

from webapp.core.config import Settings
from webapp.core.db import create_db_engine
from webapp.core.security import PasswordHasher, new_token
from webapp.models import COMMENT_MAX, Comment, Follow, Like, Notification, Post, User

DEMO_PASSWORD = "agora-demo-password"  # noqa: S105 (documented in the README)
BATCH = 2_000

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


def sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(3, 9))]
    words.insert(1, rng.choice(VERBS))
    if rng.random() < RARE_SHARE:
        words.insert(rng.randint(2, len(words)), rng.choices(RARE_WORDS, RARE_WEIGHTS)[0])
    return " ".join(words).capitalize() + rng.choice(".!?.")


def post_text(rng: random.Random, sentences: Sequence[str]) -> str:
    paragraphs = [
        " ".join(rng.sample(sentences, rng.randint(2, 5))) for _ in range(rng.randint(1, 3))
    ]
    return "\n\n".join(paragraphs)


def title(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6))).capitalize()


def comment_text(rng: random.Random, sentences: Sequence[str]) -> str:
    """A word, a few sentences, or (one in ten) paragraphs up to 2,000 characters."""
    kind = rng.random()
    if kind < 0.15:
        return rng.choice(WORDS).capitalize() + rng.choice("!?.")
    if kind < 0.9:
        return " ".join(rng.sample(sentences, rng.randint(1, 3)))
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


def _bulk_insert(
    connection: Connection, model: type, rows: list[dict[str, Any]], progress: tqdm | None = None
) -> None:
    """COPY on PostgreSQL (several times faster than INSERT), batched INSERTs elsewhere."""
    if not rows:
        return
    columns = list(rows[0])
    if connection.dialect.name != "postgresql":
        for chunk in batches(rows):
            connection.execute(insert(model), list(chunk))
            if progress is not None:
                progress.update(len(chunk))
        return
    table = model.__table__.name  # type: ignore[attr-defined]
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for number, row in enumerate(rows, 1):
            copy.write_row([row[column] for column in columns])
            if progress is not None and number % BATCH == 0:
                progress.update(BATCH)
    if progress is not None:
        progress.update(len(rows) % BATCH)


def _next_id(connection: Connection, model: Any) -> int:
    return (connection.scalar(select(func.max(model.id))) or 0) + 1


class SeededPost(NamedTuple):
    id: int
    owner_id: int
    published: bool
    created_at: datetime


@dataclass
class Seeded:
    """What one run made, for its closing line."""

    users: int = 0
    posts: int = 0
    follows: int = 0
    likes: int = 0
    comments: int = 0
    notifications: int = 0
    told: int = 0  # the notifications that the follows, likes and comments call for


@dataclass
class Firsts:
    """Where this run's rows begin: ids above those of what was there before."""

    follow: int
    comment: int
    notification: int
    posts: tuple[int, int] = (0, -1)  # the first and last post made now


def _quiet(connection: Connection) -> int | None:
    """Insert without live events (migration 0006): a bulk of demo rows is no
    change anyone watches happen, and a notification for each row would cost
    more than the row. On SQLite, the last event queued before: the seed's
    own are deleted at its end."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SET LOCAL agora.quiet = 'on'"))
        return None
    return connection.execute(text("SELECT coalesce(max(id), 0) FROM live_events")).scalar_one()


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
    rng = random.Random(seed)
    engine = create_db_engine(settings)
    now = datetime.now(UTC)
    password_hash = PasswordHasher(settings.bcrypt_rounds).hash_now(DEMO_PASSWORD)
    made = Seeded()
    try:
        with engine.begin() as connection:
            queued = _quiet(connection)
            user_ids = _seed_users(connection, rng, users, password_hash, now)
            made.users = len(user_ids)
            if not user_ids and (posts or votes or follows or comments):
                user_ids = list(connection.scalars(select(User.id)))
            people = _joined(connection, user_ids)
            # Sentences drawn from a pool: varied enough to read, cheap enough
            # for 100,000 posts and as many comments.
            sentences = [sentence(rng) for _ in range(5_000)]
            new_posts = _seed_posts(connection, rng, user_ids, posts, now, sentences)
            made.posts = len(new_posts)
            first = Firsts(
                follow=_next_id(connection, Follow),
                comment=_next_id(connection, Comment),
                notification=_next_id(connection, Notification),
            )
            followers = _seed_follows(connection, rng, people, follows, now, made)
            # Published posts only: nobody else sees a draft, let alone likes it.
            shown = [post for post in new_posts if post.published]
            # A post's pull: its author's following, times a luck of its own.
            pull = [
                (1 + followers.get(post.owner_id, 0)) * rng.paretovariate(POST_LUCK_SHAPE)
                for post in shown
            ]
            _seed_votes(connection, rng, people, shown, pull, votes, now, made)
            _seed_comments(connection, rng, people, shown, pull, comments, now, sentences, made)
            if new_posts:
                first.posts = (new_posts[0].id, new_posts[-1].id)
            _seed_notifications(connection, first, made)
            if queued is not None:
                connection.execute(text("DELETE FROM live_events WHERE id > :id"), {"id": queued})
        if engine.dialect.name == "postgresql":
            # Fresh statistics and a visibility map, so that the feed's index-only
            # scans work at once instead of after autovacuum's next round.
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(
                    text("VACUUM ANALYZE users, posts, votes, follows, comments, notifications")
                )
    finally:
        engine.dispose()
    print(
        f"agora: seeded {made.users} users, {made.posts} posts, {made.follows} follows, "
        f"{made.likes} likes, {made.comments} comments and {made.notifications} notifications; "
        f"demo users log in with the password {DEMO_PASSWORD!r}"
    )


def _joined(connection: Connection, user_ids: list[int]) -> dict[int, datetime]:
    """When each of these people joined: nothing they do is older."""
    wanted = set(user_ids)
    rows = connection.execute(select(User.id, User.created_at))
    return {row.id: row.created_at for row in rows if row.id in wanted}


def _seed_users(
    connection: Connection, rng: random.Random, count: int, password_hash: str, now: datetime
) -> list[int]:
    start = _next_id(connection, User)
    rows = []
    for number in range(start, start + count):
        name = f"{rng.choice(FIRST_NAMES)}_{number}"
        rows.append(
            {
                "username": name,
                "email": f"{name}@example.com",
                "password_hash": password_hash,
                "security_stamp": new_token()[:32],
                "created_at": now - timedelta(days=rng.uniform(366, 1000)),
            }
        )
    with tqdm(total=len(rows), desc="users", unit="user", disable=not rows) as progress:
        _bulk_insert(connection, User, rows, progress)
    return list(connection.scalars(select(User.id).where(User.id >= start).order_by(User.id)))


def _seed_posts(
    connection: Connection,
    rng: random.Random,
    user_ids: list[int],
    count: int,
    now: datetime,
    sentences: Sequence[str],
) -> list[SeededPost]:
    if not user_ids:
        return []
    first_new = _next_id(connection, Post)
    with tqdm(total=count, desc="posts", unit="post") as progress:
        for start in range(0, count, BATCH):
            rows = []
            for _ in range(min(BATCH, count - start)):
                created = now - timedelta(seconds=rng.uniform(0, 365 * 86_400))
                edited = rng.random() < 0.1
                rows.append(
                    {
                        "title": title(rng),
                        "content": post_text(rng, sentences),
                        "published": rng.random() > 0.05,
                        "owner_id": rng.choice(user_ids),
                        "created_at": created,
                        "updated_at": created + timedelta(hours=rng.uniform(1, 48))
                        if edited
                        else created,
                    }
                )
            _bulk_insert(connection, Post, rows)
            progress.update(len(rows))
    found = select(Post.id, Post.owner_id, Post.published, Post.created_at)
    found = found.where(col(Post.id) >= first_new).order_by(col(Post.id))
    return [SeededPost(*row) for row in connection.execute(found)]


def _seed_follows(
    connection: Connection,
    rng: random.Random,
    people: dict[int, datetime],
    count: int,
    now: datetime,
    made: Seeded,
) -> dict[int, int]:
    """Follows among these people, a few followed by many (Zipf), never oneself,
    never twice. Returns everyone's follower count."""
    ids = list(people)
    taken: dict[int, set[int]] = {}  # followed -> their followers already
    for follower, followed in connection.execute(select(Follow.follower_id, Follow.followed_id)):
        taken.setdefault(followed, set()).add(follower)
    if count <= 0 or len(ids) < 2:
        return {person: len(followers) for person, followers in taken.items()}
    order = rng.sample(ids, len(ids))  # who is most followed, by rank
    weights = [1 / rank**FOLLOW_ZIPF for rank in range(1, len(order) + 1)]
    caps = [len(ids) - 1 - len(taken.get(person, set()) & people.keys()) for person in order]
    position = {person: index for index, person in enumerate(ids)}
    rows = []
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
                "created_at": later(rng, max(people[follower], people[followed]), now),
            }
            for follower in chosen
        ]
    rows.sort(key=lambda row: row["created_at"])  # ids grow with time, as on the site
    with tqdm(total=len(rows), desc="follows", unit="follow") as progress:
        _bulk_insert(connection, Follow, rows, progress)
    made.follows = len(rows)
    made.told += len(rows)  # one each, to the followed person
    followers = {person: len(them) for person, them in taken.items()}
    for row in rows:
        followers[row["followed_id"]] = followers.get(row["followed_id"], 0) + 1
    return followers


def _seed_votes(
    connection: Connection,
    rng: random.Random,
    people: dict[int, datetime],
    posts: list[SeededPost],
    pull: list[float],
    count: int,
    now: datetime,
    made: Seeded,
) -> None:
    """Likes of these posts by these people, more of the posts with more pull."""
    user_ids = list(people)
    if not user_ids or not posts or count <= 0:
        return
    rows = []
    caps = [len(user_ids)] * len(posts)
    for post, number in zip(posts, spread(rng, pull, count, caps), strict=True):
        for user in rng.sample(user_ids, number):
            since = max(post.created_at, people[user])
            rows.append(
                {"user_id": user, "post_id": post.id, "created_at": later(rng, since, now, 2)}
            )
            made.told += user != post.owner_id
    with tqdm(total=len(rows), desc="likes", unit="like") as progress:
        _bulk_insert(connection, Like, rows, progress)
    made.likes = len(rows)
    # Bring the kept like counts in line with the rows, for the posts seeded now.
    connection.execute(
        text(
            "UPDATE posts SET votes = counted.n FROM "
            "(SELECT post_id, count(*) AS n FROM votes WHERE post_id BETWEEN :low AND :high "
            "GROUP BY post_id) AS counted WHERE posts.id = counted.post_id"
        ),
        {"low": posts[0].id, "high": posts[-1].id},
    )


def _seed_comments(
    connection: Connection,
    rng: random.Random,
    people: dict[int, datetime],
    posts: list[SeededPost],
    pull: list[float],
    count: int,
    now: datetime,
    sentences: Sequence[str],
    made: Seeded,
) -> None:
    """Comments on these posts, most of them on the few with the most pull, some
    by the post's author answering; then each post's kept count, exactly."""
    user_ids = list(people)
    if not user_ids or not posts or count <= 0:
        return
    rows = []
    for post in rng.choices(posts, pull, k=count):
        author = post.owner_id if rng.random() < OWN_ANSWERS else rng.choice(user_ids)
        since = max(post.created_at, people[author])
        rows.append(
            {
                "content": comment_text(rng, sentences),
                "post_id": post.id,
                "author_id": author,
                "created_at": later(rng, since, now, 3),
            }
        )
        made.told += author != post.owner_id
    rows.sort(key=lambda row: row["created_at"])
    with tqdm(total=len(rows), desc="comments", unit="comment") as progress:
        _bulk_insert(connection, Comment, rows, progress)
    made.comments = len(rows)
    connection.execute(
        text(
            "UPDATE posts SET comments = counted.n FROM "
            "(SELECT post_id, count(*) AS n FROM comments WHERE post_id BETWEEN :low AND :high "
            "GROUP BY post_id) AS counted WHERE posts.id = counted.post_id"
        ),
        {"low": posts[0].id, "high": posts[-1].id},
    )


# What the site would have written for each follow, like and comment of this run
# (`webapp.rules.notifications.notify`): the recipient is the followed person or the
# post's owner, and nobody is told of their own doing.
NOTIFY = {
    "follow": "INSERT INTO notifications (recipient_id, kind, actor_id, created_at, read) "
    "SELECT followed_id, 'follow', follower_id, created_at, :read FROM follows "
    "WHERE id >= :first_follow",
    "like": "INSERT INTO notifications (recipient_id, kind, actor_id, post_id, created_at, read) "
    "SELECT posts.owner_id, 'like', votes.user_id, votes.post_id, votes.created_at, :read "
    "FROM votes JOIN posts ON posts.id = votes.post_id "
    "WHERE votes.post_id BETWEEN :low AND :high AND votes.user_id <> posts.owner_id",
    "comment": "INSERT INTO notifications "
    "(recipient_id, kind, actor_id, post_id, comment_id, created_at, read) "
    "SELECT posts.owner_id, 'comment', comments.author_id, comments.post_id, comments.id, "
    "comments.created_at, :read FROM comments JOIN posts ON posts.id = comments.post_id "
    "WHERE comments.id >= :first_comment AND comments.author_id <> posts.owner_id",
}
# Each person's newest (their id modulo UNREAD_AT_MOST) notifications stay unread:
# from none to a few, the rest read, as on a site people visit.
UNREAD_AT_MOST = 6
KEEP_UNREAD = (
    "UPDATE notifications SET read = :unread WHERE id IN (SELECT id FROM ("
    "SELECT id, recipient_id, row_number() OVER "
    "(PARTITION BY recipient_id ORDER BY created_at DESC, id DESC) AS newest "
    "FROM notifications WHERE id >= :first_notification) AS ranked "
    "WHERE newest <= recipient_id % :unread_at_most)"
)


def _seed_notifications(connection: Connection, first: Firsts, made: Seeded) -> None:
    if not made.told:
        return
    low, high = first.posts
    marks = {
        "first_follow": first.follow,
        "first_comment": first.comment,
        "first_notification": first.notification,
        "low": low,
        "high": high,
        "read": True,
        "unread": False,
        "unread_at_most": UNREAD_AT_MOST,
    }
    with tqdm(total=made.told, desc="notifications", unit="notification") as progress:
        for statement in NOTIFY.values():
            written = connection.execute(text(statement), marks).rowcount
            made.notifications += written
            progress.update(written)
        connection.execute(text(KEEP_UNREAD), marks)

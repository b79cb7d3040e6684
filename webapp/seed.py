"""`python -m webapp seed`: realistic demo data, inserted in large batches."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, select, text
from tqdm import tqdm

from webapp.core.config import Settings
from webapp.core.db import create_db_engine
from webapp.core.security import PasswordHasher, new_token
from webapp.models import Post, User, Vote

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


def seed(
    settings: Settings, *, users: int, posts: int, votes: int, seed: int | None = None
) -> None:
    rng = random.Random(seed)
    engine = create_db_engine(settings)
    now = datetime.now(UTC)
    password_hash = PasswordHasher(settings.bcrypt_rounds).hash_now(DEMO_PASSWORD)
    try:
        with engine.begin() as connection:
            user_ids = _seed_users(connection, rng, users, password_hash, now)
            if not user_ids and (posts or votes):
                user_ids = list(connection.scalars(select(User.id)))
            post_ids = _seed_posts(connection, rng, user_ids, posts, now) if user_ids else []
            _seed_votes(connection, rng, user_ids, post_ids, votes)
        if engine.dialect.name == "postgresql":
            # Fresh statistics and a visibility map, so that the feed's index-only
            # scans work at once instead of after autovacuum's next round.
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("VACUUM ANALYZE users, posts, votes"))
    finally:
        engine.dispose()
    print(
        f"agora: seeded {len(user_ids) if users else 0} users, {len(post_ids)} posts "
        f"and up to {votes} likes; demo users log in with the password {DEMO_PASSWORD!r}"
    )


def _seed_users(
    connection: Connection, rng: random.Random, count: int, password_hash: str, now: datetime
) -> list[int]:
    start = (connection.scalar(select(func.max(User.id))) or 0) + 1
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
    connection: Connection, rng: random.Random, user_ids: list[int], count: int, now: datetime
) -> list[int]:
    first_new = (connection.scalar(select(func.max(Post.id))) or 0) + 1
    # Sentences drawn from a pool: varied enough to read, cheap enough for 100,000 posts.
    sentences = [sentence(rng) for _ in range(5_000)]
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
    return list(connection.scalars(select(Post.id).where(Post.id >= first_new)))


def _seed_votes(
    connection: Connection, rng: random.Random, user_ids: list[int], post_ids: list[int], count: int
) -> None:
    if not user_ids or not post_ids or count <= 0:
        return
    count = min(count, len(user_ids) * len(post_ids))
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < count:
        pairs.add((rng.choice(user_ids), rng.choice(post_ids)))
    now = datetime.now(UTC)
    rows = [{"user_id": user, "post_id": post, "created_at": now} for user, post in pairs]
    with tqdm(total=len(rows), desc="likes", unit="like") as progress:
        _bulk_insert(connection, Vote, rows, progress)
    # Bring the kept like counts in line with the rows, for the posts seeded now.
    connection.execute(
        text(
            "UPDATE posts SET votes = counted.n FROM "
            "(SELECT post_id, count(*) AS n FROM votes WHERE post_id BETWEEN :low AND :high "
            "GROUP BY post_id) AS counted WHERE posts.id = counted.post_id"
        ),
        {"low": min(post_ids), "high": max(post_ids)},
    )

"""full-text search: word forms, phrases and ranking on both databases

Revision ID: 0022_search
Revises: 0022
Create Date: 2026-12-08 10:00:00

PostgreSQL: `posts.search`, a `tsvector` of the title (weight A) and the text
(weight B) in the text search configuration `agora_search` (English stemming,
accents ignored), set by a trigger in the transaction that writes the post,
and a GIN index on it. SQLite: `posts_fts`, an FTS5 table over the posts'
titles and texts (Porter stemming, diacritics removed), kept by triggers.

On a site already full of posts the migration must not stop its writers:
adding the column and the trigger takes the table's lock for an instant; the
rows already there are filled in small batches, each its own transaction, so
a writer waits for one batch at most; and the index is built with `CREATE
INDEX CONCURRENTLY`, which lets writes go on. Those run outside the
migration's transaction (`autocommit_block`). The trigram index that served
the old `ILIKE` search goes the same way.

Accents: the `unaccent` extension, when this role may create it, is a filter
of the configuration (the excerpts keep their accents). When it cannot be
created, `agora_fold` strips the accents of Latin letters itself, so matching
still ignores them, and the excerpts show the text without them (the README
says how to move to `unaccent` later).
"""

import unicodedata
from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0022_search"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Rows filled a transaction: a writer of one of them waits this long at most
# (a few hundred milliseconds on a 2-core machine).
BATCH = 500


def _latin_accents() -> tuple[str, str]:
    """The accented Latin letters of Latin-1 and Latin Extended-A/B, and the
    letters without their accents, for `translate`."""
    accented, plain = [], []
    for code in range(0xC0, 0x250):
        char = chr(code)
        base = unicodedata.normalize("NFKD", char)[:1]
        if base != char and base.isascii() and base.isalpha():
            accented.append(char)
            plain.append(base)
    return "".join(accented), "".join(plain)


def _fold_function(with_unaccent: bool) -> str:
    if with_unaccent:  # the configuration's own filter removes them
        body = "SELECT $1"
    else:
        accented, plain = _latin_accents()
        body = f"SELECT translate($1, '{accented}', '{plain}')"
    return (
        "CREATE OR REPLACE FUNCTION agora_fold(text) RETURNS text "
        f"LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$ {body} $$"
    )


DOCUMENT_FUNCTION = """
CREATE OR REPLACE FUNCTION agora_search_document(title text, content text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT setweight(to_tsvector('agora_search', agora_fold(coalesce(title, ''))), 'A')
        || setweight(to_tsvector('agora_search', agora_fold(coalesce(content, ''))), 'B')
$$
"""

TRIGGER_FUNCTION = """
CREATE OR REPLACE FUNCTION agora_post_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search := agora_search_document(NEW.title, NEW.content);
    RETURN NEW;
END
$$
"""

SQLITE = [
    "CREATE VIRTUAL TABLE posts_fts USING fts5(title, content, content='posts',"
    " content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER posts_fts_insert AFTER INSERT ON posts BEGIN"
    " INSERT INTO posts_fts(rowid, title, content) VALUES (new.id, new.title, new.content); END",
    "CREATE TRIGGER posts_fts_delete AFTER DELETE ON posts BEGIN"
    " INSERT INTO posts_fts(posts_fts, rowid, title, content)"
    " VALUES ('delete', old.id, old.title, old.content); END",
    "CREATE TRIGGER posts_fts_update AFTER UPDATE OF title, content ON posts BEGIN"
    " INSERT INTO posts_fts(posts_fts, rowid, title, content)"
    " VALUES ('delete', old.id, old.title, old.content);"
    " INSERT INTO posts_fts(rowid, title, content) VALUES (new.id, new.title, new.content); END",
    "INSERT INTO posts_fts(posts_fts) VALUES ('rebuild')",
]


def _create_unaccent() -> bool:
    """Whether `unaccent` is there, created now if this role may."""
    bind = op.get_bind()
    savepoint = bind.begin_nested()
    try:
        bind.execute(text("CREATE EXTENSION IF NOT EXISTS unaccent"))
    except Exception:  # not installed, or not allowed: the fallback
        savepoint.rollback()
        return False
    savepoint.commit()
    return True


def _configuration(with_unaccent: bool) -> None:
    op.execute("DROP TEXT SEARCH CONFIGURATION IF EXISTS agora_search CASCADE")
    op.execute("CREATE TEXT SEARCH CONFIGURATION agora_search (COPY = pg_catalog.english)")
    if with_unaccent:
        op.execute(
            "ALTER TEXT SEARCH CONFIGURATION agora_search"
            " ALTER MAPPING FOR hword, hword_part, word WITH unaccent, english_stem"
        )


def _fill_and_index() -> None:
    """Outside any transaction: the rows already there in batches, then the
    index, while the site goes on writing. The trigram index goes first: each
    row filled would otherwise add every trigram of its text to it again."""
    bind = op.get_bind()
    bind.execute(text("DROP INDEX CONCURRENTLY IF EXISTS ix_posts_search"))
    highest = bind.execute(text("SELECT coalesce(max(id), 0) FROM posts")).scalar_one()
    for start in range(0, highest + 1, BATCH):
        bind.execute(
            text(
                "UPDATE posts SET search = agora_search_document(title, content)"
                " WHERE id >= :start AND id < :end AND search IS NULL"
            ),
            {"start": start, "end": start + BATCH},
        )
    # An index left invalid by a build that was interrupted is built again.
    bind.execute(text("DROP INDEX CONCURRENTLY IF EXISTS ix_posts_fulltext"))
    bind.execute(text("SET maintenance_work_mem = '256MB'"))
    bind.execute(text("CREATE INDEX CONCURRENTLY ix_posts_fulltext ON posts USING gin (search)"))
    bind.execute(text("RESET maintenance_work_mem"))


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE:
            op.execute(statement)
        return
    with_unaccent = _create_unaccent()
    _configuration(with_unaccent)
    op.execute(_fold_function(with_unaccent))
    op.execute(DOCUMENT_FUNCTION)
    op.execute(TRIGGER_FUNCTION)
    op.execute("ALTER TABLE posts ADD COLUMN IF NOT EXISTS search tsvector")
    op.execute("DROP TRIGGER IF EXISTS posts_search ON posts")
    op.execute(
        "CREATE TRIGGER posts_search BEFORE INSERT OR UPDATE OF title, content ON posts"
        " FOR EACH ROW EXECUTE FUNCTION agora_post_search()"
    )
    with op.get_context().autocommit_block():
        _fill_and_index()


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("posts_fts_insert", "posts_fts_delete", "posts_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS posts_fts")
        return
    op.execute("DROP TRIGGER IF EXISTS posts_search ON posts")
    op.execute("DROP INDEX IF EXISTS ix_posts_fulltext")
    op.execute("ALTER TABLE posts DROP COLUMN IF EXISTS search")
    op.execute("DROP FUNCTION IF EXISTS agora_post_search()")
    op.execute("DROP FUNCTION IF EXISTS agora_search_document(text, text)")
    op.execute("DROP FUNCTION IF EXISTS agora_fold(text)")
    op.execute("DROP TEXT SEARCH CONFIGURATION IF EXISTS agora_search")
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_posts_search ON posts "
        "USING gin ((title || ' ' || content) gin_trgm_ops)"
    )

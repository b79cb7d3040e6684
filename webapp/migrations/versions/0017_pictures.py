"""pictures: profiles (display name, bio, website, avatar) and pictures in posts

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-10 10:00:00

- `users` gain `display_name`, `bio` (as typed) and `bio_html` (rendered when
  written), `website` and `avatar` (the stored avatar's name, "" for none).
- `media`: one uploaded picture, its owner, its post (NULL until attached)
  and place in it, its alt text, its two files and their sizes.
- `posts.media`: the post's pictures as pages show them (JSON), written with
  the rows, so that a card or a post page reads them with the post.

A profile's change or a post's pictures' change moves `version`, so that no
page cache keeps the old name, bio, avatar or pictures. Columns are added in
place (no table copy on SQLite, which would drop the tables' triggers).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# name: (table, the row event)
VERSION_TRIGGERS = {
    "users_profile_changed": ("users", "AFTER UPDATE OF display_name, bio_html, website, avatar"),
    "posts_media_changed": ("posts", "AFTER UPDATE OF media"),
}


def upgrade() -> None:
    op.add_column(
        "users", sa.Column("display_name", sa.String(length=50), server_default="", nullable=False)
    )
    op.add_column("users", sa.Column("bio", sa.Text(), server_default="", nullable=False))
    op.add_column("users", sa.Column("bio_html", sa.Text(), server_default="", nullable=False))
    op.add_column(
        "users", sa.Column("website", sa.String(length=300), server_default="", nullable=False)
    )
    op.add_column(
        "users", sa.Column("avatar", sa.String(length=80), server_default="", nullable=False)
    )
    op.add_column("posts", sa.Column("media", sa.Text(), server_default="", nullable=False))
    op.create_table(
        "media",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("alt", sa.String(length=500), nullable=False),
        sa.Column("file", sa.String(length=80), nullable=False),
        sa.Column("thumb", sa.String(length=80), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("thumb_width", sa.Integer(), nullable=False),
        sa.Column("thumb_height", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_media_post", "media", ["post_id", "position"])
    op.create_index("ix_media_owner", "media", ["owner_id"])
    op.create_index("ix_media_file", "media", ["file"])
    op.create_index("ix_media_thumb", "media", ["thumb"])
    op.create_index(
        "ix_media_unattached",
        "media",
        ["created_at"],
        postgresql_where=sa.text("post_id IS NULL"),
        sqlite_where=sa.text("post_id IS NULL"),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, (table, event) in VERSION_TRIGGERS.items():
        if postgres:
            op.execute(
                f"CREATE CONSTRAINT TRIGGER {name} {event} ON {table} "
                "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                "EXECUTE FUNCTION agora_bump_version_once('version')"
            )
        else:
            op.execute(
                f"CREATE TRIGGER {name} {event} ON {table} "
                "BEGIN UPDATE site_state SET version = version + 1 WHERE id = 1; END"
            )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, (table, _event) in VERSION_TRIGGERS.items():
        op.execute(f"DROP TRIGGER {name} ON {table}" if postgres else f"DROP TRIGGER {name}")
    op.drop_table("media")
    op.drop_column("posts", "media")
    for column in ("avatar", "website", "bio_html", "bio", "display_name"):
        op.drop_column("users", column)

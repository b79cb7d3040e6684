"""follows, comments and notifications

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 19:10:00

People follow each other, comment on posts and are told of both (and of likes).
A post keeps its comment count beside its like count; changing either moves
`site_state.likes` (the counts), and a follow or unfollow moves
`site_state.version`, since it changes profiles and the Following feed: the
page caches of every worker learn of it as of any other change (migration 0003).
A post's owner index gains `published`, for the Following feed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_TRIGGERS = {
    "posts_bump_comments": ("AFTER UPDATE OF comments ON posts", "likes"),
    "follows_bump_version_insert": ("AFTER INSERT ON follows", "version"),
    "follows_bump_version_delete": ("AFTER DELETE ON follows", "version"),
}


def upgrade() -> None:
    op.add_column(
        "posts", sa.Column("comments", sa.Integer(), server_default="0", nullable=False)
    )
    # The Following feed reads each followed person's newest published posts from
    # their index alone: `published` joins it (profiles still page through it).
    op.create_index(
        "ix_posts_owner_newest", "posts", ["owner_id", "created_at", "id", "published"]
    )
    op.drop_index("ix_posts_owner_feed", table_name="posts")
    op.create_table(
        "follows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("follower_id", sa.Integer(), nullable=False),
        sa.Column("followed_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("follower_id <> followed_id", name="ck_follows_not_self"),
        sa.ForeignKeyConstraint(["followed_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["follower_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("follower_id", "followed_id", name="uq_follows_pair"),
    )
    op.create_index("ix_follows_followed", "follows", ["followed_id", "created_at", "id"])
    op.create_index("ix_follows_follower", "follows", ["follower_id", "created_at", "id"])
    op.create_table(
        "comments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("content", sa.String(length=2000), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_comments_post", "comments", ["post_id", "created_at", "id"])
    op.create_index("ix_comments_author", "comments", ["author_id"])
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=True),
        sa.Column("comment_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["comment_id"], ["comments.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["recipient_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_notifications_recipient", "notifications", ["recipient_id", "created_at", "id"]
    )
    op.create_index(
        "ix_notifications_unread",
        "notifications",
        ["recipient_id"],
        postgresql_where=sa.text("NOT read"),
        sqlite_where=sa.text("NOT read"),
    )
    op.create_index("ix_notifications_actor", "notifications", ["actor_id", "kind"])
    op.create_index("ix_notifications_post", "notifications", ["post_id"])
    op.create_index("ix_notifications_comment", "notifications", ["comment_id"])

    if op.get_bind().dialect.name == "postgresql":
        # The counts trigger of 0003 watched `votes` alone; now the comment count too.
        op.execute("DROP TRIGGER posts_bump_likes ON posts")
        op.execute(
            "CREATE TRIGGER posts_bump_likes AFTER UPDATE OF votes, comments ON posts "
            "FOR EACH STATEMENT EXECUTE FUNCTION agora_bump_version('likes')"
        )
        op.execute(
            "CREATE TRIGGER follows_bump_version AFTER INSERT OR DELETE OR TRUNCATE ON follows "
            "FOR EACH STATEMENT EXECUTE FUNCTION agora_bump_version('version')"
        )
        return
    for name, (event, column) in SQLITE_TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER {name} {event} "
            f"BEGIN UPDATE site_state SET {column} = {column} + 1 WHERE id = 1; END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS follows_bump_version ON follows")
        op.execute("DROP TRIGGER IF EXISTS posts_bump_likes ON posts")
        op.execute(
            "CREATE TRIGGER posts_bump_likes AFTER UPDATE OF votes ON posts "
            "FOR EACH STATEMENT EXECUTE FUNCTION agora_bump_version('likes')"
        )
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    for name in ("comment", "post", "actor", "unread", "recipient"):
        op.drop_index(f"ix_notifications_{name}", table_name="notifications")
    op.drop_table("notifications")
    op.drop_index("ix_comments_author", table_name="comments")
    op.drop_index("ix_comments_post", table_name="comments")
    op.drop_table("comments")
    op.drop_index("ix_follows_follower", table_name="follows")
    op.drop_index("ix_follows_followed", table_name="follows")
    op.drop_table("follows")
    op.create_index("ix_posts_owner_feed", "posts", ["owner_id", "created_at", "id"])
    op.drop_index("ix_posts_owner_newest", table_name="posts")
    # Not a batch (which would rebuild the table without 0003's triggers):
    # SQLite drops a column in place since 3.35.
    op.drop_column("posts", "comments")


"""users, posts, votes, sessions and login failures

Revision ID: 0001
Revises:
Create Date: 2026-11-26 10:57:15.675840
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("login_failures",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("account_key", sa.String(length=320), nullable=False),
    sa.Column("client_ip", sa.String(length=45), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("id")
    )
    op.create_index("ix_login_failures_account", "login_failures", ["account_key", "created_at"], unique=False)
    op.create_index("ix_login_failures_client", "login_failures", ["client_ip", "created_at"], unique=False)
    op.create_table("users",
    sa.Column("username", sa.String(length=30), nullable=False),
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("email", sa.String(length=254), nullable=False),
    sa.Column("password_hash", sa.String(length=255), nullable=False),
    sa.Column("security_stamp", sa.String(length=32), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("id")
    )
    op.create_index("uq_users_email_lower", "users", [sa.literal_column("lower(email)")], unique=True)
    op.create_index("uq_users_username_lower", "users", [sa.literal_column("lower(username)")], unique=True)
    op.create_table("posts",
    sa.Column("published", sa.Boolean(), nullable=False),
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("title", sa.String(length=200), nullable=False),
    sa.Column("content", sa.String(length=20000), nullable=False),
    sa.Column("owner_id", sa.Integer(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("votes", sa.Integer(), server_default="0", nullable=False),
    sa.ForeignKeyConstraint(["owner_id"], ["users.id"], ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id")
    )
    op.create_index("ix_posts_feed", "posts", ["published", "created_at", "id"], unique=False)
    op.create_index("ix_posts_owner_feed", "posts", ["owner_id", "created_at", "id"], unique=False)
    op.create_table("sessions",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("key_hash", sa.String(length=64), nullable=False),
    sa.Column("user_id", sa.Integer(), nullable=False),
    sa.Column("csrf_token", sa.String(length=64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("user_agent", sa.String(length=300), nullable=False),
    sa.Column("ip_address", sa.String(length=45), nullable=False),
    sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("key_hash")
    )
    op.create_index(op.f("ix_sessions_expires_at"), "sessions", ["expires_at"], unique=False)
    op.create_index(op.f("ix_sessions_user_id"), "sessions", ["user_id"], unique=False)
    op.create_table("votes",
    sa.Column("user_id", sa.Integer(), nullable=False),
    sa.Column("post_id", sa.Integer(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["post_id"], ["posts.id"], ondelete="CASCADE"),
    sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("user_id", "post_id")
    )
    op.create_index(op.f("ix_votes_post_id"), "votes", ["post_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_votes_post_id"), table_name="votes")
    op.drop_table("votes")
    op.drop_index(op.f("ix_sessions_user_id"), table_name="sessions")
    op.drop_index(op.f("ix_sessions_expires_at"), table_name="sessions")
    op.drop_table("sessions")
    op.drop_index("ix_posts_owner_feed", table_name="posts")
    op.drop_index("ix_posts_feed", table_name="posts")
    op.drop_table("posts")
    op.drop_index("uq_users_username_lower", table_name="users")
    op.drop_index("uq_users_email_lower", table_name="users")
    op.drop_table("users")
    op.drop_index("ix_login_failures_client", table_name="login_failures")
    op.drop_index("ix_login_failures_account", table_name="login_failures")
    op.drop_table("login_failures")

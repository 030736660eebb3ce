"""sign-in sessions kept in the database; user.session_token goes

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 01:20:00.000000

Each sign-in becomes a `user_session` row that the cookies point to (blog.user_sessions), so
the per-user `session_token` is no longer used. Cookies made before this revision name no
session: everyone signed in must sign in again (no error; they are simply signed out).

On SQLite the column is dropped with SQLite's own ALTER TABLE … DROP COLUMN (3.35 and later),
so `user` is not rebuilt by copy and keeps its CHECK constraints. The downgrade gives every user
a fresh random token (the old code refuses an empty one), which signs everyone out again; the
column keeps an empty server default, so SQLite can add it in place too.
"""

import secrets
import sqlite3

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "user_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("device", sa.String(length=120), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("remember", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_user_session_user_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_user_session_token_hash")),
    )
    with op.batch_alter_table("user_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_session_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_user_session_last_seen_at"), ["last_seen_at"], unique=False
        )

    with op.batch_alter_table("user", schema=None, recreate=_recreate()) as batch_op:
        batch_op.drop_column("session_token")


def downgrade():
    with op.batch_alter_table("user", schema=None, recreate=_recreate()) as batch_op:
        batch_op.add_column(
            sa.Column("session_token", sa.String(length=32), nullable=False, server_default="")
        )
    users = sa.table("user", sa.column("id", sa.Integer()), sa.column("session_token", sa.String()))
    connection = op.get_bind()
    for (user_id,) in connection.execute(sa.select(users.c.id)).all():
        token = secrets.token_urlsafe(16)
        connection.execute(users.update().where(users.c.id == user_id).values(session_token=token))

    with op.batch_alter_table("user_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_session_last_seen_at"))
        batch_op.drop_index(batch_op.f("ix_user_session_user_id"))
    op.drop_table("user_session")


def _recreate() -> str:
    """SQLite 3.35 and later drop a column in place; older ones need batch mode's copy."""
    native = tuple(int(part) for part in sqlite3.sqlite_version.split(".")) >= (3, 35)
    return "never" if native else "auto"

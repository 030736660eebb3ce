"""an avatar for each user (the author box under an article)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 04:00:00.000000

`user.avatar_media_id` points at an uploaded image; deleting the image clears it.

On SQLite both ways rebuild `user` by copy (batch mode): an in-place ADD COLUMN with a
REFERENCES clause leaves a table definition SQLAlchemy cannot read back, and SQLite cannot drop
a column a foreign key uses. The copy keeps the role column's CHECK constraint (checked in
tests/test_migrations.py).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

FOREIGN_KEY = "fk_user_avatar_media_id_media"
INDEX = "ix_user_avatar_media_id"


def upgrade():
    if op.get_bind().dialect.name == "sqlite":
        with _rebuilt_user_table() as batch_op:
            batch_op.add_column(sa.Column("avatar_media_id", sa.Integer(), nullable=True))
            batch_op.create_foreign_key(
                FOREIGN_KEY, "media", ["avatar_media_id"], ["id"], ondelete="SET NULL"
            )
    else:
        op.add_column("user", sa.Column("avatar_media_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            FOREIGN_KEY, "user", "media", ["avatar_media_id"], ["id"], ondelete="SET NULL"
        )
    op.create_index(INDEX, "user", ["avatar_media_id"], unique=False)


def downgrade():
    op.drop_index(INDEX, table_name="user")
    if op.get_bind().dialect.name == "sqlite":
        with _rebuilt_user_table() as batch_op:
            batch_op.drop_column("avatar_media_id")
    else:
        op.drop_constraint(FOREIGN_KEY, "user", type_="foreignkey")
        op.drop_column("user", "avatar_media_id")


def _rebuilt_user_table():
    """Batch mode's copy of `user` (Alembic reads the CHECK constraint back and keeps it)."""
    return op.batch_alter_table("user", recreate="always")

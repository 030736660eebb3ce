"""post: pinned, search and social fields; preview_link

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 04:00:00.000000

Posts get `pinned` (shown first on the home page), `meta_title`, `meta_description`,
`social_media_id` (the image link previews show) and `canonical_url`, all empty by default, so
existing posts read as before. `preview_link` keeps the shareable preview addresses of drafts
and scheduled posts (only a hash of each address's secret).

The new post columns have server defaults, so SQLite adds them in place; the foreign key to
`media` needs batch mode's copy of the table there, which drops the search triggers with the
old table: both ways end by putting them back (`blog.search.install`, idempotent).
"""

import sqlalchemy as sa
from alembic import op

from blog import search

# revision identifiers, used by Alembic.
revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("post", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("pinned", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("meta_title", sa.String(length=300), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("meta_description", sa.Text(), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("social_media_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("canonical_url", sa.String(length=2000), nullable=False, server_default="")
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_post_social_media_id_media"),
            "media",
            ["social_media_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index(
            batch_op.f("ix_post_social_media_id"), ["social_media_id"], unique=False
        )
        batch_op.create_index("ix_post_pinned", ["pinned", "published_at"], unique=False)
    search.install(op.get_bind())  # batch mode rebuilt `post` on SQLite: the triggers went too

    op.create_table(
        "preview_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"], ["post.id"], name=op.f("fk_preview_link_post_id_post"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user.id"],
            name=op.f("fk_preview_link_created_by_id_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_preview_link")),
        sa.UniqueConstraint("nonce", name=op.f("uq_preview_link_nonce")),
    )
    with op.batch_alter_table("preview_link", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_preview_link_post_id"), ["post_id"], unique=False)


def downgrade():
    with op.batch_alter_table("preview_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_preview_link_post_id"))
    op.drop_table("preview_link")

    with op.batch_alter_table("post", schema=None) as batch_op:
        batch_op.drop_index("ix_post_pinned")
        batch_op.drop_index(batch_op.f("ix_post_social_media_id"))
        batch_op.drop_constraint(batch_op.f("fk_post_social_media_id_media"), type_="foreignkey")
        batch_op.drop_column("canonical_url")
        batch_op.drop_column("social_media_id")
        batch_op.drop_column("meta_description")
        batch_op.drop_column("meta_title")
        batch_op.drop_column("pinned")
    search.install(op.get_bind())

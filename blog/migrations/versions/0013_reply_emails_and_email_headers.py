"""reply emails for commenters, extra email headers

`comment.reply_emails`: whether the commenter asked to be emailed when someone answers, and
where that stands (none, asked, on, off; existing comments: none). `comment.replies_told_at`:
when the emails about an approved reply were queued, so they go out once. `outgoing_email.headers`:
extra headers such as List-Unsubscribe (existing emails: none).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 07:10:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

REPLY_EMAILS = sa.Enum(
    "none", "asked", "on", "off",
    name="replyemails", native_enum=False, create_constraint=True, length=16,
)  # fmt: skip


def upgrade():
    with op.batch_alter_table("comment", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("reply_emails", REPLY_EMAILS, nullable=False, server_default="none")
        )
        batch_op.add_column(sa.Column("replies_told_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("outgoing_email", schema=None) as batch_op:
        batch_op.add_column(sa.Column("headers", sa.JSON(), nullable=False, server_default="{}"))


def downgrade():
    with op.batch_alter_table("outgoing_email", schema=None) as batch_op:
        batch_op.drop_column("headers")
    with op.batch_alter_table("comment", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_comment_replyemails"), type_="check")
        batch_op.drop_column("replies_told_at")
        batch_op.drop_column("reply_emails")

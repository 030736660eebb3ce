"""newsletter: subscribers, sends and deliveries; a post's newsletter choice

`subscriber` holds the newsletter's readers (status, how they consented, bounces in a row).
`newsletter_send` is one post sent to them (the email made once; one per post, ever) and
`newsletter_delivery` one subscriber-and-post pair, written before it is sent (blog.newsletter).
`post.newsletter` says what a post sends when published (off, full, excerpt); existing posts:
off, so nothing already published is ever sent.

Dropping the post column on SQLite rebuilds the table, which drops the search triggers:
the downgrade puts them back (`blog.search.install`, idempotent).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 07:10:52

"""

import sqlalchemy as sa
from alembic import op

from blog import search

# revision identifiers, used by Alembic.
revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "subscriber",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "unconfirmed",
                "confirmed",
                "unsubscribed",
                "bouncing",
                name="subscriberstatus",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("consent", sa.String(length=300), nullable=False),
        sa.Column("bounces", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.Column("unsubscribed_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriber")),
        sa.UniqueConstraint("email", name=op.f("uq_subscriber_email")),
    )
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subscriber_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_subscriber_status"), ["status"], unique=False)

    op.create_table(
        "newsletter_send",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "sending",
                "paused",
                "cancelled",
                "done",
                name="sendstatus",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["post.id"],
            name=op.f("fk_newsletter_send_post_id_post"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_newsletter_send")),
        sa.UniqueConstraint("post_id", name=op.f("uq_newsletter_send_post_id")),
    )
    with op.batch_alter_table("newsletter_send", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_newsletter_send_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "newsletter_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("send_id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "sending",
                "handed_over",
                "sent",
                "failed",
                "bounced",
                "cancelled",
                name="deliverystatus",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("claim", sa.String(length=32), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["send_id"],
            ["newsletter_send.id"],
            name=op.f("fk_newsletter_delivery_send_id_newsletter_send"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscriber.id"],
            name=op.f("fk_newsletter_delivery_subscriber_id_subscriber"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_newsletter_delivery")),
        sa.UniqueConstraint(
            "send_id", "subscriber_id", name=op.f("uq_newsletter_delivery_send_id")
        ),
    )
    with op.batch_alter_table("newsletter_delivery", schema=None) as batch_op:
        batch_op.create_index(
            "ix_newsletter_delivery_send_status", ["send_id", "status", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_newsletter_delivery_subscriber_id"), ["subscriber_id"], unique=False
        )

    with op.batch_alter_table("post", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("newsletter", sa.String(length=16), server_default="off", nullable=False)
        )


def downgrade():
    with op.batch_alter_table("post", schema=None) as batch_op:
        batch_op.drop_column("newsletter")
    search.install(op.get_bind())  # batch mode rebuilt `post` on SQLite: the triggers went too

    with op.batch_alter_table("newsletter_delivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_newsletter_delivery_subscriber_id"))
        batch_op.drop_index("ix_newsletter_delivery_send_status")

    op.drop_table("newsletter_delivery")
    with op.batch_alter_table("newsletter_send", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_newsletter_send_created_at"))

    op.drop_table("newsletter_send")
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subscriber_status"))
        batch_op.drop_index(batch_op.f("ix_subscriber_created_at"))

    op.drop_table("subscriber")

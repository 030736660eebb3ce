"""comment: import_key

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 07:15:00.000000

Imported comments remember where they came from (a WordPress comment, an entry of a Markdown
export's comments file), as posts and images do, so running the same import again adds no
copy. The column is nullable: comments written here have none. On SQLite the unique
constraint needs batch mode's copy of `comment`, which has no triggers to put back.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("comment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("import_key", sa.String(length=500), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_comment_import_key"), ["import_key"])


def downgrade():
    with op.batch_alter_table("comment", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_comment_import_key"), type_="unique")
        batch_op.drop_column("import_key")

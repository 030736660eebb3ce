"""full-text search: FTS5 table and triggers on SQLite, GIN expression index on PostgreSQL

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 09:00:00.000000

The objects are defined once, in blog.search; see its docstring. On SQLite the new index is
filled from the existing posts; on PostgreSQL CREATE INDEX builds it (holding a lock that
blocks writes to `post` meanwhile, acceptable for a blog's size).
"""

from alembic import op

from blog import search

# revision identifiers, used by Alembic.
revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    search.install(op.get_bind())


def downgrade():
    search.uninstall(op.get_bind())

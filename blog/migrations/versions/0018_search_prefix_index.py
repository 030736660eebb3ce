"""search prefix index: SQLite's FTS5 table made again with prefix indexes of 3 and 4 characters

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 21:30:00.000000

A prefix query (`wat*`) merged the lists of every word beginning so, once to find the newest
matches and again to rank them; with prefix indexes FTS5 reads one list for a 3- or 4-character
prefix. FTS5 cannot add them to an existing table, so the table is dropped and made again by
`blog.search.install`, which rebuilds the index from `post` (the triggers stay: they belong to
`post`). At 100,000 posts of 300 to 3,000 words (2 shared cores, load 7-11): 115-126 s, the
index's data from 276 to 638 MB and the database file from 2.51 to 2.87 GB; the downgrade 35 s.
See bench/README.md, "Search under load". PostgreSQL: nothing to do.
"""

from alembic import op

from blog import search

# revision identifiers, used by Alembic.
revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

# The table as 0002 made it: the downgrade must not follow later changes to blog.search.
OLD_TABLE = (
    "CREATE VIRTUAL TABLE post_fts USING fts5(title, excerpt, body_text, content='post', "
    "content_rowid='id', tokenize='unicode61 remove_diacritics 2')"
)


def upgrade():
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS post_fts")
        search.install(op.get_bind())  # makes the table and rebuilds its index


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS post_fts")
        op.execute(OLD_TABLE)
        op.execute("INSERT INTO post_fts(post_fts) VALUES ('rebuild')")

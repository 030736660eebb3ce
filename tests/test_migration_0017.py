"""Migration 0017 (the category tree) on a database in use: SQLite copies the `category` table
to give it its foreign key, and no post may lose its category meanwhile. (PostgreSQL adds the
column in place; the copy, and so the risk, is SQLite's alone.)"""

import pytest
from flask_migrate import upgrade
from sqlalchemy import text

from blog.extensions import db


@pytest.fixture(params=["sqlite"])
def database_url(request, tmp_path):
    return f"sqlite:///{tmp_path / 'instance' / 'blog.sqlite3'}"


def insert_row(connection, table: str, values: dict) -> None:
    """A row as the schema of that revision wants it: every other required column gets an
    empty value of its type."""
    for _, name, kind, not_null, default, _ in connection.exec_driver_sql(
        f'PRAGMA table_info("{table}")'
    ):
        if not_null and default is None and name not in values:
            empty = {"INTEGER": 0, "BOOLEAN": False, "DATETIME": "2024-01-01 09:00:00"}
            values[name] = empty.get(kind.upper(), "")
    names = ", ".join(values)
    marks = ", ".join(f":{name}" for name in values)
    connection.execute(text(f'INSERT INTO "{table}" ({names}) VALUES ({marks})'), values)


def test_upgrading_keeps_every_posts_category_as_its_primary_one(app, client):
    with app.app_context():
        db.session.remove()
        db.drop_all()
        with db.engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
        upgrade(revision="0016")
        with db.engine.begin() as connection:
            connection.execute(
                text(
                    'INSERT INTO "user" (id, email, display_name, slug, bio, role, active,'
                    " created_at, totp_enabled, notifications_off) VALUES (1, 'ann@example.com',"
                    " 'Ann', 'ann', '', 'author', true, CURRENT_TIMESTAMP, false, '[]')"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO category (id, name, slug, description, position, created_at)"
                    " VALUES (1, 'News', 'news', '', 1, CURRENT_TIMESTAMP)"
                )
            )
            insert_row(
                connection,
                "post",
                {"id": 1, "kind": "post", "title": "Old news", "slug": "old-news",
                 "body_html": "<p>Old news.</p>", "status": "published",
                 "published_at": "2024-01-01 09:00:00", "version": 1, "author_id": 1,
                 "category_id": 1},
            )  # fmt: skip
        upgrade()
        with db.engine.connect() as connection:
            assert connection.execute(text("SELECT category_id FROM post")).scalar() == 1
            assert connection.execute(text("SELECT parent_id FROM category")).all() == [(None,)]
            assert connection.execute(text("SELECT count(*) FROM post_category")).scalar() == 0
    page = client.get("/category/news/").get_data(as_text=True)
    assert "Old news" in page

"""The server's pre-flight check agrees with Alembic and with the app's configuration."""

import subprocess
import sys

import pytest
from alembic.script import ScriptDirectory
from flask_migrate import stamp
from sqlalchemy import text

from blog import preflight
from blog.accounts import create_user
from blog.database import MIGRATIONS
from blog.extensions import db
from tests.conftest import create_schema


def test_the_newest_migration_file_is_alembics_head():
    assert preflight.head_revision() == ScriptDirectory(str(MIGRATIONS)).get_current_head()


def test_two_heads_or_none_leave_the_decision_to_alembic(tmp_path):
    assert preflight.head_revision(tmp_path) is None
    for name, parent in (("a", None), ("b", "a"), ("c", "a")):
        parent_text = f'"{parent}"' if parent else "None"
        source = f'revision = "{name}"\ndown_revision = {parent_text}\n'
        (tmp_path / f"{name}.py").write_text(source)
    assert preflight.head_revision(tmp_path) is None  # b and c both build on a
    (tmp_path / "c.py").unlink()
    assert preflight.head_revision(tmp_path) == "b"


def test_there_is_nothing_to_do_only_at_head_with_an_account(app, monkeypatch, tmp_path):
    monkeypatch.setenv("BLOG_DATABASE_URL", app.config["DATABASE_URL"])
    instance = tmp_path / "elsewhere"
    try:
        assert not preflight.nothing_to_do(instance)  # no schema revision recorded
        with app.app_context():
            stamp(directory=str(MIGRATIONS))
        assert not preflight.nothing_to_do(instance)  # no account yet: the setup address is due
        with app.app_context():
            create_user("admin@example.com", "Admin", "admin", "a long enough password 1")
            db.session.commit()
        assert preflight.nothing_to_do(instance)
        with app.app_context():
            stamp(directory=str(MIGRATIONS), revision="0001")
        assert not preflight.nothing_to_do(instance)  # migrations are pending
    finally:
        with app.app_context(), db.engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))


def test_an_unreachable_or_unknown_database_means_take_the_full_path(monkeypatch, tmp_path):
    for url in (
        f"sqlite:///{tmp_path / 'missing.sqlite3'}",
        "postgresql://nobody@127.0.0.1:1/none",
        "mysql://someone@127.0.0.1/blog",
    ):
        monkeypatch.setenv("BLOG_DATABASE_URL", url)
        assert not preflight.nothing_to_do(tmp_path), url


def test_the_database_url_is_resolved_as_the_app_resolves_it(monkeypatch, tmp_path):
    monkeypatch.delenv("BLOG_DATABASE_URL", raising=False)
    monkeypatch.setenv("BLOG_INSTANCE_PATH", str(tmp_path))
    script = "from blog import create_app; print(create_app().config['DATABASE_URL'])"

    def app_sees() -> str:
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    default = f"sqlite:///{tmp_path / 'blog.sqlite3'}"
    assert preflight.database_url(tmp_path) == app_sees() == default
    (tmp_path / "config.py").write_text('DATABASE_URL = "sqlite:////srv/blog/site.sqlite3"\n')
    assert preflight.database_url(tmp_path) == app_sees() == "sqlite:////srv/blog/site.sqlite3"
    monkeypatch.setenv("BLOG_DATABASE_URL", "postgresql://blog@127.0.0.1/blog")
    assert preflight.database_url(tmp_path) == app_sees() == "postgresql://blog@127.0.0.1/blog"


def test_the_schema_state_says_where_the_database_stands(app):
    url = app.config["DATABASE_URL"]
    head = preflight.head_revision()
    try:
        assert preflight.schema_state(url) == (preflight.Schema.CURRENT, None)  # create_all
        with app.app_context():
            stamp(directory=str(MIGRATIONS))
        assert preflight.schema_state(url) == (preflight.Schema.CURRENT, head)
        with app.app_context():
            stamp(directory=str(MIGRATIONS), revision="0001")
        assert preflight.schema_state(url) == (preflight.Schema.BEHIND, "0001")
        with app.app_context(), db.engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
        assert preflight.schema_state(url) == (preflight.Schema.UNKNOWN_REVISION, "f00d")
        with app.app_context():
            db.drop_all()
        with app.app_context(), db.engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
        assert preflight.schema_state(url) == (preflight.Schema.MISSING, None)
    finally:
        with app.app_context(), db.engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
        if url.startswith("postgresql"):  # the shared schema, as the other tests expect it
            with app.app_context():
                db.drop_all()
                create_schema()


@pytest.mark.parametrize(
    ("url", "state"),
    [
        ("sqlite:////nonexistent/folder/blog.sqlite3", preflight.Schema.MISSING),
        ("sqlite://", preflight.Schema.UNCHECKED),  # in memory: nothing to look at beforehand
        ("mysql://someone@127.0.0.1/blog", preflight.Schema.UNCHECKED),
    ],
)
def test_a_missing_file_is_missing_and_an_unread_url_is_left_to_the_app(url, state):
    assert preflight.schema_state(url) == (state, None)

"""The app factory: layered configuration, the secret key, folders, health check."""

import os
import stat
import subprocess
import sys

from blog import create_app
from blog.config import REPO_ROOT


def test_templates_and_static_are_found_at_the_repository_root(client):
    assert client.application.template_folder == str(REPO_ROOT / "templates")
    with client.get("/static/css/site.css") as response:
        assert response.status_code == 200
        assert b"--measure" in response.data
    assert client.get("/login").status_code in (200, 302)


def test_healthz_answers_when_the_database_does(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_healthz_reports_an_unreachable_database(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'missing-folder' / 'x.sqlite3'}",
        }
    )
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["database"] == "unreachable"


def test_secret_key_is_generated_once_and_kept_private(tmp_path, monkeypatch):
    monkeypatch.setenv("BLOG_INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("BLOG_SECRET_KEY", raising=False)
    first = create_app()
    second = create_app()
    key_file = tmp_path / "secret_key"
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert len(first.config["SECRET_KEY"]) >= 64
    assert key_file.read_text().strip() == first.config["SECRET_KEY"]
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600


def test_configuration_layers_instance_file_then_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("BLOG_INSTANCE_PATH", str(tmp_path))
    (tmp_path / "config.py").write_text(
        "SITE_URL = 'https://from-file.example/'\nDATABASE_URL = 'sqlite:////tmp/from-file.db'\n"
    )
    app = create_app()
    assert app.instance_path == str(tmp_path)
    assert app.config["SITE_URL"] == "https://from-file.example"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "sqlite:////tmp/from-file.db"
    assert app.config["SESSION_COOKIE_SECURE"] is True  # an https site gets Secure cookies

    monkeypatch.setenv("BLOG_SITE_URL", "http://from-env.example")
    monkeypatch.setenv("BLOG_SECRET_KEY", "from-env-secret")
    monkeypatch.setenv("BLOG_DATABASE_URL", "sqlite:////tmp/from-env.db")
    app = create_app()
    assert app.config["SITE_URL"] == "http://from-env.example"
    assert app.config["SECRET_KEY"] == "from-env-secret"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "sqlite:////tmp/from-env.db"


def test_default_database_is_sqlite_in_the_instance_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("BLOG_INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("BLOG_DATABASE_URL", raising=False)
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'blog.sqlite3'}"


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(app):
    from blog.extensions import db

    if not app.config["DATABASE_URL"].startswith("sqlite"):
        return  # PostgreSQL has no such pragmas; this property is SQLite's alone
    with app.app_context(), db.engine.connect() as connection:
        pragma = lambda name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
        assert pragma("journal_mode") == "wal"
        assert pragma("foreign_keys") == 1
        assert pragma("busy_timeout") == 5000


def test_the_app_gunicorn_runs_serves_pages_without_loading_rare_machinery(tmp_path):
    """Workers build `create_app(cli=False)`: reader pages work, and the modules only writing,
    importing or migrating need (Alembic, Markdown, bleach, Pillow, BeautifulSoup) stay out, and
    so do those of other databases and of federation (psycopg, redis, cryptography, requests):
    each costs every worker of a small server megabytes (bench/README.md, memory)."""
    script = f"""
import sys
from blog import create_app
app = create_app({{"INSTANCE_PATH": {str(tmp_path)!r}, "SECRET_KEY": "x",
                   "DATABASE_URL": "sqlite:///{tmp_path}/blog.sqlite3"}}, cli=False)
from blog.extensions import db
from tests.conftest import create_schema
from blog.accounts import create_user
with app.app_context():
    create_schema()
    create_user("admin@example.com", "Admin", "admin", "a long enough password 1")
    db.session.commit()
client = app.test_client()
assert client.get("/").status_code == 200
assert client.get("/feed.xml").status_code == 200
assert client.get("/search?q=anything").status_code == 200
assert "db" not in app.cli.commands and "migrate" not in app.extensions
rare = ("alembic", "markdown", "bleach", "PIL", "bs4", "psycopg", "cryptography", "requests",
        "redis")
print(sorted(m for m in rare if m in sys.modules))
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_each_new_app_leaves_one_set_of_session_listeners(tmp_path):
    """The session is shared by every app of the process: a second app must not add the
    listeners again (the test suite makes thousands, and each commit ran them all)."""
    from blog.extensions import db

    def listeners(app) -> tuple[int, ...]:
        with app.app_context():
            session = db.session()
            events = (session.dispatch.after_flush, session.dispatch.after_commit,
                      session.dispatch.after_rollback, session.dispatch.before_flush)  # fmt: skip
            return tuple(len(listening) for listening in events)

    def new_app(number: int):
        folder = tmp_path / f"app-{number}"
        return create_app({"INSTANCE_PATH": str(folder), "DATABASE_URL": "sqlite://",
                           "SECRET_KEY": "x"})  # fmt: skip

    first = listeners(new_app(1))
    assert listeners(new_app(2)) == listeners(new_app(3)) == first

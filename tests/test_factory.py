"""The app factory: layered configuration, the secret key, folders, health check."""

import os
import stat

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

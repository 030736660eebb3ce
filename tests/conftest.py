"""Fixtures in the spirit of flaskr's: app (fresh database per test), client, runner, auth.

Every test that uses `app` runs twice: on a SQLite file and on a real PostgreSQL server.
PostgreSQL comes from BLOG_TEST_POSTGRES_URL, or is started for the session from the
machine's PostgreSQL binaries. In CI (CI=true) a missing server or browser fails the run.
"""

import os
import re

import pytest
from sqlalchemy import text

from blog import create_app, search
from blog.accounts import create_user
from blog.extensions import db
from blog.models import Role
from tests.pg_server import ThrowawayPostgres, find_bin_dir

IN_CI = os.environ.get("CI") == "true"
PASSWORD = "correct horse battery"
pytest_plugins = ["tests.browser_fixtures"]


def missing(reason: str):
    """In CI a missing service is a failure; on a developer's machine, a skip that says why."""
    if IN_CI:
        pytest.fail(f"{reason} (required in CI)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_url():
    configured = os.environ.get("BLOG_TEST_POSTGRES_URL")
    if configured:
        yield configured
        return
    bin_dir = find_bin_dir()
    if bin_dir is None:
        missing("PostgreSQL server binaries not found (apt-get install postgresql)")
    server = ThrowawayPostgres(bin_dir)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def _postgres_schema(postgres_url):
    """Create the tables once per session; tests then empty them instead of recreating them."""
    app = create_app(_test_config(postgres_url, "/tmp/blog-test-schema"))
    with app.app_context():
        db.drop_all()
        create_schema()
        db.engine.dispose()
    return postgres_url


def create_schema() -> None:
    """The models' tables plus the search index objects, which live outside the models."""
    db.create_all()
    with db.engine.begin() as connection:
        search.install(connection)


def _test_config(database_url: str, instance_path) -> dict:
    return {
        "TESTING": True,
        "INSTANCE_PATH": str(instance_path),
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-key",
        "WTF_CSRF_ENABLED": False,
        "SITE_URL": "http://blog.test",
        # Real scrypt, cheaper parameters: the suite creates hundreds of users.
        "PASSWORD_HASH_METHOD": "scrypt:1024:8:1",
        "SQLALCHEMY_ENGINE_OPTIONS": (
            {"connect_args": {"options": "-c lock_timeout=10s -c statement_timeout=60s"}}
            if database_url.startswith("postgresql")
            else {}
        ),
    }


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'instance' / 'blog.sqlite3'}"
    return request.getfixturevalue("_postgres_schema")


@pytest.fixture
def make_app(database_url, tmp_path):
    """Build an app on this test's database; options override the test configuration."""
    apps = []

    def factory(**options):
        config = _test_config(database_url, tmp_path / "instance")
        config.update(options)
        app = create_app(config)
        with app.app_context():
            if database_url.startswith("sqlite"):
                create_schema()
        apps.append(app)
        return app

    yield factory
    for app in apps:
        with app.app_context():
            db.session.remove()
            if database_url.startswith("postgresql"):
                _empty_all_tables()
            db.engine.dispose()


def _empty_all_tables() -> None:
    names = ", ".join(f'"{table.name}"' for table in db.metadata.sorted_tables)
    with db.engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def users(app):
    """One user of each role, plus a second author, all with PASSWORD."""
    people = {
        "admin": ("admin@example.com", "Ada Admin", Role.ADMIN),
        "editor": ("editor@example.com", "Eddie Editor", Role.EDITOR),
        "author": ("author@example.com", "Ann Author", Role.AUTHOR),
        "other_author": ("other@example.com", "Otto Other", Role.AUTHOR),
    }
    with app.app_context():
        created = {
            key: create_user(email, name, role, PASSWORD)
            for key, (email, name, role) in people.items()
        }
        db.session.commit()
        ids = {key: user.id for key, user in created.items()}
    return {key: {"id": ids[key], "email": people[key][0]} for key in people}


class AuthActions:
    def __init__(self, client, users):
        self._client = client
        self._users = users

    def login(self, who: str = "admin", password: str = PASSWORD, **kwargs):
        email = self._users[who]["email"] if who in self._users else who
        return self._client.post("/login", data={"email": email, "password": password}, **kwargs)

    def logout(self):
        return self._client.post("/logout")


@pytest.fixture
def auth(client, users):
    return AuthActions(client, users)


def shown_by(client, page: str, action: str | None = None) -> dict:
    """The `shown` field (a fingerprint of what the form showed) of the form on `page`, or of
    the one there that posts to `action`, as a browser would send it back."""
    html = client.get(page).get_data(as_text=True)
    if action is not None:
        html = html[html.index(f'action="{action}"') :]
    match = re.search(r'name="shown" value="([0-9a-f]+)"', html)
    assert match, f"no shown field on {page}"
    return {"shown": match.group(1)}


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


@pytest.fixture
def smtp_server():
    """A real SMTP server on 127.0.0.1 (aiosmtpd), plain, for this test."""
    from tests.smtp_server import SmtpServer

    with SmtpServer() as server:
        yield server


@pytest.fixture
def mail_app(make_app, smtp_server):
    """An app that sends its email to `smtp_server`, with retries a test can wait for."""
    return make_app(**smtp_server.settings(), **FAST_RETRIES)


# Retries in tenths of a second instead of minutes: the same code paths, shorter waits.
FAST_RETRIES = {"JOB_RETRY_BASE_SECONDS": 0.05, "JOB_RETRY_MAX_SECONDS": 0.2}


def run_jobs(app, timeout: float = 30, wait_for_scheduled: bool = True) -> None:
    """Work the app's real queue in this thread until nothing is left, retries included.

    What `flask worker` does, without its threads: tests see each job's outcome when this
    returns. Retries scheduled for later wait in Huey's schedule until they are due; with
    `wait_for_scheduled=False`, it returns once nothing is due now (a job for tomorrow waits).
    """
    import time as _time

    from blog.models import utcnow
    from blog.queue import get_queue

    huey = get_queue(app).huey
    deadline = _time.monotonic() + timeout
    while True:
        for task in huey.read_schedule(utcnow()):
            huey.enqueue(task)
        task = huey.dequeue()
        if task is not None:
            huey.execute(task)
            continue
        if huey.scheduled_count() == 0 or not wait_for_scheduled:
            return
        if _time.monotonic() > deadline:
            raise AssertionError("jobs still scheduled after the timeout")
        _time.sleep(0.02)


@pytest.fixture(scope="session")
def _redis_server():
    from tests.redis_server import ThrowawayRedis, find_redis_server

    binary = find_redis_server()
    if binary is None:
        missing("redis-server not found (apt-get install redis-server)")
    server = ThrowawayRedis(binary).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(_redis_server):
    """A real, empty Redis (Debian's redis-server, started once for the test session)."""
    _redis_server.flush()
    return _redis_server.url

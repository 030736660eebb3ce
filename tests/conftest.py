"""Fixtures in the spirit of flaskr's: app (fresh database per test), client, runner, auth.

Every test that uses `app` runs twice: on a SQLite file and on a real PostgreSQL server.
PostgreSQL comes from BLOG_TEST_POSTGRES_URL, or is started for the session from the
machine's PostgreSQL binaries. In CI (CI=true) a missing server or browser fails the run.

What every test pays is kept small, because two thousand tests pay it: a SQLite test's file is
a copy of a schema made once (`sqlite_template`), a PostgreSQL test's tables are emptied with
DELETE where rows were left (`_empty_all_tables`), and apps share the compiled forms of the
templates and URL rules (tests/compiled_once.py). bench/test_time.py measures such changes.
"""

import os
import re
import shutil

import pytest
from sqlalchemy import text

from blog import create_app, search
from blog.accounts import create_user
from blog.extensions import db
from blog.models import Role
from tests import compiled_once
from tests.compiled_once import share_compiled_templates
from tests.pg_server import ThrowawayPostgres, find_bin_dir

IN_CI = os.environ.get("CI") == "true"
PASSWORD = "correct horse battery"
pytest_plugins = ["tests.browser_fixtures"]
compiled_once.install()  # every app of the session shares its compiled URL builders


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


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    """A SQLite file with the schema, made once per session; tests get a copy of it.

    `create_schema` on a new file costs about 0.1 s of CPU and a burst of writes, for each of
    a thousand SQLite tests; copying the file costs a millisecond. Each test still has its
    own real file, which it may change as it likes.
    """
    folder = tmp_path_factory.mktemp("sqlite-template")
    path = folder / "blog.sqlite3"
    app = create_app(_test_config(f"sqlite:///{path}", folder))
    with app.app_context():
        create_schema()
        db.session.remove()
        db.engine.dispose()
    # The last connection closed folds the write-ahead log into the file: one file to copy.
    assert not path.with_name(path.name + "-wal").exists()
    return path


def sqlite_database(template, database_url: str) -> bool:
    """Copy the schema `template` to the file of `database_url` unless it exists; True if so."""
    path = database_url.removeprefix("sqlite:///")
    if not database_url.startswith("sqlite:///") or os.path.exists(path):
        return False
    os.makedirs(os.path.dirname(path), exist_ok=True)
    shutil.copyfile(template, path)
    return True


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
def make_app(database_url, tmp_path, request):
    """Build an app on this test's database; options override the test configuration.

    On SQLite the first app's file is a copy of the session's schema (`sqlite_template`);
    a further app on the same file, or an app given another database, gets `create_schema`.
    """
    apps = []

    def factory(**options):
        config = _test_config(database_url, tmp_path / "instance")
        config.update(options)
        copied = database_url.startswith("sqlite") and sqlite_database(
            request.getfixturevalue("sqlite_template"), config["DATABASE_URL"]
        )
        app = share_compiled_templates(create_app(config))
        with app.app_context():
            if database_url.startswith("sqlite") and not copied:
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
    """Leave the PostgreSQL database as a fresh one: every table empty, every id from 1.

    DELETE from the tables that hold a row, children first, then restart the sequences that
    were used. One TRUNCATE of every table made new files for all 32 tables and their indexes:
    0.4 s after each PostgreSQL test, where this takes 0.02 s (measured side by side, 15
    rounds). A test that leaves rows DELETE cannot remove in that order falls back to the
    TRUNCATE.
    """
    from sqlalchemy.exc import IntegrityError

    tables = db.metadata.sorted_tables
    quote = db.engine.dialect.identifier_preparer.quote
    with db.engine.begin() as connection:
        probe = " UNION ALL ".join(
            f"SELECT {number} WHERE EXISTS (SELECT FROM {quote(table.name)})"
            for number, table in enumerate(tables)
        )
        holding = {row[0] for row in connection.execute(text(probe))}
        try:
            with connection.begin_nested():
                for number, table in reversed(list(enumerate(tables))):
                    if number in holding:
                        connection.execute(table.delete())
        except IntegrityError:
            names = ", ".join(quote(table.name) for table in tables)
            connection.execute(text(f"TRUNCATE {names} CASCADE"))
        connection.execute(
            text(
                "SELECT setval(format('%I.%I', schemaname, sequencename)::regclass,"
                " start_value, false) FROM pg_sequences"
                " WHERE schemaname = current_schema() AND last_value IS NOT NULL"
            )
        )


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

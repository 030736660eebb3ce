"""Browser tests: Playwright driving Debian's Chromium against the app served on 127.0.0.1."""

import logging
import os
import shutil
import threading

import pytest
from werkzeug.serving import make_server

from blog import create_app
from blog.extensions import db

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not os.path.exists(CHROMIUM):
        from tests.conftest import missing

        missing(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


class RecordingHandler(logging.Handler):
    """Keeps the app's log lines so a test can read them as an operator reads the log."""

    def __init__(self):
        super().__init__(level=logging.INFO)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def _closed_before_sending(app):
    """The app, with each response body read whole and closed before werkzeug writes it.

    werkzeug's server (3.1) calls the body's close() only after draining the request socket,
    which raises when the browser has already dropped the connection (a favicon request cut
    off by a closing page), so a static file stayed open and its ResourceWarning failed
    whichever test the garbage collector ran in."""

    def wsgi(environ, start_response):
        body = app(environ, start_response)
        try:
            return [b"".join(body)]
        finally:
            if hasattr(body, "close"):
                body.close()

    return wsgi


class LiveServer:
    def __init__(self, app):
        self.app = app
        self.log = RecordingHandler()
        app.logger.addHandler(self.log)
        self._server = make_server("127.0.0.1", 0, _closed_before_sending(app), threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._thread.join(timeout=10)


@pytest.fixture
def live_server_config() -> dict:
    """Settings added to the live server's; a test module overrides this fixture (e.g. with a
    real SMTP server's settings)."""
    return {}


@pytest.fixture
def live_server(tmp_path, live_server_config, sqlite_template):
    """The real app (CSRF on) on a SQLite file (a copy of the session's schema), served by
    werkzeug in a thread."""
    from tests.compiled_once import share_compiled_templates
    from tests.conftest import create_schema, sqlite_database

    config = {
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'instance' / 'blog.sqlite3'}",
        "SECRET_KEY": "browser-test-secret",
        "PASSWORD_HASH_METHOD": "scrypt:1024:8:1",
        **live_server_config,
    }
    copied = sqlite_database(sqlite_template, config["DATABASE_URL"])
    app = share_compiled_templates(create_app(config))
    with app.app_context():
        if not copied:
            create_schema()
    app.config["SITE_URL"] = ""
    server = LiveServer(app).start()
    app.config["SITE_URL"] = server.url
    yield server
    server.stop()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def signed_in(live_server, page):
    """An author, signed in through the login form; returns a helper to sign others in."""
    from blog.accounts import create_user

    def sign_in(email="ann@example.com", name="Ann Author", role="author", target=page):
        with live_server.app.app_context():
            from blog.accounts import find_user

            if find_user(email) is None:
                create_user(email, name, role, "a long test password")
                db.session.commit()
        target.goto(live_server.url + "/login")
        target.get_by_label("Email").fill(email)
        target.get_by_label("Password").fill("a long test password")
        target.get_by_role("button", name="Sign in").click()
        target.get_by_role("heading", name="Dashboard").wait_for()
        return target

    sign_in()
    return sign_in


@pytest.fixture
def article(live_server):
    """A published article by Ann Author (an author account); its address on the live server."""
    from blog.accounts import create_user
    from blog.posts import Action, PostInput, save_post

    with live_server.app.test_request_context():
        author = create_user("ann@example.com", "Ann Author", "author", "a long test password")
        db.session.flush()
        data = PostInput(title="Harbour reopens", body_md="The harbour reopens on *Monday*.")
        post = save_post(None, data, author, Action.PUBLISH)
        db.session.commit()
        return f"{live_server.url}/{post.slug}/"

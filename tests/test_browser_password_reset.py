"""A forgotten password in Chromium: from "Forgot your password?" on the sign-in page to
signed in with the new one, the link read from the test SMTP server, the email sent by the
real job worker running beside the live server. Also accessibility (axe-core) of the pages."""

import pytest
from playwright.sync_api import Browser, Page, expect

from blog import create_app
from blog.extensions import db
from tests.browser_fixtures import LiveServer
from tests.email_links import link_in
from tests.test_browser_reader import axe_violations

pytestmark = pytest.mark.browser

OLD_PASSWORD = "an old forgotten one"
NEW_PASSWORD = "a fresh remembered one"


@pytest.fixture
def mail_live_server(tmp_path, smtp_server):
    """The real app (CSRF on) on SQLite, sending to `smtp_server`, with the embedded worker
    running its jobs for the test's duration."""
    from blog.accounts import create_user
    from blog.worker import Worker
    from tests.conftest import create_schema

    app = create_app(
        {
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'instance' / 'blog.sqlite3'}",
            "SECRET_KEY": "browser-test-secret",
            "PASSWORD_HASH_METHOD": "scrypt:1024:8:1",
            "JOB_POLL_MAX_SECONDS": 0.2,
            **smtp_server.settings(),
        }
    )
    with app.app_context():
        create_schema()
        create_user("ann@example.com", "Ann Author", "author", OLD_PASSWORD)
        db.session.commit()
    server = LiveServer(app).start()
    app.config["SITE_URL"] = server.url
    worker = Worker(app, threads=1, embedded=True)
    worker.start()
    yield server
    worker.stop()
    server.stop()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_forgot_password_from_the_sign_in_page_to_signed_in_with_the_new_one(
    mail_live_server, smtp_server, browser: Browser
):
    url = mail_live_server.url
    other = browser.new_context().new_page()  # Ann is still signed in on another device
    other.goto(url + "/login")
    other.get_by_label("Email").fill("ann@example.com")
    other.get_by_label("Password").fill(OLD_PASSWORD)
    other.get_by_role("button", name="Sign in").click()
    expect(other.get_by_role("heading", name="Dashboard")).to_be_visible()

    page: Page = browser.new_context(bypass_csp=True).new_page()
    page.goto(url + "/login")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.get_by_role("heading", name="Forgot your password?")).to_be_visible()
    assert axe_violations(page) == []
    page.get_by_label("Email").fill("ann@example.com")
    page.get_by_role("button", name="Send me a link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()

    [message] = smtp_server.wait_for(1)  # sent by the worker, not by this test
    assert message["To"] == "ann@example.com"
    page.goto(url + link_in(message, "/login/reset/"))
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    assert axe_violations(page) == []
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.get_by_text("Every other session has been signed out.")).to_be_visible()

    other.reload()  # the other device was signed out
    expect(other.get_by_role("heading", name="Sign in")).to_be_visible()
    other.get_by_label("Email").fill("ann@example.com")
    other.get_by_label("Password").fill(NEW_PASSWORD)
    other.get_by_role("button", name="Sign in").click()
    expect(other.get_by_role("heading", name="Dashboard")).to_be_visible()

    page.goto(url + link_in(message, "/login/reset/"))  # the same link, a second time
    expect(page.get_by_text("This link has already been used")).to_be_visible()

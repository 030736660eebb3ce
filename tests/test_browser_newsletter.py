"""The newsletter in Chromium, with a real SMTP server: a reader subscribes from a phone at the
end of an article (without JavaScript), confirms from the email, the author sends a test to
themselves and publishes from the editor, the newsletter arrives, the reader leaves through
its link; an editor watches a send's progress move on Admin → Newsletter without reloading."""

import re
import threading

import pytest
from playwright.sync_api import Browser, expect

from blog.extensions import db
from blog.models import Subscriber, SubscriberStatus, utcnow
from tests.conftest import FAST_RETRIES, run_jobs
from tests.test_browser_editor import type_into_editor

pytestmark = pytest.mark.browser
PHONE = {"width": 375, "height": 740}


@pytest.fixture
def live_server_config(smtp_server) -> dict:
    return {**smtp_server.settings(), **FAST_RETRIES, "NEWSLETTER_BATCH_SIZE": 5}


def _emails_to(live_server, smtp_server, address: str) -> list:
    """Work the queue as the worker would, then the emails to `address`, oldest first."""
    run_jobs(live_server.app)
    return [m for m in smtp_server.messages if str(m["To"]) == address]


def _link(message, fragment: str) -> str:
    text = message.get_body(("plain",)).get_content()
    return re.search(rf"(http://\S*{re.escape(fragment)}\S*)", text).group(1)


def test_a_reader_subscribes_from_a_phone_gets_the_post_and_leaves(
    live_server, article, browser: Browser, signed_in, page, smtp_server, tmp_path
):
    phone = browser.new_context(viewport=PHONE, java_script_enabled=False)
    reader = phone.new_page()
    reader.goto(article)
    form = reader.locator("form.subscribe-form")
    expect(form).to_have_count(1)  # at the article's end; the footer has none on articles
    expect(form).to_contain_text("only to send you new posts")  # the privacy note
    form.get_by_label("Get new posts by email").fill("bea@example.org")
    reader.screenshot(path=str(tmp_path / "subscribe-phone.png"), full_page=True)
    form.get_by_role("button", name="Subscribe").click()
    expect(reader.get_by_role("heading", name="Check your email")).to_be_visible()
    assert reader.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    [confirmation] = _emails_to(live_server, smtp_server, "bea@example.org")
    reader.goto(_link(confirmation, "/subscribe/confirm/"))
    expect(reader.get_by_role("heading", name="You are subscribed")).to_be_visible()

    # The author tries the email on themselves, then publishes with "Email to subscribers".
    page.goto(live_server.url + "/admin/posts/new")
    page.get_by_label("Title").fill("Ferry timetable changes")
    type_into_editor(page, "The ferry leaves at *nine* from now on.")
    page.get_by_label("Email to subscribers").select_option("full")
    page.get_by_role("button", name="Email me a test").click()
    expect(page.locator(".newsletter-test [role=status]")).to_have_text(
        "A test is on its way to ann@example.com."
    )
    [test] = [m for m in _emails_to(live_server, smtp_server, "ann@example.com")
              if "[Test]" in str(m["Subject"])]  # fmt: skip
    assert "The ferry leaves at *nine* from now on." in test.get_body(("plain",)).get_content()
    page.get_by_role("button", name="Publish now").click()
    expect(page.get_by_text("Being emailed to subscribers")).to_be_visible()

    news = [m for m in _emails_to(live_server, smtp_server, "bea@example.org")
            if "Ferry" in str(m["Subject"])]  # fmt: skip
    assert len(news) == 1
    assert "<em" in news[0].get_body(("html",)).get_content()
    reader.goto(_link(news[0], "/unsubscribe/"))
    expect(reader.get_by_role("heading", name="Unsubscribe?")).to_be_visible()
    reader.get_by_role("button", name="Unsubscribe").click()
    expect(reader.get_by_role("heading", name="You are unsubscribed")).to_be_visible()
    expect(reader.get_by_role("button", name="Subscribe again")).to_be_visible()
    with live_server.app.app_context():
        bea = db.session.scalar(db.select(Subscriber).filter_by(email="bea@example.org"))
        assert bea.status == SubscriberStatus.UNSUBSCRIBED


def test_an_editor_watches_a_send_move_on_without_reloading(
    live_server, article, browser: Browser, signed_in, smtp_server
):
    with live_server.app.app_context():
        db.session.add_all(
            Subscriber(email=f"s{n}@example.org", status=SubscriberStatus.CONFIRMED,
                       confirmed_at=utcnow())
            for n in range(12)
        )  # fmt: skip
        db.session.commit()
    page = browser.new_page()
    signed_in("eddie@example.com", "Eddie Editor", "editor", target=page)
    page.goto(live_server.url + "/admin/posts/new")
    page.get_by_label("Title").fill("Storm warning")
    type_into_editor(page, "Stay ashore.")
    page.get_by_label("Email to subscribers").select_option("full")
    smtp_server.hold.set()  # the first message waits at the server
    page.get_by_role("button", name="Publish now").click()
    expect(page.get_by_text("Being emailed to subscribers")).to_be_visible()
    worker = threading.Thread(target=run_jobs, args=(live_server.app, 60))
    worker.start()
    try:
        assert smtp_server.rcpt_seen.wait(30)
        page.goto(live_server.url + "/admin/newsletter")
        send = page.locator("li[data-send]").first
        expect(send.locator(".send-status")).to_have_text("sending")
        expect(send.locator('[data-count="sent"]')).to_have_text("0")
        smtp_server.hold.clear()
        # The page asks for the counts every 2 s: no reload.
        expect(send.locator(".send-status")).to_have_text("done", timeout=20_000)
        expect(send.locator('[data-count="sent"]')).to_have_text("12")
        expect(send.locator("progress")).to_have_attribute("value", "12")
    finally:
        smtp_server.hold.clear()
        worker.join(60)

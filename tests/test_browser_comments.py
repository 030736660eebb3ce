"""Comments in Chromium, as people use them: a reader on a phone comments and sees it await
moderation, the author gets the email (a real SMTP server) and approves from its link in
Admin → Comments, an anonymous reader sees it on the next request, the reader hears of the
author's reply by email, and a reply nests under it. Without JavaScript, as the form needs none."""

import re

import pytest
from playwright.sync_api import Browser, expect

from tests.conftest import FAST_RETRIES, run_jobs

pytestmark = pytest.mark.browser
PHONE = {"width": 375, "height": 740}
READING_PAUSE_MS = 3200  # the form refuses what is sent within 3 s of serving it


@pytest.fixture
def live_server_config(smtp_server) -> dict:
    return {**smtp_server.settings(), **FAST_RETRIES}


def _emails_to(live_server, smtp_server, address: str, count: int) -> list:
    """Work the queue as the worker would, then wait for `count` emails to `address`."""
    run_jobs(live_server.app)
    smtp_server.wait_for(len(smtp_server.messages))
    found = [m for m in smtp_server.messages if str(m["To"]) == address]
    assert len(found) == count, [str(m["Subject"]) for m in smtp_server.messages]
    return found


def _link(message, fragment: str) -> str:
    text = message.get_body(("plain",)).get_content()
    return re.search(rf"(http://\S*{re.escape(fragment)}\S*)", text).group(1)


def _write(page, text: str, name: str | None = None, email: str | None = None) -> None:
    page.get_by_label("Your comment").fill(text)
    if name:
        page.get_by_label("Name").fill(name)
        page.get_by_label("Email (never shown)").fill(email)
    page.wait_for_timeout(READING_PAUSE_MS)
    page.get_by_role("button", name="Post comment").click()


def test_a_comment_from_a_phone_to_approval_and_a_nested_reply(
    live_server, article, browser: Browser, signed_in, page, smtp_server
):
    phone = browser.new_context(viewport=PHONE, java_script_enabled=False)
    reader = phone.new_page()
    reader.goto(article)
    reader.get_by_label("Email me when someone replies").check()
    _write(reader, "Good news for the *fishermen*.", "Bea Reader", "bea@example.org")
    held = reader.locator("#comment-held")
    expect(held).to_contain_text("awaiting moderation")
    expect(held.locator("em")).to_have_text("fishermen")
    [confirmation] = _emails_to(live_server, smtp_server, "bea@example.org", 1)
    reader.goto(_link(confirmation, "/comments/replies/confirm/"))
    expect(reader.get_by_role("heading", name="Reply emails are on")).to_be_visible()

    # The author gets an email and approves from its link (signed in by the fixture).
    [waiting] = _emails_to(live_server, smtp_server, "ann@example.com", 1)
    assert "Bea Reader commented" in waiting.get_body(("plain",)).get_content()
    page.goto(_link(waiting, "?do=approve"))
    expect(page.get_by_role("link", name="Comments 1")).to_be_visible()
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_text("Comment by Bea Reader approved.")).to_be_visible()

    # A reader who never signed in sees it on the very next request.
    stranger = browser.new_context(viewport=PHONE).new_page()
    stranger.goto(article)
    first = stranger.locator(".thread > .comment").first
    expect(first).to_contain_text("Good news for the fishermen.")
    expect(stranger.get_by_role("heading", name="1 comment")).to_be_visible()

    # The author answers from Admin → Comments; Bea hears of it, and stops these emails.
    page.goto(live_server.url + "/admin/comments?status=approved")
    page.locator("details.reply summary").first.click()
    page.get_by_label("Your reply").fill("Thank you, Bea.")
    page.get_by_role("button", name="Publish reply").click()
    expect(page.locator(".replies .comment.by-author")).to_contain_text("Thank you, Bea.")
    [news] = _emails_to(live_server, smtp_server, "bea@example.org", 2)[1:]
    assert str(news["Subject"]).strip() == "Ann Author replied to you on “Harbour reopens”"
    reader.goto(_link(news, "/comments/replies/stop/"))
    expect(reader.get_by_role("heading", name="Reply emails stopped")).to_be_visible()

    # The reader answers in the thread; having an approved comment, their reply shows at once.
    reader.goto(article)
    reader.get_by_role("link", name="Reply").first.click()
    _write(reader, "And for the ferry.", "Bea Reader", "bea@example.org")
    replies = reader.locator(".thread .replies .comment")
    expect(replies.last).to_contain_text("And for the ferry.")
    expect(reader.get_by_role("heading", name="3 comments")).to_be_visible()

    # At 375 px the thread reads well: nothing wider than the screen.
    for tab in (reader, stranger):
        tab.reload()
        width = tab.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], width
    phone.close()

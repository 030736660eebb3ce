"""Comments in Chromium, as people use them: a reader on a phone comments and sees it await
moderation, the author approves it in Admin → Comments, an anonymous reader sees it on the
next request, and a reply nests under it. Without JavaScript, as the form needs none."""

import pytest
from playwright.sync_api import Browser, expect

from blog.accounts import create_user
from blog.extensions import db
from blog.posts import Action, PostInput, save_post

pytestmark = pytest.mark.browser
PHONE = {"width": 375, "height": 740}
READING_PAUSE_MS = 3200  # the form refuses what is sent within 3 s of serving it


@pytest.fixture
def article(live_server):
    with live_server.app.test_request_context():
        author = create_user("ann@example.com", "Ann Author", "author", "a long test password")
        db.session.flush()
        data = PostInput(title="Harbour reopens", body_md="The harbour reopens on *Monday*.")
        post = save_post(None, data, author, Action.PUBLISH)
        db.session.commit()
        return f"{live_server.url}/{post.slug}/"


def _write(page, text: str, name: str | None = None, email: str | None = None) -> None:
    page.get_by_label("Your comment").fill(text)
    if name:
        page.get_by_label("Name").fill(name)
        page.get_by_label("Email (never shown)").fill(email)
    page.wait_for_timeout(READING_PAUSE_MS)
    page.get_by_role("button", name="Post comment").click()


def test_a_comment_from_a_phone_to_approval_and_a_nested_reply(
    live_server, article, browser: Browser, signed_in, page
):
    phone = browser.new_context(viewport=PHONE, java_script_enabled=False)
    reader = phone.new_page()
    reader.goto(article)
    _write(reader, "Good news for the *fishermen*.", "Bea Reader", "bea@example.org")
    held = reader.locator("#comment-held")
    expect(held).to_contain_text("awaiting moderation")
    expect(held.locator("em")).to_have_text("fishermen")

    # The author approves it (signed in by the fixture, on the desktop page).
    page.goto(live_server.url + "/admin/comments")
    expect(page.get_by_role("link", name="Comments 1")).to_be_visible()
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_text("Comment by Bea Reader approved.")).to_be_visible()

    # A reader who never signed in sees it on the very next request.
    stranger = browser.new_context(viewport=PHONE).new_page()
    stranger.goto(article)
    first = stranger.locator(".thread > .comment").first
    expect(first).to_contain_text("Good news for the fishermen.")
    expect(stranger.get_by_role("heading", name="1 comment")).to_be_visible()

    # The reader answers it; having an approved comment, their reply shows at once.
    reader.goto(article)
    reader.get_by_role("link", name="Reply").first.click()
    _write(reader, "And for the ferry.", "Bea Reader", "bea@example.org")
    reply = reader.locator(".thread .replies .comment")
    expect(reply).to_contain_text("And for the ferry.")
    expect(reader.get_by_role("heading", name="2 comments")).to_be_visible()

    # At 375 px the thread reads well: nothing wider than the screen.
    for tab in (reader, stranger):
        tab.reload()
        width = tab.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], width
    phone.close()

"""Reading in Chromium: accessibility (axe-core) in light and dark, and pages with JS off."""

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from blog.accounts import create_user
from blog.demo import seed_demo_site
from blog.extensions import db
from blog.models import utcnow

pytestmark = pytest.mark.browser
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"


@pytest.fixture
def demo_site(live_server):
    app = live_server.app
    with app.test_request_context():
        author = create_user("ann@example.com", "Ann Author", "author", "a long test password")
        db.session.flush()
        author.bio = "Ann covers the harbour and the town council."
        seed_demo_site(author)
        db.session.commit()
    return live_server


def reader_pages() -> list[str]:
    now = utcnow()
    return [
        "/",
        "/fishermen-report-the-best-catch-in-a-decade/",
        "/category/harbour/",
        "/tag/economy/",
        "/author/ann-author/",
        f"/archive/{now.year}/{now.month}/",
        "/archive/",
        "/search?q=harbour",
        "/about/",
        "/no-such-page/",
        "/login",
    ]


def axe_violations(page: Page) -> list[tuple]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, { resultTypes: ['violations'] })")
    return [
        (rule["id"], rule["impact"], [node["target"] for node in rule["nodes"]][:3])
        for rule in result["violations"]
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_reader_pages_have_no_accessibility_violations(demo_site, browser: Browser, scheme):
    context = browser.new_context(color_scheme=scheme, bypass_csp=True)
    page = context.new_page()
    found = {}
    for path in reader_pages():
        page.goto(demo_site.url + path)
        violations = axe_violations(page)
        if violations:
            found[path] = violations
    context.close()
    assert found == {}


def test_reading_works_with_javascript_off(demo_site, browser: Browser):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(demo_site.url + "/")
    page.get_by_role("link", name="Council approves harbour wall repairs").first.click()
    expect(page.locator("h1")).to_have_text("Council approves harbour wall repairs")
    page.locator(".byline").get_by_role("link", name="Town").click()
    expect(page.locator("h1")).to_have_text("Town")
    page.get_by_role("search").first.get_by_role("searchbox").fill("lifeboat")
    page.get_by_role("search").first.get_by_role("button").click()
    expect(page.get_by_role("link", name="Lifeboat crew rehearses night launches")).to_be_visible()
    context.close()


def test_phone_width_has_no_horizontal_scroll(demo_site, browser: Browser):
    context = browser.new_context(viewport={"width": 320, "height": 700})
    page = context.new_page()
    for path in reader_pages()[:3]:
        page.goto(demo_site.url + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at 320px"
    context.close()

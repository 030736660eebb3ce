"""Reading in Chromium: every reader page at phone and desktop widths, light and dark (no sideways
scrolling, no axe-core violations), the article's measure and grid, the phone layouts, the
article's weight, and pages with JS off."""

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from blog.accounts import create_user
from blog.demo import seed_demo_site
from blog.extensions import db
from blog.models import utcnow

pytestmark = pytest.mark.browser
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"


@pytest.fixture
def live_server_config() -> dict:
    """A site that can send email, so its pages show the newsletter's forms as a real one
    would (no email is sent by these tests: nothing listens on the discard port)."""
    return {"MAIL_HOST": "127.0.0.1", "MAIL_PORT": 9, "MAIL_SECURITY": "none"}


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


ARTICLE = "/fishermen-report-the-best-catch-in-a-decade/"
WIDTHS = (375, 1280)


def reader_pages() -> list[str]:
    """One address of every kind of page a reader can reach."""
    now = utcnow()
    return [
        "/",
        ARTICLE,
        "/category/harbour/",
        "/tag/economy/",
        "/author/ann-author/",
        f"/archive/{now.year}/{now.month}/",
        f"/archive/{now.year}/",
        "/archive/",
        "/search?q=harbour",
        "/search?q=nothing+like+this",
        "/search",
        "/about/",
        "/no-such-page/",
        "/login",
        "/subscribe",
    ]


def axe_violations(page: Page) -> list[tuple]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, { resultTypes: ['violations'] })")
    return [
        (rule["id"], rule["impact"], [node["target"] for node in rule["nodes"]][:3])
        for rule in result["violations"]
    ]


def sideways_overflow(page: Page) -> int:
    """How far the page scrolls sideways: the document's width beyond the viewport's."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", WIDTHS)
def test_every_reader_page_fits_and_has_no_accessibility_violations(
    demo_site, browser: Browser, width, scheme
):
    context = browser.new_context(
        viewport={"width": width, "height": 800}, color_scheme=scheme, bypass_csp=True
    )
    page = context.new_page()
    overflow, found = {}, {}
    for path in reader_pages():
        page.goto(demo_site.url + path)
        if sideways_overflow(page) != 0:
            overflow[path] = sideways_overflow(page)
        violations = axe_violations(page)
        if violations:
            found[path] = violations
    context.close()
    assert overflow == {}, f"pages wider than {width}px"
    assert found == {}


CHARACTERS_PER_LINE = """() => {
    const p = document.querySelector('.article-body p');
    const style = getComputedStyle(p);
    const pen = document.createElement('canvas').getContext('2d');
    pen.font = `${style.fontStyle} ${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
    const average = pen.measureText(p.textContent).width / p.textContent.length;
    return p.clientWidth / average;
}"""


def box(page: Page, selector: str) -> dict:
    return page.locator(selector).first.bounding_box()


@pytest.mark.parametrize("width", [1280, 1600, 900])
def test_the_article_reads_at_60_to_75_characters_on_the_headers_grid(
    demo_site, browser: Browser, width
):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(demo_site.url + ARTICLE)
    assert 60 <= page.evaluate(CHARACTERS_PER_LINE) <= 75
    title, text = box(page, ".site-title"), box(page, ".article-body")
    assert abs(text["x"] - title["x"]) < 1  # the text starts where the site's name does
    assert abs(box(page, ".article-header")["x"] - title["x"]) < 1
    if width >= 1280:  # the aside ends where the header's search does
        search, aside = box(page, ".header-search"), box(page, ".article-aside")
        assert abs((aside["x"] + aside["width"]) - (search["x"] + search["width"])) < 1
    # its main category twice: in the breadcrumb above the title and in the byline
    assert page.locator(".article").get_by_role("link", name="Harbour", exact=True).count() == 2
    expect(page.get_by_role("navigation", name="Breadcrumb")).to_have_text("Harbour")
    context.close()


def test_the_article_ends_with_tags_share_links_author_related_and_next(
    demo_site, browser: Browser
):
    context = browser.new_context(viewport={"width": 375, "height": 800})
    page = context.new_page()
    page.goto(demo_site.url + ARTICLE)
    parts = [".article-body", ".tags", ".share", ".author-box", ".related", ".pager"]
    tops = [box(page, selector)["y"] for selector in parts]
    assert tops == sorted(tops), dict(zip(parts, tops, strict=True))
    author = page.locator(".author-box")
    expect(author.locator("img.avatar")).to_be_visible()
    expect(author).to_contain_text("Ann covers the harbour and the town council.")
    expect(page.locator(".related-title")).to_have_count(2)  # Harbour, or the economy tag
    share = page.locator(".share a")
    expect(share.first).to_have_attribute("href", re.compile(r"^mailto:\?"))
    author.get_by_role("link", name="All posts by Ann Author").click()
    expect(page.locator("h1")).to_have_text("Ann Author")
    context.close()


def test_on_a_phone_the_header_is_compact_and_posts_are_rows(demo_site, browser: Browser):
    context = browser.new_context(viewport={"width": 375, "height": 800})
    page = context.new_page()
    page.goto(demo_site.url + "/")
    assert box(page, ".site-header")["height"] <= 120  # was about 240
    rows = page.locator(".card:not(.card-lead)")
    assert rows.count() == 5
    for index in range(rows.count()):
        title, thumbnail = box(rows.nth(index), ".card-title"), box(rows.nth(index), "img")
        assert thumbnail["x"] >= title["x"] + title["width"]  # beside the text, on the right
        assert thumbnail["width"] <= 100
    lead = box(page, ".card-lead img")
    assert lead["width"] > 300  # the lead story keeps its large picture
    page.get_by_role("link", name="Search", exact=True).click()
    expect(page.get_by_role("searchbox")).to_be_visible()
    context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_the_copyright_sits_on_the_footer_links_line(demo_site, browser: Browser, width):
    context = browser.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    page.goto(demo_site.url + "/")
    notice, links = box(page, ".site-footer p"), box(page, ".site-footer nav a")
    assert abs((notice["y"] + notice["height"]) - (links["y"] + links["height"])) <= 2
    context.close()


def test_an_article_weighs_under_25_kb_with_no_script_and_nothing_from_elsewhere(
    demo_site, browser: Browser
):
    context = browser.new_context()
    page = context.new_page()
    sizes, hosts, scripts = {}, set(), []

    def record(response):
        request = response.request
        hosts.add(urlsplit(request.url).netloc)
        if request.resource_type == "script":
            scripts.append(request.url)
        if request.resource_type in ("document", "stylesheet"):
            sizes[request.url] = len(response.body())

    page.on("response", record)
    page.goto(demo_site.url + ARTICLE, wait_until="networkidle")
    context.close()
    assert scripts == []
    assert hosts == {urlsplit(demo_site.url).netloc}  # the share links ask nothing of others
    assert len(sizes) >= 2  # the page and its stylesheet at least
    assert sum(sizes.values()) < 25 * 1024, sizes


def test_reading_works_with_javascript_off(demo_site, browser: Browser):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(demo_site.url + "/")
    page.get_by_role("link", name="Council approves harbour wall repairs").first.click()
    expect(page.locator("h1")).to_have_text("Council approves harbour wall repairs")
    page.locator(".kicker").get_by_role("link", name="Town").click()
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

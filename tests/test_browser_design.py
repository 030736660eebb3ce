"""Settings → Design in Chromium: an unreadable accent is refused; a readable one colours
links and buttons in both themes; the header shows the logo, and its dark variant in dark mode;
the menus work without script. axe-core checks the new pages in light and dark."""

import io
import re

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from blog.accounts import create_user
from blog.demo import seed_demo_site
from blog.extensions import db
from tests.test_browser_reader import axe_violations

pytestmark = pytest.mark.browser
PASSWORD = "a long test password"


def png_file(tmp_path, name: str, colour, size=(480, 120)) -> str:
    path = tmp_path / name
    Image.new("RGB", size, colour).save(path, "PNG")
    return str(path)


@pytest.fixture
def admin_page(live_server, page: Page) -> Page:
    """The demo site, with an admin signed in through the login form."""
    with live_server.app.test_request_context():
        author = create_user("ann@example.com", "Ann Author", "author", PASSWORD)
        create_user("ada@example.com", "Ada Admin", "admin", PASSWORD)
        db.session.flush()
        seed_demo_site(author)
        db.session.commit()
    page.goto(live_server.url + "/login")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Dashboard").wait_for()
    return page


def computed(page: Page, selector: str, prop: str) -> str:
    return page.eval_on_selector(selector, f"e => getComputedStyle(e).{prop}")


def rgb(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def test_accent_is_checked_then_used_in_light_and_dark(live_server, admin_page, browser: Browser):
    page = admin_page
    page.goto(live_server.url + "/admin/settings")
    page.get_by_role("link", name="Design").click()
    page.get_by_label("Accent colour, light theme").fill("#ff9900")
    page.get_by_role("button", name="Save design").click()
    expect(page.locator(".error")).to_contain_text(
        "#ff9900 on the light background (#fdfdfc) has a contrast of 2.10:1"
    )
    page.get_by_label("Accent colour, light theme").fill("#1a5fb4")
    page.get_by_label("Accent colour, dark theme").fill("#334455")
    page.get_by_role("button", name="Save design").click()
    expect(page.locator(".error")).to_contain_text("on the dark background (#16181c)")
    expect(page.locator(".error")).to_contain_text("Choose a lighter colour.")
    page.get_by_label("Accent colour, dark theme").fill("#ffd27f")
    page.get_by_role("button", name="Save design").click()
    expect(page.locator(".flash-success")).to_have_text(re.compile("Design saved"))

    for scheme, accent, text in (("light", "#1a5fb4", "#ffffff"), ("dark", "#ffd27f", "#16181c")):
        reader = browser.new_context(color_scheme=scheme).new_page()
        reader.goto(live_server.url + "/")
        assert computed(reader, ".kicker", "color") == rgb(accent)
        reader.goto(live_server.url + "/login")
        button = "button.primary"
        assert computed(reader, button, "backgroundColor") == rgb(accent)
        assert computed(reader, button, "color") == rgb(text)
        reader.goto(live_server.url + "/fishermen-report-the-best-catch-in-a-decade/")
        assert computed(reader, ".byline a", "color") == rgb(accent)
        reader.context.close()


def test_the_header_shows_the_logo_and_its_dark_variant(
    live_server, admin_page, browser: Browser, tmp_path
):
    page = admin_page
    page.goto(live_server.url + "/admin/settings/design")
    page.get_by_label("Logo", exact=True).set_input_files(png_file(tmp_path, "l.png", (20, 20, 20)))
    page.get_by_label("Logo for dark mode").set_input_files(
        png_file(tmp_path, "d.png", (240, 240, 240))
    )
    page.get_by_role("button", name="Save design").click()
    expect(page.locator(".flash-success")).to_have_text(re.compile("Design saved"))
    shown = {}
    for scheme in ("light", "dark"):
        reader = browser.new_context(color_scheme=scheme).new_page()
        reader.goto(live_server.url + "/")
        logo = reader.get_by_role("link", name="My Blog").get_by_role("img", name="My Blog")
        expect(logo).to_be_visible()
        source = logo.evaluate("img => img.currentSrc")
        pixel = logo.evaluate(
            """img => { const c = document.createElement('canvas'); c.width = c.height = 1;
                const x = c.getContext('2d'); x.drawImage(img, -5, -5);
                return Array.from(x.getImageData(0, 0, 1, 1).data.slice(0, 3)); }"""
        )
        shown[scheme] = (source, pixel)
        assert reader.evaluate("document.documentElement.scrollWidth <= innerWidth")
        reader.context.close()
    assert shown["light"][0] != shown["dark"][0]
    assert shown["light"][1] == [20, 20, 20]  # the light theme's logo is the dark artwork
    assert shown["dark"][1] == [240, 240, 240]


def test_the_site_icon_is_in_the_head_and_loads(live_server, admin_page, tmp_path):
    page = admin_page
    page.goto(live_server.url + "/admin/settings/design")
    square = png_file(tmp_path, "icon.png", (155, 28, 28), size=(256, 256))
    page.get_by_label("Site icon").set_input_files(square)
    page.get_by_role("button", name="Save design").click()
    expect(page.locator(".flash-success")).to_have_text(re.compile("Design saved"))
    page.goto(live_server.url + "/")
    for rel, size in (("icon", 32), ("apple-touch-icon", 180)):
        href = page.locator(f'link[rel="{rel}"]').get_attribute("href")
        response = page.request.get(live_server.url + href)
        assert response.headers["content-type"] == "image/png"
        with Image.open(io.BytesIO(response.body())) as icon:
            assert icon.size == (size, size)


def test_menus_are_edited_and_read_without_script(live_server, admin_page, browser: Browser):
    page = admin_page
    page.goto(live_server.url + "/admin/settings/menus")
    rows = [
        ("Sections", "", "1", False),
        ("Harbour", "/category/harbour/", "2", True),
        ("Town", "/category/town/", "3", True),
        ("About", "/about/", "4", False),
    ]
    page.get_by_label("Label of item 1").first.fill("Bad")
    page.get_by_label("Address of item 1").first.fill("javascript:alert(1)")
    page.get_by_role("button", name="Save menus").click()
    expect(page.locator(".error").first).to_contain_text("Use an address starting with https://")
    page.goto(live_server.url + "/admin/settings/menus")
    header = page.locator("table.menu-editor").first
    for number, (label, url, position, sub) in enumerate(rows, start=1):
        header.get_by_label(f"Label of item {number}").fill(label)
        header.get_by_label(f"Address of item {number}").fill(url)
        header.get_by_label(f"Position of item {number}").fill(position)
        if sub:
            header.get_by_label(f"Item {number} is a sub-item").check()
    page.get_by_role("button", name="Save menus").click()
    expect(page.locator(".flash-success")).to_have_text("Menus saved.")

    context = browser.new_context(java_script_enabled=False)
    reader = context.new_page()
    reader.goto(live_server.url + "/")
    nav = reader.get_by_role("navigation", name="Sections")
    expect(nav.get_by_role("link", name="Harbour")).to_be_hidden()
    nav.get_by_text("Sections").click()
    nav.get_by_role("link", name="Harbour").click()
    expect(reader.locator("h1")).to_have_text("Harbour")
    context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_design_pages_and_a_designed_site_have_no_accessibility_violations(
    live_server, admin_page, browser: Browser, tmp_path, scheme
):
    page = admin_page
    page.goto(live_server.url + "/admin/settings/design")
    page.get_by_label("Logo", exact=True).set_input_files(png_file(tmp_path, "l.png", (9, 9, 9)))
    page.get_by_role("button", name="Save design").click()
    page.goto(live_server.url + "/admin/settings/menus")
    page.get_by_label("Label of item 1").first.fill("Group")
    page.get_by_label("Label of item 2").first.fill("About")
    page.get_by_label("Address of item 2").first.fill("/about/")
    page.get_by_label("Item 2 is a sub-item").check()
    page.get_by_role("button", name="Save menus").click()
    expect(page.locator(".flash-success")).to_have_text("Menus saved.")
    page.context.storage_state()
    found = {}
    context = browser.new_context(color_scheme=scheme, bypass_csp=True)
    context.add_cookies(page.context.cookies())
    checker = context.new_page()
    for path in ("/admin/settings/design", "/admin/settings/menus", "/", "/about/"):
        checker.goto(live_server.url + path)
        if path == "/":
            checker.locator(".site-nav summary").click()
        violations = axe_violations(checker)
        if violations:
            found[path] = violations
    context.close()
    assert found == {}

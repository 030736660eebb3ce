"""Writing from a phone in Chromium: a pasted image with its alt text, a new category, a
featured image, publishing, and a preview link opened by someone without an account."""

import base64
import re

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from blog.extensions import db
from blog.models import Media
from tests.test_browser_editor import png_bytes
from tests.test_browser_reader import AXE

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 375, "height": 812}, "has_touch": True, "is_mobile": True}


def paste_image(page: Page, data: bytes, name: str) -> None:
    """Paste an image from the clipboard into the editor, as a browser sees it."""
    page.evaluate(
        """([b64, name]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: "image/png" }));
            const target = document.querySelector(".CodeMirror textarea");
            const options = { clipboardData: transfer, bubbles: true, cancelable: true };
            target.dispatchEvent(new ClipboardEvent("paste", options));
        }""",
        [base64.b64encode(data).decode(), name],
    )


def tap(locator, touch_sized: bool = True) -> None:
    """A finger's tap; the controls this issue adds are big enough for one (44 by 44 CSS px,
    WCAG 2.5.5). The editor's older buttons are sized by admin.css (see the phone layout)."""
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    sizes.append((locator.evaluate("e => e.textContent.trim()")[:20], box["width"], box["height"]))
    if touch_sized:
        assert box["width"] >= 44 and box["height"] >= 44, sizes[-1]
    locator.tap()


sizes: list[tuple[str, float, float]] = []


def test_write_on_a_phone_then_share_a_preview(live_server, signed_in, browser: Browser):
    context = browser.new_context(**PHONE)
    page = signed_in("eve@example.com", "Eve Editor", "editor", target=context.new_page())
    page.goto(live_server.url + "/admin/posts/new")
    page.get_by_label("Title").fill("Gulls of the quay")
    tap(page.locator(".CodeMirror"))  # the text area itself
    page.keyboard.insert_text("The gulls came before the boats.")

    paste_image(page, png_bytes((220, 220, 210)), "gull.png")
    dialog = page.locator("#image-alt-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Description for people who cannot see it")).to_have_value("")
    dialog.get_by_label("Description for people who cannot see it").fill("A gull on a bollard")
    tap(dialog.get_by_role("button", name="Insert the image"))
    expect(page.locator("#save-state")).to_contain_text("Alt text saved in the Media library")
    page.keyboard.insert_text("Then the nets came out.")
    text = page.evaluate("window.blogEditor.value()")
    assert re.fullmatch(
        r"The gulls came before the boats\.\n\n!\[\]\(/media/\w+\.png\)\n\n"
        r"Then the nets came out\.",
        text,
    ), text
    expect(page.locator("#reading-stats")).to_contain_text("words · 1 min read")

    page.get_by_label("New category").fill("Birds")
    tap(page.get_by_role("button", name="Add category"))
    expect(page.locator("#new-category-state")).to_contain_text("“Birds” is added")
    expect(page.get_by_label("Category", exact=True).locator("option:checked")).to_have_text(
        "Birds"
    )
    assert page.evaluate("window.blogEditor.value()") == text  # nothing lost meanwhile

    page.locator("#featured-upload").set_input_files(
        files=[{"name": "quay.png", "mimeType": "image/png", "buffer": png_bytes((40, 80, 120))}]
    )
    expect(page.locator("#featured-preview img")).to_have_count(1)
    page.get_by_label("Alt text").fill("The quay at low tide")
    page.get_by_label("Search description").fill("Why the gulls come first.")
    expect(page.locator("#meta_description-count")).to_contain_text("25 characters")

    tap(page.get_by_role("button", name="Save draft"), touch_sized=False)
    expect(page.get_by_text("Draft saved:")).to_be_visible()
    tap(page.get_by_role("button", name="Make a preview link"))
    expect(page.get_by_text("Preview link made")).to_be_visible()
    address = page.locator(".preview-link-address").first.input_value()

    stranger = browser.new_context(**PHONE)  # no account, no cookies
    reader = stranger.new_page()
    reader.goto(address)
    expect(reader.locator("h1")).to_have_text("Gulls of the quay")
    expect(reader.get_by_text("is a draft. Readers cannot see it yet.")).to_be_visible()
    body = reader.locator(".article-body")
    expect(body.locator("p > img")).to_have_attribute("alt", "A gull on a bollard")
    expect(body.locator("p")).to_have_count(3)  # the image in a paragraph of its own
    expect(reader.locator('meta[name="robots"]')).to_have_attribute("content", "noindex")
    expect(reader.locator(".kicker")).to_have_text("Birds")

    tap(page.get_by_role("button", name="Publish now"), touch_sized=False)
    expect(page.get_by_text("Published: readers see it at")).to_be_visible()
    reader.goto(address)
    assert reader.url == live_server.url + "/gulls-of-the-quay/"
    expect(reader.locator("figure.featured img")).to_have_attribute("alt", "The quay at low tide")
    expect(reader.locator('meta[property="og:description"]')).to_have_attribute(
        "content", "Why the gulls come first."
    )
    print("\ncontrols tapped (label, width, height):", sizes)
    stranger.close()
    context.close()


def test_an_image_from_the_library_brings_its_alt_text_and_shares_the_edit(
    live_server, signed_in, page: Page
):
    page.goto(live_server.url + "/admin/posts/new")
    page.get_by_label("Title").fill("Nets")
    page.locator("#featured-upload").set_input_files(
        files=[{"name": "nets.png", "mimeType": "image/png", "buffer": png_bytes((90, 120, 60))}]
    )
    expect(page.locator("#featured-preview img")).to_have_count(1)
    with live_server.app.app_context():
        media = db.session.scalars(select(Media)).one()
        media.alt_text = "Nets drying"
        db.session.commit()
        filename = media.filename
    page.locator(".CodeMirror").click()
    page.keyboard.insert_text("Before the nets. After the nets.")
    for _ in " After the nets.":
        page.keyboard.press("ArrowLeft")

    page.get_by_role("button", name="Insert an image from the library").click()
    page.locator("#insert-picker button").first.click()
    alt = page.get_by_label("Description for people who cannot see it")
    expect(alt).to_have_value("Nets drying")  # prefilled from the library
    alt.fill("Nets drying in the sun")
    page.get_by_role("button", name="Insert the image").click()
    expect(page.locator("#save-state")).to_contain_text("Alt text saved in the Media library")
    text = page.evaluate("window.blogEditor.value()")
    assert text == (f"Before the nets.\n\n![](/media/{filename})\n\n After the nets.")
    with live_server.app.app_context():
        assert db.session.scalars(select(Media)).one().alt_text == "Nets drying in the sun"
    page.once("dialog", lambda dialog: dialog.accept())
    page.goto(live_server.url + "/admin/media/")
    expect(page.locator("input[name=alt_text]").first).to_have_value("Nets drying in the sun")


NEW_PARTS = [
    "#seo-panel",
    "#preview-links",
    "#new-category",
    "#reading-stats",
    ".field:has(#pinned)",
]


def axe_violations_in(page: Page, selectors: list[str]) -> list[tuple]:
    """axe-core's violations inside the given parts of the page only."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async (parts) => await axe.run({ include: parts.map((part) => [part]) },"
        " { resultTypes: ['violations'] })",
        selectors,
    )
    return [
        (rule["id"], [node["target"] for node in rule["nodes"]][:3])
        for rule in result["violations"]
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_new_editor_parts_have_no_accessibility_violations(
    live_server, signed_in, browser: Browser, scheme
):
    context = browser.new_context(color_scheme=scheme, bypass_csp=True, **PHONE)
    page = signed_in("eve@example.com", "Eve Editor", "editor", target=context.new_page())
    page.goto(live_server.url + "/admin/posts/new")
    page.get_by_label("Title").fill("Checked")
    page.get_by_role("button", name="Save draft").click()
    page.get_by_role("button", name="Make a preview link").click()
    expect(page.locator(".preview-link-address")).to_have_count(1)
    assert axe_violations_in(page, NEW_PARTS) == []
    paste_image(page, png_bytes(), "check.png")
    expect(page.locator("#image-alt-dialog")).to_be_visible()
    assert axe_violations_in(page, ["#image-alt-dialog"]) == []
    context.close()

"""The editor in Chromium: typing with live preview, images, publishing, conflicts, autosave."""

import base64
import io
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from PIL import Image
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

MARKDOWN = """## Harbour news

The boats came back at dawn.

- nets mended
- fish sold

> The sea gives and the sea takes.

Read the [harbour log](https://example.org/log).

| Boat | Catch |
|------|-------|
| Mary | 40 kg |

```python
print("ahoy")
```
"""


def png_bytes(colour=(30, 90, 160), size=(640, 400)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def type_into_editor(page: Page, text: str) -> None:
    page.locator(".CodeMirror").click()
    page.keyboard.insert_text(text)


def drop_image(page: Page, data: bytes, name: str) -> None:
    """Drag a file from the desktop onto the editor, as a browser sees it."""
    page.evaluate(
        """([b64, name]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: "image/png" }));
            const target = document.querySelector(".CodeMirror-scroll");
            for (const type of ["dragenter", "dragover", "drop"]) {
                const options = { dataTransfer: transfer, bubbles: true, cancelable: true };
                target.dispatchEvent(new DragEvent(type, options));
            }
        }""",
        [base64.b64encode(data).decode(), name],
    )


def test_write_preview_drop_image_publish_and_read(live_server, signed_in, page: Page):
    page.goto(live_server.url + "/admin/posts/new")
    page.get_by_label("Title").fill("Boats return to the harbour")
    expect(page.get_by_label("Address (slug)")).to_have_value("boats-return-to-the-harbour")
    type_into_editor(page, MARKDOWN)

    page.locator(".editor-toolbar button.side-by-side").click()
    preview = page.locator(".editor-preview-side")
    expect(preview.locator("h2#harbour-news")).to_have_text("Harbour news")
    expect(preview.locator("li")).to_have_count(2)
    expect(preview.locator("blockquote")).to_contain_text("The sea gives")
    expect(preview.locator("a[href='https://example.org/log']")).to_have_attribute(
        "rel", "noopener noreferrer nofollow"
    )
    expect(preview.locator("table td").first).to_have_text("Mary")
    expect(preview.locator("div.highlight pre")).to_contain_text('print("ahoy")')
    expect(page.locator(".editor-statusbar .words")).to_contain_text("words")

    drop_image(page, png_bytes(), "harbour.png")
    expect(page.locator("#save-state")).to_contain_text("Uploaded harbour.png")
    page.get_by_role("button", name="Insert the image").click()  # the alt text dialog
    expect(preview.locator("img[src^='/media/']")).to_have_count(1)

    page.locator("#featured-upload").set_input_files(
        files=[{"name": "boats.png", "mimeType": "image/png", "buffer": png_bytes((200, 60, 40))}]
    )
    expect(page.locator("#featured-preview img")).to_have_count(1)
    page.get_by_label("Alt text").fill("Three fishing boats at the quay")
    page.get_by_label("Caption").fill("Morning")
    page.get_by_role("button", name="Publish now").click()
    expect(page.get_by_text("Published: readers see it at")).to_be_visible()

    page.goto(live_server.url + "/boats-return-to-the-harbour/")
    article = page.locator("article")
    expect(article.locator("h1")).to_have_text("Boats return to the harbour")
    expect(article.locator("figure.featured img")).to_have_attribute(
        "alt", "Three fishing boats at the quay"
    )
    expect(article.locator("figure.featured figcaption")).to_have_text("Morning")
    body = article.locator(".article-body")
    expect(body.locator("h2")).to_have_text("Harbour news")
    expect(body.locator("li")).to_have_count(2)
    expect(body.locator("blockquote")).to_contain_text("The sea gives and the sea takes.")
    expect(body.locator("table td").first).to_have_text("Mary")
    expect(body.locator("div.highlight")).to_contain_text('print("ahoy")')
    expect(body.locator("img[src^='/media/']")).to_have_count(1)


def test_an_edit_from_an_older_tab_is_refused_and_the_text_stays(live_server, signed_in, page):
    page.goto(live_server.url + "/admin/posts/new")
    page.get_by_label("Title").fill("Two tabs")
    type_into_editor(page, "First version.")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text("Draft saved:")).to_be_visible()
    edit_url = page.url

    second = page.context.new_page()
    second.goto(edit_url)
    page.once("dialog", lambda dialog: dialog.accept())
    type_into_editor(page, " Edited in tab one.")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text("Draft saved:")).to_be_visible()

    type_into_editor(second, " Tab two's precious words.")
    second.get_by_role("button", name="Save draft").click()
    expect(second.get_by_text("Not saved: this post was changed elsewhere")).to_be_visible()
    expect(second.locator(".CodeMirror")).to_contain_text("Tab two's precious words.")


def test_autosave_survives_a_reload(live_server, signed_in, page: Page):
    page.goto(live_server.url + "/admin/posts/new")
    page.get_by_label("Title").fill("Unsaved thoughts")
    type_into_editor(page, "Words I must not lose.")
    expect(page.locator("#save-state")).to_contain_text("Autosaved at", timeout=10_000)
    assert "/admin/posts/" in page.url and page.url.endswith("/edit")

    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.type), dialog.accept()))
    page.reload()
    expect(page.locator(".CodeMirror")).to_contain_text("Words I must not lose.")
    assert dialogs == ["beforeunload"]  # the browser warned before leaving unsaved changes


def test_an_autosave_behind_a_save_from_another_tab_is_refused_and_the_text_stays(
    live_server, signed_in, page: Page
):
    page.goto(live_server.url + "/admin/posts/new")
    page.get_by_label("Title").fill("Two tabs autosaving")
    type_into_editor(page, "First version.")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text("Draft saved:")).to_be_visible()
    second = page.context.new_page()
    second.goto(page.url)

    type_into_editor(page, " Saved from tab one.")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text("Draft saved:")).to_be_visible()

    type_into_editor(second, " Tab two keeps typing.")
    expect(second.locator("#save-state")).to_contain_text(
        "Not autosaved: this post was saved elsewhere", timeout=10_000
    )
    expect(second.locator(".CodeMirror")).to_contain_text("Tab two keeps typing.")
    page.reload()
    expect(page.locator(".CodeMirror")).not_to_contain_text("Tab two keeps typing.")


def test_a_scheduled_post_appears_only_after_its_time(live_server, signed_in, page: Page):
    page.goto(live_server.url + "/admin/posts/new")
    page.get_by_label("Title").fill("Tomorrow's tide table")
    type_into_editor(page, "High tide at noon.")
    page.get_by_text("Schedule for later").click()
    when = datetime.now(UTC) + timedelta(days=1)
    page.get_by_label("Publish at").fill(when.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Schedule", exact=True).click()
    expect(page.locator(".flash-success")).to_contain_text("Scheduled: readers see it from")

    reader = page.context.browser.new_page()
    url = live_server.url + "/tomorrows-tide-table/"
    assert reader.goto(url).status == 404
    with time_machine.travel(when + timedelta(minutes=1), tick=True):
        assert reader.goto(url).status == 200
        expect(reader.locator(".article-body")).to_have_text("High tide at noon.")
    reader.close()


def test_a_post_gets_a_main_category_and_further_ones(live_server, signed_in, page: Page):
    """The main category leads (byline, breadcrumb); a further one lists the post too."""
    from blog import taxonomy
    from blog.extensions import db

    with live_server.app.app_context():
        world = taxonomy.create_category("World")
        taxonomy.create_category("Europe", parent_id=world.id)
        taxonomy.create_category("Sport")
        db.session.commit()
    page.goto(live_server.url + "/admin/posts/new")
    page.get_by_label("Title").fill("Cup final in Lisbon")
    type_into_editor(page, "The final was played at night.")
    page.get_by_label("Category", exact=True).select_option(label="\u2003Europe")
    further = page.get_by_role("group", name="Also in")
    further.get_by_label("Sport").check()
    page.get_by_role("button", name="Publish now").click()
    expect(page.get_by_text("Published: readers see it at")).to_be_visible()
    expect(page.get_by_role("group", name="Also in").get_by_label("Sport")).to_be_checked()

    page.goto(live_server.url + "/cup-final-in-lisbon/")
    expect(page.locator(".byline .category")).to_have_text("Europe")
    trail = page.get_by_role("navigation", name="Breadcrumb").get_by_role("link")
    expect(trail).to_have_text(["World", "Europe"])
    page.goto(live_server.url + "/category/sport/")
    expect(page.get_by_role("link", name="Cup final in Lisbon")).to_be_visible()
    page.goto(live_server.url + "/category/world/")
    expect(page.get_by_role("link", name="Cup final in Lisbon")).to_be_visible()

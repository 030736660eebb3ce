"""The admin area in Chromium at phone and desktop widths, light and dark.

Every admin page is opened at 375 and 1280 px in both colour schemes: nothing may be wider than
the viewport, axe-core must find nothing, and on a phone every control must be a 44 px target.
At 320 px (light) the page must still fit and keep its targets.
The list of pages is checked against the app's routes, so a new admin page cannot be forgotten.
"""

import io
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from werkzeug.datastructures import FileStorage

from blog import create_app
from blog.accounts import create_user
from blog.demo import seed_demo_site
from blog.extensions import db
from blog.media import save_upload
from blog.models import (
    Category,
    Comment,
    DeliveryState,
    DeliveryStatus,
    FederationDelivery,
    Follower,
    Job,
    JobStatus,
    LocalActor,
    NewsletterDelivery,
    NewsletterSend,
    Post,
    Reaction,
    RemoteActor,
    RemoteServer,
    Subscriber,
    SubscriberStatus,
    Tag,
)
from blog.portability.export_jobs import write_export
from blog.portability.jobs import write_job
from blog.portability.report import Summary
from blog.posts import trash
from blog.rendering import render_comment
from tests.browser_fixtures import LiveServer
from tests.test_browser_editor import png_bytes

pytestmark = pytest.mark.browser
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
WIDTHS = (375, 1280)
SCHEMES = ("light", "dark")
PHONE = 375
NARROWEST = 320  # also checked for overflow and touch targets, in light only
TOUCH_TARGET_PX = 44
LONG_WORD = "Harbourmasterscorrespondencearchive" * 2
IMPORT_JOB_ID = "0123456789abcdef"

# Admin GET routes that are not pages a person reads: JSON for scripts.
NOT_PAGES = {
    "admin.import_job_status": "JSON polled by the import page",
    "admin.media_picker": "JSON for the editor's image picker",
    "admin.suggest_slug": "JSON for the editor's slug field",
    "admin.tag_suggest": "JSON for the editor's tag field",
    "admin.newsletter_progress": "JSON polled by the newsletter page",
    "admin.export_subscribers": "a CSV download",
    "admin.wordpress_export_xml": "a download (the WordPress export file)",
    "admin.wordpress_export_zip": "a download (the uploads zip)",
}

# Every admin page, as endpoint → address (given the ids of the sample content).
ADMIN_PAGES = {
    "admin.dashboard": lambda ids: "/admin/",
    "admin.posts": lambda ids: "/admin/posts/?q=harbour",
    "admin.new_post": lambda ids: "/admin/posts/new",
    "admin.edit_post": lambda ids: f"/admin/posts/{ids['post']}/edit",
    "admin.history": lambda ids: f"/admin/posts/{ids['post']}/history",
    "admin.preview_post": lambda ids: f"/admin/posts/{ids['plain_post']}/preview",
    "admin.delete_post": lambda ids: f"/admin/posts/{ids['post']}/delete",
    "admin.trash": lambda ids: "/admin/posts/trash",
    "admin.media_library": lambda ids: "/admin/media/",
    "admin.confirm_delete_media": lambda ids: f"/admin/media/{ids['media']}/delete",
    "admin.categories": lambda ids: "/admin/categories/",
    "admin.edit_category": lambda ids: f"/admin/categories/{ids['category']}",
    "admin.delete_category": lambda ids: f"/admin/categories/{ids['category']}/delete",
    "admin.tags": lambda ids: "/admin/tags/",
    "admin.edit_tag": lambda ids: f"/admin/tags/{ids['tag']}",
    "admin.delete_tag": lambda ids: f"/admin/tags/{ids['tag']}/delete",
    "admin.users": lambda ids: "/admin/users/",
    "admin.new_user": lambda ids: "/admin/users/new",
    "admin.site_settings": lambda ids: "/admin/settings",
    "admin.import_page": lambda ids: "/admin/import",
    "admin.import_job": lambda ids: f"/admin/import/{IMPORT_JOB_ID}",
    "admin.wordpress_export": lambda ids: f"/admin/export/{IMPORT_JOB_ID}",
    "admin.profile": lambda ids: "/admin/profile",
    "auth.two_factor_setup": lambda ids: "/admin/profile/two-factor",
    "admin.design_settings": lambda ids: "/admin/settings/design",
    "admin.menu_settings": lambda ids: "/admin/settings/menus",
    "admin.job_list": lambda ids: "/admin/jobs",
    "admin.comment_list": lambda ids: "/admin/comments",
    "admin.edit_comment": lambda ids: f"/admin/comments/{ids['comment']}/edit",
    "admin.review_comment": lambda ids: f"/admin/comments/{ids['comment']}?do=approve",
    "admin.comments_by_email": lambda ids: "/admin/comments/by-email",
    "admin.newsletter": lambda ids: "/admin/newsletter",
    "admin.subscriber_list": lambda ids: "/admin/newsletter/subscribers",
    "admin.fediverse_settings": lambda ids: "/admin/settings/fediverse",
    "admin.fediverse": lambda ids: "/admin/fediverse",
    "admin.fediverse_servers": lambda ids: "/admin/fediverse/servers",
    "admin.fediverse_deliveries": lambda ids: "/admin/fediverse/deliveries",
}


def admin_get_endpoints(app) -> set[str]:
    """Every endpoint that answers GET under /admin, whichever blueprint defines it."""
    return {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/admin") and "GET" in rule.methods
    }


def test_every_admin_page_is_in_the_browser_checks(tmp_path):
    app = create_app(
        {"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'b.sqlite3'}"}
    )
    unlisted = admin_get_endpoints(app) - set(ADMIN_PAGES) - set(NOT_PAGES)
    assert unlisted == set(), "add these admin pages to ADMIN_PAGES (or NOT_PAGES if not a page)"
    assert set(ADMIN_PAGES) | set(NOT_PAGES) <= admin_get_endpoints(app)


def seed_admin_content() -> dict[str, int]:
    """Sample posts and images, plus one of everything an admin page lists, some of it long."""
    admin = create_user("ada@example.com", "Ada Admin", "admin", "a long test password")
    author = create_user(
        f"{LONG_WORD.lower()}@example.com", "Ann Author", "author", "a long test password"
    )
    db.session.flush()
    seed_demo_site(author)
    category = Category(name="Harbour and coastal affairs", slug=LONG_WORD.lower(), position=9)
    db.session.add(category)
    db.session.add(Tag(name=LONG_WORD, slug=f"{LONG_WORD.lower()}-tag"))
    post = db.session.scalars(select_post_by_title("Council approves harbour wall repairs")).one()
    post.title = f"Council approves harbour wall repairs {LONG_WORD}"
    trashed = db.session.scalars(select_post_by_title("Lifeboat crew rehearses night launches"))
    trash(trashed.one())
    media = save_upload(upload_of(png_bytes(), f"{LONG_WORD}.png"), admin)
    db.session.commit()
    tag = db.session.scalars(db.select(Tag).order_by(Tag.id)).first()
    plain = db.session.scalars(select_post_by_title("Storm warning for the weekend")).one()
    comment = seed_comment_and_failed_job(plain)
    return {
        "post": post.id, "plain_post": plain.id, "media": media.id,
        "category": category.id, "tag": tag.id, "comment": comment.id,
    }  # fmt: skip


def seed_comment_and_failed_job(post: Post) -> Comment:
    """A waiting comment with a long word, and a failed email job with a long error."""
    text = f"Will the {LONG_WORD} reopen? See https://example.org/{LONG_WORD}"
    comment = Comment(post=post, author_name=f"Reader {LONG_WORD}", body_md=text,
                      author_email=f"{LONG_WORD.lower()}@example.org",
                      body_html=render_comment(text), held_reason="more than 2 links")  # fmt: skip
    db.session.add(comment)
    db.session.add(Job(kind="email", label=f"Email to {LONG_WORD.lower()}@example.org: Hello",
                       status=JobStatus.FAILED, attempts=8, max_attempts=8,
                       last_error=f"Gave up after 8 attempts: {LONG_WORD} refused"))  # fmt: skip
    seed_newsletter(post)
    seed_fediverse(post)
    db.session.commit()
    return comment


def seed_fediverse(post: Post) -> None:
    """Followers (one on a server with a long name), a failing server, deliveries, reactions."""
    host = f"{LONG_WORD.lower()}.example"
    site = LocalActor(slot="site", public_key_pem="public", private_key_pem="private")
    people = [
        RemoteActor(uri=f"https://{host}/users/{LONG_WORD}", host=host, inbox=f"https://{host}/i",
                    username=LONG_WORD, name=f"Skipper {LONG_WORD}",
                    profile_url=f"https://{host}/@{LONG_WORD}"),
        RemoteActor(uri="https://mastodon.example/users/mia", host="mastodon.example",
                    inbox="https://mastodon.example/inbox", username="mia", name="Mia Marsh",
                    profile_url="https://mastodon.example/@mia"),
    ]  # fmt: skip
    db.session.add_all([site, *people])
    db.session.flush()
    db.session.add_all([Follower(local_actor=site, remote_actor=person) for person in people])
    db.session.add_all([
        Reaction(post_id=post.id, remote_actor_id=people[0].id, kind="like"),
        Reaction(post_id=post.id, remote_actor_id=people[1].id, kind="announce"),
        RemoteServer(host=host, failures=6, last_error=f"HTTP 503 from {LONG_WORD}"),
        RemoteServer(host="spam.example", blocked=True),
        FederationDelivery(activity_id="https://blog.test/a/1", inbox=f"https://{host}/i",
                           activity_json='{"type": "Create", "object": {"type": "Article"}}',
                           local_actor=site, host=host, state=DeliveryState.PENDING, attempts=3,
                           last_error=f"HTTP 503 from {LONG_WORD}"),
    ])  # fmt: skip


def seed_newsletter(post: Post) -> None:
    """Subscribers in every state (one with a long address) and a send half done."""
    people = [
        Subscriber(email=f"{LONG_WORD.lower()}@example.org", name=LONG_WORD,
                   status=SubscriberStatus.CONFIRMED, consent=f"imported; said {LONG_WORD}"),
        Subscriber(email="bea@example.org", status=SubscriberStatus.UNCONFIRMED),
        Subscriber(email="cal@example.org", status=SubscriberStatus.UNSUBSCRIBED),
        Subscriber(email="dee@example.org", status=SubscriberStatus.BOUNCING, bounces=3),
    ]  # fmt: skip
    send = NewsletterSend(post=post, title=post.title, subject=post.title, html_body="<p>Hi</p>",
                          text_body="Hi", total=2)  # fmt: skip
    db.session.add_all([*people, send])
    db.session.flush()
    db.session.add_all([
        NewsletterDelivery(send_id=send.id, subscriber_id=people[0].id,
                           status=DeliveryStatus.SENT),
        NewsletterDelivery(send_id=send.id, subscriber_id=people[3].id,
                           status=DeliveryStatus.BOUNCED, last_error=f"550 {LONG_WORD}"),
    ])  # fmt: skip


def select_post_by_title(title: str):
    return db.select(Post).where(Post.title == title)


def upload_of(data: bytes, name: str) -> FileStorage:
    return FileStorage(io.BytesIO(data), filename=name, content_type="image/png")


def seed_import_job() -> None:
    summary = Summary(imported=4, updated=1)
    summary.warn(f"Post “{LONG_WORD}”", "An image could not be read and was left out.")
    write_job(
        {
            "id": IMPORT_JOB_ID, "kind": "wordpress", "status": "done",
            "started_by": "ada@example.com", "filename": f"{LONG_WORD}.xml", "dry_run": False,
            "created_at": "2026-12-07T03:00:00Z", "done": 6, "total": 6, "label": "",
            "summary": summary.as_dict(), "error": None,
        }
    )  # fmt: skip
    write_export(
        {
            "id": IMPORT_JOB_ID, "status": "done", "started_by": "ada@example.com",
            "created_at": "2026-12-07T03:00:00Z", "headline": f"4 posts, 1 pages, {LONG_WORD}",
            "files": 3, "missing_files": [f"{LONG_WORD}.jpg"], "error": None,
        }
    )  # fmt: skip


@pytest.fixture(scope="module")
def admin_site(tmp_path_factory):
    """One server with sample content for every page check of this module (seeding is slow)."""
    folder = tmp_path_factory.mktemp("admin-site")
    app = create_app(
        {
            "INSTANCE_PATH": str(folder / "instance"),
            "DATABASE_URL": f"sqlite:///{folder / 'instance' / 'blog.sqlite3'}",
            "SECRET_KEY": "browser-test-secret",
            "PASSWORD_HASH_METHOD": "scrypt:1024:8:1",
        }
    )
    with app.test_request_context():
        from tests.conftest import create_schema

        create_schema()
        ids = seed_admin_content()
        seed_import_job()
    server = LiveServer(app).start()
    app.config["SITE_URL"] = server.url
    server.ids = ids
    yield server
    server.stop()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def sign_in(page: Page, url: str) -> None:
    page.goto(url + "/login")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill("a long test password")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Dashboard").wait_for()


@pytest.fixture(scope="module")
def admin_tabs(admin_site, browser: Browser):
    """A signed-in tab per (width, colour scheme), shared by the page checks."""
    first = browser.new_context()
    sign_in(first.new_page(), admin_site.url)
    state = first.storage_state()
    first.close()
    views = [(width, scheme) for width in WIDTHS for scheme in SCHEMES] + [(NARROWEST, "light")]
    contexts = {
        (width, scheme): browser.new_context(
            viewport={"width": width, "height": 800},
            color_scheme=scheme,
            bypass_csp=True,
            storage_state=state,
        )
        for width, scheme in views
    }
    yield {view: context.new_page() for view, context in contexts.items()}
    for context in contexts.values():
        context.close()


def axe_violations(page: Page) -> list[tuple]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, { resultTypes: ['violations'] })")
    return [
        (rule["id"], rule["impact"], [node["target"] for node in rule["nodes"]][:3])
        for rule in result["violations"]
    ]


# Controls smaller than a fingertip on a phone, with what they say. Links inside a sentence are
# exempt (WCAG 2.5.8); a hidden checkbox or file input counts through the label that stands in
# for it.
SMALL_TARGETS_JS = """(minimum) => {
  const controls = document.querySelectorAll(
    "a[href], button, input:not([type=hidden]), select, textarea, summary, label[for]");
  const small = [];
  for (const element of controls) {
    if (element.closest(".CodeMirror")) continue;  // the editor's own hidden input
    const box = element.getBoundingClientRect();
    if (box.width <= 1 || box.height <= 1) continue;  // visually hidden; its label is the target
    if (box.right <= 0) continue;  // the skip link, off screen until focused
    if (element.matches("label") && !document.getElementById(element.htmlFor)?.matches(
        ".visually-hidden")) continue;
    if (element.matches("a") && !element.matches(".button")) {
      const block = element.parentElement.closest("p, li, dd, td, div");
      if (block && block.textContent.trim() !== element.textContent.trim()
          && !element.closest("nav, .actions")) continue;
    }
    const label = element.matches("input[type=checkbox], input[type=radio]")
      ? element.closest("label") : null;
    const target = (label || element).getBoundingClientRect();
    if (target.height < minimum - 0.5 || target.width < minimum - 0.5) {
      small.push(`${element.tagName.toLowerCase()} "${(element.textContent || element.name
        || element.getAttribute("aria-label") || "").trim().slice(0, 30)}" `
        + `${Math.round(target.width)}x${Math.round(target.height)}`);
    }
  }
  return small;
}"""


# The innermost elements that stick out past the right edge, to say what to fix.
WIDEST_JS = """() => [...document.querySelectorAll("body *")]
  .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5
    && ![...e.children].some((c) => c.getBoundingClientRect().right > window.innerWidth + 0.5))
  .slice(0, 3)
  .map((e) => `${e.tagName.toLowerCase()}.${e.className} "${e.textContent.slice(0, 20)}"`)"""


def problems_on(page: Page, url: str, width: int) -> list:
    response = page.goto(url)
    found = []
    if response.status != 200:
        found.append(f"answered {response.status}")
    if "/posts/" in url and url.endswith(("/edit", "/new")):  # the Markdown editor's pages
        expect(page.locator(".EasyMDEContainer")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    if overflow > 0:
        found.append(f"{overflow}px wider than the viewport: {page.evaluate(WIDEST_JS)}")
    if width <= PHONE and page.locator("body.admin").count():
        found.extend(page.evaluate(SMALL_TARGETS_JS, TOUCH_TARGET_PX))
    if width in WIDTHS:
        found.extend(axe_violations(page))
    return found


@pytest.mark.parametrize("endpoint", sorted(ADMIN_PAGES))
def test_admin_page_fits_the_screen_and_passes_axe(admin_site, admin_tabs, endpoint):
    url = admin_site.url + ADMIN_PAGES[endpoint](admin_site.ids)
    found = {}
    for (width, scheme), page in admin_tabs.items():
        problems = problems_on(page, url, width)
        if problems:
            found[f"{width}px {scheme}"] = problems
    assert found == {}, "\n".join(f"{where}: {problems}" for where, problems in found.items())


def test_phone_menu_reaches_every_admin_page_without_script(admin_site, browser: Browser):
    context = browser.new_context(viewport={"width": 320, "height": 640}, java_script_enabled=False)
    page = context.new_page()
    sign_in(page, admin_site.url)
    menu = page.get_by_role("navigation", name="Admin")
    header_height = page.locator(".admin-header").bounding_box()["height"]
    assert header_height < 120, "the closed menu keeps the phone's header compact"
    expect(menu.get_by_role("link", name="Categories")).to_be_hidden()
    page.locator(".admin-menu summary").click()
    for name in ("Posts", "Write", "Media", "Categories", "Tags", "Trash", "Users", "Settings"):
        expect(menu.get_by_role("link", name=name, exact=True)).to_be_visible()
    menu.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Site settings")).to_be_visible()
    context.close()


def test_desktop_menu_shows_every_link_at_once(admin_site, admin_tabs):
    page = admin_tabs[1280, "light"]
    page.goto(admin_site.url + "/admin/")
    menu = page.get_by_role("navigation", name="Admin")
    for name in ("Posts", "Write", "Media", "Categories", "Users", "Import", "Profile"):
        expect(menu.get_by_role("link", name=name, exact=True)).to_be_visible()


def test_posts_table_reads_as_a_list_of_cards_on_a_phone(admin_site, admin_tabs):
    page = admin_tabs[PHONE, "light"]
    page.goto(admin_site.url + "/admin/posts/")
    row = page.locator("table.list tbody tr").first
    title_box = row.locator("td").nth(1).bounding_box()
    author_box = row.locator("td").nth(2).bounding_box()
    assert author_box["y"] >= title_box["y"] + title_box["height"] - 1, "cells stack in a card"
    author_cell = row.locator("td").nth(2)
    label = author_cell.evaluate("(cell) => getComputedStyle(cell, '::before').content")
    assert label == '"Author: "', "each cell says which column it is"


def test_editor_side_panels_sit_below_a_full_width_editor_on_a_phone(admin_site, admin_tabs):
    page = admin_tabs[PHONE, "light"]
    page.goto(f"{admin_site.url}/admin/posts/{admin_site.ids['post']}/edit")
    editor = page.locator(".EasyMDEContainer").bounding_box()
    side = page.locator(".editor-side").bounding_box()
    assert editor["width"] >= PHONE - 40
    assert side["y"] > editor["y"] + editor["height"]
    toolbar = page.locator(".editor-toolbar").bounding_box()
    assert toolbar["x"] + toolbar["width"] <= PHONE, "the toolbar wraps instead of overflowing"


def test_search_boxes_match_the_buttons_beside_them(admin_site, admin_tabs):
    page = admin_tabs[1280, "light"]
    style = """(element) => { const s = getComputedStyle(element);
        return [s.fontFamily, s.fontSize, s.borderTopLeftRadius, element.offsetHeight]; }"""
    for path, form in (("/", ".header-search"), ("/admin/posts/", "form.filters")):
        page.goto(admin_site.url + path)
        box = page.locator(f"{form} input[type=search]").evaluate(style)
        button = page.locator(f"{form} button").evaluate(style)
        assert box == button, f"{path}: search box {box} beside button {button}"

"""`flask --app blog import ghost`: a Ghost 5 site (tests/fixtures/ghost) as readers and the
admin then see it, the members as subscribers, the old addresses, and a re-run."""

import io
import json
import shutil
import zipfile
from datetime import datetime
from pathlib import Path

from bs4 import BeautifulSoup
from sqlalchemy import func, select

from blog.extensions import db
from blog.models import (
    Category,
    Media,
    Post,
    PostKind,
    PostStatus,
    Redirect,
    Subscriber,
    SubscriberStatus,
    Tag,
    User,
)
from blog.portability.ghost_content import ghost_to_markdown
from blog.settings import get_setting, set_settings

FIXTURES = Path(__file__).parent / "fixtures" / "ghost"
EXPORT = FIXTURES / "export.json"
MEMBERS = FIXTURES / "members.csv"
MODELS = (User, Post, Category, Tag, Media, Redirect, Subscriber)


def import_ghost(runner, *args):
    return runner.invoke(args=["import", "ghost", *(str(a) for a in args)])


def import_fixture(runner, *extra):
    result = import_ghost(runner, EXPORT, "--images", FIXTURES, "--members", MEMBERS, *extra)
    assert result.exit_code == 0, result.output
    return result


def row_counts(app) -> dict:
    with app.app_context():
        counts = {
            model.__name__: db.session.scalar(select(func.count()).select_from(model))
            for model in MODELS
        }
    folder = Path(app.config["UPLOAD_FOLDER"])
    counts["files"] = len(list(folder.glob("*"))) if folder.exists() else 0
    return counts


def post_by_slug(slug: str) -> Post:
    return db.session.scalar(select(Post).where(Post.slug == slug))


def article(client, path: str) -> BeautifulSoup:
    response = client.get(path)
    assert response.status_code == 200, path
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def test_import_tells_what_it_brought_and_what_it_left(app, runner):
    result = import_fixture(runner)
    assert "imported 6, updated 0, unchanged 0, skipped 0, warnings 6." in result.output
    assert "Images: 3 imported, 0 already here." in result.output
    assert "Authors: 2 accounts created (deactivated)" in result.output
    assert "Categories created: 2; tags created: 1." in result.output
    assert "Newsletter subscribers: 2 imported, 0 already here." in result.output
    assert (
        "Members not imported as subscribers: 1 not subscribed to emails, "
        "1 without a valid email address." in result.output
    )
    for warning in (
        "Internal tags: 1 internal tag(s) (#newsletter) were not imported",
        "Welcome to the Lighthouse: had co-authors (Tom Gale); only Ines Harbour is its author",
        "Notes from the old editor: the image 2023/11/old-map.png is not in content/images.",
        "For members: the keeper's log: was for members only on Ghost; imported as a draft",
        "Members: 'not-an-address' is not an email address; skipped.",
        "Members: 1 member(s) had a paid tier or a complimentary plan on Ghost",
    ):
        assert warning in result.output


def test_lexical_post_with_cards_reads_well(app, client, runner):
    import_fixture(runner)
    page = article(client, "/welcome/")
    body = page.select_one(".post-body, article") or page
    text = body.get_text(" ", strip=True)
    # image card: a figure with its caption and alt text, at its new address
    figure = body.find("figcaption", string="The harbour, early").parent
    assert figure.img["alt"] == "Boats in the harbour at dawn"
    assert figure.img["src"].startswith("/media/")
    # gallery: both images in one grid of figures (no list bullets), then its caption
    dunes = body.find("img", alt="Sand dunes")
    cliffs = body.find("img", alt="Chalk cliffs")
    grid = dunes.find_parent(class_="gallery")
    assert grid is not None and cliffs.find_parent(class_="gallery") is grid
    assert grid.find("ul") is None and dunes["src"].startswith("/media/")
    assert "Along the coast" in text
    for image in (figure.img, dunes, cliffs):
        with client.get(image["src"]) as response:
            assert response.status_code == 200
    # bookmark: a linked title and its description; callout with its emoji
    link = body.find("a", href="https://lighthouses.example.org/history")
    assert link.get_text() == "A short history of lighthouses"
    assert link.find_parent("blockquote").find(string="From fire towers to LEDs.")
    callout = body.find(string=lambda s: s and "💡 Visiting hours change in" in s)
    assert callout.find_parent("blockquote") is not link.find_parent("blockquote")
    # code block, highlighted, with its caption
    code = body.select_one("div.highlight pre code")
    assert "def beam(angle):" in code.get_text()
    assert "The lamp’s rotation" in text
    # the HTML card is kept, sanitised
    assert "Tide table: high at 6" in text
    html = str(body)
    assert "<script" not in html and "alert(" not in html
    assert "javascript:" not in html and "onclick" not in html
    # toggle, button, embed, divider, list, and a __GHOST_URL__ link made local
    assert body.find("strong", string="Can we climb the tower?")
    assert "Yes, on Sundays." in text
    assert body.find("a", href="https://lighthouses.example.org/book").get_text() == "Book a visit"
    assert body.find("a", href="https://www.youtube.com/watch?v=abc123")
    assert body.find("hr") and body.find("li", string="Mind the steps")
    assert body.find("a", string="more about us")["href"] == "/about/"
    assert "__GHOST_URL__" not in html


def test_post_fields_terms_and_authors(app, client, runner):
    import_fixture(runner)
    with app.app_context():
        welcome = post_by_slug("welcome")
        assert welcome.status == PostStatus.PUBLISHED and welcome.kind == PostKind.POST
        assert welcome.import_key == "ghost:65f0a1000000000000000001"
        assert welcome.published_at == datetime(2024, 3, 2, 10, 0)
        assert welcome.created_at == datetime(2024, 3, 1, 9, 0)
        assert welcome.pinned is True
        assert welcome.excerpt == "Our first post, from the top of the tower."
        assert welcome.canonical_url == "https://lighthouse-notes.example.com/welcome/"
        assert welcome.meta_title == "Welcome | Lighthouse Notes"
        assert welcome.meta_description == "Boats, dunes and a tower."  # the social one
        assert welcome.social_media.original_name == "dunes.png"
        # the featured image (a resized copy in Ghost) is the original, with alt and caption
        assert welcome.featured_media.original_name == "harbour.jpg"
        assert welcome.featured_alt == "The harbour from the tower"
        assert welcome.featured_caption == "Photo by Ines"
        assert welcome.category.name == "Travel"  # the primary tag
        assert welcome.category.description == "Trips along the coast."
        assert [tag.name for tag in welcome.tags] == ["Photography"]
        assert welcome.author.email == "ines@lighthouse.example"
        assert welcome.author.active is False and welcome.author.password_hash is None

        notes = post_by_slug("old-editor-notes")  # Mobiledoc
        assert notes.author.display_name == "Tom Gale"
        assert notes.category.name == "Notes"
        assert "Written in the **old editor**" in notes.body_md
        assert "[the first post](/welcome/)" in notes.body_md
        assert "A *Markdown card*: [the harbour post](/welcome/)." in notes.body_md
        assert "<h2" in notes.body_html and "<hr" in notes.body_html

        about = post_by_slug("about")
        assert about.kind == PostKind.PAGE and about.category is None
        assert post_by_slug("keepers-log").status == PostStatus.DRAFT
        assert get_setting("site_title") == "Lighthouse Notes"
        assert get_setting("tagline") == "Stories from the point"
        assert get_setting("timezone") == "Europe/Berlin"
        assert db.session.scalar(select(Tag).where(Tag.slug == "hash-newsletter")) is None
        assert db.session.scalar(select(Tag).where(Tag.name.like("#%"))) is None
    home = client.get("/").get_data(as_text=True)
    assert "Lighthouse Notes" in home and "Welcome to the Lighthouse" in home
    assert "About" in article(client, "/about/").get_text()
    assert client.get("/tag/hash-newsletter/").status_code == 404
    assert "#newsletter" not in client.get("/welcome/").get_data(as_text=True)


def test_scheduled_and_draft_posts_are_not_public(app, client, runner):
    import_fixture(runner)
    with app.app_context():
        scheduled = post_by_slug("winter-schedule")
        assert scheduled.status == PostStatus.SCHEDULED
        assert scheduled.published_at == datetime(2099, 12, 1, 7, 0)
        assert scheduled.category.name == "Travel" and scheduled.tags == []  # no #newsletter
        assert post_by_slug("half-written").status == PostStatus.DRAFT
    for path in ("/winter-schedule/", "/half-written/", "/keepers-log/"):
        assert client.get(path).status_code == 404, path
    home = client.get("/").get_data(as_text=True)
    assert "The winter schedule" not in home and "Half-written" not in home


def test_members_become_subscribers_with_their_consent(app, runner):
    import_fixture(runner)
    with app.app_context():
        rows = {s.email: s for s in db.session.scalars(select(Subscriber))}
        assert set(rows) == {"reader.one@example.org", "patron@example.org"}
        one = rows["reader.one@example.org"]
        assert one.status == SubscriberStatus.CONFIRMED and one.name == "Reader One"
        assert one.consent == "imported from Ghost (subscribed 2024-01-15)"
        assert one.confirmed_at == datetime(2024, 1, 15, 12, 0)
        assert rows["patron@example.org"].consent == "imported from Ghost (subscribed 2023-06-10)"


def test_old_ghost_addresses_redirect(app, client, runner):
    import_fixture(runner)
    with app.app_context():
        author = db.session.scalar(select(User).where(User.email == "tom@lighthouse.example"))
        author_slug = author.slug
    expected = {
        "/tag/travel/": "/category/travel/",  # a primary tag became a category
        "/tag/travel/rss/": "/category/travel/feed.xml",
        "/tag/photography/rss/": "/tag/photography/feed.xml",
        "/welcome/amp/": "/welcome/",
        "/rss/": "/feed.xml",
    }
    if author_slug != "tom":
        expected["/author/tom/"] = f"/author/{author_slug}/"
    for old, new in expected.items():
        response = client.get(old)
        assert response.status_code == 301, old
        assert response.headers["Location"].endswith(new), old
    assert client.get("/tag/photography/").status_code == 200  # the same address here


def test_running_again_adds_nothing_and_changes_nothing(app, runner):
    import_fixture(runner)
    before = row_counts(app)
    with app.app_context():
        bodies = {p.slug: p.body_md for p in db.session.scalars(select(Post))}
    result = import_fixture(runner)
    assert "imported 0, updated 0, unchanged 6, skipped 0" in result.output
    assert "Images: 0 imported, 3 already here." in result.output
    assert "Newsletter subscribers: 0 imported, 2 already here." in result.output
    assert row_counts(app) == before
    with app.app_context():
        assert {p.slug: p.body_md for p in db.session.scalars(select(Post))} == bodies


def test_a_post_changed_on_ghost_is_updated(app, runner, tmp_path):
    import_fixture(runner)
    document = json.loads(EXPORT.read_text("utf-8"))
    post = document["db"][0]["data"]["posts"][2]  # the scheduled one
    post["status"] = "published"
    post["published_at"] = "2024-04-01T07:00:00.000Z"
    post["updated_at"] = "2024-04-01T07:00:00.000Z"
    post["canonical_url"] = "/winter/"  # Ghost takes a path; a canonical address here may not
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(document), "utf-8")
    result = import_ghost(runner, changed, "--images", FIXTURES)
    assert "imported 0, updated 1, unchanged 5" in result.output, result.output
    assert "its canonical address '/winter/' is not a full address; left out." in result.output
    with app.app_context():
        assert post_by_slug("winter-schedule").status == PostStatus.PUBLISHED


def test_images_from_a_zip_and_a_dry_run(app, runner, tmp_path):
    archive = tmp_path / "images.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in (FIXTURES / "content").rglob("*.*"):
            bundle.write(path, "ghost/" + path.relative_to(FIXTURES).as_posix())
    empty = row_counts(app)
    result = import_ghost(runner, EXPORT, "--images", archive, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Dry run (nothing was changed): imported 6" in result.output
    assert row_counts(app) == empty
    result = import_ghost(runner, EXPORT, "--images", archive)
    assert "Images: 3 imported" in result.output
    with app.app_context():
        assert post_by_slug("welcome").featured_media.original_name == "harbour.jpg"


def test_site_title_set_here_is_kept(app, runner):
    with app.app_context():
        set_settings({"site_title": "Harbour Blog"})
        db.session.commit()
    result = import_ghost(runner, EXPORT)
    assert "Site: the title here “Harbour Blog” was kept; Ghost's is “Lighthouse Notes”." in (
        result.output
    )
    assert "no content/images folder or zip was given" in result.output
    with app.app_context():
        assert get_setting("site_title") == "Harbour Blog"


def test_a_file_that_is_not_a_ghost_export_is_refused(app, runner, tmp_path):
    bad = tmp_path / "export.json"
    bad.write_text("<rss>not json</rss>")
    result = import_ghost(runner, bad)
    assert result.exit_code == 1 and "not a Ghost export (not JSON" in result.output
    bad.write_text(json.dumps({"db": [{"data": {"tags": []}}]}))
    result = import_ghost(runner, bad)
    assert result.exit_code == 1 and "it has no posts" in result.output
    members = tmp_path / "members.csv"
    members.write_text("name,address\nAnn,ann@example.org\n")
    result = import_ghost(runner, EXPORT, "--members", members)
    assert result.exit_code == 1 and "no email column" in result.output
    assert row_counts(app)["Post"] == 0


def test_unknown_card_falls_back_to_ghosts_html_with_a_warning(tmp_path):
    lexical = json.dumps(
        {"root": {"children": [{"type": "product", "productTitle": "Lamp"}], "type": "root"}}
    )
    converted = ghost_to_markdown(lexical, None, "<p>The <em>Lamp</em>, 20 €</p>")
    assert converted.used_html and converted.markdown.strip() == "The *Lamp*, 20 €"
    assert "“product” block is not known here" in converted.warnings[0]
    broken = ghost_to_markdown("{not json", None, "<p>Kept</p>")
    assert broken.markdown.strip() == "Kept" and "could not be read" in broken.warnings[0]


def test_images_folder_may_be_content_images_itself(app, runner, tmp_path):
    images = tmp_path / "images"
    shutil.copytree(FIXTURES / "content" / "images", images)
    result = import_ghost(runner, EXPORT, "--images", images)
    assert "Images: 3 imported" in result.output, result.output


# --- the admin page -------------------------------------------------------------------------


def _ghost_form(**fields) -> dict:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in (FIXTURES / "content").rglob("*.*"):
            bundle.write(path, path.relative_to(FIXTURES).as_posix())
    archive.seek(0)
    return {
        "ghost-export_file": (io.BytesIO(EXPORT.read_bytes()), "lighthouse.ghost.json"),
        "ghost-images": (archive, "images.zip"),
        "ghost-members": (io.BytesIO(MEMBERS.read_bytes()), "members.csv"),
        **fields,
    }


def test_an_admin_runs_a_ghost_import_from_the_import_page(app, client, auth):
    from tests.conftest import run_jobs

    auth.login("editor")
    denied = client.post(
        "/admin/import/ghost", data=_ghost_form(), content_type="multipart/form-data"
    )
    assert denied.status_code == 403
    auth.logout()
    auth.login("admin")
    page = client.get("/admin/import").get_data(as_text=True)
    assert "Import from Ghost" in page and 'action="/admin/import/ghost"' in page
    response = client.post(
        "/admin/import/ghost", data=_ghost_form(), content_type="multipart/form-data"
    )
    assert response.status_code == 303
    job_url = response.headers["Location"]
    run_jobs(app)
    job = client.get(job_url + ".json").get_json()
    assert job["status"] == "done" and job["done"] == job["total"] == 7, job
    assert job["summary"][0] == "imported 6, updated 0, unchanged 0, skipped 0, warnings 6."
    done = client.get(job_url).get_data(as_text=True)
    assert "Import of lighthouse.ghost.json" in done
    assert "Newsletter subscribers: 2 imported, 0 already here." in done
    assert "Images: 3 imported" in done
    with app.app_context():
        assert post_by_slug("welcome").featured_media.original_name == "harbour.jpg"
        assert db.session.scalar(select(func.count(Subscriber.id))) == 2
        folder = Path(app.instance_path) / "imports"
        assert [p.suffix for p in folder.iterdir()] == [".json"]  # the uploads are removed


def test_a_bad_ghost_upload_is_refused_at_once(app, client, auth):
    auth.login("admin")
    data = _ghost_form()
    data["ghost-export_file"] = (io.BytesIO(b"<rss/>"), "export.xml")
    response = client.post("/admin/import/ghost", data=data, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "not a Ghost export" in response.get_data(as_text=True)
    data = _ghost_form()
    data["ghost-members"] = (io.BytesIO(b"name\nAnn\n"), "members.csv")
    response = client.post("/admin/import/ghost", data=data, content_type="multipart/form-data")
    assert response.status_code == 400 and "no email column" in response.get_data(as_text=True)
    assert list((Path(app.instance_path) / "imports").iterdir()) == []
    assert row_counts(app)["Post"] == 0


def test_hostile_text_and_addresses_stay_harmless():
    from blog.rendering import render_markdown

    def text(value):
        return {"type": "text", "text": value, "format": 0}

    nodes = [
        {"type": "paragraph", "children": [text("<script>alert(1)</script> and *stars*")]},
        {
            "type": "paragraph",
            "children": [
                {"type": "link", "url": "javascript:alert(2)", "children": [text("click")]},
                {"type": "link", "url": "https://e.example/a)b (c)", "children": [text("odd")]},
            ],
        },  # fmt: skip
        {"type": "button", "buttonText": "Go", "buttonUrl": "javascript:alert(3)"},
        {"type": "heading", "tag": "h9", "children": [text("# not a heading")]},
    ]
    lexical = json.dumps({"root": {"type": "root", "children": nodes}})
    converted = ghost_to_markdown(lexical, None, None)
    assert not converted.used_html, converted.warnings
    html = render_markdown(converted.markdown)
    soup = BeautifulSoup(html, "html.parser")
    assert soup.find("script") is None and "javascript:" not in html
    assert "<script>alert(1)</script> and *stars*" in soup.get_text()
    assert soup.find("a", string="odd")["href"] == "https://e.example/a%29b%20%28c%29"
    assert soup.find("h6").get_text() == "# not a heading"

"""`flask --app blog import wordpress`, the admin import page and the old-address redirects."""

import io
import re
import zipfile
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import event, func, select

from blog.comments import recount
from blog.extensions import db
from blog.models import (
    Category,
    Comment,
    CommentStatus,
    Media,
    Post,
    PostKind,
    PostStatus,
    Redirect,
    Revision,
    Role,
    SlugRedirect,
    Tag,
    User,
)
from blog.portability.wpcontent import autop, wordpress_to_markdown
from blog.portability.wxr import WxrError, parse_wxr
from blog.posts import PostInput, save_post
from blog.rendering import plain_text, render_markdown
from blog.settings import set_settings

FIXTURES = Path(__file__).parent / "fixtures" / "wordpress"
CLASSIC_SLUG = "классический-пост"
CLASSIC_URL = "/" + quote(CLASSIC_SLUG) + "/"
EXPORT = FIXTURES / "export.xml"
UPLOADS = FIXTURES / "uploads"
MODELS = (User, Post, Revision, Category, Tag, Media, Redirect, SlugRedirect)


def import_wordpress(runner, *args):
    return runner.invoke(args=["import", "wordpress", *(str(a) for a in args)])


def import_fixture(runner, *extra):
    result = import_wordpress(runner, EXPORT, "--uploads", UPLOADS, *extra)
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


# --- the import -----------------------------------------------------------------------------


def test_import_brings_posts_pages_authors_terms_and_images(app, runner):
    result = import_fixture(runner)
    assert "imported 9, updated 0, unchanged 0, skipped 1, warnings 8." in result.output
    assert "Images: 4 imported" in result.output
    assert "Skipped: 1 trash item(s)." in result.output
    assert "menu items without a usable label or address: 1" in result.output  # "Home"
    # Everything not brought over is listed by kind, with a count.
    left_behind = result.output.split("Not brought over:\n")[1].split("Warnings:")[0]
    for line in (
        "attachments that are not images (PDF, audio…): 1",
        "authors without posts (no account): 1",
        "commenters' IP addresses: 1",
        "dynamic blocks (built by WordPress when a page is shown): 1",
        "image attachments not found in the uploads: 1",  # missing.jpg
        "images in the text not found in the uploads: 1",  # gone.jpg
        "post passwords (those posts became drafts): 1",
        "the time zone setting (WordPress exports do not carry it): 1",
    ):
        assert f"  - {line}\n" in left_behind, line
    for warning in (
        "missing: the file 2023/06/missing.jpg is not in the uploads.",
        "Image not found in the uploads: https://old.example.org/wp-content/uploads/2023/07/gone",
        "The shortcode [contact-form-7] has no equivalent here",
        "dynamic block “latest-posts”",
        "Members only: was password-protected; imported as a draft.",
        "Author carol: has no posts in the export",
    ):
        assert warning in result.output

    with app.app_context():
        hello = post_by_slug("hello-harbour")
        assert hello.status == PostStatus.PUBLISHED and hello.kind == PostKind.POST
        assert hello.published_at == datetime(2023, 5, 14, 8, 30)
        assert hello.created_at == datetime(2023, 5, 14, 8, 30)
        assert hello.updated_at == datetime(2023, 5, 20, 16, 0)
        assert hello.excerpt == "A morning at the harbour."
        assert hello.import_key == "wordpress:https://old.example.org/?p=10"
        assert hello.category.name == "Harbours & Ports"
        europe = db.session.get(Category, hello.category.parent_id)  # the tree is kept
        assert europe.name == "Europe"
        assert db.session.get(Category, europe.parent_id).name == "Travel"
        # Its second WordPress category stays a category, not a tag.
        assert [c.name for c in hello.secondary_categories] == ["Travel"]
        assert [tag.name for tag in hello.tags] == ["Photography", "Sea"]
        assert hello.featured_media.original_name == "harbour.jpg"
        assert hello.featured_alt == "Boats in the harbour at dawn"
        assert hello.featured_caption == "Morning in the harbour"
        assert hello.featured_media.alt_text == "Boats in the harbour at dawn"
        # The resized copy in the text is the same attachment: one image, new address.
        image_url = f"/media/{hello.featured_media.filename}"
        assert f'![Boats in the harbour]({image_url} "The harbour before sunrise")' in hello.body_md
        assert "<figcaption>The harbour before sunrise</figcaption>" in hello.body_html
        assert "## What to bring" in hello.body_md and "- Coffee in a flask" in hello.body_md
        assert "wp:paragraph" not in hello.body_md and "<!--" not in hello.body_md
        # A link to another post of the old site leads straight to its new address.
        assert f"[classic post]({CLASSIC_URL})" in hello.body_md
        assert hello.author.email == "alice@old.example.org"
        assert hello.revisions[0].created_at == hello.updated_at
        assert hello.pinned  # sticky in WordPress
        assert not classic_is_pinned()

        classic = post_by_slug(CLASSIC_SLUG)
        assert classic.title == "Классический пост"
        assert classic.category.name == "Новости" and classic.category.slug == "новости"
        assert [tag.name for tag in classic.tags] == ["Café"]
        assert classic.body_md.startswith(
            "Written in the classic editor, with no paragraph tags at all.\n\n"
            "A second paragraph  \nwith a line break inside it, & an ampersand."
        )
        assert '"The ridge, seen from the bay")' in classic.body_md  # [caption]
        assert "<figcaption>The ridge, seen from the bay</figcaption>" in classic.body_html
        assert classic.body_md.count("- ![") == 2  # [gallery ids="102,103"]
        # … shown as an image grid, not a bulleted list.
        assert '<div class="gallery">' in classic.body_html and "<li" not in classic.body_html
        assert "<https://www.youtube.com/watch?v=dQw4w9WgXcQ>" in classic.body_md  # [embed]
        assert "](https://old.example.org/wp-content/uploads/2023/07/gone.jpg)" in classic.body_md
        assert "[contact-form-7" in classic.body_md and "The end." in classic.body_md
        assert classic.featured_media is None

        draft = post_by_slug("half-finished-thoughts")
        assert draft.status == PostStatus.DRAFT and draft.published_at is None
        assert draft.category is None  # "Uncategorized" is not imported
        future = post_by_slug("coming-soon")
        assert future.status == PostStatus.SCHEDULED
        assert future.published_at == datetime(2099, 1, 1, 8, 0)
        assert post_by_slug("waiting-for-review").status == PostStatus.DRAFT
        assert post_by_slug("members-only").status == PostStatus.DRAFT
        assert post_by_slug("old-rubbish-trashed") is None

        cafe = post_by_slug("cafe-corner")
        assert cafe.featured_media.original_name == "café-straße.jpg"
        assert cafe.body_md.count(f"/media/{cafe.featured_media.filename}") == 2  # link + img
        assert "](https://images.example.com/remote.jpg)" in cafe.body_md  # hot-linked, kept

        about, team = post_by_slug("about"), post_by_slug("team")
        assert about.kind == team.kind == PostKind.PAGE
        assert team.body_md == "Alice writes.\n\nBob photographs.\n"

        users = {user.email: user for user in db.session.scalars(select(User))}
        assert set(users) == {"alice@old.example.org", "bob@old.example.org"}
        for user in users.values():
            assert not user.active and user.password_hash is None and user.role == Role.AUTHOR
        assert users["alice@old.example.org"].display_name == "Alice Walker"

        categories = {c.slug: c.name for c in db.session.scalars(select(Category))}
        assert categories == {
            "travel": "Travel",
            "europe": "Europe",
            "harbours": "Harbours & Ports",
            "новости": "Новости",
        }
        assert db.session.scalar(select(func.count(Media.id))) == 4
        assert all(m.import_key for m in db.session.scalars(select(Media)))
        # Saved through save_post: rendered and searchable.
        assert "dawn" in hello.body_text and hello.word_count > 10


def classic_is_pinned() -> bool:
    return post_by_slug(CLASSIC_SLUG).pinned


def test_running_again_updates_nothing_and_duplicates_nothing(app, runner):
    import_fixture(runner)
    before = row_counts(app)
    result = import_fixture(runner)
    assert "imported 0, updated 0, unchanged 9, skipped 1" in result.output
    assert "Images: 0 imported, 4 already here." in result.output
    assert row_counts(app) == before


def test_a_changed_export_updates_the_post_in_place(app, runner, tmp_path):
    import_fixture(runner)
    changed = EXPORT.read_text("utf-8")
    changed = changed.replace("<![CDATA[Hello Harbour]]>", "<![CDATA[Hello, Harbour!]]>")
    changed = changed.replace(
        "<wp:post_modified_gmt><![CDATA[2023-05-20 16:00:00]]>",
        "<wp:post_modified_gmt><![CDATA[2023-06-30 16:00:00]]>",
    )
    changed_file = tmp_path / "changed.xml"
    changed_file.write_text(changed, "utf-8")
    before = row_counts(app)
    result = import_wordpress(runner, changed_file, "--uploads", UPLOADS)
    assert "imported 0, updated 1, unchanged 8" in result.output, result.output
    after = row_counts(app)
    assert after["Post"] == before["Post"] and after["Revision"] == before["Revision"] + 1
    with app.app_context():
        post = post_by_slug("hello-harbour")
        assert post.title == "Hello, Harbour!"
        assert post.updated_at == datetime(2023, 6, 30, 16, 0)


def test_a_post_changed_here_is_left_alone(app, runner):
    import_fixture(runner)
    with app.app_context():
        post = post_by_slug("team")
        data = PostInput(title="Our team", body_md="Rewritten here.", slug="team", kind=post.kind)
        save_post(post, data, post.author)
        db.session.commit()
    result = import_fixture(runner)
    assert "Team: was changed here after the import; left alone." in result.output
    with app.app_context():
        assert post_by_slug("team").title == "Our team"


def test_dry_run_changes_nothing_and_reports_the_same(app, runner, users):
    before = row_counts(app)
    dry = import_fixture(runner, "--dry-run")
    assert row_counts(app) == before
    real = import_fixture(runner)
    dry_lines = dry.output.splitlines()
    assert dry_lines[1].startswith("Dry run (nothing was changed): imported 9, updated 0")
    prefix = "Dry run (nothing was changed): "
    assert dry_lines[1].removeprefix(prefix) == real.output.splitlines()[1]
    assert dry_lines[2:] == real.output.splitlines()[2:]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("billion-laughs.xml", "document type (DTD)"),
        ("xxe.xml", "document type (DTD)"),
        ("truncated", "not well-formed XML"),
        ("feed", "not a WordPress export"),
        ("html", "not well-formed XML"),
    ],
)
def test_hostile_or_broken_files_are_refused_and_change_nothing(
    app, runner, users, tmp_path, name, message
):
    path = FIXTURES / name
    if name == "truncated":
        path = tmp_path / "truncated.xml"
        path.write_bytes(EXPORT.read_bytes()[: len(EXPORT.read_bytes()) * 2 // 3])
    elif name == "feed":
        path = tmp_path / "feed.xml"
        path.write_text('<rss version="2.0"><channel><title>A feed</title></channel></rss>')
    elif name == "html":
        path = tmp_path / "page.xml"
        path.write_text("<!doctype html><html><body><p>Not XML<br></body></html>")
    before = row_counts(app)
    result = import_wordpress(runner, path, "--uploads", UPLOADS)
    assert result.exit_code == 1
    assert message in result.output
    assert row_counts(app) == before


def test_the_parser_never_expands_entities_or_reads_files():
    for name in ("billion-laughs.xml", "xxe.xml"):
        with (FIXTURES / name).open("rb") as handle, pytest.raises(WxrError):
            parse_wxr(handle)
    # Even without a DTD an undeclared entity is an error, not an expansion.
    with pytest.raises(WxrError):
        parse_wxr(io.BytesIO(b'<rss version="2.0"><channel>&secret;</channel></rss>'))


def test_author_map_puts_posts_on_existing_accounts(app, runner, users, tmp_path):
    mapping = tmp_path / "authors.txt"
    mapping.write_text(f"# WordPress login = email here\nalice = {users['editor']['email']}\n")
    result = import_fixture(runner, "--author-map", mapping)
    assert "1 accounts created (deactivated), 1 existing accounts used" in result.output
    with app.app_context():
        assert post_by_slug("hello-harbour").author.email == users["editor"]["email"]
        assert post_by_slug(CLASSIC_SLUG).author.email == "bob@old.example.org"
        assert db.session.scalar(select(User).where(User.email == "alice@old.example.org")) is None


def test_author_map_with_an_unknown_email_stops_before_anything_changes(
    app, runner, users, tmp_path
):
    mapping = tmp_path / "authors.txt"
    mapping.write_text("alice=nobody@example.com\n")
    before = row_counts(app)
    result = import_fixture_expecting_failure(runner, mapping)
    assert "no user has the email nobody@example.com" in result.output
    assert row_counts(app) == before
    mapping.write_text("just a line\n")
    result = import_fixture_expecting_failure(runner, mapping)
    assert "line 1: expected login=email" in result.output


def import_fixture_expecting_failure(runner, mapping):
    result = import_wordpress(runner, EXPORT, "--uploads", UPLOADS, "--author-map", mapping)
    assert result.exit_code == 1
    return result


def test_uploads_as_a_zip_and_wxr_1_1(app, runner, tmp_path):
    archive = tmp_path / "uploads.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in UPLOADS.rglob("*.jpg"):
            bundle.write(path, "site/wp-content/uploads/" + path.relative_to(UPLOADS).as_posix())
    result = import_wordpress(runner, EXPORT, "--uploads", archive)
    assert result.exit_code == 0 and "Images: 4 imported" in result.output
    result = import_wordpress(runner, FIXTURES / "export-wxr-1.1.xml")
    assert "imported 1, updated 0" in result.output
    assert "no uploads folder or zip was given" in result.output
    with app.app_context():
        post = post_by_slug("hello-world")
        assert post.title == "Tom & Jerry’s first post"
        assert post.category is None and post.published_at == datetime(2014, 6, 1, 9, 0)
        assert post.body_md == (
            "Welcome to WordPress. This is your first post.\n\n"
            "Edit or delete it, then start blogging!\n"
        )


def test_without_uploads_images_keep_their_old_addresses(app, runner):
    result = import_wordpress(runner, EXPORT)
    assert result.exit_code == 0
    assert "Images: 0 imported" in result.output
    with app.app_context():
        post = post_by_slug("hello-harbour")
        assert post.featured_media is None
        assert "](https://old.example.org/wp-content/uploads/2023/05/harbour-300x200.jpg" in (
            post.body_md
        )


def small_export(categories: str, items: str) -> bytes:
    """A minimal WXR 1.2 file around the given category and item elements."""
    return f"""<?xml version="1.0" encoding="UTF-8" ?>
<rss version="2.0" xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/"
 xmlns:content="http://purl.org/rss/1.0/modules/content/"
 xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:wp="http://wordpress.org/export/1.2/">
<channel><title>Small</title><link>https://small.example</link>
<wp:wxr_version>1.2</wp:wxr_version><wp:base_site_url>https://small.example</wp:base_site_url>
<wp:author><wp:author_id>1</wp:author_id><wp:author_login><![CDATA[sam]]></wp:author_login>
<wp:author_email><![CDATA[not an email]]></wp:author_email></wp:author>
{categories}{items}</channel></rss>""".encode()


def small_item(wp_id: int, title: str, slug: str, categories: str = "") -> str:
    return f"""<item><title><![CDATA[{title}]]></title><dc:creator>sam</dc:creator>
<guid isPermaLink="false">https://small.example/?p={wp_id}</guid>
<content:encoded><![CDATA[Text of {title}.]]></content:encoded>
<wp:post_id>{wp_id}</wp:post_id><wp:post_date>2022-02-02 10:00:00</wp:post_date>
<wp:post_date_gmt>2022-02-02 10:00:00</wp:post_date_gmt><wp:post_name>{slug}</wp:post_name>
<wp:status>publish</wp:status><wp:post_type>post</wp:post_type>{categories}</item>"""


def test_same_names_under_different_parents_and_taken_addresses(app, runner, users, tmp_path):
    with app.app_context():
        author = db.session.get(User, users["author"]["id"])
        save_post(None, PostInput(title="Mine", body_md="x", slug="news-roundup"), author)
        db.session.commit()
    categories = "".join(
        f"<wp:category><wp:category_nicename>{slug}</wp:category_nicename>"
        f"<wp:category_parent>{parent}</wp:category_parent>"
        f"<wp:cat_name><![CDATA[{name}]]></wp:cat_name></wp:category>"
        for slug, parent, name in [
            ("europe", "", "Europe"),
            ("asia", "", "Asia"),
            ("news-europe", "europe", "News"),
            ("news-asia", "asia", "News"),
        ]
    )
    items = small_item(
        1,
        "Roundup",
        "news-roundup",
        '<category domain="category" nicename="news-asia">News</category>',
    ) + small_item(
        2, "Other", "other", '<category domain="category" nicename="news-europe">News</category>'
    )
    path = tmp_path / "small.xml"
    path.write_bytes(small_export(categories, items))
    result = import_wordpress(runner, path)
    assert result.exit_code == 0, result.output
    assert "the address “news-roundup” is taken here; it became “news-roundup-2”" in result.output
    assert "Author sam: has an invalid email 'not an email'." in result.output
    with app.app_context():
        roundup = post_by_slug("news-roundup-2")
        assert roundup.category.name == "News (Asia)" and roundup.category.slug == "news-asia"
        assert post_by_slug("other").category.name == "News"
        assert roundup.author.email == "sam@wordpress-import.invalid"
    result = import_wordpress(runner, path)
    assert "imported 0, updated 0, unchanged 2" in result.output


# --- redirects ------------------------------------------------------------------------------

REDIRECTS = [
    ("/?p=10", "/hello-harbour/"),
    ("/2023/05/14/hello-harbour/", "/hello-harbour/"),
    ("/2023/05/14/hello-harbour", "/hello-harbour/"),
    ("/2023/05/hello-harbour/", "/hello-harbour/"),
    ("/?p=11", CLASSIC_URL),
    ("/2023/06/02/" + CLASSIC_URL.strip("/") + "/", CLASSIC_URL),
    ("/2023/06/02/" + quote(CLASSIC_SLUG).lower() + "/", CLASSIC_URL),
    ("/?page_id=20", "/about/"),
    ("/?p=21", "/team/"),
    ("/about/team/", "/team/"),
    ("/category/europe/", "/category/travel/europe/"),  # the flat address, by the route
    ("/category/harbours/", "/category/travel/europe/harbours/"),
    ("/?cat=13", "/category/travel/europe/harbours/"),
    ("/category/harbours/feed/", "/category/travel/europe/harbours/feed.xml"),
    ("/tag/caf%C3%A9/", "/tag/cafe/"),
    ("/?tag=sea", "/tag/sea/"),
    ("/author/alice/", "/author/alice-walker/"),
    ("/?author=2", "/author/bob-ross/"),
    ("/feed/", "/feed.xml"),
    ("/?feed=rss2", "/feed.xml"),
]  # fmt: skip


def test_every_old_address_answers_301_to_its_new_one(app, client, users, runner):
    import_fixture(runner)
    for old, new in REDIRECTS:
        response = client.get(old)
        assert response.status_code == 301, old
        assert response.headers["Location"] == new, old
        assert response.headers["X-Content-Type-Options"] == "nosniff"  # headers kept
        assert client.get(new).status_code == 200, new
    with app.app_context():
        olds = set(db.session.scalars(select(Redirect.old_path)))
    # Old addresses equal to the new ones are not recorded: those pages answer themselves.
    assert not olds & {
        "/category/travel/", "/category/travel/europe/", "/tag/sea/", "/about/", "/hello-harbour/"
    }  # fmt: skip
    assert client.get("/category/travel/").status_code == 200
    assert client.get("/?p=999").status_code == 200  # an unknown id: the home page
    assert client.get("/2001/01/01/never-existed/").status_code == 404
    assert client.post("/2023/05/14/hello-harbour/").status_code in (404, 405)


def test_a_scheduled_posts_old_address_answers_404_until_it_is_public(app, client, runner):
    import_fixture(runner)
    old_addresses = ["/?p=13", "/2099/01/01/coming-soon/", "/2099/01/coming-soon/"]
    for old in old_addresses + ["/coming-soon/"]:
        assert client.get(old).status_code == 404, old
    with app.app_context():
        post_by_slug("coming-soon").published_at = datetime(2024, 1, 1, 8, 0)  # its time came
        db.session.commit()
    for old in old_addresses:
        response = client.get(old)
        assert response.status_code == 301 and response.headers["Location"] == "/coming-soon/"
    assert client.get("/coming-soon/").status_code == 200


def test_the_redirect_table_is_read_only_for_possible_old_addresses(app, client, users, runner):
    import_fixture(runner)
    statements = []

    def remember(conn, cursor, statement, parameters, context, executemany):
        if "redirect" in statement.lower() and "slug_redirect" not in statement.lower():
            statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", remember)
    try:
        assert client.get("/hello-harbour/").status_code == 200
        assert client.get("/").status_code == 200
        assert client.get("/category/travel/europe/").status_code == 200
        assert statements == []
        assert client.get("/nothing/here/").status_code == 404
        assert len(statements) == 1
        assert client.get("/?p=10").status_code == 301
        assert len(statements) == 2
    finally:
        event.remove(engine, "before_cursor_execute", remember)


# --- content conversion -------------------------------------------------------------------

WEIRD_HTML = """
<div class="wrapper"><font color="red">Crimson</font> <center>centred</center>
<marquee>scrolling</marquee><blink>blinking</blink> unclosed <b>bold <i>italic
<table><tr><td colspan="2">merged</td></tr><tr><td>left</td><td>right | pipe</td></tr></table>
<dl><dt>term</dt><dd>definition</dd></dl>
<p>Chemistry H<sub>2</sub>O and E=mc<sup>2</sup> with <del>struck</del> <s>strike</s>
<mark>marked</mark> <abbr title="HyperText">HTML</abbr> <kbd>Ctrl</kbd> <q>quoted</q>
<cite>cited</cite> <u>under</u></p>
<ul><li>one<ul><li>nested</li></ul></li><li>two</li></ul>
<ol start="3"><li>three</li></ol>
<p>Literal &lt;script&gt;alert(1)&lt;/script&gt; and &amp;copy; and 5 * 3 _under_ `tick`
[brackets](parens)</p>
<p># not a heading</p><p>1. not a list</p><p>- not a bullet</p><p>&gt; not a quote</p>
<pre>preformatted    text
  kept</pre>
<blockquote><p>quoted text</p><blockquote>deeper</blockquote></blockquote>
<h1>Heading one</h1><h7>seventh</h7>
<form><label>Name</label><input value="hidden"><button>Send</button>
<select><option>Choice</option></select><textarea>typed</textarea></form>
<details><summary>Summary</summary>Detail</details>
<span style="color:red">styled</span><custom-element>customised</custom-element>
<figure><blockquote>figure quote</blockquote><figcaption>figure caption</figcaption></figure>
<video src="https://example.com/v.mp4">video fallback</video>
<iframe src="https://www.youtube.com/embed/xyz"></iframe>
<object data="x.swf">object fallback</object>
<p>Ünïcödé ✓ 日本語 emoji 🙂</p>
final words
"""


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text))


def test_conversion_never_drops_text():
    converted = wordpress_to_markdown(WEIRD_HTML)
    rendered = plain_text(render_markdown(converted.markdown))
    expected = _words(BeautifulSoup(WEIRD_HTML, "html.parser").get_text(" "))
    # Inline neighbours may join ("H<sub>2</sub>O" reads "H2O"), so a word must be in the text,
    # not necessarily alone.
    missing = {word for word in expected if word not in rendered}
    assert not missing, (missing, converted.markdown)
    for phrase in ("Summary Detail", "Name Send Choice typed", "centred scrolling"):
        assert phrase in " ".join(rendered.split()), phrase
    assert "<li>one<ul>" in render_markdown(converted.markdown).replace("\n", "")
    assert "<script>" not in render_markdown(converted.markdown)
    assert "<script>alert(1)</script>" in rendered  # literal text stays literal


def test_a_gutenberg_gallery_block_is_an_image_grid_without_bullets():
    block = """<!-- wp:gallery {"linkTo":"none"} -->
<figure class="wp-block-gallery has-nested-images columns-default">
<!-- wp:image {"id":102} --><figure class="wp-block-image"><img src="/a.jpg" alt="Ridge"/>
<figcaption class="wp-element-caption">The ridge</figcaption></figure><!-- /wp:image -->
<!-- wp:image {"id":103} --><figure class="wp-block-image"><img src="/b.jpg" alt="Pines"/>
</figure><!-- /wp:image --></figure><!-- /wp:gallery -->"""
    markdown = wordpress_to_markdown(block).markdown
    assert markdown == '- ![Ridge](/a.jpg "The ridge")\n\n- ![Pines](/b.jpg)\n'
    shown = BeautifulSoup(render_markdown(markdown), "html.parser")
    assert shown.find("ul") is None and shown.find("li") is None
    assert [f.img["alt"] for f in shown.select("div.gallery > figure")] == ["Ridge", "Pines"]
    assert shown.select_one("div.gallery figcaption").get_text() == "The ridge"


def test_scripts_are_removed_with_a_warning():
    converted = wordpress_to_markdown("<p>Before</p><script>steal()</script><p>After</p>")
    assert "steal" not in converted.markdown
    assert converted.markdown == "Before\n\nAfter\n"
    assert any("<script>" in warning for warning in converted.warnings)


def test_classic_text_gets_paragraphs_like_wpautop():
    assert autop("One\n\nTwo\nlines") == "<p>One</p>\n\n<p>Two<br />\nlines</p>"
    assert autop("Intro\n<ul>\n<li>a</li>\n</ul>") == "<p>Intro</p>\n\n<ul>\n<li>a</li>\n</ul>"
    assert "<pre>a\n\nb</pre>" in autop("Text\n\n<pre>a\n\nb</pre>")
    markdown = wordpress_to_markdown("First line\nsecond line\n\nNext *paragraph*").markdown
    assert markdown == "First line  \nsecond line\n\nNext \\*paragraph\\*\n"


def test_blocks_and_freeform_text_side_by_side():
    content = (
        "Freeform intro\nwith a break\n\n"
        "<!-- wp:paragraph -->\n<p>Block text</p>\n<!-- /wp:paragraph -->\n\n"
        '<!-- wp:code -->\n<pre class="wp-block-code"><code>x = 1\n\ny = 2</code></pre>\n'
        "<!-- /wp:code -->\n\n<!-- wp:more -->\n<!--more-->\n<!-- /wp:more -->\n\n"
        '[code lang="python"]if a < b:\n    print("yes")[/code]'
    )
    converted = wordpress_to_markdown(content)
    assert converted.markdown.startswith("Freeform intro  \nwith a break\n\nBlock text\n\n")
    assert "```\nx = 1\n\ny = 2\n```" in converted.markdown
    assert 'if a < b:\n    print("yes")' in converted.markdown
    assert converted.warnings == []


# --- the admin page -------------------------------------------------------------------------


def _upload_form(export_bytes: bytes, with_uploads: bool = True, **fields) -> dict:
    data = {"export_file": (io.BytesIO(export_bytes), "export.xml"), **fields}
    if with_uploads:
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as bundle:
            for path in UPLOADS.rglob("*.jpg"):
                bundle.write(path, "uploads/" + path.relative_to(UPLOADS).as_posix())
        archive.seek(0)
        data["uploads"] = (archive, "uploads.zip")
    return data


def _wait_for(client, job_url: str) -> dict:
    """Work the job queue (the import is a background job), then read the import's status."""
    from tests.conftest import run_jobs

    assert client.get(job_url + ".json").get_json()["status"] == "queued"
    run_jobs(client.application)
    job = client.get(job_url + ".json").get_json()
    assert job["status"] in ("done", "failed"), job
    return job


@pytest.mark.parametrize("who", ["editor", "author"])
def test_only_admins_may_import(client, auth, who):
    auth.login(who)
    assert client.get("/admin/import").status_code == 403
    response = client.post(
        "/admin/import", data=_upload_form(EXPORT.read_bytes()), content_type="multipart/form-data"
    )
    assert response.status_code == 403
    assert client.get("/admin/import/0123456789abcdef.json").status_code == 403


def test_an_admin_upload_runs_the_import_and_shows_the_summary(app, client, auth):
    auth.login("admin")
    page = client.get("/admin/import")
    assert page.status_code == 200 and b'enctype="multipart/form-data"' in page.data
    response = client.post(
        "/admin/import", data=_upload_form(EXPORT.read_bytes()), content_type="multipart/form-data"
    )
    assert response.status_code == 303
    job_url = response.headers["Location"]
    waiting = client.get(job_url)
    assert waiting.status_code == 200 and b"js/importer.js" in waiting.data
    job = _wait_for(client, job_url)
    assert job["status"] == "done", job
    assert job["done"] == job["total"] == 15  # 10 posts and pages, 5 images
    assert job["summary"][0] == "imported 9, updated 0, unchanged 0, skipped 1, warnings 8."
    done = client.get(job_url).get_data(as_text=True)
    assert "imported 9, updated 0, unchanged 0, skipped 1, warnings 8." in done
    assert "Images: 4 imported, 0 already here." in done
    assert "Members only" in done and "<progress" not in done
    assert job_url.rsplit("/", 1)[1] in client.get("/admin/import").get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(Post.id))) == 9
        folder = Path(app.instance_path) / "imports"
        assert [p.suffix for p in folder.iterdir()] == [".json"]  # uploads removed


@pytest.mark.parametrize("ticked", [False, True])
def test_the_admin_box_decides_whether_a_configured_site_takes_the_exports_title(
    app, client, auth, ticked
):
    with app.app_context():
        set_settings({"site_title": "Quay Side"})
        db.session.commit()
    auth.login("admin")
    page = client.get("/admin/import").get_data(as_text=True)
    assert 'name="site_settings"' in page
    fields = {"site_settings": "y"} if ticked else {}
    response = client.post(
        "/admin/import",
        data=_upload_form(EXPORT.read_bytes(), **fields),
        content_type="multipart/form-data",
    )
    job_url = response.headers["Location"]
    assert _wait_for(client, job_url)["status"] == "done"
    done = client.get(job_url).get_data(as_text=True)
    assert "Not brought over:" in done
    with app.app_context():
        from blog.settings import get_setting

        assert get_setting("site_title") == ("Harbour Notes" if ticked else "Quay Side")
        assert get_setting("tagline") == "Notes from the waterfront"  # it had none


def test_a_hostile_upload_is_refused_in_the_request(app, client, auth):
    auth.login("admin")
    before = row_counts(app)
    response = client.post(
        "/admin/import",
        data=_upload_form((FIXTURES / "xxe.xml").read_bytes(), with_uploads=False),
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "refused for safety" in response.get_data(as_text=True)
    assert row_counts(app) == before
    assert not list((Path(app.instance_path) / "imports").glob("*.xml"))


def test_a_dry_run_from_the_admin_page(app, client, auth):
    auth.login("admin")
    before = row_counts(app)
    data = _upload_form(EXPORT.read_bytes(), dry_run="y")
    response = client.post("/admin/import", data=data, content_type="multipart/form-data")
    job = _wait_for(client, response.headers["Location"])
    assert job["summary"][0].startswith("Dry run (nothing was changed): imported 9")
    assert row_counts(app) == before


def test_the_admin_upload_is_size_limited_and_needs_its_csrf_token(make_app, users, tmp_path):
    app = make_app(IMPORT_MAX_BYTES=2000, WTF_CSRF_ENABLED=True)
    client = app.test_client()
    login_page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', login_page).group(1)
    client.post(
        "/login", data={"email": users["admin"]["email"], "password": "correct horse battery",
                        "csrf_token": token}
    )  # fmt: skip
    data = _upload_form(EXPORT.read_bytes(), with_uploads=False)
    response = client.post("/admin/import", data=data, content_type="multipart/form-data")
    assert response.status_code == 413
    small = _upload_form((FIXTURES / "export-wxr-1.1.xml").read_bytes()[:1500], False)
    response = client.post("/admin/import", data=small, content_type="multipart/form-data")
    assert response.status_code == 400  # no CSRF token
    assert "CSRF" in response.get_data(as_text=True) or "expired" in response.get_data(as_text=True)


# --- comments -------------------------------------------------------------------------------

COMMENTS_EXPORT = FIXTURES / "export-comments.xml"


def comments_of(slug: str) -> dict[str, Comment]:
    """The post's comments by their first words."""
    post = post_by_slug(slug)
    rows = db.session.scalars(select(Comment).where(Comment.post_id == post.id))
    return {" ".join(row.body_md.split()[:2]): row for row in rows}


def test_comments_come_with_their_posts_threads_kept_spam_left_out(app, runner):
    with app.app_context():
        set_settings({"timezone": "Europe/Berlin"})
        db.session.commit()
    result = import_wordpress(runner, COMMENTS_EXPORT)
    assert result.exit_code == 0, result.output
    assert "Comments: 6 imported, 0 already here." in result.output
    assert "Comments not imported: 1 pingback, 1 spam, 1 trackback, 1 trash." in result.output

    with app.app_context():
        boats = post_by_slug("boats-at-dawn")
        comments = comments_of("boats-at-dawn")
        assert set(comments) == {"What a", "Still waiting", "They do,", "Thank you,", "Summer now,"}
        first, held = comments["What a"], comments["Still waiting"]
        reply, reply_to_reply = comments["They do,"], comments["Thank you,"]
        assert first.status == reply.status == reply_to_reply.status == CommentStatus.APPROVED
        assert held.status == CommentStatus.PENDING
        assert boats.comment_count == 4 and post_by_slug("nets").comment_count == 1
        # One level of threads: the reply to the reply joins the first comment's thread and
        # still says whom it answers.
        assert first.thread_id is None and first.reply_to_id is None
        assert reply.thread_id == first.id and reply.reply_to_id == first.id
        assert reply_to_reply.thread_id == first.id and reply_to_reply.reply_to_id == reply.id
        # Who wrote them; the post's author answered from her WordPress account.
        assert first.author_name == "Rita Reader" and first.author_email == "rita@example.net"
        assert first.author_url == "https://rita.example.net/"
        assert reply.user_id == boats.author_id
        assert first.user_id is None and first.address == ""  # no IP address comes along
        assert held.author_url == ""  # a javascript: website is dropped
        # Times in UTC: the GMT date, or the local date read in the site's zone (CEST, +2).
        assert first.created_at == datetime(2024, 3, 2, 9, 15)
        assert comments["Summer now,"].created_at == datetime(2024, 7, 1, 12, 0)
        # The text is Markdown, rendered by the comment pipeline; the export's HTML is not
        # trusted.
        assert first.body_md.startswith("What a **lovely** morning.")
        assert '<a href="https://tides.example.net/"' in first.body_html
        assert "<strong>lovely</strong>" in first.body_html
        assert "script" not in first.body_html and 'rita")' not in first.body_html
        (mallory,) = comments_of("nets").values()
        assert "<img" not in mallory.body_html and "onerror" not in mallory.body_html
        assert "iframe" not in mallory.body_html and "done." in mallory.body_html

    page = app.test_client().get("/boats-at-dawn/").get_data(as_text=True)
    assert "4 comments" in page and "They do, Rita" in page and "Still waiting" not in page
    assert 'class="badge">Author' in page
    nets = app.test_client().get("/nets/").get_data(as_text=True)
    assert "&lt;b&gt;Mallory&lt;/b&gt;" in nets and "<b>Mallory" not in nets


def test_importing_comments_twice_adds_no_copies(app, runner):
    import_wordpress(runner, COMMENTS_EXPORT)
    with app.app_context():
        before = db.session.execute(
            select(Comment.import_key, Comment.thread_id, Comment.status).order_by(Comment.id)
        ).all()
        # A moderator approves the held comment here; the second run leaves that alone.
        held = comments_of("boats-at-dawn")["Still waiting"]
        held.status = CommentStatus.APPROVED
        recount(held.post_id)
        db.session.commit()
    result = import_wordpress(runner, COMMENTS_EXPORT)
    assert result.exit_code == 0, result.output
    assert "imported 0, updated 0, unchanged 2" in result.output
    assert "Comments: 0 imported, 6 already here." in result.output
    with app.app_context():
        after = db.session.execute(
            select(Comment.import_key, Comment.thread_id).order_by(Comment.id)
        ).all()
        assert [row[:2] for row in before] == after and len(after) == 6
        assert comments_of("boats-at-dawn")["Still waiting"].status == CommentStatus.APPROVED
        assert post_by_slug("boats-at-dawn").comment_count == 5


def test_a_dry_run_counts_comments_and_keeps_none(app, runner):
    result = import_wordpress(runner, COMMENTS_EXPORT, "--dry-run")
    assert "Comments: 6 imported, 0 already here." in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count(Comment.id))) == 0


def test_the_admin_import_shows_the_comment_figures(app, client, auth):
    auth.login("admin")
    data = _upload_form(COMMENTS_EXPORT.read_bytes(), with_uploads=False)
    response = client.post("/admin/import", data=data, content_type="multipart/form-data")
    job_url = response.headers["Location"]
    job = _wait_for(client, job_url)
    assert job["status"] == "done", job
    done = client.get(job_url).get_data(as_text=True)
    assert "Comments: 6 imported, 0 already here." in done
    assert "Comments not imported: 1 pingback, 1 spam, 1 trackback, 1 trash." in done
    with app.app_context():
        assert db.session.scalar(select(func.count(Comment.id))) == 6


# --- dates ----------------------------------------------------------------------------------


def test_a_drafts_local_date_is_read_in_the_sites_time_zone(app, runner):
    """A draft has no GMT date in the export (0000-00-00); its local date is Berlin time."""
    with app.app_context():
        set_settings({"timezone": "Europe/Berlin"})
        db.session.commit()
    result = import_fixture(runner)
    assert "Time zone:" not in result.output  # the site's zone agrees with the export's times
    with app.app_context():
        draft = post_by_slug("half-finished-thoughts")
        assert draft.created_at == datetime(2023, 7, 1, 10, 0)  # 12:00 CEST is 10:00 UTC
        pending = post_by_slug("waiting-for-review")
        assert pending.created_at == datetime(2023, 8, 1, 10, 0)


def test_a_time_zone_the_export_contradicts_is_named(app, runner):
    result = import_fixture(runner)  # the site is still on UTC; the old site was 1-2 h ahead
    assert "Time zone: the export's dates are 1 to 2 hours ahead of UTC" in result.output
    assert "Settings → Time zone" in result.output


# --- several categories ---------------------------------------------------------------------


def test_a_post_keeps_every_category_and_the_one_marked_primary(app, runner, tmp_path):
    categories = "".join(
        f"<wp:category><wp:term_id>{term_id}</wp:term_id>"
        f"<wp:category_nicename>{slug}</wp:category_nicename>"
        f"<wp:category_parent></wp:category_parent>"
        f"<wp:cat_name><![CDATA[{name}]]></wp:cat_name></wp:category>"
        for term_id, slug, name in [(4, "boats", "Boats"), (5, "fish", "Fish"), (6, "nets", "Nets")]
    )
    in_three = "".join(
        f'<category domain="category" nicename="{slug}">{slug.title()}</category>'
        for slug in ("boats", "fish", "nets")
    )
    marked = in_three + (
        "<wp:postmeta><wp:meta_key>_yoast_wpseo_primary_category</wp:meta_key>"
        "<wp:meta_value>5</wp:meta_value></wp:postmeta>"
    )
    items = small_item(1, "Plain", "plain", in_three) + small_item(2, "Marked", "marked", marked)
    path = tmp_path / "categories.xml"
    path.write_bytes(small_export(categories, items))
    result = import_wordpress(runner, path)
    assert result.exit_code == 0, result.output
    assert "became tags" not in result.output
    with app.app_context():
        plain, marked_post = post_by_slug("plain"), post_by_slug("marked")
        assert plain.category.name == "Boats"  # the first, as WordPress lists them
        assert [c.name for c in plain.secondary_categories] == ["Fish", "Nets"]
        assert marked_post.category.name == "Fish"  # Yoast's primary category
        assert [c.name for c in marked_post.secondary_categories] == ["Boats", "Nets"]
        assert plain.tags == [] and marked_post.tags == []
    page = app.test_client().get("/category/nets/").get_data(as_text=True)
    assert "Plain" in page and "Marked" in page  # listed under a further category too
    result = import_wordpress(runner, path)
    assert "imported 0, updated 0, unchanged 2" in result.output


# --- site settings --------------------------------------------------------------------------


def test_a_fresh_site_takes_the_exports_title_and_tagline(app, runner, client):
    result = import_fixture(runner)
    assert "Site settings taken from the export: Site title, Tagline." in result.output
    assert "Not brought over:" in result.output
    for name in ("time zone", "date format", "posts per page"):
        assert f"the {name} setting (WordPress exports do not carry it): 1" in result.output
    home = client.get("/").get_data(as_text=True)
    assert "Harbour Notes" in home and "Notes from the waterfront" in home
    assert home.index("Hello Harbour") < home.index("Café corner")  # sticky: pinned first
    result = import_fixture(runner)
    assert "Site settings taken" not in result.output  # already so: nothing to take


def test_a_configured_site_keeps_its_title_unless_asked(app, runner, client):
    with app.app_context():
        set_settings({"site_title": "Quay Side"})
        db.session.commit()
    result = import_fixture(runner)
    assert "Site settings taken from the export: Tagline." in result.output
    assert "Site title: kept “Quay Side”; the export's is “Harbour Notes”" in result.output
    assert "Quay Side" in client.get("/").get_data(as_text=True)
    result = import_fixture(runner, "--site-settings")
    assert "Site settings taken from the export: Site title." in result.output
    assert "Harbour Notes" in client.get("/").get_data(as_text=True)


# --- body content ---------------------------------------------------------------------------

FOOTNOTES_AND_TABLE = """<!-- wp:paragraph -->
<p>Salt water<sup id="ref1"><a href="#fn1">1</a></sup> freezes later<sup data-fn="f-9"
class="fn"><a href="#f-9" id="f-9-link">2</a></sup>.</p>
<!-- /wp:paragraph -->
<!-- wp:table -->
<figure class="wp-block-table"><table><thead><tr><th>Port</th><th>Tide</th></tr></thead>
<tbody><tr><td>Kiel</td><td>low</td></tr></tbody></table>
<figcaption class="wp-element-caption">Tides on Monday</figcaption></figure>
<!-- /wp:table -->
<!-- wp:html -->
<ol class="notes"><li id="fn1">About <em>minus two</em> degrees. <a href="#ref1">↩</a></li></ol>
<!-- /wp:html -->
<!-- wp:footnotes /-->"""


def content_item(wp_id: int, slug: str, content: str, meta: str = "") -> str:
    return (
        small_item(wp_id, slug.title(), slug)
        .replace(f"<![CDATA[Text of {slug.title()}.]]>", f"<![CDATA[{content}]]>")
        .replace("</item>", f"{meta}</item>")
    )


def test_footnotes_link_both_ways_and_a_tables_caption_stays_its_caption(
    app, runner, client, tmp_path
):
    notes = '[{"content":"Twice a <strong>day</strong>.","id":"f-9"}]'
    meta = (
        "<wp:postmeta><wp:meta_key>footnotes</wp:meta_key>"
        f"<wp:meta_value><![CDATA[{notes}]]></wp:meta_value></wp:postmeta>"
    )
    path = tmp_path / "content.xml"
    path.write_bytes(small_export("", content_item(1, "salt", FOOTNOTES_AND_TABLE, meta)))
    result = import_wordpress(runner, path)
    assert result.exit_code == 0, result.output
    assert "footnotes" not in result.output  # not reported as a lost dynamic block
    with app.app_context():
        post = post_by_slug("salt")
        assert "Salt water[^1] freezes later[^2]." in post.body_md
        assert "[^1]: About *minus two* degrees." in post.body_md
        assert "[^2]: Twice a **day**." in post.body_md
        assert "↩" not in post.body_md and "fn1" not in post.body_md
    page = BeautifulSoup(client.get("/salt/").get_data(as_text=True), "html.parser")
    body = page.select_one(".article-body")
    for reference in body.select("a.footnote-ref"):  # each link leads to its note and back
        note = body.find(id=reference["href"][1:])
        assert note is not None and note.name == "li"
        back = note.select_one("a.footnote-backref")
        assert body.find(id=back["href"][1:]).find("a") == reference
    assert len(body.select("a.footnote-ref")) == 2
    assert "minus two" in body.find(id="fn-1").get_text()
    table = body.find("table")
    assert table.caption.get_text(strip=True) == "Tides on Monday"
    assert "Tides on Monday" not in " ".join(p.get_text() for p in body.find_all("p"))


def test_an_image_in_the_text_gets_its_resized_copies_and_srcset(app, runner, client, tmp_path):
    from PIL import Image

    folder = tmp_path / "uploads" / "2022" / "02"
    folder.mkdir(parents=True)
    Image.new("RGB", (1200, 800), (20, 90, 160)).save(folder / "bay.jpg", quality=80)
    image = (
        '<img src="https://small.example/wp-content/uploads/2022/02/bay-1024x683.jpg" alt="Bay">'
    )
    path = tmp_path / "images.xml"
    path.write_bytes(small_export("", content_item(1, "bay", f"<p>{image}</p>")))
    result = import_wordpress(runner, path, "--uploads", tmp_path / "uploads")
    assert result.exit_code == 0, result.output
    with app.app_context():
        post = post_by_slug("bay")
        media = db.session.scalar(select(Media))
        assert [v["width"] for v in media.variants] == [480, 960]
        assert f"](/media/{media.filename})" in post.body_md  # the original, not the 1024 copy
    shown = BeautifulSoup(client.get("/bay/").get_data(as_text=True), "html.parser")
    body_image = shown.select_one(".article-body img")
    candidates = [c.split() for c in body_image["srcset"].split(", ")]
    assert [width for _, width in candidates] == ["480w", "960w", "1200w"]
    for url, _ in candidates:  # every size is there to be fetched
        response = client.get(url)
        assert response.status_code == 200 and response.mimetype == "image/jpeg"
        response.close()
    assert body_image["width"] == "1200" and body_image["height"] == "800"
    assert body_image["alt"] == "Bay"


# --- internal links -------------------------------------------------------------------------

LINKING_TEXT = """<p>See <a href="https://small.example/?page_id=5">the about page</a>,
<a href="/?p=3#comments">what comes later</a>, <a href="https://small.example/2022/02/02/earlier/">the
earlier one</a>, <a href="https://small.example/category/boats/">boats</a> and
<a href="https://elsewhere.example/?p=3">another site</a>.</p>
<table><tr><td><a href="https://small.example/?p=3">in a table</a></td></tr></table>"""


def test_links_between_imported_posts_lead_straight_to_their_new_addresses(
    app, runner, client, tmp_path
):
    categories = (
        "<wp:category><wp:term_id>4</wp:term_id><wp:category_nicename>boats"
        "</wp:category_nicename><wp:cat_name>Boats</wp:cat_name></wp:category>"
    )
    about = small_item(5, "About", "about-us").replace(
        "<wp:post_type>post</wp:post_type>", "<wp:post_type>page</wp:post_type>"
    )
    items = (
        small_item(1, "Earlier", "earlier")
        + content_item(2, "linking", LINKING_TEXT)
        + small_item(3, "Later", "later-post")  # saved after the post that links to it
        + about
    )
    path = tmp_path / "links.xml"
    path.write_bytes(small_export(categories, items))
    result = import_wordpress(runner, path)
    assert result.exit_code == 0, result.output
    with app.app_context():
        body = post_by_slug("linking").body_md
        assert "[the about page](/about-us/)" in body
        assert "[what comes later](/later-post/#comments)" in body
        assert "earlier one](/earlier/)" in body
        assert "[boats](/category/boats/)" in body
        assert "(https://elsewhere.example/?p=3)" in body  # another site's link is its own
        assert 'href="/later-post/"' in body  # HTML kept in the Markdown too
        assert "?p=" not in body.replace("elsewhere.example/?p=3", "")
        revision = post_by_slug("linking").revisions[0]
        assert revision.body_md == body  # the history shows what the post shows
    page = BeautifulSoup(client.get("/linking/").get_data(as_text=True), "html.parser")
    for link in page.select(".article-body a[href^='/']"):
        assert client.get(link["href"]).status_code == 200, link["href"]  # no redirect
    result = import_wordpress(runner, path)
    assert "imported 0, updated 0, unchanged 4" in result.output


# --- menus, site icon and logo --------------------------------------------------------------


def menu_item(wp_id: int, menu: str, order: int, title: str, meta: dict, parent: int = 0) -> str:
    meta = {**meta, "_menu_item_menu_item_parent": str(parent)}
    rows = "".join(
        f"<wp:postmeta><wp:meta_key>{key}</wp:meta_key><wp:meta_value><![CDATA[{value}]]>"
        "</wp:meta_value></wp:postmeta>"
        for key, value in meta.items()
    )
    return (
        f"<item><title><![CDATA[{title}]]></title><wp:post_id>{wp_id}</wp:post_id>"
        f"<wp:status>publish</wp:status><wp:menu_order>{order}</wp:menu_order>"
        "<wp:post_type>nav_menu_item</wp:post_type>"
        f'<category domain="nav_menu" nicename="{menu}"><![CDATA[{menu.title()}]]></category>'
        f"{rows}</item>"
    )


def attachment_item(wp_id: int, name: str, context: str) -> str:
    return (
        f"<item><title>{name}</title><wp:post_id>{wp_id}</wp:post_id>"
        f"<guid>https://small.example/wp-content/uploads/2022/02/{name}</guid>"
        "<wp:status>inherit</wp:status><wp:post_type>attachment</wp:post_type>"
        "<dc:creator>sam</dc:creator>"
        f"<wp:attachment_url>https://small.example/wp-content/uploads/2022/02/{name}"
        "</wp:attachment_url><wp:postmeta><wp:meta_key>_wp_attachment_context</wp:meta_key>"
        f"<wp:meta_value>{context}</wp:meta_value></wp:postmeta></item>"
    )


def menus_export(tmp_path) -> Path:
    from PIL import Image

    folder = tmp_path / "uploads" / "2022" / "02"
    folder.mkdir(parents=True)
    Image.new("RGB", (512, 512), (200, 40, 40)).save(folder / "icon.png")
    Image.new("RGB", (600, 150), (20, 40, 200)).save(folder / "logo.png")
    categories = (
        "<wp:category><wp:term_id>4</wp:term_id><wp:category_nicename>boats"
        "</wp:category_nicename><wp:cat_name>Boats</wp:cat_name></wp:category>"
    )
    about = small_item(5, "About", "about-us").replace(
        "<wp:post_type>post</wp:post_type>", "<wp:post_type>page</wp:post_type>"
    )

    def points_at(kind: str, target: str, target_id: str) -> dict:
        return {
            "_menu_item_type": kind,
            "_menu_item_object": target,
            "_menu_item_object_id": target_id,
        }

    def link(url: str) -> dict:
        return {"_menu_item_type": "custom", "_menu_item_url": url}

    in_boats = '<category domain="category" nicename="boats">B</category>'
    items = (
        about
        + small_item(1, "Hello", "hello", in_boats)
        + menu_item(40, "main", 1, "Home", link("https://small.example/"))
        + menu_item(41, "main", 2, "", points_at("post_type", "page", "5"))
        + menu_item(42, "main", 3, "Boats", points_at("taxonomy", "category", "4"))
        + menu_item(43, "main", 4, "First post", points_at("post_type", "post", "1"), parent=42)
        + menu_item(44, "main", 5, "Gone", points_at("post_type", "page", "999"))
        + menu_item(45, "main", 6, "Evil", link("javascript:alert(1)"))
        + menu_item(50, "footer", 1, "Imprint", link("https://imprint.example/"))
        + attachment_item(60, "icon.png", "site-icon")
        + attachment_item(61, "logo.png", "custom-logo")
    )  # fmt: skip
    path = tmp_path / "menus.xml"
    path.write_bytes(small_export(categories, items))
    return path


def test_menus_site_icon_and_logo_come_along_on_a_fresh_site(app, runner, client, tmp_path):
    path = menus_export(tmp_path)
    result = import_wordpress(runner, path, "--uploads", tmp_path / "uploads")
    assert result.exit_code == 0, result.output
    assert "Header menu (“Main”)" in result.output and "Footer menu (“Footer”)" in result.output
    assert "Site icon" in result.output and "Logo" in result.output
    assert "menu items whose page or post was not imported: 1" in result.output  # "Gone"
    assert "menu items without a usable label or address: 1" in result.output  # javascript:
    with app.app_context():
        from blog.settings import get_settings

        settings = get_settings()
        assert settings["header_menu"] == [
            {"label": "Home", "url": "/", "children": []},
            {"label": "About", "url": "/about-us/", "children": []},  # the page's own title
            {
                "label": "Boats",
                "url": "/category/boats/",
                "children": [{"label": "First post", "url": "/hello/", "children": []}],
            },
        ]
        assert settings["footer_menu"] == [
            {"label": "Imprint", "url": "https://imprint.example/", "children": []}
        ]
        icon = db.session.get(Media, settings["icon_media_id"])
        logo = db.session.get(Media, settings["logo_media_id"])
        assert icon.original_name == "icon.png" and logo.original_name == "logo.png"
        assert settings["favicon_file"] and settings["touch_icon_file"]
    home = BeautifulSoup(client.get("/").get_data(as_text=True), "html.parser")
    assert "/about-us/" in [a.get("href") for a in home.find_all("a")]
    assert home.find("img", src=f"/media/{logo.filename}") is not None
    result = import_wordpress(runner, path, "--uploads", tmp_path / "uploads")
    assert "Header menu" not in result.output.split("Warnings:")[0]  # nothing new to take


def test_a_menu_made_here_is_kept(app, runner, tmp_path):
    mine = [{"label": "Mine", "url": "/mine/", "children": []}]
    with app.app_context():
        set_settings({"header_menu": mine})
        db.session.commit()
    result = import_wordpress(runner, menus_export(tmp_path), "--uploads", tmp_path / "uploads")
    assert "Header menu: kept this site's; the export's menu “Main” was not used" in result.output
    with app.app_context():
        from blog.settings import get_setting

        assert get_setting("header_menu") == mine

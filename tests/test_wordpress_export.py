"""`flask --app blog export wordpress`: a WXR file WordPress's importer reads, the uploads as a
zip, and the round trip WordPress → this blog → WXR → a second blog."""

import io
import re
import zipfile
from pathlib import Path

import defusedxml.ElementTree as SafeET
from PIL import Image
from sqlalchemy import select, text
from werkzeug.datastructures import FileStorage

from blog.comments import recount
from blog.extensions import db
from blog.media import media_url, save_upload
from blog.models import Category, Comment, CommentStatus, Media, Post, PostStatus, Tag, User
from blog.portability.wxr import parse_wxr
from blog.posts import PostInput, save_post
from blog.settings import set_settings

FIXTURES = Path(__file__).parent / "fixtures" / "wordpress"
EXPORT = FIXTURES / "export.xml"
COMMENTS_EXPORT = FIXTURES / "export-comments.xml"
UPLOADS = FIXTURES / "uploads"
WP = "{http://wordpress.org/export/1.2/}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
EXCERPT = "{http://wordpress.org/export/1.2/excerpt/}"
DC = "{http://purl.org/dc/elements/1.1/}"
TOKEN = re.compile(r"/media/([0-9a-f]{32})")


def run(runner, *args):
    result = runner.invoke(args=[str(arg) for arg in args])
    assert result.exit_code == 0, result.output
    return result


def import_fixtures(runner) -> None:
    run(runner, "import", "wordpress", EXPORT, "--uploads", UPLOADS)
    run(runner, "import", "wordpress", COMMENTS_EXPORT)


def add_wide_image_post(app) -> None:
    """A post with an image large enough for smaller sizes, shown whole and as a smaller size
    (the fixture's images are all small)."""
    with app.app_context():
        author = db.session.scalars(select(User).order_by(User.id)).first()
        picture = io.BytesIO()
        Image.new("RGB", (1200, 800), (30, 90, 160)).save(picture, "PNG")
        picture.seek(0)
        wide = save_upload(FileStorage(picture, filename="Wide view.png"), author)
        wide.alt_text = "A wide blue view"
        db.session.flush()
        small = wide.variants[0]["filename"]
        post = save_post(
            None,
            PostInput(
                title="Wide view",
                body_md=f"![]({media_url(wide.filename)})\n\n[Small]({media_url(small)})\n",
                featured_media_id=wide.id,
                featured_alt="Blue, post's own alt",
                featured_caption="Seen from the hill",
            ),
            author,
        )
        post.status, post.published_at = PostStatus.PUBLISHED, post.created_at
        db.session.commit()


# --- what WordPress's importer reads ------------------------------------------------------


def wp(element, name: str) -> str:
    found = element.find(WP + name)
    assert found is not None, f"no wp:{name} in <{element.tag}>"
    return found.text or ""


def test_the_file_has_what_wordpress_reads(app, runner, users, tmp_path):
    with app.app_context():
        set_settings({"site_title": "Harbour Notes", "timezone": "Europe/Berlin"})
        ann = db.session.get(User, users["author"]["id"])
        news = Category(name="News & Views", slug="news", description="What is new", position=1)
        db.session.add(news)
        db.session.flush()
        post = save_post(
            None,
            PostInput(
                title="CDATA ]]> and <tags>",
                body_md="Text with ]]> inside, a [link](/about/) and a bell \x07 character.",
                slug="cdata-test",
                excerpt="Fish & chips <b>",
                category_id=news.id,
                tags="Sea, Boats",
            ),
            ann,
        )
        post.status = PostStatus.PUBLISHED
        post.published_at = post.created_at
        reader = Comment(
            post_id=post.id, author_name="Rita", author_email="rita@example.net",
            body_md="First ]]> comment", body_html="<p>First ]]&gt; comment</p>",
            status=CommentStatus.APPROVED,
        )  # fmt: skip
        db.session.add(reader)
        db.session.flush()
        db.session.add(
            Comment(
                post_id=post.id,
                thread_id=reader.id,
                reply_to_id=reader.id,
                user_id=ann.id,
                author_name=ann.display_name,
                author_email=ann.email,
                body_md="Thanks",
                body_html="<p>Thanks</p>",
                status=CommentStatus.PENDING,
            )  # fmt: skip
        )
        db.session.add(
            Comment(
                post_id=post.id,
                author_name="Spam",
                body_md="buy",
                body_html="<p>buy</p>",
                status=CommentStatus.TRASH,
            )  # fmt: skip
        )
        recount(post.id)
        db.session.commit()
        post_id, ann_id = post.id, ann.id

    out = tmp_path / "site.xml"
    result = run(runner, "export", "wordpress", out)
    assert f"Wrote {out}: 1 posts, 0 pages, 0 drafts" in result.output
    assert f"Wrote {tmp_path / 'site-uploads.zip'}: 0 image files" in result.output

    raw = out.read_text("utf-8")
    assert "]]]]><![CDATA[>" in raw and "\x07" not in raw
    # WordPress's fallback parser reads each author, category and tag from one line.
    assert re.search(r"^\t<wp:category><wp:term_id>\d+</wp:term_id>.*</wp:category>$", raw, re.M)
    assert re.search(r"^\t<wp:author><wp:author_id>.*</wp:author>$", raw, re.M)
    assert re.search(r"^\t<item>$", raw, re.M)

    channel = SafeET.parse(out, forbid_dtd=True).getroot().find("channel")
    assert channel.findtext("title") == "Harbour Notes"
    assert wp(channel, "wxr_version") == "1.2"
    assert wp(channel, "base_site_url") == wp(channel, "base_blog_url") == "http://blog.test"
    (author,) = channel.findall(WP + "author")
    assert wp(author, "author_login") == "ann-author"
    assert wp(author, "author_email") == "author@example.com"
    assert wp(author, "author_display_name") == "Ann Author"
    assert wp(author, "author_id") == str(ann_id)
    (category,) = channel.findall(WP + "category")
    assert [wp(category, n) for n in ("category_nicename", "category_parent", "cat_name")] == [
        "news", "", "News & Views",
    ]  # fmt: skip
    assert wp(category, "category_description") == "What is new"
    assert sorted(wp(tag, "tag_name") for tag in channel.findall(WP + "tag")) == ["Boats", "Sea"]

    (item,) = channel.findall("item")
    assert item.findtext("title") == "CDATA ]]> and <tags>"
    assert item.findtext("link") == "http://blog.test/cdata-test/"
    assert item.find("guid").get("isPermaLink") == "false"
    assert item.findtext(DC + "creator") == "ann-author"
    body = item.findtext(CONTENT + "encoded")
    assert "Text with ]]&gt; inside" in body and 'href="http://blog.test/about/"' in body
    assert item.findtext(EXCERPT + "encoded") == "Fish &amp; chips &lt;b&gt;"
    assert wp(item, "post_id") == str(post_id)
    assert wp(item, "status") == "publish" and wp(item, "post_type") == "post"
    assert wp(item, "post_name") == "cdata-test"
    # Local time in the site's zone (Berlin, +1 or +2) and UTC.
    assert wp(item, "post_date") != wp(item, "post_date_gmt")
    terms = {(c.get("domain"), c.get("nicename"), c.text) for c in item.findall("category")}
    assert terms == {
        ("category", "news", "News & Views"), ("post_tag", "sea", "Sea"),
        ("post_tag", "boats", "Boats"),
    }  # fmt: skip
    comments = item.findall(WP + "comment")
    assert len(comments) == 2  # the one in the trash stays behind
    first, reply = comments
    assert wp(first, "comment_approved") == "1" and wp(reply, "comment_approved") == "0"
    assert wp(reply, "comment_parent") == wp(first, "comment_id")
    assert wp(reply, "comment_user_id") == str(ann_id) and wp(first, "comment_user_id") == "0"
    assert wp(first, "comment_author_IP") == "" and wp(first, "comment_type") == "comment"
    assert wp(first, "comment_content") == "<p>First ]]&gt; comment</p>"

    # Every element WordPress's importer reads from an item and a comment is there.
    for element in channel.findall("item"):
        for name in (
            "post_id", "post_date", "post_date_gmt", "comment_status", "ping_status",
            "post_name", "status", "post_parent", "menu_order", "post_type", "post_password",
            "is_sticky",
        ):  # fmt: skip
            wp(element, name)
        for tag in ("title", "guid", DC + "creator", CONTENT + "encoded", EXCERPT + "encoded"):
            assert element.find(tag) is not None, tag
        for comment in element.findall(WP + "comment"):
            for name in (
                "comment_id", "comment_author", "comment_author_email", "comment_author_IP",
                "comment_author_url", "comment_date", "comment_date_gmt", "comment_content",
                "comment_approved", "comment_type", "comment_parent", "comment_user_id",
            ):  # fmt: skip
                wp(comment, name)

    # And this blog's own reader takes it as a WordPress export.
    export = parse_wxr(str(out))
    assert export.title == "Harbour Notes" and export.wxr_version == "1.2"
    assert export.items[0].comments[1].parent == export.items[0].comments[0].wp_id


def test_the_uploads_zip_holds_every_image_where_the_xml_says(app, runner, tmp_path):
    run(runner, "import", "wordpress", EXPORT, "--uploads", UPLOADS)
    with app.test_request_context():
        add_wide_image_post(app)
        add_wide_image_post(app)  # the same name again, the same month
    out, uploads = tmp_path / "out" / "wp.xml", tmp_path / "images.zip"
    out.parent.mkdir()
    result = run(runner, "export", "wordpress", out, "--uploads", uploads)
    assert "6 images" in result.output
    with app.app_context():
        media = list(db.session.scalars(select(Media)))
        stored = {m.filename for m in media} | {
            v["filename"] for m in media for v in m.variants or []
        }
    with zipfile.ZipFile(uploads) as archive:
        names = archive.namelist()
        assert len(names) == len(stored) and all(n.startswith("wp-content/uploads/") for n in names)
        folder = Path(app.config["UPLOAD_FOLDER"])
        contents = {archive.read(name) for name in names}
        assert contents == {(folder / name).read_bytes() for name in stored}
    export = parse_wxr(str(out))
    attachments = export.items_of("attachment")
    assert len(attachments) == 6
    for item in attachments:
        assert item.attachment_url.startswith("http://blog.test/media/")
        assert "wp-content/uploads/" + item.meta["_wp_attached_file"] in names
    harbour = next(a for a in attachments if a.meta["_wp_attached_file"].endswith("harbour.jpg"))
    assert harbour.meta["_wp_attached_file"] == "2023/05/harbour.jpg"
    assert harbour.meta["_wp_attachment_image_alt"] == "Boats in the harbour at dawn"
    wide = next(a for a in attachments if a.title == "Wide-view")
    folder = wide.meta["_wp_attached_file"].rsplit("/", 1)[0]
    assert wide.meta["_wp_attached_file"] == f"{folder}/Wide-view.png"
    second = next(a for a in attachments if a.title == "Wide-view-2")
    assert second.meta["_wp_attached_file"] == f"{folder}/Wide-view-2.png"
    sizes = {n for n in names if n.startswith(f"wp-content/uploads/{folder}/Wide-view")}
    assert sizes == {
        f"wp-content/uploads/{folder}/Wide-view{n}{size}.png"
        for n in ("", "-2")
        for size in ("", "-480x320", "-960x640")
    }


def test_bad_destinations_get_clear_messages(app, runner, tmp_path):
    result = runner.invoke(args=["export", "wordpress", str(tmp_path / "nowhere" / "a.xml")])
    assert result.exit_code == 1 and "does not exist" in result.output
    same = str(tmp_path / "a.xml")
    result = runner.invoke(args=["export", "wordpress", same, "--uploads", same])
    assert result.exit_code == 1 and "must be two files" in result.output
    assert not list(tmp_path.glob("*.xml*")) and not list(tmp_path.glob("*.zip*"))


# --- the round trip -----------------------------------------------------------------------


def seconds(moment):
    """WXR's times have whole seconds (and so have WordPress's)."""
    return moment.replace(microsecond=0) if moment else moment


def snapshot(app, identity) -> dict:
    """Everything the round trip must keep, as plain data; images named by `identity`."""
    with app.app_context():
        media = list(db.session.scalars(select(Media)))
        names = {m.filename.split(".")[0]: identity(m) for m in media}

        def same_images(value: str) -> str:
            return TOKEN.sub(lambda m: "/media/" + names.get(m.group(1), m.group(1)), value or "")

        posts, comments = {}, {}
        for post in db.session.scalars(select(Post)):
            posts[post.slug] = {
                "kind": post.kind, "title": post.title, "status": post.status,
                "body_md": same_images(post.body_md), "body_html": same_images(post.body_html),
                "excerpt": post.excerpt, "published_at": seconds(post.published_at),
                "created_at": seconds(post.created_at), "updated_at": seconds(post.updated_at),
                "author": (post.author.email, post.author.display_name),
                "category": post.category.slug if post.category else None,
                "tags": sorted((t.slug, t.name) for t in post.tags),
                "featured": identity(post.featured_media) if post.featured_media else None,
                "featured_alt": post.featured_alt, "featured_caption": post.featured_caption,
                "comment_count": post.comment_count,
            }  # fmt: skip
            rows = list(db.session.scalars(select(Comment).where(Comment.post_id == post.id)))
            key = {row.id: (seconds(row.created_at), row.author_name) for row in rows}
            comments[post.slug] = sorted(
                (
                    (seconds(row.created_at), row.author_name),
                    row.author_email,
                    row.author_url,
                    row.body_md,
                    same_images(row.body_html),
                    row.status,
                    key.get(row.reply_to_id),
                    key.get(row.thread_id),
                    row.user.email if row.user else None,
                )  # fmt: skip
                for row in rows
            )
        categories = db.session.scalars(select(Category)).all()
        slugs_by_id = {c.id: c.slug for c in categories}
        return {
            "posts": posts,
            "comments": comments,
            "categories": {
                c.slug: (c.name, c.description, slugs_by_id.get(c.parent_id)) for c in categories
            },
            "tags": {t.slug: t.name for t in db.session.scalars(select(Tag))},
            "images": {
                identity(m): (
                    m.original_name.replace(" ", "-"),
                    m.content_type,
                    m.width,
                    m.height,
                    m.alt_text,
                    seconds(m.created_at),
                    sorted((v["width"], v["height"]) for v in m.variants or []),
                )  # fmt: skip
                for m in media
            },
        }


def test_round_trip_into_a_second_blog_keeps_everything(make_app, database_url, tmp_path):
    first = make_app()
    import_fixtures(first.test_cli_runner())
    with first.test_request_context():
        add_wide_image_post(first)
    out = tmp_path / "leaving.xml"
    result = run(first.test_cli_runner(), "export", "wordpress", out)
    assert "7 comments" in result.output and "5 images" in result.output
    before = snapshot(first, lambda media: media.filename.split(".")[0])
    assert before["posts"] and before["images"] and any(before["comments"].values())
    assert any(parent for _, _, parent in before["categories"].values())  # a tree to keep

    # A second, fresh blog at another address: on SQLite another file, on PostgreSQL the
    # same server, emptied.
    options = {"SITE_URL": "http://second.test", "INSTANCE_PATH": str(tmp_path / "second")}
    if database_url.startswith("sqlite"):
        options["DATABASE_URL"] = f"sqlite:///{tmp_path / 'second.sqlite3'}"
    else:
        with first.app_context():
            names = ", ".join(f'"{table.name}"' for table in db.metadata.sorted_tables)
            with db.engine.begin() as connection:
                connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    second = make_app(**options)
    result = run(
        second.test_cli_runner(), "import", "wordpress", out,
        "--uploads", tmp_path / "leaving-uploads.zip",
    )  # fmt: skip
    assert "Comments: 7 imported" in result.output
    assert "Images: 5 imported" in result.output and "not in the uploads" not in result.output

    def first_name(media: Media) -> str:  # the image's token on the first blog
        return TOKEN.search(media.import_key).group(1)

    after = snapshot(second, first_name)
    assert after["categories"] == before["categories"]
    assert after["tags"] == before["tags"]
    assert after["images"] == before["images"]
    assert after["posts"].keys() == before["posts"].keys()
    for slug, fields in before["posts"].items():
        assert after["posts"][slug] == fields, slug
    assert after["comments"] == before["comments"]
    # The text points at the second blog's own images, never at the first blog.
    with second.app_context():
        for post in db.session.scalars(select(Post)):
            assert "blog.test" not in post.body_md and "blog.test/media" not in post.body_html
        files = {m.filename for m in db.session.scalars(select(Media))}
    # Importing it again changes nothing and adds nothing.
    again = run(
        second.test_cli_runner(), "import", "wordpress", out,
        "--uploads", tmp_path / "leaving-uploads.zip",
    )  # fmt: skip
    assert "imported 0, updated 0, unchanged 12" in again.output
    assert "Comments: 0 imported, 7 already here." in again.output
    assert snapshot(second, first_name) == after
    page = second.test_client().get("/hello-harbour/").get_data(as_text=True)
    assert any(f"/media/{name}" in page for name in files)
    assert "They do, Rita" in second.test_client().get("/boats-at-dawn/").get_data(as_text=True)


def test_html_edited_after_the_export_wins_over_the_kept_markdown(app, runner, tmp_path):
    edited = "<p>Rewritten in WordPress.</p>"
    run(runner, "import", "wordpress", EXPORT, "--uploads", UPLOADS)
    out = tmp_path / "a.xml"
    run(runner, "export", "wordpress", out)
    raw = out.read_text("utf-8")
    start = raw.index("<content:encoded>", raw.index("<title><![CDATA[Team]]></title>"))
    end = raw.index("</content:encoded>", start)
    changed = raw[:start] + f"<content:encoded><![CDATA[{edited}]]>" + raw[end:]
    (tmp_path / "b.xml").write_text(changed.replace("http://blog.test", "http://old.test"))
    with app.app_context():
        db.session.execute(text("DELETE FROM redirect"))
        for post in db.session.scalars(select(Post)):
            post.slug = "was-" + post.slug
        db.session.commit()
    run(runner, "import", "wordpress", tmp_path / "b.xml")
    with app.app_context():
        team = db.session.scalar(select(Post).where(Post.slug == "team"))
        assert team.body_md == "Rewritten in WordPress.\n"
        about = db.session.scalar(select(Post).where(Post.slug == "about"))
        original = db.session.scalar(select(Post).where(Post.slug == "was-about"))
        assert about.body_md == original.body_md  # unchanged HTML: the exact Markdown


# --- from the admin -----------------------------------------------------------------------


def test_an_admin_exports_in_the_background_and_downloads_both_files(app, client, auth, runner):
    from tests.conftest import run_jobs

    import_fixtures(runner)
    auth.login("admin")
    page = client.get("/admin/import").get_data(as_text=True)
    assert "Export to WordPress" in page and 'action="/admin/export/wordpress"' in page
    response = client.post("/admin/export/wordpress")
    assert response.status_code == 303
    export_url = response.headers["Location"]
    assert "The export is queued." in client.get(export_url).get_data(as_text=True)
    assert client.get(export_url + "/wordpress.xml").status_code == 404  # not ready yet

    run_jobs(app)
    ready = client.get(export_url).get_data(as_text=True)
    assert "Ready: 6 posts, 2 pages, 3 drafts" in ready and "7 comments" in ready
    with client.get(export_url + "/wordpress.xml") as xml:
        assert xml.status_code == 200 and xml.mimetype == "application/xml"
        assert "attachment" in xml.headers["Content-Disposition"]
        export = parse_wxr(io.BytesIO(xml.data))
    assert {item.slug for item in export.items_of("post")} >= {"hello-harbour", "boats-at-dawn"}
    with client.get(export_url + "/uploads.zip") as uploads:
        assert uploads.status_code == 200 and uploads.mimetype == "application/zip"
        with zipfile.ZipFile(io.BytesIO(uploads.data)) as archive:
            names = set(archive.namelist())
    assert {"wp-content/uploads/" + item.meta["_wp_attached_file"]
            for item in export.items_of("attachment")} <= names  # fmt: skip
    assert export_url.rsplit("/", 1)[1] in client.get("/admin/import").get_data(as_text=True)

    # Only the newest three exports are kept: they hold everyone's emails.
    for _ in range(3):
        client.post("/admin/export/wordpress")
    assert client.get(export_url).status_code == 404
    assert len(list((Path(app.instance_path) / "exports").glob("*.json"))) == 3


def test_only_admins_may_export(client, auth):
    for who in ("editor", "author"):
        auth.login(who)
        assert client.post("/admin/export/wordpress").status_code == 403
        auth.logout()

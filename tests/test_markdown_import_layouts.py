"""`import markdown` reads the layouts people move from: Hugo, Jekyll, Eleventy, loose notes.

Every file that could have been a post and is not imported is named in the summary with
its reason; dates without a zone are read in the site's time zone.
"""

import io
import os
import zipfile
from datetime import UTC, datetime

from PIL import Image
from sqlalchemy import func, select

from blog.extensions import db
from blog.models import Media, Post, PostKind, PostStatus, Redirect, User
from blog.settings import set_settings


def write(root, relative: str, content: str | bytes, mtime: datetime | None = None) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    if mtime is not None:
        stamp = mtime.timestamp()
        os.utime(path, (stamp, stamp))


def run_import(runner, source):
    result = runner.invoke(args=["import", "markdown", str(source)])
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())  # the summary, without the terminal's line breaks


def in_berlin(app) -> None:
    with app.app_context():
        set_settings({"timezone": "Europe/Berlin"})
        db.session.commit()


def posts_by_slug(app) -> dict[str, Post]:
    with app.app_context():
        posts = db.session.scalars(select(Post)).all()
        for post in posts:
            post.tag_names = sorted(tag.name for tag in post.tags)
            post.category_name = post.category.name if post.category else None
            db.session.expunge(post)
        return {post.slug: post for post in posts}


def test_one_post_outside_posts_folder_is_imported_not_silently_dropped(app, runner, tmp_path):
    write(tmp_path / "site", "notes/hello.md", "---\ntitle: Hello\ndate: 2022-01-02\n---\nHi.\n")
    output = run_import(runner, tmp_path / "site")
    assert "imported 1, updated 0, unchanged 0, skipped 0, warnings 0." in output
    assert posts_by_slug(app)["hello"].title == "Hello"


HUGO_TOML_POST = """+++
title = "First trip"
authors = ["Jane Doe"]
images = ["/img/trip.png"]
date = 2023-05-01T10:00:00
slug = "trip-one"
tags = ["travel", "Trains"]
categories = ["Journeys", "Europe"]
summary = "Off we go."
aliases = ["/old/first-trip/"]
+++
We left at *dawn*.
"""


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 90, 160)).save(buffer, "PNG")
    return buffer.getvalue()


def build_hugo_site(root) -> None:
    write(root, "hugo.toml", 'baseURL = "https://example.org/"\ntitle = "Mine"\n')
    write(root, "content/posts/first-trip.md", HUGO_TOML_POST)
    write(
        root,
        "content/posts/my-bundle/index.md",
        "---\ntitle: A bundle\ndate: 2023-06-01\ndraft: true\ndescription: In progress.\n---\n"
        "Notes beside a picture:\n\n![The cover](cover.png)\n\n![Gone](missing.png)\n",
    )
    write(root, "content/posts/my-bundle/cover.png", png_bytes())
    write(root, "content/posts/my-bundle/fake.png", b"\x89PNG not really")
    write(root, "content/posts/zoned.md", '---\ntitle: Zoned\ndate: "2023-07-01T10:00:00Z"\n---\n')
    write(root, "content/about.md", "---\ntitle: About\ntype: page\n---\nWho we are.\n")
    write(root, "content/_index.md", "---\ntitle: Home\n---\nWelcome.\n")
    write(root, "content/posts/broken.md", "+++\ntitle = \n+++\nText.\n")
    write(root, "content/posts/notes.org", "* An org-mode note\n")
    write(root, "archetypes/default.md", '---\ntitle: "{{ .Name }}"\ndraft: true\n---\n')
    write(root, "themes/plain/exampleSite/content/sample.md", "---\ntitle: Sample\n---\nx\n")
    write(root, "themes/plain/layouts/index.html", "<html></html>")
    write(root, "static/images/logo.png", b"\x89PNG")
    write(root, "static/img/trip.png", png_bytes())


def test_a_hugo_site(app, runner, tmp_path):
    in_berlin(app)
    build_hugo_site(tmp_path / "site")
    output = run_import(runner, tmp_path / "site")
    assert "imported 4, updated 0, unchanged 0, skipped 5," in output
    assert "content/_index.md: was skipped: it is a Hugo section page (_index.md)" in output
    assert "content/posts/broken.md: was skipped: its TOML front matter cannot be read" in output
    assert "content/posts/notes.org: was skipped: it is not Markdown (.org)" in output
    assert "archetypes/: 1 Markdown file(s) not read" in output
    assert "themes/: 1 Markdown file(s) not read" in output
    assert (
        "Skipped: 1 Hugo section page, 2 in folders of tools or templates, 1 not Markdown, "
        "1 unreadable front matter." in output
    )
    assert "had several categories; the others became tags: Europe" in output
    assert "A bundle: the image missing.png is not in the import." in output

    posts = posts_by_slug(app)
    assert set(posts) == {"trip-one", "my-bundle", "zoned", "about"}
    trip = posts["trip-one"]
    assert trip.status == PostStatus.PUBLISHED
    assert trip.published_at == datetime(2023, 5, 1, 8, 0)  # 10:00 in Berlin, summer time
    assert trip.category_name == "Journeys" and trip.tag_names == ["Europe", "Trains", "travel"]
    assert trip.excerpt == "Off we go." and "<em>dawn</em>" in trip.body_html
    with app.app_context():
        jane = db.session.get(User, trip.author_id)
        assert jane.display_name == "Jane Doe" and not jane.active
    bundle = posts["my-bundle"]
    assert bundle.status == PostStatus.DRAFT and bundle.published_at is None
    assert bundle.excerpt == "In progress."
    with app.app_context():
        cover = db.session.scalar(select(Media).where(Media.original_name == "cover.png"))
        trip_image = db.session.scalar(select(Media).where(Media.original_name == "trip.png"))
        assert db.session.scalar(select(func.count(Media.id))) == 2  # fake.png is not shown
    assert f"![The cover](/media/{cover.filename})" in bundle.body_md
    assert "![Gone](missing.png)" in bundle.body_md
    assert trip.featured_media_id == trip_image.id
    assert posts["zoned"].published_at == datetime(2023, 7, 1, 10, 0)  # its own zone, UTC
    assert posts["about"].kind == PostKind.PAGE
    with app.app_context():
        old = db.session.scalar(select(Redirect).where(Redirect.old_path == "/old/first-trip/"))
        assert old is not None and old.new_path == "/trip-one/"

    again = run_import(runner, tmp_path / "site")
    assert "imported 0, updated 0, unchanged 4, skipped 5," in again
    assert "Images: 0 imported, 2 already here." in again


def test_a_loose_folder_of_notes(app, runner, tmp_path):
    in_berlin(app)
    root = tmp_path / "notes"
    written = datetime(2024, 2, 3, 11, 30, tzinfo=UTC)
    write(root, "Spring garden.md", "# Planting peas\n\nRows of them.\n", mtime=written)
    write(root, "Trip to Rome.md", "Trains, then more trains.\n", mtime=written)
    write(root, "journal/2024-01-09-cold-morning.md", "Frost on the window.\n")
    write(root, "journal/tagged.md", "---\ntags: garden, peas\n---\n# Tagged\n\nx\n")
    write(root, "latin1.md", "# Caf\xe9\n".encode("latin-1"))
    write(root, "README.md", "# My notes\n\nHow I keep them.\n")
    write(root, "todo.txt", "buy peas\n")
    write(root, "photo.jpg", b"\xff\xd8\xff not really")
    write(root, ".obsidian/workspace.json", "{}")
    write(root, ".obsidian/templates/daily.md", "# {{date}}\n")

    output = run_import(runner, root)
    assert "imported 4, updated 0, unchanged 0, skipped 4," in output
    assert "latin1.md: was skipped: it is not UTF-8 text" in output
    assert "README.md: was skipped: README.md without front matter is a repository file" in output
    assert "todo.txt: was skipped: it is not Markdown (.txt)" in output
    assert ".obsidian/: 1 Markdown file(s) not read" in output
    assert "photo.jpg" not in output and "workspace.json" not in output

    posts = posts_by_slug(app)
    assert set(posts) == {"spring-garden", "trip-to-rome", "cold-morning", "tagged"}
    garden = posts["spring-garden"]  # the slug from the file name, the title from the heading
    assert garden.title == "Planting peas" and garden.status == PostStatus.PUBLISHED
    assert garden.body_md == "Rows of them.\n"
    assert garden.published_at == datetime(2024, 2, 3, 11, 30)  # the file's time, exact
    rome = posts["trip-to-rome"]
    assert rome.title == "Trip to Rome" and rome.body_md == "Trains, then more trains.\n"
    morning = posts["cold-morning"]
    assert morning.title == "cold morning"
    assert morning.published_at == datetime(2024, 1, 8, 23, 0)  # midnight in Berlin, winter
    tagged = posts["tagged"]  # front matter without a title: the heading gives it
    assert tagged.title == "Tagged" and tagged.tag_names == ["garden", "peas"]


def test_a_jekyll_site_and_a_zip_of_it(app, runner, tmp_path):
    in_berlin(app)
    root = tmp_path / "jekyll"
    write(root, "_config.yml", "title: Mine\n")
    pattern = "---\ntitle: Spring\npermalink: /:categories/:title.html\n---\nIt is spring.\n"
    write(root, "_posts/2021-03-04-spring.md", pattern)  # a pattern names no address
    write(root, "_posts/2021-03-05-hidden.md", "---\ntitle: Hidden\npublished: false\n---\nx\n")
    write(root, "_posts/2021-03-06-old.html", "---\ntitle: Old\n---\n<p>x</p>\n")
    write(root, "_layouts/default.html", "{{ content }}")
    write(root, "_includes/note.md", "A reusable bit.\n")
    write(root, "about.md", "---\ntitle: About me\nlayout: page\npermalink: /about-me/\n---\nHi\n")
    write(root, "_posts/2021-03-07-json.md", '{"title": "Jason", "tags": "a b"}\nJSON front.\n')
    write(root, "index.html", "---\nlayout: home\n---\n")
    archive = tmp_path / "jekyll.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                bundle.write(path, path.relative_to(root).as_posix())

    output = run_import(runner, archive)
    assert "imported 4, updated 0, unchanged 0, skipped 2," in output
    assert "_posts/2021-03-06-old.html: was skipped: it is not a Markdown file" in output
    assert "_includes/: 1 Markdown file(s) not read" in output
    assert "index.html" not in output
    posts = posts_by_slug(app)
    assert set(posts) == {"spring", "hidden", "about-me", "json"}
    assert posts["json"].title == "Jason" and posts["json"].tag_names == ["a", "b"]
    assert posts["json"].body_md == "JSON front.\n"
    assert posts["spring"].published_at == datetime(2021, 3, 3, 23, 0)
    assert posts["hidden"].status == PostStatus.DRAFT
    assert posts["about-me"].kind == PostKind.PAGE and posts["about-me"].title == "About me"


def test_an_eleventy_site(app, runner, tmp_path):
    root = tmp_path / "eleventy"
    write(root, ".eleventy.js", "module.exports = {};\n")
    write(root, "package.json", "{}")
    write(root, "node_modules/some-tool/README.md", "# A tool\n")
    write(
        root,
        "posts/firstpost.md",
        "---\ntitle: My first post\ndate: 2020-01-02\ntags: [post, cooking]\n"
        "permalink: /blog/first-post/\n---\nSoup.\n",
    )
    write(root, "posts/posts.json", '{"tags": "post", "layout": "post.njk"}')
    write(root, "posts/unlisted.md", "---\ntitle: Unlisted\npermalink: false\n---\nx\n")
    write(
        root, "posts/single-tag.md", "---\ntitle: One tag\ntags: post\ndate: 2020-02-02\n---\nx\n"
    )
    output = run_import(runner, root)
    assert "imported 3, updated 0, unchanged 0, skipped 1," in output
    assert "node_modules/: 1 Markdown file(s) not read" in output
    posts = posts_by_slug(app)
    assert set(posts) == {"first-post", "unlisted", "single-tag"}
    first = posts["first-post"]
    assert first.tag_names == ["cooking"] and first.published_at == datetime(2020, 1, 2)
    assert posts["unlisted"].status == PostStatus.DRAFT and posts["single-tag"].tag_names == []
    with app.app_context():
        old = db.session.scalar(select(Redirect).where(Redirect.old_path == "/blog/first-post/"))
        assert old is not None and old.new_path == "/first-post/"

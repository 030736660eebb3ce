"""`flask --app blog export markdown` and `import markdown`: a lossless round trip."""

import io
import random
import zipfile
from datetime import timedelta
from pathlib import Path

import frontmatter
import yaml
from PIL import Image
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from blog import media as media_service
from blog.comments import recount, reply_as
from blog.extensions import db
from blog.models import (
    Category,
    Comment,
    CommentStatus,
    Media,
    Post,
    PostKind,
    PostStatus,
    User,
    utcnow,
)
from blog.portability.markdown_files import keep_original
from blog.posts import Action, PostInput, save_post, trash
from blog.rendering import render_comment
from blog.taxonomy import create_category


def image_bytes(fmt: str, size=(640, 400), seed: int = 1) -> bytes:
    """A noisy picture: re-encoding it would change its bytes, so keeping them shows."""
    mode = "P" if fmt == "GIF" else "RGB"
    pixels = random.Random(seed).randbytes(size[0] * size[1] * len(mode))
    buffer = io.BytesIO()
    Image.frombytes(mode, size, pixels).save(buffer, fmt)
    return buffer.getvalue()


def upload(user: User, fmt: str, name: str, alt: str = "") -> Media:
    data = image_bytes(fmt)
    media = media_service.save_upload(FileStorage(io.BytesIO(data), filename=name), user)
    media.alt_text = alt
    db.session.flush()
    return media


def build_blog(users) -> None:
    """Posts of every kind and status, with everything a post can carry."""
    author = db.session.get(User, users["author"]["id"])
    editor = db.session.get(User, users["editor"]["id"])
    travel = create_category("Travel", "Trips: near & far")
    news = create_category("Новости", "")
    photo = upload(author, "JPEG", "harbour photo.jpg", "Boats")
    drawing = upload(author, "PNG", "drawing.png")
    animation = upload(editor, "GIF", "spinner.gif")
    db.session.flush()
    variant = photo.variants[0]["filename"]
    body = (
        "# Morning\n\nThe boats *come in* at dawn.\r\n\r\n"
        f'![Boats](/media/{photo.filename} "The harbour")\n\n'
        f"A smaller one: ![small](/media/{variant})\n\n"
        f'<figure><img src="/media/{drawing.filename}" alt=""></figure>\n\n'
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n```python\nprint('hi')  \n```\n"
        "Trailing spaces stay.   "
    )
    published = save_post(
        None,
        PostInput(
            title="Yes: a title # with YAML specials — and “quotes”",
            body_md=body,
            slug="hello-harbour",
            excerpt="First line.\nSecond line: with a colon.",
            category_id=travel.id,
            tags="Sea, Photography, café",
            featured_media_id=photo.id,
            featured_alt="Boats at dawn",
            featured_caption="Taken from the pier",
        ),
        author,
        Action.PUBLISH,
    )
    save_post(
        None,
        PostInput(
            title="Черновик",
            body_md="Не готово.\n",
            slug="черновик",
            category_id=news.id,
            featured_media_id=animation.id,
        ),
        editor,
    )
    save_post(
        None,
        PostInput(title="Coming soon", body_md="Later.", tags="Sea"),
        author,
        Action.SCHEDULE,
        publish_at=utcnow() + timedelta(days=30),
    )
    save_post(
        None,
        PostInput(title="About", body_md="We write.", slug="about", kind=PostKind.PAGE),
        editor,
        Action.PUBLISH,
    )
    gone = save_post(None, PostInput(title="Binned", body_md="x"), author, Action.PUBLISH)
    trash(gone)
    published.published_at = published.published_at.replace(microsecond=123456)
    add_comments(published, author)
    db.session.commit()


def add_comments(post: Post, author: User) -> None:
    """A thread (a reader, the author's reply, the reader again), a held comment and spam."""

    def comment(text: str, **fields) -> Comment:
        row = Comment(post=post, body_md=text, body_html=render_comment(text), **fields)
        db.session.add(row)
        db.session.flush()
        return row

    first = comment(
        "Lovely *boats*.\n\n---\n\n```\nnot: yaml\n```\n",
        author_name="Rita: “Reader”", author_email="rita@example.net",
        author_url="https://rita.example.net/", status=CommentStatus.APPROVED,
        address="198.51.100.9", form_nonce="nonce-never-exported",
    )  # fmt: skip
    answer = reply_as(author, first, "Thank you, Rita.")
    comment("You're welcome.", thread_id=first.id, reply_to=answer, author_name="Rita",
            author_email="rita@example.net", status=CommentStatus.APPROVED)  # fmt: skip
    comment("Held for now.\nTrailing spaces stay.   ", author_name="Pat",
            author_email="pat@example.com")  # fmt: skip
    comment("Buy watches", author_name="Spam", status=CommentStatus.SPAM)
    recount(post.id)


def comment_snapshot(app) -> dict:
    """Each exported post's comments, field by field, threads told by position."""
    result = {}
    with app.app_context():
        for post in db.session.scalars(select(Post).where(Post.deleted_at.is_(None))):
            rows = db.session.scalars(
                select(Comment).where(Comment.post_id == post.id).order_by(Comment.created_at)
            ).all()
            place = {row.id: number for number, row in enumerate(rows)}
            result[post.slug] = {
                "count": post.comment_count,
                "comments": [
                    (row.author_name, row.author_email, row.author_url, row.body_md,
                     row.body_html, row.status, row.created_at,
                     row.user.email if row.user else None,
                     place.get(row.thread_id), place.get(row.reply_to_id))
                    for row in rows
                ],
            }  # fmt: skip
    return result


def snapshot(app) -> dict:
    """Every field the round trip must keep, per post slug (the trash is not exported)."""
    folder = Path(app.config["UPLOAD_FOLDER"])
    result = {}
    with app.app_context():
        for post in db.session.scalars(select(Post).where(Post.deleted_at.is_(None))):
            category = post.category
            featured = post.featured_media
            result[post.slug] = {
                "title": post.title,
                "body_md": post.body_md,
                "excerpt": post.excerpt,
                "status": post.status,
                "kind": post.kind,
                "published_at": post.published_at,
                "created_at": post.created_at,
                "updated_at": post.updated_at,
                "author": post.author.email,
                "category": (category.name, category.slug, category.description)
                if category
                else None,
                "tags": sorted(tag.name for tag in post.tags),
                "featured": (folder / featured.filename).read_bytes() if featured else None,
                "featured_name": featured.original_name if featured else None,
                "caption": post.featured_caption,
                "alt": post.featured_alt,
                "body_html": post.body_html,
            }
    return result


def empty_everything(app) -> None:
    with app.app_context():
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(table.delete())
        db.session.commit()
    for path in Path(app.config["UPLOAD_FOLDER"]).glob("*"):
        path.unlink()


def export(runner, path: Path) -> None:
    result = runner.invoke(args=["export", "markdown", str(path)])
    assert result.exit_code == 0, result.output
    return result


def test_export_then_import_into_an_empty_blog_gives_the_same_posts(app, runner, users, tmp_path):
    with app.app_context():
        build_blog(users)
    before = snapshot(app)
    assert len(before) == 4
    archive = tmp_path / "blog.zip"
    result = export(runner, archive)
    assert "3 posts" not in result.output and "2 posts, 1 drafts, 1 pages, 4 images" in (
        result.output
    )
    empty_everything(app)
    assert snapshot(app) == {}

    result = runner.invoke(args=["import", "markdown", str(archive)])
    assert result.exit_code == 0, result.output
    assert "imported 4, updated 0, unchanged 0, skipped 0, warnings 0." in result.output
    after = snapshot(app)
    assert after == before
    with app.app_context():
        authors = list(db.session.scalars(select(User)))
        assert {user.email for user in authors} == {"author@example.com", "editor@example.com"}
        assert not any(user.active or user.password_hash for user in authors)
        names = {category.name for category in db.session.scalars(select(Category))}
        assert names == {"Travel", "Новости"}
        assert all(post.revisions for post in db.session.scalars(select(Post)))


def test_the_files_follow_jekylls_layout_and_python_frontmatter_reads_them(
    app, runner, users, tmp_path
):
    with app.app_context():
        build_blog(users)
        hello = db.session.scalar(select(Post).where(Post.slug == "hello-harbour"))
        photo = hello.featured_media.filename
        day = f"{hello.published_at:%Y-%m-%d}"
    archive = tmp_path / "blog.zip"
    export(runner, archive)
    with zipfile.ZipFile(archive) as bundle:
        names = set(bundle.namelist())
        post_names = {n for n in names if n.endswith(".md")}
        assert f"_posts/{day}-hello-harbour.md" in post_names
        assert "_drafts/черновик.md" in post_names and "_pages/about.md" in post_names
        assert any(n.startswith("_posts/") and n.endswith("-coming-soon.md") for n in names)
        assert len(post_names) == 4 and not any("binned" in n for n in names)
        assert f"images/{photo}" in names
        document = frontmatter.loads(bundle.read(f"_posts/{day}-hello-harbour.md").decode())
    meta = document.metadata
    assert meta["title"] == "Yes: a title # with YAML specials — and “quotes”"
    assert meta["slug"] == "hello-harbour" and meta["permalink"] == "/hello-harbour/"
    assert meta["layout"] == "post" and meta["status"] == "published" and meta["kind"] == "post"
    assert meta["author"] == "author@example.com"
    assert meta["category"] == "Travel" and meta["category_description"] == "Trips: near & far"
    assert sorted(meta["tags"]) == ["Photography", "Sea", "café"]
    assert meta["excerpt"] == "First line.\nSecond line: with a colon."
    assert meta["featured_image"] == f"../images/{photo}"
    assert meta["caption"] == "Taken from the pier" and meta["alt"] == "Boats at dawn"
    assert meta["date"].tzinfo is not None and meta["date"].microsecond == 123456
    assert f"](/images/{photo} " in document.content and "/media/" not in document.content
    assert document.content.startswith("# Morning")


def test_importing_again_changes_nothing(app, runner, users, tmp_path):
    with app.app_context():
        build_blog(users)
    archive = tmp_path / "blog.zip"
    export(runner, archive)
    empty_everything(app)
    runner.invoke(args=["import", "markdown", str(archive)])
    first = snapshot(app)
    result = runner.invoke(args=["import", "markdown", str(archive)])
    assert "imported 0, updated 0, unchanged 4, skipped 0" in result.output
    assert snapshot(app) == first
    with app.app_context():
        assert db.session.scalar(select(db.func.count(Media.id))) == 3


def test_a_dry_run_changes_nothing(app, runner, users, tmp_path):
    with app.app_context():
        build_blog(users)
    archive = tmp_path / "blog.zip"
    export(runner, archive)
    empty_everything(app)
    result = runner.invoke(args=["import", "markdown", str(archive), "--dry-run"])
    assert "Dry run (nothing was changed): imported 4" in result.output
    assert snapshot(app) == {}
    assert not list(Path(app.config["UPLOAD_FOLDER"]).glob("*"))


def test_a_folder_of_hand_written_jekyll_files(app, runner, tmp_path):
    posts = tmp_path / "site" / "_posts"
    posts.mkdir(parents=True)
    (posts / "2021-03-04-spring.md").write_text(
        "---\ntitle: Spring\nauthor: writer@example.com\ntags: [garden]\n---\nIt is *spring*.\n"
    )
    (tmp_path / "site" / "_drafts").mkdir()
    (tmp_path / "site" / "_drafts" / "idea.md").write_text("---\ntitle: An idea\n---\nHmm.\n")
    (tmp_path / "site" / "_drafts" / "broken.md").write_text("no front matter here\n")
    result = runner.invoke(args=["import", "markdown", str(tmp_path / "site")])
    assert result.exit_code == 0, result.output
    assert "imported 2, updated 0, unchanged 0, skipped 1" in result.output
    assert "_drafts/broken.md: was skipped" in result.output
    with app.app_context():
        spring = db.session.scalar(select(Post).where(Post.slug == "spring"))
        assert spring.status == PostStatus.PUBLISHED
        assert spring.published_at.date().isoformat() == "2021-03-04"
        assert spring.author.email == "writer@example.com" and not spring.author.active
        assert "<em>spring</em>" in spring.body_html
        assert [tag.name for tag in spring.tags] == ["garden"]
        idea = db.session.scalar(select(Post).where(Post.slug == "idea"))
        assert idea.status == PostStatus.DRAFT and idea.published_at is None


def test_images_with_metadata_are_re_encoded_clean_ones_kept(app, users):
    with app.app_context():
        user = db.session.get(User, users["author"]["id"])
        clean = image_bytes("JPEG")
        exif = Image.Exif()
        exif[0x010F] = "SpyCam"  # Make
        buffer = io.BytesIO()
        Image.new("RGB", (640, 400), (1, 2, 3)).save(buffer, "JPEG", exif=exif.tobytes())
        tagged = buffer.getvalue()
        folder = Path(app.config["UPLOAD_FOLDER"])
        for data, expect_same in ((clean, True), (tagged, False), (clean + b"<html>", False)):
            media = media_service.save_upload(FileStorage(io.BytesIO(data), "x.jpg"), user)
            keep_original(media, "0123456789abcdef0123456789abcdef.jpg", data)
            stored = (folder / media.filename).read_bytes()
            assert (stored == data) is expect_same
            assert b"SpyCam" not in stored and b"<html>" not in stored
            assert media.filename.startswith("0123456789abcdef")  # the wanted name was free
            media_service.discard_files(media)
            db.session.rollback()


# --- comments ---------------------------------------------------------------------------------


def test_comments_go_out_beside_their_post_and_come_back_once(app, runner, users, tmp_path):
    with app.app_context():
        build_blog(users)
        hello = db.session.scalar(select(Post).where(Post.slug == "hello-harbour"))
        day = f"{hello.published_at:%Y-%m-%d}"
    before = comment_snapshot(app)
    archive = tmp_path / "blog.zip"
    assert "4 comments" in export(runner, archive).output  # spam stays out

    with zipfile.ZipFile(archive) as bundle:
        files = [name for name in bundle.namelist() if name.endswith(".comments.yml")]
        assert files == [f"_posts/{day}-hello-harbour.comments.yml"]
        text = bundle.read(files[0]).decode()
    assert text.startswith("# Comments on") and "keep this file private" in text
    assert "198.51.100.9" not in text and "nonce-never-exported" not in text
    assert "Buy watches" not in text
    assert "text: |" in text and "  Lovely *boats*.\n" in text  # the text as written, readable
    document = yaml.safe_load(text)
    first, answer, again, held = document["comments"]
    assert first["author"] == "Rita: “Reader”" and first["email"] == "rita@example.net"
    assert first["website"] == "https://rita.example.net/" and first["reply_to"] is None
    assert answer["reply_to"] == first["id"] and again["reply_to"] == answer["id"]
    assert answer["account"] == "author@example.com" and held["status"] == "pending"
    assert first["date"].tzinfo is not None

    empty_everything(app)
    result = runner.invoke(args=["import", "markdown", str(archive)])
    assert result.exit_code == 0, result.output
    assert "Comments: 4 imported, 0 already here." in result.output
    after = comment_snapshot(app)
    for entry in before.values():
        entry["comments"] = [row for row in entry["comments"] if row[5] != CommentStatus.SPAM]
    assert after == before and after["hello-harbour"]["count"] == 3

    result = runner.invoke(args=["import", "markdown", str(archive)])
    assert "unchanged 4" in result.output
    assert "Comments: 0 imported, 4 already here." in result.output
    assert comment_snapshot(app) == after
    with app.app_context():
        assert db.session.scalar(select(db.func.count(Comment.id))) == 4
    page = app.test_client().get("/hello-harbour/").get_data(as_text=True)
    assert "3 comments" in page and "Held for now" not in page and 'class="badge">Author' in page


def test_a_hand_written_or_broken_comments_file(app, runner, tmp_path):
    posts = tmp_path / "site" / "_posts"
    posts.mkdir(parents=True)
    (posts / "2021-03-04-spring.md").write_text("---\ntitle: Spring\n---\nIt is *spring*.\n")
    (posts / "2021-03-04-spring.comments.yml").write_text(
        "post: spring\ncomments:\n"
        "- {id: a, author: Ann, date: 2021-03-05 10:00:00Z, status: approved,\n"
        "   text: 'First <script>alert(1)</script> **flower**'}\n"
        "- {id: b, reply_to: a, author: Ben, text: Agreed}\n"
        "- {id: c, author: Nobody}\n"
    )
    (posts / "2021-03-05-summer.md").write_text("---\ntitle: Summer\n---\nHot.\n")
    (posts / "2021-03-05-summer.comments.yml").write_text("comments: [unclosed\n")
    result = runner.invoke(args=["import", "markdown", str(tmp_path / "site")])
    assert result.exit_code == 0, result.output
    assert "imported 2, updated 0, unchanged 0, skipped 0" in result.output
    assert "Comments: 2 imported, 0 already here." in result.output
    assert "Comments not imported: 1 unreadable." in result.output
    assert "comment 3 has no text or no id; skipped." in result.output
    assert "2021-03-05-summer.comments.yml: its comments were not imported" in result.output
    with app.app_context():
        spring = db.session.scalar(select(Post).where(Post.slug == "spring"))
        ann, ben = db.session.scalars(
            select(Comment).where(Comment.post_id == spring.id).order_by(Comment.id)
        )
        assert ann.status == CommentStatus.APPROVED and spring.comment_count == 1
        assert "<strong>flower</strong>" in ann.body_html and "<script" not in ann.body_html
        assert ben.status == CommentStatus.PENDING  # no status: a moderator decides
        assert ben.thread_id == ben.reply_to_id == ann.id

"""The rules every importer shares (blog.portability.import_rules), seen through the imports."""

from sqlalchemy import func, select

from blog.extensions import db
from blog.models import Comment, Media, Post, PostStatus, User
from blog.portability.import_rules import IncomingPost, post_differences
from blog.posts import PostInput, save_post
from tests.test_markdown_roundtrip import build_blog, export, snapshot
from tests.test_wordpress_import import import_wordpress, small_export, small_item

LONG_WORDS = "-".join(["harbour", "lights", "at", "dawn"] * 8)  # 183 characters


def write_post(tmp_path, relative: str, text: str) -> None:
    path = tmp_path / "site" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def import_markdown(runner, tmp_path):
    result = runner.invoke(args=["import", "markdown", str(tmp_path / "site")])
    assert result.exit_code == 0, result.output
    return result


def test_a_long_wordpress_slug_is_kept_whole_and_a_too_long_one_is_cut_with_a_warning(
    app, runner, tmp_path
):
    assert len(LONG_WORDS) == 183
    too_long = LONG_WORDS + "-" + LONG_WORDS
    export = tmp_path / "wordpress.xml"
    items = small_item(1, "Lights", LONG_WORDS) + small_item(2, "More lights", too_long)
    export.write_bytes(small_export("", items))
    result = import_wordpress(runner, export)
    assert result.exit_code == 0, result.output
    with app.app_context():
        slugs = set(db.session.scalars(select(Post.slug)))
    assert LONG_WORDS in slugs
    cut = next(slug for slug in slugs if slug != LONG_WORDS)
    assert len(cut) <= 200 and too_long.startswith(cut)
    assert f"the address “{too_long}” is longer than 200 characters; it became “{cut}”" in (
        " ".join(result.output.split())
    )
    again = import_wordpress(runner, export)
    assert "imported 0, updated 0, unchanged 2" in again.output
    assert "longer than 200" not in again.output


def test_the_editor_takes_a_slug_as_long_as_the_column(app, users):
    with app.app_context():
        author = db.session.get(User, users["author"]["id"])
        post = save_post(None, PostInput(title="Lights", body_md="x", slug=LONG_WORDS), author)
        assert post.slug == LONG_WORDS


def test_markdown_and_wordpress_number_a_taken_address_the_same_way(app, runner, users, tmp_path):
    with app.app_context():
        author = db.session.get(User, users["author"]["id"])
        save_post(None, PostInput(title="Mine", body_md="x", slug="harbour"), author)
        db.session.commit()
    write_post(tmp_path, "_posts/2021-03-04-harbour.md", "---\ntitle: Their harbour\n---\nHi.\n")
    result = import_markdown(runner, tmp_path)
    assert "imported 1, updated 0, unchanged 0, skipped 0" in result.output
    assert "the address “harbour” is taken here; it became “harbour-2”" in result.output
    export = tmp_path / "wordpress.xml"
    export.write_bytes(small_export("", small_item(1, "Also a harbour", "harbour")))
    result = import_wordpress(runner, export)
    assert "the address “harbour” is taken here; it became “harbour-3”" in result.output
    again = import_markdown(runner, tmp_path)
    assert "imported 0, updated 0, unchanged 1" in again.output and "taken" not in again.output
    with app.app_context():
        assert db.session.scalar(select(func.count(Post.id))) == 3


def test_a_post_changed_here_or_trashed_is_left_alone_by_any_importer(app, runner, users, tmp_path):
    write_post(tmp_path, "_posts/2021-03-04-kept.md", "---\ntitle: Kept\n---\nFrom the file.\n")
    write_post(tmp_path, "_posts/2021-03-05-binned.md", "---\ntitle: Binned\n---\nBin me.\n")
    import_markdown(runner, tmp_path)
    with app.app_context():
        editor = db.session.get(User, users["editor"]["id"])
        kept = db.session.scalar(select(Post).where(Post.slug == "kept"))
        save_post(kept, PostInput(title="Kept", body_md="Written here.", slug="kept"), editor)
        binned = db.session.scalar(select(Post).where(Post.slug == "binned"))
        binned.deleted_at = binned.updated_at
        db.session.commit()
    result = import_markdown(runner, tmp_path)
    assert "imported 0, updated 0, unchanged 0, skipped 2" in result.output
    assert "Kept: was changed here after the import; left alone." in result.output
    assert "Binned: is in the trash here; left alone." in result.output
    with app.app_context():
        kept = db.session.scalar(select(Post).where(Post.slug == "kept"))
        assert kept.body_md == "Written here."


def test_one_comparison_sees_every_field_a_source_can_bring(app, users):
    with app.app_context():
        author = db.session.get(User, users["author"]["id"])
        fields = dict(title="Boats", body_md="At *dawn*.", slug="boats", tags="Sea, harbour")
        post = save_post(None, PostInput(**fields), author)
        post.status, post.published_at = PostStatus.PUBLISHED, post.updated_at
        when = post.updated_at

        def incoming(**changes) -> IncomingPost:
            data = PostInput(**{**fields, **changes})
            return IncomingPost(data, author, PostStatus.PUBLISHED, when, when, when)

        assert post_differences(post, incoming()) == []
        assert post_differences(post, incoming(tags="harbour, SEA")) == []  # case is no change
        assert post_differences(post, incoming(slug="")) == []  # no slug: keep the stored one
        assert post_differences(post, incoming(pinned=None)) == []
        assert post_differences(post, incoming(tags="Sea")) == ["tags"]
        assert post_differences(post, incoming(meta_description="Boats.")) == ["search description"]
        assert post_differences(post, incoming(pinned=True)) == ["pinned"]
        assert post_differences(post, incoming(title="Ships", slug="ships")) == ["title", "slug"]
        db.session.rollback()


def test_an_export_imported_into_the_blog_that_made_it_changes_nothing(
    app, runner, users, tmp_path
):
    with app.app_context():
        build_blog(users)  # with comments on one post
        media_before = db.session.scalar(select(func.count(Media.id)))
        comments_before = db.session.scalar(select(func.count(Comment.id)))
    before = snapshot(app)
    archive = tmp_path / "blog.zip"
    export(runner, archive)
    result = runner.invoke(args=["import", "markdown", str(archive)])
    assert result.exit_code == 0, result.output
    assert "imported 0, updated 0, unchanged 4, skipped 0, warnings 0." in result.output
    assert "Comments: 0 imported, 4 already here." in result.output
    assert snapshot(app) == before
    with app.app_context():
        assert db.session.scalar(select(func.count(Media.id))) == media_before
        assert db.session.scalar(select(func.count(Comment.id))) == comments_before

"""`flask --app blog backup` and `restore`: a whole site survives the round trip, bad archives
are refused before anything changes, and a backup taken during writes is consistent.

Each test runs on SQLite and on PostgreSQL. Restores go into a second, fresh instance: a new
SQLite file, or a new PostgreSQL database made with CREATE DATABASE, with its own instance and
upload folders.
"""

import io
import json
import re
import secrets
import tarfile
import threading
import time
from hashlib import sha256
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from blog import create_app, search
from blog.backup import NOT_BACKED_UP, code_head_revision, create_backup
from blog.comments import recount, reply_as
from blog.demo import demo_image, seed_demo_site
from blog.extensions import db
from blog.media import save_upload
from blog.models import (
    Category,
    Comment,
    CommentStatus,
    DeliveryStatus,
    LoginAttempt,
    Media,
    NewsletterDelivery,
    NewsletterSend,
    Post,
    Revision,
    SiteState,
    SlugRedirect,
    Subscriber,
    SubscriberStatus,
    User,
    post_tag,
    utcnow,
)
from blog.posts import Action, PostInput, autosave, save_post, trash
from blog.rendering import render_comment
from blog.settings import get_setting, set_settings
from tests.conftest import PASSWORD, _test_config, create_schema

# --- fixtures and helpers ----------------------------------------------------------------------


def _run_admin_sql(url: str, statement: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(statement)
    finally:
        engine.dispose()


@pytest.fixture
def fresh_app(database_url, tmp_path):
    """Build empty instances: a new SQLite file or a new PostgreSQL database, no tables."""
    made = []

    def factory(with_schema: bool = False):
        folder = tmp_path / f"fresh-{len(made)}"
        database = None
        if database_url.startswith("sqlite"):
            url = f"sqlite:///{folder / 'blog.sqlite3'}"
        else:
            database = f"blog_restore_{secrets.token_hex(6)}"
            _run_admin_sql(database_url, f'CREATE DATABASE "{database}"')
            url = make_url(database_url).set(database=database)
            url = url.render_as_string(hide_password=False)
        config = _test_config(url, folder)
        config["UPLOAD_FOLDER"] = str(folder / "media-files")
        app = create_app(config)
        made.append((app, database))
        if with_schema:
            with app.app_context():
                create_schema()
        return app

    yield factory
    for app, database in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        if database:
            _run_admin_sql(database_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture
def site(app, users):
    """A site with everything: demo posts with real images, edits, an autosave, a trashed
    post, a renamed published post (slug redirect), settings and a banner."""
    with app.app_context():
        author = db.session.get(User, users["author"]["id"])
        editor = db.session.get(User, users["editor"]["id"])
        seed_demo_site(author)
        first = db.session.scalar(select(Post).order_by(Post.id).limit(1))
        data = PostInput(
            title=first.title + " (updated)",
            body_md=first.body_md + "\n\nÜnïcödé — “quotes”, emoji 🐟 and `code`.",
            slug="renamed-story",
            category_id=first.category_id,
            tags="fishing, economy, späť",
            featured_media_id=first.featured_media_id,
        )
        save_post(first, data, editor, action=Action.PUBLISH, base_version=first.version)
        autosave(first, PostInput(title="Work in progress", body_md="half a thought"), author)
        doomed = save_post(None, PostInput(title="Soon in the trash", body_md="bye"), author)
        trash(doomed)
        banner = save_upload(demo_image(99, size=(1200, 400)), editor)
        db.session.flush()
        set_settings(
            {"site_title": "Harbour News", "tagline": "Salt & spray", "banner_media_id": banner.id}
        )
        seed_newsletter(first)
        db.session.commit()
    return users


def seed_newsletter(post: Post) -> None:
    """Two subscribers, one of them gone, and the post's send with what each was sent."""
    bea = Subscriber(
        email="bea@example.org",
        name="Bea",
        consent="the form",
        status=SubscriberStatus.CONFIRMED,
        confirmed_at=utcnow(),
    )
    cal = Subscriber(
        email="cal@example.org",
        consent="imported",
        status=SubscriberStatus.UNSUBSCRIBED,
        unsubscribed_at=utcnow(),
    )
    send = NewsletterSend(post=post, title=post.title, subject=post.title,
                          html_body="<p>Ünï</p>", text_body="Ünï", total=2)  # fmt: skip
    db.session.add_all([bea, cal, send])
    db.session.flush()
    db.session.add_all([
        NewsletterDelivery(send_id=send.id, subscriber_id=bea.id, status=DeliveryStatus.SENT,
                           message_id="<1@blog.test>", sent_at=utcnow()),
        NewsletterDelivery(send_id=send.id, subscriber_id=cal.id,
                           status=DeliveryStatus.CANCELLED),
    ])  # fmt: skip


@pytest.fixture
def small_site(app, users):
    """Enough to restore: users, a post with tags, one small image (no resized variants)."""
    with app.app_context():
        author = db.session.get(User, users["author"]["id"])
        image = save_upload(demo_image(1, size=(320, 200)), author)
        db.session.flush()
        data = PostInput(title="Small", body_md="Tiny.", tags="a, b", featured_media_id=image.id)
        save_post(None, data, author, action=Action.PUBLISH)
        db.session.commit()
    return users


def table_contents(app) -> dict[str, list[dict]]:
    """Every row of every table of the models, in primary-key order, as Python values."""
    with app.app_context():
        contents = {}
        for table in db.metadata.sorted_tables:
            query = select(table).order_by(*table.primary_key.columns)
            contents[table.name] = [dict(row) for row in db.session.execute(query).mappings()]
        db.session.rollback()
        return contents


def upload_bytes(app) -> dict[str, bytes]:
    folder = Path(app.config["UPLOAD_FOLDER"])
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}


def backup(app, path: Path) -> dict:
    result = app.test_cli_runner().invoke(args=["backup", str(path)])
    assert result.exit_code == 0, result.output
    assert f"to {path}" in result.output
    with tarfile.open(path) as archive:
        return json.loads(archive.extractfile("manifest.json").read())


def restore(app, path: Path, *options: str):
    return app.test_cli_runner().invoke(args=["restore", str(path), *options])


def assert_same_site(original: dict, restored: dict) -> None:
    """Field by field, every table; the site generation is only required to have moved on."""
    for name, rows in original.items():
        if name == "site_state" or name in NOT_BACKED_UP:
            continue
        assert restored[name] == rows, f"table {name} differs after the restore"


def read_members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as archive:
        return {
            member.name: archive.extractfile(member).read()
            for member in archive.getmembers()
            if member.isfile()
        }


def write_archive(path: Path, members: dict[str, bytes], extra=(), fix_manifest=True) -> Path:
    """A hand-made archive; with fix_manifest the checksums are recomputed (a careful forger)."""
    members = dict(members)
    if fix_manifest:
        manifest = json.loads(members.pop("manifest.json"))
        manifest["members"] = {
            name: {"sha256": sha256(data).hexdigest(), "size": len(data)}
            for name, data in members.items()
        }
        for info, data in extra:
            if info.isfile():
                manifest["members"][info.name] = {
                    "sha256": sha256(data).hexdigest(),
                    "size": len(data),
                }
        members["manifest.json"] = json.dumps(manifest).encode()
    with tarfile.open(path, "w:gz") as archive:
        for info, data in extra:
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def assert_nothing_restored(app) -> None:
    with app.app_context():
        from blog.backup import site_contents

        assert site_contents() == (0, 0)
    folder = Path(app.config["UPLOAD_FOLDER"])
    assert not folder.exists() or not any(folder.iterdir())


# --- the round trip ----------------------------------------------------------------------------


def test_backup_and_restore_into_a_fresh_instance_keeps_everything(app, site, fresh_app, tmp_path):
    archive = tmp_path / "site.tar.gz"
    manifest = backup(app, archive)
    original, original_files = table_contents(app), upload_bytes(app)
    assert manifest["format"] == "blog-backup" and manifest["format_version"] == 1
    assert manifest["database"] == make_url(app.config["DATABASE_URL"]).get_backend_name()
    assert manifest["schema_revision"] == code_head_revision()
    assert manifest["counts"] == {
        "posts": len(original["post"]),
        "revisions": len(original["revision"]),
        "media": 8,  # the six stories' pictures, the sample author's photo, the banner
        "users": 4,
        "files": len(original_files),
    }
    assert manifest["missing_files"] == []
    assert archive.stat().st_mode & 0o777 == 0o600

    target = fresh_app()
    result = restore(target, archive)
    assert result.exit_code == 0, result.output
    assert "Restored 8 posts" in result.output

    restored = table_contents(target)
    assert_same_site(original, restored)
    assert upload_bytes(target) == original_files
    # The parts that matter most, spelled out:
    post = next(row for row in restored["post"] if row["slug"] == "renamed-story")
    assert "🐟" in post["body_md"] and "🐟" in post["body_html"]
    assert {row["tag_id"] for row in restored["post_tag"] if row["post_id"] == post["id"]}
    assert len([r for r in restored["revision"] if r["post_id"] == post["id"]]) == 3
    assert restored["slug_redirect"] and restored["setting"]
    assert [(row["email"], row["status"]) for row in restored["subscriber"]] == [
        ("bea@example.org", "confirmed"), ("cal@example.org", "unsubscribed")]  # fmt: skip
    assert len(restored["newsletter_delivery"]) == 2  # and a post is never sent to them twice
    hashes = {row["email"]: row["password_hash"] for row in restored["user"]}
    assert hashes == {row["email"]: row["password_hash"] for row in original["user"]}
    assert restored["site_state"] == [] or restored["site_state"][0]["generation"] >= 1

    with target.app_context():
        assert get_setting("site_title") == "Harbour News"
        assert [p.id for p, _ in search.search("harbour", 1).items]
        assert db.session.scalar(select(func.count()).select_from(post_tag)) == len(
            original["post_tag"]
        )
        # New rows get new ids (PostgreSQL's sequences were moved past the restored ids).
        author = db.session.scalar(select(User).where(User.email == site["author"]["email"]))
        new = save_post(None, PostInput(title="After the restore", tags="fresh"), author)
        db.session.add(Media(filename="x" * 32 + ".png", content_type="image/png",
                             width=1, height=1, size_bytes=1))  # fmt: skip
        db.session.commit()
        assert new.id > max(row["id"] for row in original["post"])
        from alembic.migration import MigrationContext

        with db.engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_revision() == (
                code_head_revision()
            )

    client = target.test_client()
    response = client.post("/login", data={"email": site["author"]["email"], "password": PASSWORD})
    assert response.status_code == 302 and "/admin" in response.headers["Location"]
    page = client.get("/renamed-story/")
    assert page.status_code == 200 and "Ünïcödé" in page.get_data(as_text=True)
    image = next(row for row in restored["media"] if row["id"] == post["featured_media_id"])
    with client.get(f"/media/{image['filename']}") as response:
        assert response.data == original_files[image["filename"]]


def test_restore_into_a_schema_built_without_alembic(app, site, fresh_app, tmp_path):
    """...and into a blog that is empty (no users, no posts) but not untouched."""
    archive = tmp_path / "site.tar.gz"
    backup(app, archive)
    target = fresh_app(with_schema=True)
    with target.app_context():
        db.session.add(SiteState(id=1, generation=41))
        db.session.commit()  # the changes below move it on, as any change readers see does
        db.session.add_all(
            [
                Category(id=1, name="Leftover", slug="leftover"),
                LoginAttempt(email="x@example.com", address="127.0.0.1"),
            ]
        )
        set_settings({"site_title": "Not yet restored"})
        db.session.commit()
    before = max(row["generation"] for row in table_contents(target)["site_state"])
    result = restore(target, archive)
    assert result.exit_code == 0, result.output
    original, restored = table_contents(app), table_contents(target)
    assert_same_site(original, restored)
    archived = max([row["generation"] for row in original["site_state"]], default=0)
    # Newer than both, so no page cached before the restore is served after it.
    assert [row["generation"] for row in restored["site_state"]] == [max(before, archived) + 1]
    with target.app_context():
        assert [p.slug for p, _ in search.search("updated", 1).items] == ["renamed-story"]


def test_default_path_is_in_a_private_backups_folder(app, small_site):
    result = app.test_cli_runner().invoke(args=["backup"])
    assert result.exit_code == 0, result.output
    folder = Path(app.instance_path) / "backups"
    (archive,) = folder.iterdir()
    assert re.fullmatch(r"blog-\d{8}-\d{6}\.tar\.gz", archive.name)
    assert folder.stat().st_mode & 0o777 == 0o700
    assert archive.stat().st_mode & 0o777 == 0o600
    again = app.test_cli_runner().invoke(args=["backup", str(archive)])
    assert again.exit_code == 1 and "already exists" in again.output


# --- refusals ---------------------------------------------------------------------------------


def test_a_blog_with_content_is_refused_without_force(app, small_site, fresh_app, tmp_path):
    archive = tmp_path / "site.tar.gz"
    backup(app, archive)
    target = fresh_app()
    assert restore(target, archive).exit_code == 0
    with target.app_context():
        post = db.session.scalar(select(Post).order_by(Post.id).limit(1))
        post.title = "Changed after the restore"
        db.session.commit()
    before, files = table_contents(target), upload_bytes(target)

    result = restore(target, archive)
    assert result.exit_code == 1
    assert "not empty (4 users, 1 posts)" in result.output and "--force" in result.output
    assert table_contents(target) == before and upload_bytes(target) == files


def test_force_replaces_everything(app, site, tmp_path):
    """Restore into the same database (emptied by --force), after the site changed."""
    archive = tmp_path / "site.tar.gz"
    backup(app, archive)
    original, original_files = table_contents(app), upload_bytes(app)
    with app.app_context():
        author = db.session.get(User, site["author"]["id"])
        save_post(None, PostInput(title="Written after the backup", tags="late"), author)
        save_upload(demo_image(7), author)
        db.session.delete(db.session.get(User, site["other_author"]["id"]))
        db.session.commit()

    added = len(upload_bytes(app)) - len(original_files)
    result = restore(app, archive, "--force")
    assert result.exit_code == 0, result.output
    assert f"Removed {added} uploads of the replaced site" in result.output
    restored = table_contents(app)
    assert_same_site(original, restored)
    assert upload_bytes(app) == original_files
    generations = [row["generation"] for row in restored["site_state"]]
    assert all(
        g > max([0] + [r["generation"] for r in original["site_state"]]) for g in generations
    )
    with app.app_context():
        assert not search.search("Written after", 1).items
        author = db.session.get(User, site["author"]["id"])
        save_post(None, PostInput(title="And after the restore"), author)
        db.session.commit()


def test_a_damaged_or_truncated_archive_is_refused_before_anything_changes(
    app, small_site, fresh_app, tmp_path
):
    archive = tmp_path / "site.tar.gz"
    backup(app, archive)
    data = archive.read_bytes()
    target = fresh_app()

    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(data[: len(data) // 2])
    result = restore(target, truncated)
    assert result.exit_code == 1
    assert "damaged or truncated" in result.output or "truncated" in result.output
    assert_nothing_restored(target)

    flipped = bytearray(data)
    flipped[len(data) // 3] ^= 0xFF
    damaged = tmp_path / "damaged.tar.gz"
    damaged.write_bytes(bytes(flipped))
    result = restore(target, damaged)
    assert result.exit_code == 1 and "damaged" in result.output
    assert_nothing_restored(target)

    members = read_members(archive)
    name = next(name for name in members if name.startswith("uploads/"))
    members[name] = members[name][:-10] + b"0123456789"  # same size, other bytes
    forged = write_archive(tmp_path / "forged.tar.gz", members, fix_manifest=False)
    result = restore(target, forged)
    assert result.exit_code == 1
    assert f"{name} does not match its checksum" in result.output
    assert_nothing_restored(target)

    without_manifest = dict(members)
    del without_manifest["manifest.json"]
    incomplete = write_archive(tmp_path / "nomanifest.tar.gz", without_manifest, fix_manifest=False)
    result = restore(target, incomplete)
    assert result.exit_code == 1 and "no manifest" in result.output
    assert_nothing_restored(target)


UNSAFE_MEMBERS = [
    ("file", "../escaped.txt"),
    ("file", "uploads/../../escaped.txt"),
    ("file", "/tmp/escaped.txt"),
    ("symlink", "uploads/0123456789abcdef0123456789abcdef.jpg"),
    ("hardlink", "uploads/0123456789abcdef0123456789abcdef.png"),
    ("file", "uploads/notes.txt"),
]


def test_members_outside_the_archive_or_links_are_refused(app, small_site, fresh_app, tmp_path):
    archive = tmp_path / "site.tar.gz"
    backup(app, archive)
    members = read_members(archive)
    target = fresh_app()
    for kind, name in UNSAFE_MEMBERS:
        info = tarfile.TarInfo(name)
        data = b"owned"
        if kind == "file":
            info.size = len(data)
        else:
            info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
            info.linkname = "/etc/passwd"
            data = None
        evil = write_archive(tmp_path / "evil.tar.gz", members, extra=[(info, data)])
        result = restore(target, evil)
        assert result.exit_code == 1, name
        assert "refused" in result.output and name in result.output
        assert_nothing_restored(target)
        assert not (tmp_path / "escaped.txt").exists() and not Path("/tmp/escaped.txt").exists()


def test_a_restore_that_fails_midway_leaves_nothing_behind(app, small_site, fresh_app, tmp_path):
    """All or nothing: the last table's bad row undoes every row and file before it."""
    archive = tmp_path / "site.tar.gz"
    backup(app, archive)
    members = read_members(archive)
    orphan = {"id": 999, "old_slug": "nowhere", "post_id": 424242, "created_at": None}
    members["database/slug_redirect.jsonl"] += json.dumps(orphan).encode() + b"\n"
    bad = write_archive(tmp_path / "bad.tar.gz", members)
    target = fresh_app()
    result = restore(target, bad)
    assert result.exit_code == 1 and "Nothing was restored" in result.output
    assert_nothing_restored(target)


def test_an_archive_from_another_schema_revision_is_refused(app, small_site, fresh_app, tmp_path):
    archive = tmp_path / "site.tar.gz"
    backup(app, archive)
    members = read_members(archive)
    manifest = json.loads(members["manifest.json"])
    manifest["schema_revision"] = "0001"
    members["manifest.json"] = json.dumps(manifest).encode()
    target = fresh_app()
    result = restore(target, write_archive(tmp_path / "old.tar.gz", members))
    assert result.exit_code == 1 and "schema revision 0001" in result.output
    assert_nothing_restored(target)


# --- a backup while the site is being written to ----------------------------------------------


def _write_continuously(app, author_email: str, stop: threading.Event, saves: list, errors: list):
    """Save posts through the app (new posts with tags, and edits) until told to stop."""
    client = app.test_client()
    client.post("/login", data={"email": author_email, "password": PASSWORD})
    deadline = time.monotonic() + 40  # bounded, whatever happens to the main thread
    number = 0
    while not stop.is_set() and time.monotonic() < deadline:
        number += 1
        tags = f"load, batch-{number % 4}"
        if saves and number % 3 == 0:  # an edit of an earlier post, at its current version
            post_id, version, _ = saves[-1]
            url, form = f"/admin/posts/{post_id}/edit", {"version": str(version)}
        else:
            url, form = "/admin/posts/new", {}
        form.update(title=f"Busy post {number}", body=f"Text {number}\n\n" * 20, tags=tags,
                    kind="post", action="publish")  # fmt: skip
        response = client.post(url, data=form)
        if response.status_code != 302:
            errors.append((response.status_code, response.get_data(as_text=True)[:300]))
            continue
        post_id = int(response.headers["Location"].rstrip("/").split("/")[-2])
        version = saves[-1][1] + 1 if url.endswith("/edit") else 1
        saves.append((post_id, version, sorted(tags.split(", "))))


def test_a_backup_taken_during_writes_restores_consistently(app, small_site, fresh_app, tmp_path):
    stop, saves, errors = threading.Event(), [], []
    writer = threading.Thread(
        target=_write_continuously,
        args=(app, small_site["author"]["email"], stop, saves, errors),
    )
    archives, saves_at_backup = [], []
    writer.start()
    try:
        started = time.monotonic()
        while time.monotonic() - started < 2.0 or len(archives) < 3:
            time.sleep(0.3)
            saves_at_backup.append(len(saves))
            with app.app_context():
                archives.append(create_backup(tmp_path / f"busy-{len(archives)}.tar.gz").path)
            assert time.monotonic() - started < 30 and writer.is_alive()
    finally:
        stop.set()
        writer.join(timeout=15)
    assert not errors, errors
    assert saves_at_backup[0] < saves_at_backup[-1] < len(saves)  # the writes went on throughout

    tags_of = {(post_id, version): tags for post_id, version, tags in saves}
    for archive in archives[-2:]:
        target = fresh_app()
        assert restore(target, archive).exit_code == 0
        with target.app_context():
            posts = db.session.scalars(select(Post)).all()
            for post in posts:
                saved = [r for r in post.revisions if r.kind.value == "save"]
                assert saved, f"post {post.id} has no revision"
                if post.title.startswith("Busy post"):  # each of their saves made a revision
                    assert max(r.post_version for r in saved) == post.version
                    assert sorted(tag.slug for tag in post.tags) == tags_of[post.id, post.version]
                    assert post.body_md.startswith(f"Text {post.title.split()[-1]}")
            ids = {post.id for post in posts}
            assert set(db.session.scalars(select(Revision.post_id))) <= ids
            assert set(db.session.scalars(select(post_tag.c.post_id))) <= ids
            assert set(db.session.scalars(select(SlugRedirect.post_id))) <= ids
            busy = [post for post in posts if post.title.startswith("Busy post")]
            assert busy and search.search("Busy", 1).total == len(busy)


def test_sign_in_sessions_stay_out_of_backups_and_a_restore_signs_everyone_out(
    app, small_site, tmp_path
):
    """A session signed out after the backup must not come back with the restore."""
    signed_out_later, still_signed_in = app.test_client(), app.test_client()
    for client in (signed_out_later, still_signed_in):
        client.post("/login", data={"email": small_site["author"]["email"], "password": PASSWORD})
        assert client.get("/admin/posts/").status_code == 200
    archive = tmp_path / "site.tar.gz"
    backup(app, archive)
    assert not any("user_session" in name for name in read_members(archive))
    stolen = signed_out_later.get_cookie("session").value
    signed_out_later.post("/logout")

    result = restore(app, archive, "--force")
    assert result.exit_code == 0, result.output
    replayed = app.test_client()
    replayed.set_cookie("session", stolen)
    for client in (replayed, still_signed_in):
        response = client.get("/admin/posts/")
        assert response.status_code == 302 and "/login" in response.location


# --- comments, across database kinds ----------------------------------------------------------


@pytest.fixture
def other_kind_app(database_url, tmp_path, request):
    """An empty instance on the other database kind: PostgreSQL for a SQLite site, and back."""
    folder = tmp_path / "other-kind"
    database = None
    if database_url.startswith("sqlite"):
        postgres_url = request.getfixturevalue("postgres_url")
        database = f"blog_restore_{secrets.token_hex(6)}"
        _run_admin_sql(postgres_url, f'CREATE DATABASE "{database}"')
        url = make_url(postgres_url).set(database=database).render_as_string(hide_password=False)
        admin_url = postgres_url
    else:
        url = f"sqlite:///{folder / 'blog.sqlite3'}"
    config = _test_config(url, folder)
    config["UPLOAD_FOLDER"] = str(folder / "media-files")
    target = create_app(config)
    yield target
    with target.app_context():
        db.session.remove()
        db.engine.dispose()
    if database:
        _run_admin_sql(admin_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def add_conversation(users) -> str:
    """A post with a thread (a comment, the author's reply, a reply to that), a held comment
    and a spam one; returns the post's slug."""
    author = db.session.get(User, users["author"]["id"])
    post = save_post(
        None, PostInput(title="Talk", body_md="Say something."), author, Action.PUBLISH
    )
    first = Comment(post=post, author_name="Rita", author_email="rita@example.net",
                    body_md="Lovely *boats*.", body_html=render_comment("Lovely *boats*."),
                    status=CommentStatus.APPROVED, address="198.51.100.9",
                    form_nonce="a-form-nonce")  # fmt: skip
    db.session.add(first)
    db.session.flush()
    answer = reply_as(author, first, "Thank you, Rita.")
    again = Comment(post=post, thread_id=first.id, reply_to=answer, author_name="Rita",
                    author_email="rita@example.net", body_md="You're welcome.",
                    body_html=render_comment("You're welcome."), status=CommentStatus.APPROVED,
                    import_key="wordpress-comment:https://old.example/?p=1#comment-3")  # fmt: skip
    held = Comment(post=post, author_name="Pat", body_md="Held?", body_html="<p>Held?</p>")
    spam = Comment(post=post, author_name="Spam", body_md="Buy", body_html="<p>Buy</p>",
                   status=CommentStatus.SPAM)  # fmt: skip
    db.session.add_all([again, held, spam])
    db.session.flush()
    recount(post.id)
    db.session.commit()
    return post.slug


def test_comments_survive_a_restore_into_the_other_database_kind(
    app, small_site, other_kind_app, tmp_path
):
    with app.app_context():
        slug = add_conversation(small_site)
    archive = tmp_path / "site.tar.gz"
    manifest = backup(app, archive)
    assert manifest["tables"]["comment"]["rows"] == 5
    lines = read_members(archive)["database/comment.jsonl"].decode().splitlines()
    assert len(lines) == 5 and "Lovely *boats*." in lines[0]
    original = table_contents(app)

    result = restore(other_kind_app, archive)
    assert result.exit_code == 0, result.output
    restored = table_contents(other_kind_app)
    assert restored["comment"] == original["comment"]
    post = next(row for row in restored["post"] if row["slug"] == slug)
    assert post["comment_count"] == 3
    first, answer, again = restored["comment"][:3]
    assert answer["thread_id"] == answer["reply_to_id"] == first["id"]
    assert again["thread_id"] == first["id"] and again["reply_to_id"] == answer["id"]

    page = other_kind_app.test_client().get(f"/{slug}/").get_data(as_text=True)
    assert "3 comments" in page and "<em>boats</em>" in page and "Held?" not in page
    assert page.index("Lovely") < page.index("Thank you, Rita") < page.index("welcome")
    with other_kind_app.app_context():  # new comments get new ids after the restored ones
        post_row = db.session.scalar(select(Post).where(Post.slug == slug))
        new = Comment(post=post_row, author_name="Later", body_md="x", body_html="<p>x</p>")
        db.session.add(new)
        db.session.commit()
        assert new.id > max(row["id"] for row in original["comment"])

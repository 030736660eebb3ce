"""The media library: uploads through the admin, serving /media/, permissions, deletion.

Users here are made without a password and signed in by writing Flask-Login's session
keys: scrypt hashing in the shared `users`/`auth` fixtures would make this file several
times slower, and signing in itself is tested in test_auth.py.
"""

import io
import os
import re
import struct
import zlib
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from PIL import ExifTags, Image
from sqlalchemy import event, func, select

from blog import media as service
from blog.concurrent_edits import fingerprint
from blog.extensions import db
from blog.models import Media, Post, Role, User
from blog.user_sessions import open_session
from tests.conftest import csrf_token_from, shown_by

PEOPLE = {
    "admin": Role.ADMIN,
    "editor": Role.EDITOR,
    "author": Role.AUTHOR,
    "other_author": Role.AUTHOR,
}
UPLOAD_URL = "/admin/media/upload"
LIBRARY_URL = "/admin/media/"
PICKER_URL = "/admin/media/picker.json"


# --- helpers -------------------------------------------------------------------


def create_people(app) -> dict[str, dict]:
    with app.app_context():
        people = {
            key: User(
                email=f"{key}@example.com",
                display_name=key.replace("_", " ").title(),
                slug=key.replace("_", "-"),
                role=role,
            )
            for key, role in PEOPLE.items()
        }
        db.session.add_all(people.values())
        tokens = {key: open_session(user) for key, user in people.items()}
        db.session.commit()
        return {key: {"id": user.id, "login_id": tokens[key]} for key, user in people.items()}


@pytest.fixture
def people(app):
    return create_people(app)


def sign_in(client, people: dict, who: str) -> None:
    with client.session_transaction() as session:
        session["_user_id"] = people[who]["login_id"]
        session["_fresh"] = True


def jpeg_bytes(size=(1000, 600), **params) -> bytes:
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, **params)
    return buffer.getvalue()


def noise_jpeg(size=(300, 300)) -> bytes:
    image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge size: a decompression bomb's opening."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 16))
        + chunk(b"IEND", b"")
    )


def gps_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "SpyCam"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (52.0, 22.0, 7.5)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (4.0, 53.0, 1.25)
    return exif


def upload(client, data: bytes, name: str = "photo.jpg", **kwargs):
    return client.post(UPLOAD_URL, data={"file": (io.BytesIO(data), name)}, **kwargs)


def upload_folder(app) -> Path:
    return Path(app.config["UPLOAD_FOLDER"])


def stored_files(app) -> set[str]:
    """Every entry in the upload folder, hidden temporary files included."""
    folder = upload_folder(app)
    return set(os.listdir(folder)) if folder.exists() else set()


def media_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Media.id)))


def add_media(app, uploader_ids: list[int]) -> list[int]:
    """Media rows without files, one per uploader id, each newer than the one before."""
    start = datetime(2024, 1, 1)
    with app.app_context():
        rows = []
        for number, uploader_id in enumerate(uploader_ids):
            token = f"{number:032x}"
            rows.append(
                Media(
                    filename=f"{token}.jpg",
                    original_name=f"image-{number}.jpg",
                    content_type="image/jpeg",
                    width=2000,
                    height=1000,
                    size_bytes=300_000,
                    variants=[
                        {"width": w, "height": w // 2, "filename": f"{token}-{w}.jpg"}
                        for w in (960, 480)
                    ],
                    uploader_id=uploader_id,
                    created_at=start + timedelta(minutes=number),
                )
            )
        db.session.add_all(rows)
        db.session.commit()
        return [row.id for row in rows]


def library_ids(html: str) -> list[int]:
    return [int(number) for number in re.findall(r'id="media-(\d+)"', html)]


def add_post(app, author_id: int, slug: str, **fields) -> int:
    with app.app_context():
        post = Post(title=slug.title(), slug=slug, author_id=author_id, **fields)
        db.session.add(post)
        db.session.commit()
        return post.id


# --- uploading -----------------------------------------------------------------


def test_jpeg_upload_is_stored_and_served_with_its_variants(app, client, people):
    sign_in(client, people, "author")
    response = upload(client, jpeg_bytes((1000, 600)))
    assert response.status_code == 201
    with app.app_context():
        media = db.session.scalars(select(Media)).one()
        names = [media.filename] + [v["filename"] for v in media.variants]
        assert (media.uploader_id, media.original_name) == (people["author"]["id"], "photo.jpg")
        assert [v["width"] for v in media.variants] == [480, 960]
    url = f"/media/{media.filename}"
    assert response.json == {
        "id": media.id,
        "url": url,
        "markdown": f"![]({url})",
        "width": 1000,
        "height": 600,
        "alt": "",
        "srcset": f"/media/{names[1]} 480w, /media/{names[2]} 960w, {url} 1000w",
        # What the editor's alt text dialog needs to save the one alt text of the image.
        "alt_shown": fingerprint({"alt_text": ""}),
        "alt_url": f"/admin/media/{media.id}/alt.json",
        "can_edit_alt": True,
    }
    assert stored_files(app) == set(names)
    for name, width in zip(names, [1000, 480, 960], strict=True):
        with client.get(f"/media/{name}") as served:
            assert served.status_code == 200
            assert served.headers["Content-Type"] == "image/jpeg"
            assert served.headers["X-Content-Type-Options"] == "nosniff"
            assert served.headers["Content-Security-Policy"] == (
                "default-src 'none'; img-src 'self'; sandbox"
            )
            assert served.headers["Content-Disposition"] == "inline"
            assert served.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            with Image.open(io.BytesIO(served.data)) as image:
                assert (image.format, image.width) == ("JPEG", width)
            etag = served.headers["ETag"]
    with client.get(f"/media/{names[-1]}", headers={"If-None-Match": etag}) as cached:
        assert cached.status_code == 304


def test_gps_and_other_exif_are_gone_from_stored_files(app, client, people):
    sign_in(client, people, "author")
    assert upload(client, jpeg_bytes((1000, 600), exif=gps_exif())).status_code == 201
    for name in stored_files(app):
        path = upload_folder(app) / name
        assert b"SpyCam" not in path.read_bytes()
        with Image.open(path) as image:
            assert not image.getexif().get_ifd(ExifTags.IFD.GPSInfo)
            assert not image.getexif()


SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
)


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        pytest.param(b"Dear diary, today I...\n", "holiday.jpg", "not an image", id="text"),
        pytest.param(SVG, "logo.svg", "SVG images are not accepted", id="svg"),
        pytest.param(png_header_only(20_000, 20_000), "bomb.png", "megapixels", id="bomb"),
        pytest.param(b"", "empty.jpg", "The file is empty", id="empty"),
    ],
)
def test_refused_uploads_say_why_and_store_nothing(app, client, people, data, name, message):
    sign_in(client, people, "author")
    response = upload(client, data, name)
    assert response.status_code == 400
    assert message in response.json["error"]
    assert media_count(app) == 0
    assert stored_files(app) == set()


def test_oversize_upload_is_refused(make_app):
    # Kept under 500 KB: the test client leaves larger request bodies in unclosed temp files.
    app = make_app(UPLOAD_MAX_BYTES=100_000)
    people = create_people(app)
    client = app.test_client()
    sign_in(client, people, "author")
    data = noise_jpeg()
    assert 100_000 < len(data) < 500_000
    response = upload(client, data)
    assert response.status_code == 400
    assert "too large" in response.json["error"] and "(limit 0.1 MB)" in response.json["error"]
    assert media_count(app) == 0
    assert stored_files(app) == set()


def test_missing_file_is_a_clear_error(app, client, people):
    sign_in(client, people, "author")
    for data in ({}, {"file": (io.BytesIO(b""), "")}):
        response = client.post(UPLOAD_URL, data=data)
        assert response.status_code == 400
        assert response.json == {"error": "Choose an image file to upload."}


def test_upload_without_csrf_token_is_refused(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    people = create_people(app)
    client = app.test_client()
    sign_in(client, people, "author")
    refused = upload(client, jpeg_bytes(), headers={"Accept": "application/json"})
    assert refused.status_code == 400
    assert media_count(app) == 0
    assert stored_files(app) == set()
    token = csrf_token_from(client.get(LIBRARY_URL).data.decode())
    assert upload(client, jpeg_bytes(), headers={"X-CSRFToken": token}).status_code == 201


def test_files_are_removed_when_the_row_cannot_be_saved(app, client, people, monkeypatch):
    sign_in(client, people, "author")

    def refuse_commit():
        raise RuntimeError("the database went away")

    monkeypatch.setattr(db.session, "commit", refuse_commit)
    assert upload(client, jpeg_bytes()).status_code == 500
    monkeypatch.undo()
    assert media_count(app) == 0
    assert stored_files(app) == set()


def test_library_form_uploads_without_javascript(app, client, people):
    sign_in(client, people, "author")
    files = [(io.BytesIO(jpeg_bytes()), "barn.jpg"), (io.BytesIO(b"nope"), "notes.jpg")]
    response = client.post(LIBRARY_URL, data={"file": files})
    assert response.status_code == 303
    html = client.get(response.headers["Location"]).data.decode()
    assert "barn.jpg is uploaded" in html
    assert "notes.jpg: This file is not an image" in html
    assert media_count(app) == 1


def test_anonymous_visitors_are_sent_to_sign_in(app, client, people):
    for method, path in [
        ("POST", UPLOAD_URL),
        ("POST", LIBRARY_URL),
        ("GET", LIBRARY_URL),
        ("GET", PICKER_URL),
    ]:
        data = {"file": (io.BytesIO(jpeg_bytes()), "a.jpg")} if method == "POST" else None
        response = client.open(path, method=method, data=data)
        assert response.status_code == 302
        assert "/login?next=" in response.headers["Location"]
    assert media_count(app) == 0


# --- serving -------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/media/../secret_key",
        "/media/%2e%2e/secret_key",
        "/media/%2e%2e%2fsecret_key",
        "/media/..%5csecret_key",
        "/media//etc/passwd",
        "/media/%2fetc%2fpasswd",
        "/media/%00",
        "/media/0123456789abcdef0123456789abcdef.jpg%00.png",
        "/media/0123456789abcdef0123456789abcdef.jpg",  # the right shape, but not there
        "/media/.0123456789abcdef0123456789abcdef.jpg.tmp",
    ],
)
def test_only_stored_files_are_served(app, client, people, path):
    instance = Path(app.instance_path)
    (instance / "secret_key").write_text("do not serve me")
    upload_folder(app).mkdir(parents=True, exist_ok=True)
    (upload_folder(app) / ".0123456789abcdef0123456789abcdef.jpg.tmp").write_bytes(b"x")
    with client.get(path, follow_redirects=True) as response:
        assert response.status_code == 404
        assert b"do not serve me" not in response.data


# --- the library ---------------------------------------------------------------


def test_library_pages_newest_first_and_refuses_other_pages(app, client, people):
    sign_in(client, people, "author")
    empty = client.get(LIBRARY_URL)
    assert empty.status_code == 200 and "No images yet" in empty.data.decode()
    assert client.get(LIBRARY_URL + "?page=2").status_code == 404
    ids = add_media(app, [people["author"]["id"]] * 25)
    first = client.get(LIBRARY_URL).data.decode()
    assert library_ids(first) == ids[::-1][:24]
    assert "Page 1 of 2" in first and "?page=2" in first
    assert library_ids(client.get(LIBRARY_URL + "?page=2").data.decode()) == ids[:1]
    for page in ["0", "3", "-1", "abc", "1.5", "01", "", "99999999999999999999"]:
        assert client.get(f"{LIBRARY_URL}?page={page}").status_code == 404, page


def test_library_shows_details_and_loads_uploaders_without_extra_queries(app, client, people):
    others = [people[who]["id"] for who in ("admin", "editor", "other_author")]
    add_media(app, [people["author"]["id"]] + others * 8)  # page 2: the author's own image
    sign_in(client, people, "author")
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    client.get(LIBRARY_URL + "?page=2")  # warms up what the app caches once per process
    # Requests outside any app context of the test, so each gets its own session.
    event.listen(engine, "before_cursor_execute", count)
    try:
        html = client.get(LIBRARY_URL).data.decode()
        on_first_page = len(statements)
        statements.clear()
        client.get(LIBRARY_URL + "?page=2")
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert on_first_page == len(statements)
    assert "2000 × 1000 px · 293 KB" in html
    assert "by Other Author" in html and "by Editor" in html
    assert 'src="/media/00000000000000000000000000000018-480.jpg"' in html
    assert 'value="![](/media/00000000000000000000000000000018.jpg)"' in html


def test_alt_text_is_cleaned_saved_and_limited(app, client, people):
    [media_id] = add_media(app, [people["author"]["id"]])
    sign_in(client, people, "author")
    url = f"/admin/media/{media_id}"
    form = {
        "alt_text": "  A red\n barn  [at dusk] ",
        "page": "2",
        **shown_by(client, LIBRARY_URL, url),
    }
    response = client.post(url, data=form)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/admin/media/?page=2#media-{media_id}")
    too_long = client.post(url, data={"alt_text": "x" * 501}, follow_redirects=True)
    assert "at most 500 characters" in too_long.data.decode()
    with app.test_request_context():
        media = db.session.get(Media, media_id)
        assert media.alt_text == "A red barn [at dusk]"
        assert service.image_markdown(media) == (
            rf"![A red barn \[at dusk\]](/media/{media.filename})"
        )
    assert client.get(PICKER_URL).json["items"][0]["alt"] == "A red barn [at dusk]"
    form = {"alt_text": "y" * 500, **shown_by(client, LIBRARY_URL, url)}
    assert client.post(url, data=form).status_code == 303
    with app.app_context():
        assert db.session.get(Media, media_id).alt_text == "y" * 500
    assert client.post("/admin/media/999999", data={"alt_text": "z"}).status_code == 404


def test_authors_manage_only_their_own_images(app, client, people):
    own, foreign = add_media(app, [people["author"]["id"], people["other_author"]["id"]])
    sign_in(client, people, "author")
    assert client.post(f"/admin/media/{foreign}", data={"alt_text": "mine now"}).status_code == 403
    assert client.get(f"/admin/media/{foreign}/delete").status_code == 403
    assert client.post(f"/admin/media/{foreign}/delete").status_code == 403
    assert client.get(f"/admin/media/{own}/delete").status_code == 200
    html = client.get(LIBRARY_URL).data.decode()
    assert f"/admin/media/{own}/delete" in html
    assert f"/admin/media/{foreign}/delete" not in html
    assert f'action="/admin/media/{foreign}"' not in html
    with app.app_context():
        assert db.session.get(Media, foreign).alt_text == ""
    assert media_count(app) == 2


@pytest.mark.parametrize("who", ["editor", "admin"])
def test_editors_and_admins_manage_every_image(app, client, people, who):
    first, second = add_media(app, [people["author"]["id"], None])  # None: uploader removed
    sign_in(client, people, who)
    url = f"/admin/media/{first}"
    form = {"alt_text": "Fixed", **shown_by(client, LIBRARY_URL, url)}
    assert client.post(url, data=form).status_code == 303
    assert client.post(f"/admin/media/{second}/delete").status_code == 303
    with app.app_context():
        assert db.session.get(Media, first).alt_text == "Fixed"
        assert db.session.get(Media, second) is None


def test_delete_removes_files_and_clears_featured_images(app, client, people):
    sign_in(client, people, "author")
    created = upload(client, jpeg_bytes()).json
    author = people["author"]["id"]
    featured = add_post(app, author, "featuring", featured_media_id=created["id"])
    in_text = add_post(app, author, "showing", body_md=f"Look: {created['markdown']}")
    add_post(app, author, "unrelated", body_md="No pictures.")
    confirm = client.get(f"/admin/media/{created['id']}/delete").data.decode()
    assert "Featuring" in confirm and "featured image" in confirm
    assert "Showing" in confirm and "in the text" in confirm
    assert "Unrelated" not in confirm
    response = client.post(f"/admin/media/{created['id']}/delete")
    assert response.status_code == 303
    assert media_count(app) == 0
    assert stored_files(app) == set()
    with app.app_context():
        assert db.session.get(Post, featured).featured_media_id is None
        assert db.session.get(Post, in_text) is not None
    with client.get(created["url"]) as gone:
        assert gone.status_code == 404
    assert client.post(f"/admin/media/{created['id']}/delete").status_code == 404


def test_picker_lists_pages_of_images(app, client, people):
    ids = add_media(app, [people["other_author"]["id"]] * 25)
    sign_in(client, people, "author")
    first = client.get(PICKER_URL).json
    assert first["next_page"] == 2
    assert [item["id"] for item in first["items"]] == ids[::-1][:24]
    newest = f"{24:032x}"
    assert first["items"][0] == {
        "id": ids[-1],
        "thumb": f"/media/{newest}-480.jpg",
        "url": f"/media/{newest}.jpg",
        "alt": "",
        "width": 2000,
        "height": 1000,
        # What the editor needs to insert it: its Markdown and its one alt text, which only
        # its uploader or an editor may change (this author did not upload it).
        "markdown": f"![](/media/{newest}.jpg)",
        "srcset": first["items"][0]["srcset"],
        "alt_shown": fingerprint({"alt_text": ""}),
        "alt_url": f"/admin/media/{ids[-1]}/alt.json",
        "can_edit_alt": False,
    }
    second = client.get(PICKER_URL + "?page=2").json
    assert ([item["id"] for item in second["items"]], second["next_page"]) == (ids[:1], None)
    assert client.get(PICKER_URL + "?page=3").status_code == 404
    assert client.get(PICKER_URL + "?page=x").status_code == 404


# --- template helpers ----------------------------------------------------------


def test_template_helpers(app):
    token = "ab" * 16
    media = Media(
        filename=f"{token}.png",
        width=1200,
        height=600,
        alt_text="A \\ [sign]",
        variants=[
            {"width": 960, "height": 480, "filename": f"{token}-960.png"},
            {"width": 480, "height": 240, "filename": f"{token}-480.png"},
        ],
    )
    with app.test_request_context():
        assert service.srcset(media) == (
            f"/media/{token}-480.png 480w, /media/{token}-960.png 960w, /media/{token}.png 1200w"
        )
        assert service.image_markdown(media) == rf"![A \\ \[sign\]](/media/{token}.png)"
        assert service.thumbnail(media) == {
            "url": f"/media/{token}-480.png",
            "width": 480,
            "height": 240,
        }
        media.variants = []
        assert service.thumbnail(media)["url"] == f"/media/{token}.png"
        assert service.srcset(media) == f"/media/{token}.png 1200w"
    assert [service.filesize(n) for n in (900, 12_345, 3_500_000)] == [
        "900 bytes",
        "12 KB",
        "3.3 MB",
    ]
    for name in ("media_url", "srcset", "thumbnail", "image_markdown"):
        assert name in app.jinja_env.globals

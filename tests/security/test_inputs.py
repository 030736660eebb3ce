"""Hostile input: open redirects, path traversal, oversized bodies, NUL bytes and malformed
UTF-8 in every form field, very long values, SQL metacharacters. Never a 500, nothing stored."""

import io
from pathlib import Path
from urllib.parse import quote, quote_plus, urljoin, urlsplit

import pytest
from PIL import Image
from sqlalchemy import func, select

from blog import first_run
from blog.extensions import db
from blog.models import Category, Media, Post, Tag, User
from tests.conftest import PASSWORD, shown_by
from tests.security._support import (
    COUNTS,
    build_world,
    changed_tables,
    sign_in_with_form,
    snapshot,
)

SITE = "http://blog.test"

# Open redirects ------------------------------------------------------------------------------

HOSTILE_NEXT = [
    "//evil.example",
    "///evil.example",
    "////evil.example/x",
    "/\\evil.example",
    "/\\/evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "https:evil.example",
    "https:/evil.example",
    "https://evil.example",
    "HTTPS://evil.example",
    "http://blog.test@evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "%2F%2Fevil.example",  # decoded once by the query string parser: //evil.example
    "%2F%5Cevil.example",
    "/%2F%2Fevil.example",  # stays a path on this site
    "/\t/evil.example",
    "/%09/evil.example",
    "/\n/evil.example",
    "/\r\nLocation: http://evil.example",
    "/%0d%0aSet-Cookie:%20stolen=1",
    "/\x00//evil.example",
    " //evil.example",
    "\x0b//evil.example",
    "\u3000//evil.example",
    "／／evil.example",  # fullwidth solidus
    "/\uff0fevil.example",
    "/..//evil.example",
    "/.//evil.example",
    "evil.example",
    "@evil.example",
]


def _readable_text(target: str) -> bool:
    return "\x00" not in target and "%00" not in target


def browser_target(location: str) -> tuple[str, str]:
    """Where a browser would go: (scheme, host) of Location resolved against the login page.

    Browsers treat a backslash as a slash and drop tabs and newlines before resolving.
    """
    cleaned = location.replace("\\", "/").replace("\t", "").replace("\n", "").replace("\r", "")
    cleaned = cleaned.lstrip("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x1f ")
    resolved = urlsplit(urljoin(f"{SITE}/login", cleaned))
    return resolved.scheme, resolved.hostname or ""


def test_sign_in_never_redirects_off_site(client, users):
    wrong = []
    for target in HOSTILE_NEXT:
        response = client.post(
            f"/login?next={quote(target, safe='%:/@')}",
            data={"email": users["author"]["email"], "password": PASSWORD},
        )
        location = response.headers.get("Location", "")
        if response.status_code == 400 and not _readable_text(target):
            pass  # refused outright: NUL or malformed UTF-8 never reaches the view
        elif response.status_code != 302:
            wrong.append(f"{target!r}: {response.status_code}")
        elif browser_target(location) != ("http", "blog.test") or any(
            char in location for char in "\r\n\x00"
        ):
            wrong.append(f"{target!r} -> {location!r}")
        client.post("/logout")
    assert not wrong, "\n".join(wrong)
    # The control: a path on this site is kept.
    response = client.post(
        "/login?next=/admin/posts/%3Fstatus%3Ddraft",
        data={"email": users["author"]["email"], "password": PASSWORD},
    )
    assert response.headers["Location"] == "/admin/posts/?status=draft"
    COUNTS["inputs: open-redirect targets"] = len(HOSTILE_NEXT)


# Path traversal ------------------------------------------------------------------------------

SECRET = "TOP-SECRET-INSTANCE-FILE"


def png_bytes(size=(12, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def traversal_paths(stored: str, secret_path: str) -> list[str]:
    return [
        "/media/../secret.txt",
        "/media/..%2fsecret.txt",
        "/media/..%2Fsecret.txt",
        "/media/%2e%2e/secret.txt",
        "/media/%2e%2e%2fsecret.txt",
        "/media/%2E%2E%2Fsecret.txt",
        "/media/..%252fsecret.txt",
        "/media/....//secret.txt",
        "/media/..\\secret.txt",
        "/media/..%5csecret.txt",
        "/media/%2e%2e%5csecret.txt",
        "/media/.%2e/secret.txt",
        "/media/..%c0%afsecret.txt",  # overlong UTF-8 slash
        "/media/%E2%80%A4%E2%80%A4/secret.txt",  # one-dot leaders
        "/media/%EF%BC%8E%EF%BC%8E%EF%BC%8Fsecret.txt",  # fullwidth dots and slash
        "/media/%2Fetc%2Fpasswd",
        "/media//etc/passwd",
        f"/media/{quote(secret_path)}",
        f"/media/{secret_path}",
        "/media/%00",
        f"/media/{stored}%00.txt",
        f"/media/{stored}%00",
        f"/media/{stored}/../../secret.txt",
        f"/media/{stored}/..%2f..%2fsecret.txt",
        "/media/notes.txt",  # in the upload folder, but not a name our uploads write
        "/media/uploads/../secret.txt",
        "/media/~/.bashrc",
        "/media/file:///etc/passwd",
        "/media/C:%5Cwindows%5Cwin.ini",
    ]


def test_media_urls_serve_stored_images_only(app, client, auth):
    instance = app.instance_path
    with open(f"{instance}/secret.txt", "w") as handle:
        handle.write(SECRET)
    auth.login("author")
    upload = client.post(
        "/admin/media/upload", data={"file": (io.BytesIO(png_bytes()), "photo.png")}
    )
    assert upload.status_code == 201
    stored = upload.json["url"].rsplit("/", 1)[1]
    with open(f"{app.config['UPLOAD_FOLDER']}/notes.txt", "w") as handle:
        handle.write(SECRET)
    with client.get(f"/media/{stored}") as control:
        assert control.status_code == 200
    wrong = []
    paths = traversal_paths(stored, f"{instance}/secret.txt")
    for path in paths:
        # werkzeug answers "//" with a 308 to the merged path; that must lead nowhere either.
        with client.get(path, follow_redirects=True) as response:
            hops = [hop.headers["Location"] for hop in response.history]
            if response.status_code not in (400, 404) or SECRET in response.text:
                wrong.append(f"{path}: {response.status_code} after {hops}")
            if any(not urlsplit(hop).path.startswith("/media/") for hop in hops):
                wrong.append(f"{path}: redirected to {hops}")
    assert not wrong, "\n".join(wrong)
    COUNTS["inputs: path traversal URLs"] = len(paths)


HOSTILE_FILENAMES = [
    "../../secret.txt.png",
    "..\\..\\evil.png",
    "/etc/passwd.png",
    "C:\\Windows\\evil.png",
    "a\x00b.png",
    "\u202egnp.exe",
    "....//....//evil.png",
    "%2e%2e%2fevil.png",
    "x" * 5000 + ".png",
]


def test_uploaded_file_names_never_choose_where_files_go(app, client, auth):
    auth.login("author")
    instance_files = _files_outside_uploads(app)
    for name in HOSTILE_FILENAMES:
        response = client.post(
            "/admin/media/upload", data={"file": (io.BytesIO(png_bytes()), name)}
        )
        assert response.status_code == 201, name
    assert _files_outside_uploads(app) == instance_files
    with app.app_context():
        names = db.session.scalars(select(Media.original_name)).all()
    assert len(names) == len(HOSTILE_FILENAMES)
    for name in names:
        assert not set(name) & set("/\\\x00\u202e") and len(name) <= 200, name


def test_deleting_a_media_row_with_a_crafted_file_name_removes_nothing_else(app, client, auth):
    """An imported or tampered row must not turn deletion into `rm ../secret.txt`."""
    secret = f"{app.instance_path}/secret.txt"
    with open(secret, "w") as handle:
        handle.write(SECRET)
    with app.app_context():
        media = Media(
            filename="../secret.txt",
            content_type="image/png",
            width=1,
            height=1,
            size_bytes=1,
            variants=[{"filename": "../../secret.txt", "width": 1, "height": 1}],
        )
        db.session.add(media)
        db.session.commit()
        media_id = media.id
    auth.login("admin")
    assert client.post(f"/admin/media/{media_id}/delete").status_code == 303
    with open(secret) as handle:
        assert handle.read() == SECRET


def _files_outside_uploads(app) -> list[str]:
    root = Path(app.instance_path)
    uploads = Path(app.config["UPLOAD_FOLDER"])
    return sorted(
        str(path) for path in root.rglob("*") if path.is_file() and uploads not in path.parents
    )


# Oversized request bodies --------------------------------------------------------------------

LIMIT = 4096


def test_oversized_bodies_get_413_and_change_nothing(make_app, users):
    small = make_app(MAX_CONTENT_LENGTH=LIMIT)
    client = small.test_client()
    sign_in_with_form(client, users["author"]["email"])
    before = snapshot(small)
    big = "x" * (LIMIT * 3)
    as_json = {"Accept": "application/json"}
    anonymous = small.test_client()
    response = anonymous.post("/login", data={"email": "author@example.com", "password": big})
    assert response.status_code == 413 and "larger than this site accepts" in response.text
    requests = [
        ("/admin/posts/new", {"data": {"title": "Big", "body": big}}, {}),
        ("/admin/posts/autosave", {"json": {"title": "Big", "body": big}}, as_json),
        ("/admin/posts/preview", {"json": {"body": big}}, as_json),
        (
            "/admin/media/upload",
            {"data": {"file": (io.BytesIO(png_bytes() + b"\0" * LIMIT * 3), "big.png")}},
            as_json,
        ),
        ("/admin/media/", {"data": {"file": (io.BytesIO(b"\0" * LIMIT * 3), "big.png")}}, {}),
        ("/admin/profile", {"data": {"display_name": "Big", "bio": big}}, {}),
    ]
    for path, body, headers in requests:
        response = client.post(path, headers=headers, **body)
        assert response.status_code == 413, path
        if headers:
            assert response.json["error"] == "Too large", path
            assert "larger than this site accepts" in response.json["message"]
        else:
            assert "larger than this site accepts" in response.text, path
    assert changed_tables(before, snapshot(small)) == []
    assert client.get("/admin/").status_code == 200  # still signed in, nothing broken


# NUL bytes and malformed UTF-8 in every form field --------------------------------------------

BAD_VALUES = {
    "NUL (encoded)": b"a%00b",
    "NUL (raw byte)": b"a\x00b",
    "invalid UTF-8 (raw bytes)": b"a\xff\xfeb",
    "invalid UTF-8 (encoded)": b"a%FF%FEb",
    "lone surrogate (encoded)": b"a%ED%A0%80b",
}


def editor_data(world, version=""):
    return {
        "title": "A fine title",
        "slug": "a-fine-title",
        "body": "Some *text*.",
        "excerpt": "An excerpt.",
        "kind": "post",
        "category_id": str(world.category_id),
        "tags": "one, two",
        "featured_media_id": str(world.media_id),
        "featured_alt": "Alt text",
        "featured_caption": "A caption",
        "publish_at": "",
        "version": version,
        "action": "save",
    }


SHOWN_ON_THE_PAGE = "the fingerprint the form's page gives"  # filled in by the test

# name: (who signs in, path for the world, valid data for the world, status of a valid send)
FORMS = {
    "editor (new post)": ("author", lambda w: "/admin/posts/new", editor_data, 302),
    "editor (edit post)": (
        "author",
        lambda w: f"/admin/posts/{w.post_id}/edit",
        lambda w: {**editor_data(w, version="2"), "slug": "an-edited-title"},
        302,
    ),
    "media alt text": (
        "author",
        lambda w: f"/admin/media/{w.media_id}",
        lambda w: {"alt_text": "New alt", "page": "1"},
        303,
    ),
    "profile": (
        "author",
        lambda w: "/admin/profile",
        lambda w: {"display_name": "Ann Renamed", "bio": "A bio."},
        302,
    ),
    "new category": (
        "editor",
        lambda w: "/admin/categories/",
        lambda w: {"name": "New category", "description": "About it."},
        303,
    ),
    "edit category": (
        "editor",
        lambda w: f"/admin/categories/{w.category_id}",
        lambda w: {
            "name": "Renamed",
            "slug": "renamed",
            "description": "D",
            "position": "3",
            "shown": SHOWN_ON_THE_PAGE,
        },  # fmt: skip
        303,
    ),
    "delete category": (
        "editor",
        lambda w: f"/admin/categories/{w.category_id}/delete",
        lambda w: {"move_to": ""},
        303,
    ),
    "edit tag": (
        "editor",
        lambda w: f"/admin/tags/{w.tag_id}",
        lambda w: {"name": "Renamed tag", "slug": "renamed-tag"},
        303,
    ),
    "merge tag": (
        "editor",
        lambda w: f"/admin/tags/{w.tag_id}/merge",
        lambda w: {"target": str(w.other_tag_id)},
        303,
    ),
    "bulk actions": (
        "editor",
        lambda w: "/admin/posts/bulk",
        lambda w: {"action": "unpublish", "post_id": str(w.post_id), f"version-{w.post_id}": "2"},
        302,
    ),
    "new user": (
        "admin",
        lambda w: "/admin/users/new",
        lambda w: {
            "display_name": "New Person",
            "email": "new.person@example.com",
            "role": "author",
            "password": "a long new password",
        },
        302,
    ),
    "user role": (
        "admin",
        lambda w: f"/admin/users/{w.user_id}/role",
        lambda w: {"role": "editor"},
        303,
    ),
    "settings": (
        "admin",
        lambda w: "/admin/settings",
        lambda w: {
            "site_title": "My site",
            "tagline": "A tagline",
            "banner_media_id": "",
            "banner_link": "/about/",
            "banner_alt": "",
            "posts_per_page": "10",
            "footer_text": "Footer",
            "feed_full_text": "y",
            "timezone": "UTC",
            "comment_moderation": "first_time",
            "comments_close_days": "60",
            "comment_max_links": "2",
            "shown": SHOWN_ON_THE_PAGE,
        },
        302,
    ),
    "password": (
        "admin",
        lambda w: "/admin/profile/password",
        lambda w: {
            "current_password": PASSWORD,
            "new_password": "another long password",
            "confirm": "another long password",
        },
        302,
    ),
}


def form_body(data: dict, field: str, bad: bytes) -> bytes:
    """An urlencoded body with `bad` (already encoded, or raw) as the value of `field`."""
    pairs = [
        quote_plus(key).encode() + b"=" + (bad if key == field else quote_plus(value).encode())
        for key, value in data.items()
    ]
    return b"&".join(pairs)


def send_form(client, path: str, body: bytes, query: bytes = b""):
    environ = {"QUERY_STRING": query.decode("latin-1")} if query else None
    return client.post(
        path,
        data=body,
        content_type="application/x-www-form-urlencoded",
        environ_overrides=environ,
    )


def _field_attacks(app, client, name, path, data) -> tuple[list[str], int]:
    wrong, sent = [], 0
    before = snapshot(app)
    for field in data:
        for label, bad in BAD_VALUES.items():
            response = send_form(client, path, form_body(data, field, bad))
            sent += 1
            if response.status_code != 400:
                wrong.append(f"{name}: {field} = {label} -> {response.status_code}")
    if changed := changed_tables(before, snapshot(app)):
        wrong.append(f"{name}: bad values changed {changed}")
    return wrong, sent


def test_every_form_field_refuses_nul_and_malformed_utf8(app, users):
    clients = {}
    for who in ("author", "editor", "admin"):
        clients[who] = app.test_client()
        sign_in_with_form(clients[who], users[who]["email"])
    wrong, sent = [], 0
    for name, (who, path_for, data_for, ok_status) in FORMS.items():
        world = build_world(app, users["author"]["id"])
        path, data = path_for(world), data_for(world)
        if data.get("shown") == SHOWN_ON_THE_PAGE:
            data.update(shown_by(clients[who], path))
        found, count = _field_attacks(app, clients[who], name, path, data)
        wrong += found
        sent += count
        # The control: the same form, well-formed, goes through.
        response = send_form(clients[who], path, form_body(data, "", b""))
        if response.status_code != ok_status:
            wrong.append(f"{name}: the valid form answered {response.status_code}")
    assert not wrong, "\n".join(wrong)
    COUNTS["inputs: NUL/UTF-8 admin form-field attacks"] = sent


def test_sign_in_and_setup_refuse_nul_and_malformed_utf8(make_app):
    app = make_app()
    client = app.test_client()
    with app.app_context():
        token = first_run.setup_token(app)
    setup_data = {
        "token": token,
        "display_name": "Ada Admin",
        "email": "ada@example.com",
        "password": PASSWORD,
        "confirm": PASSWORD,
    }
    wrong, sent = _field_attacks(app, client, "setup", "/setup", setup_data)
    response = send_form(client, "/setup", form_body(setup_data, "", b""))
    assert response.status_code == 302, "the valid setup form was refused"
    client.post("/logout")
    login_data = {"email": "ada@example.com", "password": PASSWORD, "remember": "y"}
    found, count = _field_attacks(app, client, "sign-in", "/login", login_data)
    wrong += found
    for label, bad in BAD_VALUES.items():  # ?next= too
        response = send_form(client, "/login", form_body(login_data, "", b""), b"next=/" + bad)
        if response.status_code != 400:
            wrong.append(f"sign-in: next = {label} -> {response.status_code}")
    assert not wrong, "\n".join(wrong)
    with app.app_context():
        assert db.session.scalar(select(func.count(User.id))) == 1
    COUNTS["inputs: NUL/UTF-8 sign-in and setup attacks"] = sent + count + len(BAD_VALUES)


QUERY_PAGES = [
    ("anonymous", "/search", "q"),
    ("anonymous", "/search", "page"),
    ("anonymous", "/", "page"),
    ("anonymous", "/login", "next"),
    ("editor", "/admin/posts/", "q"),
    ("editor", "/admin/posts/", "status"),
    ("editor", "/admin/posts/", "author"),
    ("editor", "/admin/posts/slug.json", "title"),
    ("editor", "/admin/tags/suggest.json", "q"),
    ("editor", "/admin/media/", "page"),
]


def test_query_strings_refuse_nul_and_malformed_utf8(app, users):
    clients = {"anonymous": app.test_client(), "editor": app.test_client()}
    sign_in_with_form(clients["editor"], users["editor"]["email"])
    before = snapshot(app)
    wrong = []
    for who, path, name in QUERY_PAGES:
        for label, bad in BAD_VALUES.items():
            response = clients[who].get(
                path,
                environ_overrides={"QUERY_STRING": (name.encode() + b"=" + bad).decode("latin-1")},
            )
            if response.status_code != 400:
                wrong.append(f"{path}?{name}= {label} -> {response.status_code}")
    assert not wrong, "\n".join(wrong)
    assert changed_tables(before, snapshot(app)) == []


def test_json_endpoints_refuse_nul(app, client, auth, users):
    world = build_world(app, users["author"]["id"])
    auth.login("author")
    before = snapshot(app)
    wrong = []
    for path in ("/admin/posts/autosave", f"/admin/posts/{world.post_id}/autosave"):
        for field in ("title", "body", "excerpt"):
            payload = {"title": "T", "body": "B", "excerpt": "E", field: "a\x00b"}
            response = client.post(path, json=payload, headers={"Accept": "application/json"})
            if response.status_code != 400:
                wrong.append(f"{path} {field}: {response.status_code}")
    raw = b'{"body": "a\\u0000b"}'
    response = client.post("/admin/posts/preview", data=raw, content_type="application/json")
    if response.status_code != 400:
        wrong.append(f"preview: {response.status_code}")
    assert not wrong, "\n".join(wrong)
    assert changed_tables(before, snapshot(app)) == []


@pytest.mark.parametrize("prefix", ["/", "/category/", "/tag/", "/author/"])
def test_nul_in_a_slug_url_is_not_a_server_error(app, client, users, prefix):
    build_world(app, users["author"]["id"])
    for slug in ("a%00b", "%00", "a%FFb", "%ED%A0%80"):
        assert client.get(f"{prefix}{slug}/").status_code in (400, 404), slug


# Very long values ----------------------------------------------------------------------------

LONG = "x" * 10_000


def test_very_long_titles_slugs_and_names_are_refused_with_a_message(app, users):
    editor, admin = app.test_client(), app.test_client()
    sign_in_with_form(editor, users["editor"]["email"])
    sign_in_with_form(admin, users["admin"]["email"])
    world = build_world(app, users["author"]["id"])
    new_user = {"email": "long@example.com", "role": "author", "password": "a long password"}
    attempts = [
        (editor, "/admin/posts/new", {**editor_data(world), "title": LONG}, "longer than 300"),
        (editor, "/admin/posts/new", {**editor_data(world), "slug": LONG}, "longer than 200"),
        (
            editor,
            f"/admin/posts/{world.post_id}/edit",
            {**editor_data(world, "2"), "title": LONG},
            "longer than 300",
        ),
        (
            editor,
            "/admin/posts/new",
            {**editor_data(world), "tags": "a, " + "t" * 1500},
            "at most 60",
        ),
        (editor, "/admin/categories/", {"name": LONG}, "longer than 120"),
        (
            editor,
            f"/admin/categories/{world.category_id}",
            {"name": "Fine", "slug": LONG},
            "longer than 120",
        ),
        (editor, f"/admin/tags/{world.tag_id}", {"name": LONG}, "longer than 60"),
        (editor, f"/admin/tags/{world.tag_id}", {"name": "fine", "slug": LONG}, "longer than 120"),
        (admin, "/admin/users/new", {**new_user, "display_name": LONG}, "longer than 120"),
    ]
    before = snapshot(app)
    wrong = []
    for client, path, data, message in attempts:
        response = client.post(path, data=data)
        if response.status_code != 400 or message not in response.text:
            wrong.append(f"{path} {sorted(data)}: {response.status_code}")
    assert not wrong, "\n".join(wrong)
    assert changed_tables(before, snapshot(app)) == []
    for path in (f"/{LONG}/", f"/category/{LONG}/", f"/tag/{LONG}/", f"/author/{LONG}/"):
        assert editor.get(path).status_code == 404
    assert editor.get(f"/search?q={LONG}").status_code == 200


def test_a_very_long_display_name_is_refused_with_400(app, client, auth):
    auth.login("author")
    before = snapshot(app)
    response = client.post("/admin/profile", data={"display_name": LONG, "bio": ""})
    assert changed_tables(before, snapshot(app)) == []
    assert "longer than 120" in response.text
    assert response.status_code == 400


# SQL metacharacters --------------------------------------------------------------------------

SQL_QUERIES = [
    "'; DROP TABLE post;--",
    '" OR 1=1 --',
    "' OR '1'='1",
    "%' OR '1'='1",
    "\\'; DELETE FROM user; --",
    "1; SELECT pg_sleep(5)",
    '\' UNION SELECT password_hash FROM "user" --',
    "%",
    "_",
    "*",
    '"',
    "'",
    "\\",
    "NEAR(a b)",
    "title:secret",
    "{title body}: x",
    "a AND OR NOT b",
    "^x",
    "-x",
    "!x & y | (z",
    "a:*",
    "a <-> b",
    "x' || pg_read_file('/etc/passwd') || '",
    "$$; DROP TABLE post; $$",
]

SQL_SLUGS = [
    "'; DROP TABLE post;--",
    "'",
    '" OR 1=1',
    "' OR '1'='1",
    "%",
    "_",
    "%25",
    "\\",
    "1 OR 1=1",
]


def test_sql_metacharacters_find_nothing_and_break_nothing(app, client, users):
    world = build_world(app, users["author"]["id"])
    with app.app_context():
        tables_before = _row_counts()
    before = snapshot(app)
    wrong = []
    for text in SQL_QUERIES:
        response = client.get("/search", query_string={"q": text})
        if response.status_code != 200:
            wrong.append(f"search {text!r}: {response.status_code}")
    for slug in SQL_SLUGS:
        for prefix in ("/", "/category/", "/tag/", "/author/"):
            path = f"{prefix}{quote(slug, safe='')}/"
            if client.get(path).status_code != 404:
                wrong.append(f"{path}: {client.get(path).status_code}")
            feed = f"{prefix}{quote(slug, safe='')}/feed.xml"
            if prefix in ("/category/", "/tag/") and client.get(feed).status_code != 404:
                wrong.append(f"{feed}: not 404")
    assert not wrong, "\n".join(wrong)
    assert changed_tables(before, snapshot(app)) == []
    with app.app_context():
        assert _row_counts() == tables_before
    assert client.get(f"/{world.post_slug}/").status_code == 200  # the control
    COUNTS["inputs: SQL metacharacter probes"] = len(SQL_QUERIES) + len(SQL_SLUGS) * 4


def test_admin_filters_treat_like_wildcards_as_text(app, users):
    editor = app.test_client()
    sign_in_with_form(editor, users["editor"]["email"])
    build_world(app, users["author"]["id"])  # "Target post 1..."
    for title in ("100% sure", "snake_case"):
        editor.post("/admin/posts/new", data={"title": title, "kind": "post", "action": "save"})
    listing = editor.get("/admin/posts/", query_string={"q": "%"}).text
    assert "100% sure" in listing and "Target post" not in listing and "snake_case" not in listing
    listing = editor.get("/admin/posts/", query_string={"q": "_"}).text
    assert "snake_case" in listing and "Target post" not in listing
    listing = editor.get("/admin/posts/", query_string={"q": "' OR '1'='1", "author": "1 OR 1=1"})
    assert listing.status_code == 200 and "Target post" not in listing.text
    suggestions = editor.get("/admin/tags/suggest.json", query_string={"q": "%"}).json
    assert suggestions == {"tags": []}


def _row_counts() -> dict[str, int]:
    return {
        model.__name__: db.session.scalar(select(func.count()).select_from(model))
        for model in (Post, User, Category, Tag, Media)
    }


def test_json_fields_of_the_wrong_type_are_refused(app, client, auth):
    auth.login("author")
    before = snapshot(app)
    for path, payload in [
        ("/admin/posts/autosave", {"title": 5}),
        ("/admin/posts/autosave", {"body": ["x"]}),
        ("/admin/posts/autosave", {"excerpt": {"a": 1}}),
        ("/admin/posts/preview", {"body": 5}),
        ("/admin/posts/preview", {"body": "x" * 1_000_001}),
    ]:
        response = client.post(path, json=payload, headers={"Accept": "application/json"})
        assert response.status_code == 400, (path, str(payload)[:40])
        assert "error" in response.json
    assert changed_tables(before, snapshot(app)) == []


@pytest.mark.parametrize("path", ["/admin/posts/autosave", "/admin/posts/preview"])
@pytest.mark.parametrize("raw", [b"[1, 2]", b'"text"'])
def test_json_bodies_that_are_not_objects_are_refused(app, client, auth, path, raw):
    auth.login("author")
    response = client.post(path, data=raw, content_type="application/json")
    assert response.status_code == 400


def test_two_new_tags_with_the_same_slug_are_not_a_server_error(app, client, auth):
    auth.login("author")
    data = {"title": "Languages", "kind": "post", "action": "save", "tags": "C++, C#"}
    response = client.post("/admin/posts/new", data=data)
    assert response.status_code in (302, 400)

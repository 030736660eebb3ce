"""The admin area: who may open what, user management, profiles."""

import io

import pytest
from PIL import Image
from sqlalchemy import select

from blog.extensions import db
from blog.models import Role, User

ADMIN_ONLY_PAGES = [
    ("GET", "/admin/users/"),
    ("GET", "/admin/users/new"),
    ("POST", "/admin/users/new"),
    ("POST", "/admin/users/{admin}/role"),
    ("POST", "/admin/users/{admin}/deactivate"),
    ("POST", "/admin/users/{admin}/activate"),
]
SIGNED_IN_PAGES = [("GET", "/admin/"), ("GET", "/admin/profile")]


def _request(client, method, path, users):
    path = path.format(admin=users["admin"]["id"])
    return client.open(path, method=method, data={"role": "author"})


@pytest.mark.parametrize(("method", "path"), ADMIN_ONLY_PAGES + SIGNED_IN_PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(client, users, method, path):
    response = _request(client, method, path, users)
    assert response.status_code == 302
    assert "/login?next=" in response.headers["Location"]


@pytest.mark.parametrize("who", ["author", "editor"])
@pytest.mark.parametrize(("method", "path"), ADMIN_ONLY_PAGES)
def test_admin_only_pages_refuse_authors_and_editors(app, client, auth, users, who, method, path):
    auth.login(who)
    assert _request(client, method, path, users).status_code == 403
    with app.app_context():
        admin = db.session.get(User, users["admin"]["id"])
        assert (admin.role, admin.active) == (Role.ADMIN, True)  # nothing changed


@pytest.mark.parametrize("who", ["author", "editor", "admin"])
def test_every_role_reaches_dashboard_and_profile(client, auth, who):
    auth.login(who)
    for _, path in SIGNED_IN_PAGES:
        assert client.get(path).status_code == 200


def test_dashboard_counts_posts_by_status(app, client, auth, users):
    from datetime import timedelta

    from blog.models import Post, PostStatus, utcnow

    with app.app_context():
        for number, status in enumerate(["draft", "draft", "scheduled", "published"]):
            db.session.add(
                Post(
                    title=f"Post {number}",
                    slug=f"post-{number}",
                    status=PostStatus(status),
                    published_at=utcnow() + timedelta(days=1 if status == "scheduled" else 0),
                    author_id=users["author"]["id"],
                )
            )
        db.session.commit()
    auth.login("editor")
    html = client.get("/admin/").data.decode()
    assert '<strong data-count="draft">2</strong>' in html
    assert '<strong data-count="scheduled">1</strong>' in html
    assert '<strong data-count="published">1</strong>' in html


def test_admin_adds_an_author_who_can_then_sign_in(app, client, auth):
    auth.login("admin")
    response = client.post(
        "/admin/users/new",
        data={
            "display_name": "New Writer",
            "email": "writer@example.com",
            "role": "author",
            "password": "writer password 1",
        },
    )
    assert response.status_code == 302
    assert b"New Writer can now sign in" in client.get("/admin/users/").data
    auth.logout()
    response = client.post(
        "/login", data={"email": "writer@example.com", "password": "writer password 1"}
    )
    assert response.status_code == 302
    assert client.get("/admin/users/").status_code == 403  # an author, not an admin


def test_adding_a_user_with_a_taken_email_says_so(client, auth, users):
    auth.login("admin")
    response = client.post(
        "/admin/users/new",
        data={
            "display_name": "Copy",
            "email": users["author"]["email"].upper(),
            "role": "author",
            "password": "another password",
        },
    )
    assert response.status_code == 400
    assert b"already exists" in response.data


def test_admin_changes_a_role_and_deactivates(app, client, auth, users):
    auth.login("admin")
    author_id = users["author"]["id"]
    client.post(f"/admin/users/{author_id}/role", data={"role": "editor"})
    client.post(f"/admin/users/{author_id}/deactivate")
    with app.app_context():
        author = db.session.get(User, author_id)
        assert (author.role, author.active) == (Role.EDITOR, False)


def test_the_last_admin_cannot_be_demoted_or_deactivated(app, client, auth, users):
    auth.login("admin")
    admin_id = users["admin"]["id"]
    response = client.post(f"/admin/users/{admin_id}/role", data={"role": "author"})
    assert response.status_code == 303
    assert b"last active admin" in client.get("/admin/users/").data
    client.post(f"/admin/users/{admin_id}/deactivate")
    with app.app_context():
        admin = db.session.get(User, admin_id)
        assert (admin.role, admin.active) == (Role.ADMIN, True)


def test_users_edit_their_own_name_and_bio(app, client, auth, users):
    auth.login("author")
    response = client.post(
        "/admin/profile", data={"display_name": "  Ann   B. Author ", "bio": "Writes about rain."}
    )
    assert response.status_code == 302
    with app.app_context():
        author = db.session.scalar(select(User).where(User.id == users["author"]["id"]))
        assert (author.display_name, author.bio) == ("Ann B. Author", "Writes about rain.")
        assert author.slug == "ann-b-author"


def jpeg(size=(400, 400)) -> io.BytesIO:
    data = io.BytesIO()
    Image.new("RGB", size, (30, 90, 160)).save(data, "JPEG")
    data.seek(0)
    return data


def save_profile(client, **fields):
    data = {"display_name": "Ann Author", "bio": "Writes about rain.", **fields}
    return client.post("/admin/profile", data=data, content_type="multipart/form-data")


def test_a_photo_uploaded_in_profile_shows_in_the_author_box(app, client, auth, users):
    auth.login("author")
    data = {"title": "Rain", "body": "It rained.", "action": "publish"}
    client.post("/admin/posts/new", data=data)
    assert save_profile(client, photo=(jpeg(), "me.jpg")).status_code == 302
    with app.app_context():
        author = db.session.get(User, users["author"]["id"])
        media = author.avatar
        assert media is not None and media.uploader_id == author.id  # in the Media library
        stored = [variant["filename"] for variant in media.variants] + [media.filename]
    box = client.get("/rain/").data.decode().split('class="author-box"')[1].split("</aside>")[0]
    assert '<img class="avatar" src="/media/' in box
    assert any(name in box for name in stored)
    assert "Writes about rain." in box and 'href="/author/ann-author/"' in box
    assert save_profile(client).status_code == 302  # saving without a file keeps the photo
    assert 'class="avatar"' in client.get("/rain/").data.decode()
    assert save_profile(client, remove_photo="y").status_code == 302
    assert 'class="avatar"' not in client.get("/rain/").data.decode()


def test_deleting_the_photo_from_the_media_library_takes_it_off_the_author_box(
    app, client, auth, users
):
    auth.login("author")
    client.post("/admin/posts/new", data={"title": "Rain", "body": "x", "action": "publish"})
    save_profile(client, photo=(jpeg(), "me.jpg"))
    with app.app_context():
        media_id = db.session.get(User, users["author"]["id"]).avatar_media_id
    assert client.post(f"/admin/media/{media_id}/delete").status_code in (302, 303)
    assert 'class="avatar"' not in client.get("/rain/").data.decode()
    with app.app_context():
        assert db.session.get(User, users["author"]["id"]).avatar_media_id is None


def test_a_profile_photo_that_is_not_an_image_is_refused_with_a_message(app, client, auth, users):
    auth.login("author")
    response = save_profile(client, photo=(io.BytesIO(b"<svg onload=alert(1)>"), "me.svg"))
    assert response.status_code == 400
    assert b"SVG images are not accepted" in response.data
    with app.app_context():
        assert db.session.get(User, users["author"]["id"]).avatar_media_id is None


def test_a_photo_field_sent_as_text_changes_nothing(app, client, auth, users):
    auth.login("author")
    response = client.post("/admin/profile", data={"display_name": "Ann", "photo": "x.jpg"})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(User, users["author"]["id"]).avatar_media_id is None


def test_error_pages_are_friendly(client, users):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert b"Page not found" in response.data
    assert b"Traceback" not in response.data

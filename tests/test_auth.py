"""Signing in and out: passwords, deactivation, throttling, CSRF, redirects, sessions."""

import pytest

from blog.accounts import find_user, set_active
from blog.extensions import db
from tests.conftest import PASSWORD, csrf_token_from


def test_login_with_the_right_password_opens_the_dashboard(client, auth):
    response = auth.login("author")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    page = client.get("/admin/")
    assert b"Ann Author" in page.data


def test_login_with_a_wrong_password_says_so(client, auth):
    response = auth.login("author", password="not the password")
    assert response.status_code == 401
    assert b"Wrong email or password." in response.data
    assert client.get("/admin/").status_code == 302  # still signed out


def test_unknown_email_gets_the_same_answer_as_a_wrong_password(auth):
    response = auth.login("nobody@example.com")
    assert response.status_code == 401
    assert b"Wrong email or password." in response.data


def test_deactivated_user_cannot_sign_in(app, auth, users):
    with app.app_context():
        set_active(find_user(users["author"]["email"]), False)
        db.session.commit()
    response = auth.login("author")
    assert response.status_code == 403
    assert b"deactivated" in response.data


def test_deactivating_a_user_ends_their_session(app, client, auth, users):
    auth.login("author")
    assert client.get("/admin/").status_code == 200
    with app.app_context():
        set_active(find_user(users["author"]["email"]), False)
        db.session.commit()
    assert client.get("/admin/").status_code == 302


def test_repeated_failures_throttle_the_account_with_a_retry_time(app, auth):
    for _ in range(app.config["LOGIN_THROTTLE_PER_ACCOUNT"]):
        assert auth.login("author", password="wrong password").status_code == 401
    response = auth.login("author")  # even the right password waits now
    assert response.status_code == 429
    assert b"Too many failed sign-in attempts. Try again in 15 minutes." in response.data
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60
    assert auth.login("editor").status_code == 302  # other accounts are not blocked


def test_repeated_failures_throttle_the_client_address(make_app, users):
    app = make_app(LOGIN_THROTTLE_PER_ADDRESS=3, LOGIN_THROTTLE_PER_ACCOUNT=100)
    client = app.test_client()
    for number in range(3):
        data = {"email": f"guess{number}@example.com", "password": "x"}
        assert client.post("/login", data=data).status_code == 401
    response = client.post("/login", data={"email": users["admin"]["email"], "password": PASSWORD})
    assert response.status_code == 429
    other_address = client.post(
        "/login",
        data={"email": users["admin"]["email"], "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )
    assert other_address.status_code == 302


def test_login_form_without_csrf_token_is_refused(make_app, users):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    data = {"email": users["admin"]["email"], "password": PASSWORD}
    response = client.post("/login", data=data)
    assert response.status_code == 400
    assert b"form has expired or did not come from this site" in response.data
    token = csrf_token_from(client.get("/login").data.decode())
    assert client.post("/login", data={**data, "csrf_token": token}).status_code == 302


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "http:/evil.example",
        "javascript:alert(1)",
        "/\r\nLocation: https://evil.example/",
    ],
)
def test_next_to_another_site_is_not_followed(auth, target):
    response = auth.login("admin", query_string={"next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"


def test_next_to_a_path_on_this_site_is_followed(auth):
    response = auth.login("admin", query_string={"next": "/admin/profile"})
    assert response.headers["Location"] == "/admin/profile"


def test_remember_me_sets_a_lasting_cookie(client, users):
    data = {"email": users["author"]["email"], "password": PASSWORD, "remember": "y"}
    response = client.post("/login", data=data)
    assert "remember_token=" in " ".join(response.headers.getlist("Set-Cookie"))


def test_logout_ends_the_session(client, auth):
    auth.login("author")
    assert auth.logout().status_code == 302
    assert client.get("/admin/").status_code == 302


def test_password_change_signs_out_other_sessions(app, users):
    laptop, phone = app.test_client(), app.test_client()
    for device in (laptop, phone):
        device.post("/login", data={"email": users["author"]["email"], "password": PASSWORD})
        assert device.get("/admin/").status_code == 200
    response = laptop.post(
        "/admin/profile/password",
        data={
            "current_password": PASSWORD,
            "new_password": "a brand new password",
            "confirm": "a brand new password",
        },
    )
    assert response.status_code == 302
    assert laptop.get("/admin/").status_code == 200  # the device that changed it stays in
    assert phone.get("/admin/").status_code == 302  # the other one is signed out
    login = {"email": users["author"]["email"], "password": "a brand new password"}
    assert app.test_client().post("/login", data=login).status_code == 302


def test_password_change_needs_the_current_password(client, auth):
    auth.login("author")
    response = client.post(
        "/admin/profile/password",
        data={"current_password": "wrong", "new_password": "x" * 12, "confirm": "x" * 12},
    )
    assert response.status_code == 400
    assert b"not your current password" in response.data

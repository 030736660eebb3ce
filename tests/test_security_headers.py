"""Security headers on every kind of response, HSTS, cookie flags, and trusting proxies."""

from pathlib import Path

import pytest
from flask import url_for
from sqlalchemy import select

from blog.extensions import db
from blog.models import LoginAttempt
from blog.security import CONTENT_SECURITY_POLICY
from tests.conftest import PASSWORD

EXPECTED = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
MEDIA_POLICY = "default-src 'none'; img-src 'self'; sandbox"
HTTPS_SITE = "https://blog.example.org"


def assert_security_headers(response, policy: str = EXPECTED["Content-Security-Policy"]):
    for name, value in {**EXPECTED, "Content-Security-Policy": policy}.items():
        assert response.headers.get(name) == value, name
    permissions = response.headers["Permissions-Policy"]
    for feature in ("camera=()", "microphone=()", "geolocation=()", "interest-cohort=()"):
        assert feature in permissions
    assert "unsafe" not in CONTENT_SECURITY_POLICY


def put_media_file(app) -> str:
    name = "a" * 32 + ".png"
    folder = Path(app.config["UPLOAD_FOLDER"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(b"\x89PNG\r\n\x1a\n not really an image")
    return f"/media/{name}"


def test_every_kind_of_response_carries_the_headers(app, client, auth, users):
    public = client.get("/")
    assert public.status_code == 200
    assert_security_headers(public)
    missing = client.get("/no-such-page/")
    assert missing.status_code == 404
    assert_security_headers(missing)
    with client.get(url_for_static(app, "css/site.css")) as static:
        assert static.status_code == 200
        assert_security_headers(static)
    with client.get(put_media_file(app)) as media:
        assert media.status_code == 200
        assert_security_headers(media, policy=MEDIA_POLICY)  # the stricter one is kept
    assert_security_headers(client.get("/login"))
    auth.login("author")
    admin = client.get("/admin/")
    assert admin.status_code == 200
    assert_security_headers(admin)
    forbidden = client.get("/admin/settings")
    assert forbidden.status_code == 403
    assert_security_headers(forbidden)
    assert "Strict-Transport-Security" not in admin.headers


def url_for_static(app, filename: str) -> str:
    with app.test_request_context():
        return url_for("static", filename=filename)


def test_an_unexpected_error_page_carries_the_headers(make_app, users):
    app = make_app()
    app.add_url_rule("/boom", "boom", lambda: 1 / 0)
    response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert_security_headers(response)


def test_hsts_only_when_the_site_is_served_over_https(make_app, users):
    secure = make_app(SITE_URL=HTTPS_SITE).test_client()
    for path in ("/", "/login", "/no-such-page/"):
        response = secure.get(path)
        assert (
            response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
        )
    plain = make_app(SITE_URL="http://blog.example.org").test_client()
    assert "Strict-Transport-Security" not in plain.get("/").headers


def login_cookies(client, users) -> dict[str, str]:
    data = {"email": users["author"]["email"], "password": PASSWORD, "remember": "y"}
    response = client.post("/login", data=data)
    assert response.status_code == 302
    return {header.split("=", 1)[0]: header for header in response.headers.getlist("Set-Cookie")}


@pytest.mark.parametrize("site_url, secure", [("http://blog.test", False), (HTTPS_SITE, True)])
def test_session_and_remember_cookies_flags(make_app, users, site_url, secure):
    cookies = login_cookies(make_app(SITE_URL=site_url).test_client(), users)
    assert {"session", "remember_token"} <= cookies.keys()
    for name in ("session", "remember_token"):
        flags = [part.strip().lower() for part in cookies[name].split(";")]
        assert "httponly" in flags, name
        assert "samesite=lax" in flags, name
        assert ("secure" in flags) is secure, name


def add_external_url_route(app) -> None:
    app.add_url_rule(
        "/external-url", "external_url", lambda: url_for("public.index", _external=True)
    )


def forwarded(address: str = "203.0.113.9") -> dict[str, str]:
    return {"X-Forwarded-For": address, "X-Forwarded-Proto": "https"}


def recorded_addresses(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(LoginAttempt.address)))


def test_behind_one_proxy_the_forwarded_address_and_scheme_count(make_app, users):
    app = make_app(PROXY_COUNT=1)
    add_external_url_route(app)
    client = app.test_client()
    data = {"email": users["author"]["email"], "password": "wrong password"}
    assert client.post("/login", data=data, headers=forwarded()).status_code == 401
    assert recorded_addresses(app) == ["203.0.113.9"]
    external = client.get("/external-url", headers=forwarded(), base_url="http://blog.test")
    assert external.get_data(as_text=True) == "https://blog.test/"


def test_behind_one_proxy_the_address_throttle_follows_the_forwarded_address(make_app, users):
    app = make_app(PROXY_COUNT=1, LOGIN_THROTTLE_PER_ADDRESS=2, LOGIN_THROTTLE_PER_ACCOUNT=100)
    client = app.test_client()
    wrong = {"email": users["author"]["email"], "password": "wrong password"}
    right = {"email": users["author"]["email"], "password": PASSWORD}
    for _ in range(2):
        client.post("/login", data=wrong, headers=forwarded("203.0.113.9"))
    assert client.post("/login", data=right, headers=forwarded("203.0.113.9")).status_code == 429
    assert client.post("/login", data=right, headers=forwarded("198.51.100.4")).status_code == 302


def test_without_proxies_forwarded_headers_are_ignored(make_app, users):
    app = make_app()
    add_external_url_route(app)
    client = app.test_client()
    data = {"email": users["author"]["email"], "password": "wrong password"}
    client.post("/login", data=data, headers=forwarded())
    assert recorded_addresses(app) == ["127.0.0.1"]
    external = client.get("/external-url", headers=forwarded(), base_url="http://blog.test")
    assert external.get_data(as_text=True) == "http://blog.test/"

"""Two-factor authentication: enrolment, the sign-in step, throttling, recovery codes, the
admin requirement and CSRF. The clock is frozen so a test decides which 30-second step it is in.
"""

import re
import time

import pyotp
import pytest
import time_machine
from playwright.sync_api import Page, expect
from sqlalchemy import select

from blog import two_factor as service
from blog.accounts import create_user
from blog.extensions import db
from blog.models import RecoveryCode, User
from blog.settings import get_setting, set_settings
from tests.conftest import PASSWORD, csrf_token_from, shown_by

SETUP = "/admin/profile/two-factor"
STEP = "/login/two-factor"


@pytest.fixture(autouse=True)
def clock(request):
    if request.node.get_closest_marker("browser"):
        yield None  # a live server and a browser need a clock that runs
        return
    with time_machine.travel(time.time(), tick=False) as traveller:
        yield traveller


def code_for(secret: str, steps_ahead: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def wrong_code_for(secret: str) -> str:
    """Six digits that no step within the window accepts (chance alone could make one right)."""
    valid = {code_for(secret, steps) for steps in (-1, 0, 1)}
    return next(code for code in ("000000", "123456", "999999", "424242") if code not in valid)


def turn_on(app, user_id: int) -> tuple[str, list[str]]:
    """Two-factor on for a user, as if enrolled a while ago: the secret and recovery codes."""
    with app.app_context():
        user = db.session.get(User, user_id)
        user.totp_secret = service.new_secret()
        user.totp_enabled = True
        codes = service.new_recovery_codes(user)
        db.session.commit()
        return user.totp_secret, codes


def load_user(app, user_id: int) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.expunge(user)
        return user


def secret_on(html: str) -> str:
    match = re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>', html)
    assert match, "the page shows no secret"
    return match.group(1).replace(" ", "")


def codes_on(html: str) -> list[str]:
    return re.findall(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>", html)


# Enrolment ---------------------------------------------------------------------------------
def test_enrolment_with_a_code_from_the_app_shows_recovery_codes_once(app, client, auth, users):
    auth.login("author")
    page = client.get(SETUP)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert 'src="data:image/svg+xml;base64,' in html
    secret = secret_on(html)
    assert secret_on(client.get(SETUP).get_data(as_text=True)) == secret  # stable on reload

    done = client.post(SETUP, data={"code": code_for(secret)})
    codes = codes_on(done.get_data(as_text=True))
    assert done.status_code == 200 and done.headers["Cache-Control"] == "no-store"
    assert len(codes) == 10 and len(set(codes)) == 10
    user = load_user(app, users["author"]["id"])
    assert user.totp_enabled and user.totp_secret == secret
    with app.app_context():
        hashes = db.session.scalars(
            select(RecoveryCode.code_hash).where(
                RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
            )
        ).all()
    assert len(hashes) == 10 and not any(
        code.replace("-", "") in h for h in hashes for code in codes
    )

    again = client.get(SETUP).get_data(as_text=True)
    assert "is <strong>on</strong>" in again and "10 unused recovery codes" in again
    assert secret not in again.replace(" ", "") and not codes_on(again)
    assert "Manage two-factor authentication" in client.get("/admin/profile").get_data(True)


def test_a_wrong_code_at_enrolment_is_refused(app, client, auth, users):
    auth.login("author")
    secret = secret_on(client.get(SETUP).get_data(as_text=True))
    wrong = client.post(SETUP, data={"code": wrong_code_for(secret)})
    assert wrong.status_code == 400 and b"That code is not right." in wrong.data
    empty = client.post(SETUP, data={"code": ""})
    assert empty.status_code == 400 and b"Enter the code from your app." in empty.data
    assert not load_user(app, users["author"]["id"]).totp_enabled


# Signing in --------------------------------------------------------------------------------
def test_sign_in_asks_for_the_code_and_keeps_the_next_page(app, client, users):
    secret, _ = turn_on(app, users["author"]["id"])
    data = {"email": users["author"]["email"], "password": PASSWORD}
    first = client.post("/login?next=/admin/posts", data=data)
    assert first.status_code == 302 and first.headers["Location"] == STEP
    assert client.get("/admin/").status_code == 302  # not signed in yet
    assert b"authenticator app" in client.get(STEP).data
    second = client.post(STEP, data={"code": code_for(secret)})
    assert second.status_code == 302 and second.headers["Location"] == "/admin/posts"
    assert client.get("/admin/").status_code == 200


def test_codes_one_step_off_are_accepted_and_none_is_used_twice(app, client, auth, users):
    secret, _ = turn_on(app, users["author"]["id"])
    auth.login("author")
    assert client.post(STEP, data={"code": code_for(secret, -2)}).status_code == 401
    assert client.post(STEP, data={"code": code_for(secret, 2)}).status_code == 401
    assert client.post(STEP, data={"code": code_for(secret, -1)}).status_code == 302
    auth.logout()
    auth.login("author")
    # The same code again, or one from an earlier step, would be a replay.
    assert client.post(STEP, data={"code": code_for(secret, -1)}).status_code == 401
    assert client.post(STEP, data={"code": code_for(secret, 0)}).status_code == 302


def test_the_code_used_to_enrol_cannot_sign_in(app, client, auth, users, clock):
    auth.login("author")
    secret = secret_on(client.get(SETUP).get_data(as_text=True))
    client.post(SETUP, data={"code": code_for(secret)})
    auth.logout()
    auth.login("author")
    assert client.post(STEP, data={"code": code_for(secret)}).status_code == 401
    clock.shift(30)
    assert client.post(STEP, data={"code": code_for(secret)}).status_code == 302


def test_wrong_codes_are_refused_and_throttled_like_wrong_passwords(make_app, users):
    app = make_app(LOGIN_THROTTLE_PER_ACCOUNT=3)
    client = app.test_client()
    secret, _ = turn_on(app, users["author"]["id"])
    data = {"email": users["author"]["email"], "password": PASSWORD}
    client.post("/login", data=data)
    for wrong in (wrong_code_for(secret), "not-a-code", "abcde-fghjk"):
        response = client.post(STEP, data={"code": wrong})
        assert response.status_code == 401 and b"That code is not right." in response.data
    throttled = client.post(STEP, data={"code": code_for(secret)})
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) > 0
    assert b"Too many failed sign-in attempts" in throttled.data
    # The right password again does not wipe the slate clean for more guesses.
    assert client.post("/login", data=data).status_code == 429
    assert client.get("/admin/").status_code == 302


def test_the_second_step_needs_a_fresh_right_password(app, client, auth, users, clock):
    secret, _ = turn_on(app, users["author"]["id"])
    nobody = client.get(STEP)
    assert nobody.status_code == 302 and nobody.headers["Location"] == "/login"
    auth.login("author", password="wrong password")
    assert client.get(STEP).status_code == 302

    auth.login("author")
    with app.app_context():  # a password change elsewhere voids the half-finished sign-in
        db.session.get(User, users["author"]["id"]).set_password("another long password")
        db.session.commit()
    assert client.post(STEP, data={"code": code_for(secret)}).headers["Location"] == "/login"

    auth.login("author", password="another long password")
    clock.shift(11 * 60)  # too late
    assert client.post(STEP, data={"code": code_for(secret)}).headers["Location"] == "/login"
    assert client.get("/admin/").status_code == 302


def test_accounts_without_two_factor_sign_in_with_the_password_alone(client, auth):
    assert auth.login("author").headers["Location"] == "/admin/"


# Recovery codes ----------------------------------------------------------------------------
def test_a_recovery_code_signs_in_once(app, client, auth, users):
    _, codes = turn_on(app, users["author"]["id"])
    auth.login("author")
    used = client.post(STEP, data={"code": codes[0].upper()}, follow_redirects=True)
    assert used.status_code == 200 and b"9 left" in used.data
    auth.logout()
    auth.login("author")
    assert client.post(STEP, data={"code": codes[0]}).status_code == 401
    assert client.post(STEP, data={"code": codes[1].replace("-", " ")}).status_code == 302


def test_new_recovery_codes_need_the_password_and_replace_the_old(app, client, auth, users):
    _, old_codes = turn_on(app, users["author"]["id"])
    client.post("/login", data={"email": users["author"]["email"], "password": PASSWORD})
    client.post(STEP, data={"code": old_codes[0]})
    url = SETUP + "/recovery-codes"
    wrong = client.post(url, data={"codes-password": "not my password"})
    assert wrong.status_code == 400 and b"That is not your password." in wrong.data
    renewed = client.post(url, data={"codes-password": PASSWORD})
    new_codes = codes_on(renewed.get_data(as_text=True))
    assert len(new_codes) == 10 and renewed.headers["Cache-Control"] == "no-store"
    auth.logout()
    auth.login("author")
    assert client.post(STEP, data={"code": old_codes[1]}).status_code == 401
    assert client.post(STEP, data={"code": new_codes[0]}).status_code == 302


# Turning it off ----------------------------------------------------------------------------
def test_turning_two_factor_off_needs_the_password(app, client, auth, users):
    secret, _ = turn_on(app, users["author"]["id"])
    auth.login("author")
    client.post(STEP, data={"code": code_for(secret)})
    wrong = client.post(SETUP + "/disable", data={"disable-password": "not my password"})
    assert wrong.status_code == 400 and b"That is not your password." in wrong.data
    assert load_user(app, users["author"]["id"]).totp_enabled

    off = client.post(SETUP + "/disable", data={"disable-password": PASSWORD})
    assert off.status_code == 302 and off.headers["Location"] == "/admin/profile"
    user = load_user(app, users["author"]["id"])
    assert not user.totp_enabled and user.totp_secret is None
    with app.app_context():
        assert not db.session.scalars(select(RecoveryCode).filter_by(user_id=user.id)).all()
    auth.logout()
    assert auth.login("author").headers["Location"] == "/admin/"


# The admin requirement ---------------------------------------------------------------------
def require_admin_2fa(app, on: bool = True) -> None:
    with app.app_context():
        set_settings({"require_admin_2fa": on})
        db.session.commit()


def test_admins_without_two_factor_can_only_enrol_when_the_site_requires_it(
    app, client, auth, users
):
    require_admin_2fa(app)
    assert auth.login("admin").headers["Location"] == "/admin/"
    for path in ("/admin/", "/admin/settings", "/admin/posts/new", "/admin/profile"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"] == SETUP, path
    as_json = client.post(
        "/admin/posts/preview", json={"body": "x"}, headers={"Accept": "application/json"}
    )
    assert as_json.status_code == 403 and "two-factor" in as_json.get_json()["message"]

    secret = secret_on(client.get(SETUP).get_data(as_text=True))
    client.post(SETUP, data={"code": code_for(secret)})
    assert client.get("/admin/settings").status_code == 200

    auth.logout()
    auth.login("author")  # the requirement is for admins only
    assert client.get("/admin/").status_code == 200


def test_the_requirement_is_an_admin_setting(app, client, auth, users):
    auth.login("admin")
    assert b"Admins must use two-factor authentication" in client.get("/admin/settings").data
    form = {"site_title": "Harbour Times", "posts_per_page": "10", "timezone": "UTC",
            "comment_moderation": "first_time", "comments_close_days": "60",
            "comment_max_links": "2", "require_admin_2fa": "y"}  # fmt: skip
    form.update(shown_by(client, "/admin/settings"))
    assert client.post("/admin/settings", data=form).status_code == 302
    with app.app_context():
        assert get_setting("require_admin_2fa") is True
    assert client.get("/admin/").headers["Location"] == SETUP


# CSRF --------------------------------------------------------------------------------------
def test_every_two_factor_form_checks_its_csrf_token(make_app, users):
    app = make_app(WTF_CSRF_ENABLED=True)
    secret, codes = turn_on(app, users["author"]["id"])
    client = app.test_client()
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    data = {"email": users["author"]["email"], "password": PASSWORD, "csrf_token": token}
    assert client.post("/login", data=data).headers["Location"] == STEP
    assert client.post(STEP, data={"code": code_for(secret)}).status_code == 400
    token = csrf_token_from(client.get(STEP).get_data(as_text=True))
    assert (
        client.post(STEP, data={"code": code_for(secret), "csrf_token": token}).status_code == 302
    )

    for url, field in ((SETUP + "/recovery-codes", "codes-password"),
                       (SETUP + "/disable", "disable-password")):  # fmt: skip
        assert client.post(url, data={field: PASSWORD}).status_code == 400
        assert load_user(app, users["author"]["id"]).totp_enabled
    page = client.get(SETUP).get_data(as_text=True)
    token = csrf_token_from(page)
    off = client.post(SETUP + "/disable", data={"disable-password": PASSWORD, "csrf_token": token})
    assert off.status_code == 302 and not load_user(app, users["author"]["id"]).totp_enabled

    secret = secret_on(client.get(SETUP).get_data(as_text=True))
    assert client.post(SETUP, data={"code": code_for(secret)}).status_code == 400
    token = csrf_token_from(client.get(SETUP).get_data(as_text=True))
    confirmed = client.post(SETUP, data={"code": code_for(secret, 1), "csrf_token": token})
    assert confirmed.status_code == 200 and len(codes_on(confirmed.get_data(as_text=True))) == 10


# The service -------------------------------------------------------------------------------
def test_provisioning_uri_names_the_site_and_the_account(app, users):
    with app.app_context():
        set_settings({"site_title": "Harbour Times"})
        db.session.commit()
        user = db.session.get(User, users["author"]["id"])
        uri = service.provisioning_uri(user, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
    assert uri.startswith("otpauth://totp/Harbour%20Times:author%40example.com?")
    assert "secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP" in uri and "issuer=Harbour%20Times" in uri
    data_uri, size = service.qr_code_data_uri(uri)
    assert data_uri.startswith("data:image/svg+xml;base64,") and 100 < size < 400


# In the browser ----------------------------------------------------------------------------
@pytest.mark.browser
def test_enrol_then_sign_in_with_a_code_in_the_browser(live_server, signed_in, page: Page):
    messages = []
    page.on("console", lambda message: messages.append(message.text))
    page.goto(live_server.url + "/admin/profile")
    page.get_by_role("link", name="Set up two-factor authentication").click()
    qr_code = page.get_by_role("img", name=re.compile("QR code"))
    expect(qr_code).to_be_visible()
    assert qr_code.evaluate("image => image.complete && image.naturalWidth > 0")
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.get_by_label("Authentication code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on two-factor authentication").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    expect(page.get_by_role("list", name="Recovery codes").get_by_role("listitem")).to_have_count(
        10
    )
    page.get_by_role("link", name="I have saved them").click()
    page.get_by_role("button", name="Sign out").click()

    page.goto(live_server.url + "/admin/posts/")
    page.get_by_label("Email").fill("ann@example.com")
    page.get_by_label("Password").fill("a long test password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
    # The code used to enrol is spent; the next step's code is within the window.
    page.get_by_label("Authentication code").fill(pyotp.TOTP(secret).at(time.time() + 30))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_text("Ann Author (author)")).to_be_visible()
    assert page.url == live_server.url + "/admin/posts/"
    assert not [text for text in messages if "Content Security Policy" in text]


@pytest.mark.browser
def test_two_factor_pages_have_no_accessibility_violations(live_server, browser):
    from tests.test_browser_reader import axe_violations

    context = browser.new_context(bypass_csp=True)  # axe is injected as a script
    page = context.new_page()
    with live_server.app.app_context():
        create_user("ann@example.com", "Ann Author", "admin", "a long test password")
        db.session.commit()
    page.goto(live_server.url + "/login")
    page.get_by_label("Email").fill("ann@example.com")
    page.get_by_label("Password").fill("a long test password")
    page.get_by_role("button", name="Sign in").click()
    found = {}
    page.goto(live_server.url + SETUP)
    found["setup"] = axe_violations(page)
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.get_by_label("Authentication code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on two-factor authentication").click()
    found["codes"] = axe_violations(page)
    page.goto(live_server.url + SETUP)
    found["manage"] = axe_violations(page)
    page.get_by_role("button", name="Sign out").click()
    page.goto(live_server.url + "/login")
    page.get_by_label("Email").fill("ann@example.com")
    page.get_by_label("Password").fill("a long test password")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Authentication code").fill("000000")
    page.get_by_role("button", name="Verify").click()
    found["sign-in step, wrong code"] = axe_violations(page)
    context.close()
    assert {page: violations for page, violations in found.items() if violations} == {}

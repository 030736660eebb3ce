"""Server-side sign-in sessions: signing out, ending a session or changing a password is final.

Each sign-in is a `UserSession` record the cookies point to; these tests replay cookies after
the record is gone and expect the sign-in page, in one process and across two real servers
sharing one database (SQLite file or PostgreSQL).
"""

import hashlib
import re
from datetime import timedelta

import pyotp
import pytest
import time_machine
from sqlalchemy import event, func, select

from blog import first_run, two_factor
from blog.accounts import find_user, set_active
from blog.extensions import db
from blog.models import User, UserSession, utcnow
from tests.conftest import PASSWORD, csrf_token_from
from tests.live_servers import FIREFOX, Browser, Server

PHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)
END_FORM = re.compile(r'action="/admin/profile/sessions/(\d+)/end"')


def sign_in(client, users, who="author", remember=False, **kwargs):
    data = {"email": users[who]["email"], "password": PASSWORD}
    if remember:
        data["remember"] = "y"
    response = client.post("/login", data=data, **kwargs)
    assert response.status_code == 302, response.status_code
    return response


def cookie(client, name: str) -> str:
    found = client.get_cookie(name)
    assert found is not None, f"no {name} cookie"
    return found.value


def replay(app, **cookies):
    """A client of another machine holding only copies of these cookies."""
    other = app.test_client()
    for name, value in cookies.items():
        other.set_cookie(name, value)
    return other


def refused(response) -> bool:
    return response.status_code == 302 and "/login" in response.headers["Location"]


def session_count(app, user_id: int | None = None) -> int:
    with app.app_context():
        query = select(func.count(UserSession.id))
        if user_id is not None:
            query = query.where(UserSession.user_id == user_id)
        return db.session.scalar(query)


# Signing out ------------------------------------------------------------------------------
def test_a_replayed_session_cookie_is_refused_after_sign_out(app, client, users):
    sign_in(client, users)
    stolen = cookie(client, "session")
    assert replay(app, session=stolen).get("/admin/posts/").status_code == 200
    assert client.post("/logout").status_code == 302
    assert refused(replay(app, session=stolen).get("/admin/posts/"))
    assert session_count(app) == 0


def test_a_replayed_remember_me_cookie_alone_is_refused_after_sign_out(app, client, users):
    sign_in(client, users, remember=True)
    stolen = cookie(client, "remember_token")
    assert replay(app, remember_token=stolen).get("/admin/posts/").status_code == 200
    client.post("/logout")
    assert refused(replay(app, remember_token=stolen).get("/admin/posts/"))


def test_a_refused_cookie_is_cleared_so_the_reader_gets_cached_pages_again(app, client, users):
    sign_in(client, users, remember=True)
    stolen = {name: cookie(client, name) for name in ("session", "remember_token")}
    client.post("/logout")
    other = replay(app, **stolen)
    first = other.get("/")
    assert first.status_code == 200
    assert other.get_cookie("remember_token") is None
    other.get("/")
    assert other.get("/").headers["X-Cache"] == "HIT"


def test_the_cookie_holds_a_token_the_database_keeps_only_as_a_hash(app, client, users):
    sign_in(client, users, remember=True)
    remembered = cookie(client, "remember_token")
    token = remembered.rpartition("|")[0]
    with app.app_context():
        record = db.session.scalars(select(UserSession)).one()
        assert record.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in {str(value) for value in vars(record).values()}


def test_users_compare_without_being_signed_in(app, users):
    """Flask-Login's mixin compares get_id(), now a sign-in's token; users compare as objects."""
    with app.app_context():
        author, editor = find_user(users["author"]["email"]), find_user(users["editor"]["email"])
        assert author == find_user(users["author"]["email"]) and author != editor
        assert len({author, editor}) == 2
        with pytest.raises(RuntimeError):
            author.get_id()  # only a sign-in gives an identity


# The record --------------------------------------------------------------------------------
def test_a_sign_in_records_device_address_and_remember_me(app, client, users):
    sign_in(
        client,
        users,
        remember=True,
        headers={"User-Agent": FIREFOX},
        environ_base={"REMOTE_ADDR": "192.0.2.9"},
    )
    with app.app_context():
        record = db.session.scalars(select(UserSession)).one()
        assert (record.user_id, record.device, record.address, record.remember) == (
            users["author"]["id"],
            "Firefox on Linux",
            "192.0.2.9",
            True,
        )
        assert abs(record.created_at - utcnow()) < timedelta(minutes=1)
        assert record.last_seen_at == record.created_at


def test_the_two_factor_step_records_a_session_only_once_the_code_is_right(app, users):
    with app.app_context():
        user = db.session.get(User, users["author"]["id"])
        user.totp_secret, user.totp_enabled = two_factor.new_secret(), True
        secret = user.totp_secret
        db.session.commit()
    client = app.test_client()
    response = sign_in(client, users, remember=True)
    assert response.headers["Location"] == "/login/two-factor"
    assert session_count(app) == 0  # the password alone signs nobody in
    client.post("/login/two-factor", data={"code": pyotp.TOTP(secret).now()})
    assert client.get("/admin/").status_code == 200
    with app.app_context():
        assert db.session.scalars(select(UserSession.remember)).one() is True


def test_first_run_setup_records_a_session(app, client):
    form = {"display_name": "Sam", "email": "sam@example.com", "password": PASSWORD * 2}
    token = first_run.setup_token(app)
    client.post("/setup", data={**form, "confirm": form["password"], "token": token})
    assert client.get("/admin/").status_code == 200
    assert session_count(app) == 1


def test_behind_a_proxy_the_forwarded_address_is_recorded(make_app, users):
    app = make_app(PROXY_COUNT=1)
    client = app.test_client()
    sign_in(client, users, headers={"X-Forwarded-For": "198.51.100.4"})
    with app.app_context():
        assert db.session.scalars(select(UserSession.address)).one() == "198.51.100.4"


def test_an_unknown_or_huge_user_agent_is_kept_short(app, client, users):
    sign_in(client, users, headers={"User-Agent": "x" * 5000})
    with app.app_context():
        assert len(db.session.scalars(select(UserSession.device)).one()) <= 120


def test_a_hostile_user_agent_is_shown_as_text(app, client, users):
    sign_in(client, users, headers={"User-Agent": "<script>alert(1)</script>"})
    page = client.get("/admin/profile").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_anonymous_readers_get_no_session_record_and_no_session_query(app, client, users):
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        for url in ("/", "/", "/login", "/search?q=hello", "/feed.xml", "/nothing-here/"):
            client.get(url)
        client.post("/login", data={"email": users["author"]["email"], "password": "wrong one"})
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert statements and not [s for s in statements if "user_session" in s]
    assert session_count(app) == 0


def test_a_cookie_from_before_the_upgrade_signs_nobody_in_and_shows_no_error(app, client, users):
    with client.session_transaction() as session:  # the old identity: "<user id>:<token>"
        session["_user_id"] = f"{users['author']['id']}:Kx3pZ0d1aVZ2bWJ4"
        session["_fresh"] = True
    assert refused(client.get("/admin/"))
    assert client.get("/").status_code == 200
    assert sign_in(client, users).headers["Location"] == "/admin/"


def test_last_seen_is_written_at_most_every_few_minutes(app, client, users):
    with time_machine.travel(utcnow(), tick=False) as clock:
        sign_in(client, users)
        with app.app_context():
            signed_in_at = db.session.scalars(select(UserSession.last_seen_at)).one()
        clock.shift(60)
        assert client.get("/admin/").status_code == 200
        with app.app_context():
            assert db.session.scalars(select(UserSession.last_seen_at)).one() == signed_in_at
        clock.shift(app.config["SESSION_LAST_SEEN_SECONDS"])
        assert client.get("/admin/").status_code == 200
        with app.app_context():
            assert db.session.scalars(select(UserSession.last_seen_at)).one() > signed_in_at


# Expiry -----------------------------------------------------------------------------------
def test_a_session_expires_after_the_idle_time(app, client, users):
    idle = timedelta(days=app.config["SESSION_IDLE_DAYS"])
    with time_machine.travel(utcnow(), tick=False) as clock:
        sign_in(client, users)
        clock.shift(idle - timedelta(hours=1))
        assert client.get("/admin/").status_code == 200  # use keeps it alive
        clock.shift(idle - timedelta(hours=1))
        assert client.get("/admin/").status_code == 200
        clock.shift(idle + timedelta(minutes=1))
        assert refused(client.get("/admin/"))


def test_a_remembered_session_lasts_longer_but_not_for_ever(app, client, users):
    idle = timedelta(days=app.config["SESSION_IDLE_DAYS"])
    remembered = timedelta(days=app.config["REMEMBERED_SESSION_IDLE_DAYS"])
    assert remembered > idle
    with time_machine.travel(utcnow(), tick=False) as clock:
        sign_in(client, users, remember=True)
        stolen = cookie(client, "remember_token")
        clock.shift(idle + timedelta(days=1))
        assert client.get("/admin/").status_code == 200
        clock.shift(remembered + timedelta(minutes=1))
        assert refused(replay(app, remember_token=stolen).get("/admin/"))


def test_expired_records_are_removed_at_the_next_sign_in(app, users):
    idle = timedelta(days=app.config["SESSION_IDLE_DAYS"])
    with time_machine.travel(utcnow(), tick=False) as clock:
        sign_in(app.test_client(), users, who="editor")
        sign_in(app.test_client(), users, who="editor", remember=True)
        clock.shift(idle + timedelta(hours=1))
        sign_in(app.test_client(), users)
    assert session_count(app, users["editor"]["id"]) == 1  # the remembered one is still good
    assert session_count(app) == 2


# Ending sessions ----------------------------------------------------------------------------
def two_devices(app, users, who="author"):
    laptop, phone = app.test_client(), app.test_client()
    sign_in(laptop, users, who, headers={"User-Agent": FIREFOX})
    sign_in(phone, users, who, remember=True, headers={"User-Agent": PHONE})
    return laptop, phone


def test_profile_lists_the_active_sessions_and_marks_this_browser(app, users):
    laptop, _ = two_devices(app, users)
    page = laptop.get("/admin/profile", headers={"User-Agent": FIREFOX}).get_data(as_text=True)
    assert "Firefox on Linux" in page and "Safari on iPhone" in page
    assert "This browser" in page
    assert len(END_FORM.findall(page)) == 1  # only the other one; this one signs out


def test_ending_a_session_from_profile_signs_that_browser_out(app, users):
    laptop, phone = two_devices(app, users)
    stolen = cookie(phone, "remember_token")
    (phone_session,) = END_FORM.findall(laptop.get("/admin/profile").get_data(as_text=True))
    response = laptop.post(f"/admin/profile/sessions/{phone_session}/end")
    assert response.status_code in (302, 303)
    assert refused(phone.get("/admin/"))
    assert refused(replay(app, remember_token=stolen).get("/admin/"))
    assert laptop.get("/admin/").status_code == 200


def test_ending_all_other_sessions_keeps_this_one(app, users):
    laptop, phone = two_devices(app, users)
    tablet = app.test_client()
    sign_in(tablet, users)
    assert laptop.post("/admin/profile/sessions/end-others").status_code in (302, 303)
    assert refused(phone.get("/admin/")) and refused(tablet.get("/admin/"))
    assert laptop.get("/admin/").status_code == 200
    assert session_count(app) == 1


def test_ending_a_session_needs_a_csrf_token(make_app, users):
    app = make_app(WTF_CSRF_ENABLED=True)
    laptop, phone = app.test_client(), app.test_client()
    for device in (laptop, phone):
        token = csrf_token_from(device.get("/login").get_data(as_text=True))
        data = {"email": users["author"]["email"], "password": PASSWORD, "csrf_token": token}
        assert device.post("/login", data=data).status_code == 302
    page = laptop.get("/admin/profile").get_data(as_text=True)
    (phone_session,) = END_FORM.findall(page)
    assert laptop.post(f"/admin/profile/sessions/{phone_session}/end").status_code == 400
    assert phone.get("/admin/").status_code == 200
    token = csrf_token_from(page)
    laptop.post(f"/admin/profile/sessions/{phone_session}/end", data={"csrf_token": token})
    assert refused(phone.get("/admin/"))


def test_an_author_cannot_end_someone_elses_session(app, users):
    victim = app.test_client()
    sign_in(victim, users, "other_author")
    with app.app_context():
        victims_session = db.session.scalars(select(UserSession.id)).one()
    attacker = app.test_client()
    sign_in(attacker, users, "author")
    answer = attacker.post(f"/admin/profile/sessions/{victims_session}/end")
    assert answer.status_code == 404
    answer = attacker.post(f"/admin/users/{users['other_author']['id']}/sessions/end")
    assert answer.status_code == 403
    assert victim.get("/admin/").status_code == 200


def test_an_admin_can_end_all_sessions_of_a_user(app, users):
    laptop, phone = two_devices(app, users)
    admin = app.test_client()
    sign_in(admin, users, "admin")
    page = admin.get("/admin/users/").get_data(as_text=True)
    assert f'action="/admin/users/{users["author"]["id"]}/sessions/end"' in page
    response = admin.post(f"/admin/users/{users['author']['id']}/sessions/end")
    assert response.status_code == 303
    assert refused(laptop.get("/admin/")) and refused(phone.get("/admin/"))
    assert admin.get("/admin/").status_code == 200
    assert session_count(app, users["author"]["id"]) == 0


def test_a_password_change_ends_every_other_session(app, users):
    laptop, phone = two_devices(app, users)
    stolen = cookie(phone, "remember_token")
    response = laptop.post(
        "/admin/profile/password",
        data={
            "current_password": PASSWORD,
            "new_password": "a brand new password",
            "confirm": "a brand new password",
        },
    )
    assert response.status_code == 302
    assert laptop.get("/admin/").status_code == 200
    assert refused(phone.get("/admin/"))
    assert refused(replay(app, remember_token=stolen).get("/admin/"))
    assert session_count(app) == 1


def test_deactivating_a_user_ends_their_sessions(app, users):
    laptop, phone = two_devices(app, users)
    with app.app_context():
        set_active(find_user(users["author"]["email"]), False)
        db.session.commit()
    assert refused(laptop.get("/admin/")) and refused(phone.get("/admin/"))
    assert session_count(app, users["author"]["id"]) == 0


# Across two app processes -------------------------------------------------------------------
@pytest.fixture
def two_servers(app, users, database_url, tmp_path):
    """Servers A and B on the test's database (SQLite file or PostgreSQL), users included."""
    servers = [Server(tmp_path / f"server-{name}", database_url) for name in ("a", "b")]
    try:
        yield [server.wait_until_up().port for server in servers]
    finally:
        for server in servers:
            server.stop()


def status_of(browser: Browser, path: str) -> tuple[int, str]:
    answer = browser.get(path)
    return answer.status, answer.location


def is_sign_in_redirect(answer: tuple[int, str]) -> bool:
    status, location = answer
    return status == 302 and "/login" in location


def test_across_two_servers_a_replayed_cookie_is_refused_after_sign_out(two_servers, users):
    a, b = two_servers
    browser = Browser(a)
    browser.sign_in(users["author"]["email"], PASSWORD, remember=True)
    stolen_session = {"session": browser.cookies["session"]}
    stolen_remember = {"remember_token": browser.cookies["remember_token"]}
    assert status_of(Browser(b, stolen_session), "/admin/posts/") == (200, "")
    assert status_of(Browser(b, stolen_remember), "/admin/posts/") == (200, "")

    browser.get("/admin/")
    assert (
        browser.request("POST", "/logout", {}).status == 302
        and "remember_token" not in browser.cookies
    )

    assert is_sign_in_redirect(status_of(Browser(b, stolen_session), "/admin/posts/"))
    assert is_sign_in_redirect(status_of(Browser(b, stolen_remember), "/admin/posts/"))
    assert is_sign_in_redirect(status_of(Browser(a, stolen_session), "/admin/posts/"))


def test_across_two_servers_ending_a_session_in_profile_signs_that_browser_out(two_servers, users):
    a, b = two_servers
    laptop, phone = Browser(a), Browser(b)
    laptop.sign_in(users["author"]["email"], PASSWORD)
    phone.sign_in(users["author"]["email"], PASSWORD, remember=True)
    assert status_of(phone, "/admin/") == (200, "")
    assert status_of(phone.on(a), "/admin/") == (200, "")  # the load balancer may send it to A

    page = laptop.get("/admin/profile").body
    (phone_session,) = END_FORM.findall(page)
    ended = laptop.request("POST", f"/admin/profile/sessions/{phone_session}/end", {})
    assert ended.status in (302, 303)

    assert is_sign_in_redirect(status_of(phone, "/admin/"))  # on B, at the next request
    assert is_sign_in_redirect(status_of(phone.on(a), "/admin/"))
    assert status_of(laptop.on(b), "/admin/") == (200, "")

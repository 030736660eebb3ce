"""Invitations, end to end against a real SMTP server: an admin invites, the email arrives,
the person chooses a name and password and is signed in with the role; expired, revoked and
replaced links are refused; and with no email the admin gets the link to pass on."""

from datetime import timedelta

import pytest

from blog.accounts import create_user
from blog.extensions import db
from blog.models import Invitation, Role, User, utcnow
from tests.conftest import PASSWORD, run_jobs
from tests.email_links import link_in, text_of

ADMIN = "boss@example.com"
GUEST = "new.person@example.com"
CHOSEN = "my own fine password"


@pytest.fixture
def admin(mail_app):
    with mail_app.app_context():
        create_user(ADMIN, "Bea Boss", Role.ADMIN, PASSWORD)
        db.session.commit()
    client = mail_app.test_client()
    assert client.post("/login", data={"email": ADMIN, "password": PASSWORD}).status_code == 302
    return client


def invite(client, email=GUEST, role="editor"):
    return client.post("/admin/users/invite", data={"email": email, "role": role})


def join(link, name="Nell New", password=CHOSEN, client=None, app=None):
    client = client or app.test_client()
    return client.post(link, data={"display_name": name, "password": password, "confirm": password})


def invitation_id(app, email=GUEST) -> int:
    with app.app_context():
        return db.session.scalar(db.select(Invitation.id).where(Invitation.email == email))


def test_an_invited_person_joins_with_the_role_and_the_link_then_stops_working(
    mail_app, smtp_server, admin
):
    sent = invite(admin)
    assert sent.status_code == 303
    assert "Invitation sent to new.person@example.com" in admin.get("/admin/users/").get_data(
        as_text=True
    )
    run_jobs(mail_app)
    [message] = smtp_server.wait_for(1)
    assert message["To"] == GUEST and message["Subject"] == "You are invited to My Blog"
    assert "Bea Boss invites you to join My Blog as an editor" in text_of(message)
    link = link_in(message, "/join/")

    newcomer = mail_app.test_client()
    form = newcomer.get(link).get_data(as_text=True)
    assert "You are invited as <strong>editor</strong>" in form
    joined = join(link, client=newcomer)
    assert joined.status_code == 302 and joined.headers["Location"] == "/admin/"
    assert newcomer.get("/admin/categories/").status_code == 200  # an editor's page

    with mail_app.app_context():
        user = db.session.scalar(db.select(User).where(User.email == GUEST))
        assert (user.display_name, user.role) == ("Nell New", Role.EDITOR)
    again = mail_app.test_client()
    assert again.post("/login", data={"email": GUEST, "password": CHOSEN}).status_code == 302

    reused = join(link, name="Mallory", app=mail_app)
    assert reused.status_code == 400
    assert "already been accepted" in reused.get_data(as_text=True)
    assert "No invitation is waiting" in admin.get("/admin/users/").get_data(as_text=True)


def test_pending_invitations_are_listed_and_resending_replaces_the_link(
    mail_app, smtp_server, admin
):
    invite(admin, role="author")
    run_jobs(mail_app)
    first = link_in(smtp_server.wait_for(1)[0], "/join/")
    page = admin.get("/admin/users/").get_data(as_text=True)
    assert "Pending invitations" in page and GUEST in page

    resent = admin.post(f"/admin/users/invitations/{invitation_id(mail_app)}/resend")
    assert resent.status_code == 303
    run_jobs(mail_app)
    second = link_in(smtp_server.wait_for(2)[1], "/join/")
    assert second != first

    old = mail_app.test_client().get(first)
    assert old.status_code == 400 and "not valid" in old.get_data(as_text=True)
    assert join(second, app=mail_app).status_code == 302


def test_a_revoked_invitation_is_refused(mail_app, smtp_server, admin):
    invite(admin)
    run_jobs(mail_app)
    link = link_in(smtp_server.wait_for(1)[0], "/join/")
    revoked = admin.post(f"/admin/users/invitations/{invitation_id(mail_app)}/revoke")
    assert revoked.status_code == 303
    assert GUEST not in admin.get("/admin/users/").get_data(as_text=True).split("Pending")[1]

    page = join(link, app=mail_app)
    assert page.status_code == 400 and "withdrawn" in page.get_data(as_text=True)
    with mail_app.app_context():
        assert db.session.scalar(db.select(User).where(User.email == GUEST)) is None


def test_an_invitation_expires_after_seven_days(mail_app, smtp_server, admin):
    invite(admin)
    run_jobs(mail_app)
    link = link_in(smtp_server.wait_for(1)[0], "/join/")
    with mail_app.app_context():
        invitation = db.session.get(Invitation, invitation_id(mail_app))
        assert invitation.expires_at - invitation.sent_at == timedelta(days=7)
        invitation.expires_at = utcnow() - timedelta(seconds=1)  # seven days later
        db.session.commit()
    page = join(link, app=mail_app)
    assert page.status_code == 400 and "expired" in page.get_data(as_text=True)
    assert "No invitation is waiting" in admin.get("/admin/users/").get_data(as_text=True)


@pytest.mark.parametrize(
    ("email", "message"),
    [
        (ADMIN, "boss@example.com already has an account."),
        ("not an address", "That email address is not valid"),
        ("", "Enter the address to invite."),
    ],
)
def test_bad_invitations_are_refused_with_a_message(mail_app, admin, email, message):
    answer = invite(admin, email=email)
    assert answer.status_code == 400 and message in answer.get_data(as_text=True)


def test_inviting_someone_twice_says_to_resend(mail_app, admin):
    invite(admin)
    answer = invite(admin, email=GUEST.upper())
    assert answer.status_code == 400
    assert "already invited; resend that invitation instead" in answer.get_data(as_text=True)


def test_only_admins_may_invite(mail_app, admin):
    with mail_app.app_context():
        create_user("ed@example.com", "Ed", Role.EDITOR, PASSWORD)
        db.session.commit()
    editor = mail_app.test_client()
    editor.post("/login", data={"email": "ed@example.com", "password": PASSWORD})
    assert invite(editor).status_code == 403
    invite(admin)
    assert (
        editor.post(f"/admin/users/invitations/{invitation_id(mail_app)}/revoke").status_code == 403
    )


def test_a_broken_rule_at_acceptance_is_said_and_nothing_is_created(mail_app, smtp_server, admin):
    invite(admin)
    run_jobs(mail_app)
    link = link_in(smtp_server.wait_for(1)[0], "/join/")
    short = join(link, password="short", app=mail_app)
    assert short.status_code == 400
    assert "The password must be 10 to 200 characters long." in short.get_data(as_text=True)
    nameless = join(link, name="   ", app=mail_app)
    assert nameless.status_code == 400 and "Enter your name." in nameless.get_data(as_text=True)
    assert join(link, app=mail_app).status_code == 302  # still usable after the mistakes


def test_without_email_the_users_page_says_so_and_shows_the_link_to_copy(app, client, auth):
    auth.login()
    page = client.get("/admin/users/").get_data(as_text=True)
    assert "invitations cannot be emailed" in page
    shown = invite(client)
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    html = shown.get_data(as_text=True)
    link = html.split('id="invitation-link" readonly value="')[1].split('"')[0]
    assert link.startswith("http://blog.test/join/")
    assert join(link.removeprefix("http://blog.test"), app=app).status_code == 302


def test_the_cli_invites_printing_the_link_and_emails_it_when_it_can(
    mail_app, smtp_server, app, users
):
    quiet = app.test_cli_runner().invoke(
        args=["users", "invite", "cli@example.com", "--role", "admin"]
    )
    assert quiet.exit_code == 0, quiet.output
    assert "Invited cli@example.com as admin" in quiet.output and "emailed" not in quiet.output
    link = quiet.output.strip().splitlines()[-1].removeprefix("http://blog.test")
    assert join(link, app=app).status_code == 302
    with app.app_context():
        assert db.session.scalar(db.select(User.role).where(User.email == "cli@example.com")) == (
            Role.ADMIN
        )

    loud = mail_app.test_cli_runner().invoke(args=["users", "invite", "two@example.com"])
    assert loud.exit_code == 0 and "emailed to them" in loud.output
    run_jobs(mail_app)
    [message] = smtp_server.wait_for(1)
    assert link_in(message, "/join/") in loud.output

    twice = app.test_cli_runner().invoke(args=["users", "invite", "two@example.com"])
    assert twice.exit_code == 1 and "already invited" in twice.output

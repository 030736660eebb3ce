"""Changing one's email address in Profile, against a real SMTP server: the new address
confirms with a link, the old one is told (with nothing that could undo it), and the link
works once."""

import pytest

from blog.accounts import create_user
from blog.extensions import db
from blog.models import Role, User
from tests.conftest import PASSWORD, run_jobs
from tests.email_links import link_in, text_of

OLD = "ann@example.com"
NEW = "ann@new-home.example"


@pytest.fixture
def ann(mail_app):
    with mail_app.app_context():
        create_user(OLD, "Ann Author", Role.AUTHOR, PASSWORD)
        create_user("taken@example.com", "Tom Taken", Role.AUTHOR, PASSWORD)
        db.session.commit()
    client = mail_app.test_client()
    assert client.post("/login", data={"email": OLD, "password": PASSWORD}).status_code == 302
    return client


def ask(client, new=NEW, password=PASSWORD):
    return client.post("/admin/profile/email", data={"new_email": new, "password": password})


def email_of(app, display_name="Ann Author") -> str:
    with app.app_context():
        return db.session.scalar(db.select(User.email).where(User.display_name == display_name))


def test_the_new_address_confirms_and_the_old_one_is_told_both_times(mail_app, smtp_server, ann):
    asked = ask(ann)
    assert asked.status_code == 303
    assert f"We sent a link to {NEW}" in ann.get("/admin/profile").get_data(as_text=True)
    run_jobs(mail_app)
    smtp_server.wait_for(2)
    [confirm] = smtp_server.messages_to(NEW)
    [notice] = smtp_server.messages_to(OLD)
    assert email_of(mail_app) == OLD  # nothing changes before the link is followed

    assert confirm["Subject"] == "Confirm your new email address"
    assert notice["Subject"] == "A change of your email address"
    assert NEW in text_of(notice) and "contact an admin" in text_of(notice)
    assert "http" not in text_of(notice)  # no link that could undo anything

    link = link_in(confirm, "/email/confirm/")
    elsewhere = mail_app.test_client()  # the new address's mail may open in another browser
    assert NEW in elsewhere.get(link).get_data(as_text=True)
    assert email_of(mail_app) == OLD  # opening the link (a mail scanner) changes nothing
    done = elsewhere.post(link)
    assert done.status_code == 302 and email_of(mail_app) == NEW

    run_jobs(mail_app)
    [_, made] = smtp_server.wait_for(3)[1:]
    assert made["To"] == OLD and made["Subject"] == "Your email address was changed"
    assert "http" not in text_of(made)

    fresh = mail_app.test_client()
    assert fresh.post("/login", data={"email": NEW, "password": PASSWORD}).status_code == 302
    again = mail_app.test_client().post(link)
    assert again.status_code == 400 and "already used" in again.get_data(as_text=True)


@pytest.mark.parametrize(
    ("new", "password", "message"),
    [
        (NEW, "not my password", "That is not your password."),
        ("taken@example.com", PASSWORD, "Another account uses that email address."),
        (OLD, PASSWORD, "That is already your email address."),
        ("nonsense", PASSWORD, "That email address is not valid"),
        ("", PASSWORD, "Enter the new address."),
    ],
)
def test_bad_requests_are_refused_with_a_message_and_send_nothing(
    mail_app, smtp_server, ann, new, password, message
):
    answer = ask(ann, new=new, password=password)
    assert answer.status_code == 400 and message in answer.get_data(as_text=True)
    run_jobs(mail_app)
    assert smtp_server.messages == []


def test_an_address_taken_meanwhile_is_refused_at_confirmation(mail_app, smtp_server, ann):
    ask(ann)
    run_jobs(mail_app)
    link = link_in(smtp_server.messages_to(NEW)[0], "/email/confirm/")
    with mail_app.app_context():
        create_user(NEW, "Quick Quentin", Role.AUTHOR, PASSWORD)
        db.session.commit()
    refused = mail_app.test_client().post(link)
    assert refused.status_code == 409
    assert "Another account uses that email address now" in refused.get_data(as_text=True)
    assert email_of(mail_app) == OLD


def test_an_expired_or_tampered_link_is_refused(mail_app, smtp_server, ann):
    ask(ann)
    run_jobs(mail_app)
    link = link_in(smtp_server.messages_to(NEW)[0], "/email/confirm/")
    tampered = mail_app.test_client().post(link[:-4] + "abcd")
    assert tampered.status_code == 400 and "not valid" in tampered.get_data(as_text=True)
    mail_app.config["EMAIL_CHANGE_LINK_SECONDS"] = -1
    expired = mail_app.test_client().post(link)
    assert expired.status_code == 400 and "expired" in expired.get_data(as_text=True)
    assert email_of(mail_app) == OLD


def test_without_email_profile_says_the_address_cannot_be_confirmed(app, client, auth):
    auth.login("author")
    page = client.get("/admin/profile").get_data(as_text=True)
    assert "This site cannot send email, so a new address cannot be confirmed" in page
    answer = client.post("/admin/profile/email", data={"new_email": NEW, "password": PASSWORD})
    assert answer.status_code == 303
    with app.app_context():
        assert db.session.scalar(db.select(User).where(User.email == NEW)) is None

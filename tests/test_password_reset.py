"""Password reset by email, end to end against a real SMTP server (aiosmtpd on 127.0.0.1):
the request, the email, the link, the new password; and everything that must not happen."""

import logging

import pytest

from blog import password_reset
from blog.accounts import create_user, set_active
from blog.extensions import db
from blog.models import OutgoingEmail, Role, User
from tests.conftest import PASSWORD, run_jobs
from tests.email_links import link_in, text_of

NEW_PASSWORD = "a brand new passphrase"
SENT_PAGE = "If an account on this site uses"


@pytest.fixture
def people(mail_app):
    with mail_app.app_context():
        create_user("ann@example.com", "Ann Author", Role.AUTHOR, PASSWORD)
        gone = create_user("gone@example.com", "Gus Gone", Role.AUTHOR, PASSWORD)
        db.session.commit()
        set_active(gone, False)
        db.session.commit()
    return {"ann": "ann@example.com", "gone": "gone@example.com"}


def ask(client, email: str):
    return client.post("/login/forgot", data={"email": email})


def sign_in(client, email: str, password: str):
    return client.post("/login", data={"email": email, "password": password})


def emails_in_database(app) -> int:
    with app.app_context():
        return len(db.session.scalars(db.select(OutgoingEmail)).all())


def test_the_sign_in_page_offers_the_forgotten_password_page(mail_app, people):
    page = mail_app.test_client().get("/login").get_data(as_text=True)
    assert 'href="/login/forgot">Forgot your password?</a>' in page


def test_reset_by_email_from_request_to_signed_in_and_the_link_works_once(
    mail_app, smtp_server, people
):
    laptop, phone = mail_app.test_client(), mail_app.test_client()
    assert sign_in(laptop, people["ann"], PASSWORD).status_code == 302
    assert laptop.get("/admin/").status_code == 200

    answer = ask(phone, people["ann"])
    assert answer.status_code == 200 and SENT_PAGE in answer.get_data(as_text=True)
    run_jobs(mail_app)
    [message] = smtp_server.wait_for(1)
    assert message["To"] == people["ann"] and message["Subject"] == "Reset your password"
    assert "within 60 minutes" in text_of(message)
    link = link_in(message, "/login/reset/")

    form = phone.get(link)
    assert form.status_code == 200 and "Choose a new password" in form.get_data(as_text=True)
    done = phone.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert done.status_code == 302 and done.headers["Location"] == "/admin/"
    assert phone.get("/admin/").status_code == 200  # signed in with the new password

    assert laptop.get("/admin/").status_code == 302  # the other session has ended
    assert sign_in(mail_app.test_client(), people["ann"], PASSWORD).status_code == 401
    assert sign_in(mail_app.test_client(), people["ann"], NEW_PASSWORD).status_code == 302

    again = mail_app.test_client().post(
        link, data={"password": "yet another one!", "confirm": "yet another one!"}
    )
    assert again.status_code == 400
    assert "already been used" in again.get_data(as_text=True)
    assert sign_in(mail_app.test_client(), people["ann"], NEW_PASSWORD).status_code == 302


def test_an_unknown_address_gets_the_same_page_and_no_email(mail_app, smtp_server, people):
    client = mail_app.test_client()
    known = ask(client, people["ann"]).get_data(as_text=True)
    unknown = ask(client, "nobody@example.com").get_data(as_text=True)
    run_jobs(mail_app)

    assert unknown.replace("nobody@example.com", people["ann"]) == known
    assert [m["To"] for m in smtp_server.wait_for(1)] == [people["ann"]]
    assert emails_in_database(mail_app) == 1


@pytest.mark.parametrize(
    ("email", "message"),
    [("", "Enter the email address of your account."), ("ann@", "That email address is not valid")],
)
def test_a_mistyped_address_is_said_and_nothing_is_sent(
    mail_app, smtp_server, people, email, message
):
    answer = ask(mail_app.test_client(), email)
    assert answer.status_code == 400 and message in answer.get_data(as_text=True)
    run_jobs(mail_app)
    assert emails_in_database(mail_app) == 0


def test_every_answer_takes_the_same_minimum_time_known_or_not(mail_app, people):
    import time

    mail_app.config["PASSWORD_RESET_ANSWER_SECONDS"] = 0.5
    client = mail_app.test_client()
    for email in (people["ann"], "nobody@example.com", people["gone"]):
        started = time.monotonic()
        assert SENT_PAGE in ask(client, email).get_data(as_text=True)
        assert time.monotonic() - started >= 0.5, email


def test_a_deactivated_account_gets_the_same_page_and_no_email(mail_app, smtp_server, people):
    answer = ask(mail_app.test_client(), people["gone"])
    run_jobs(mail_app)
    assert answer.status_code == 200 and SENT_PAGE in answer.get_data(as_text=True)
    assert smtp_server.messages == [] and emails_in_database(mail_app) == 0


def test_requests_are_throttled_per_account_quietly_and_logged(
    mail_app, smtp_server, people, caplog
):
    client = mail_app.test_client()
    limit = mail_app.config["PASSWORD_RESET_PER_ACCOUNT"]
    for _ in range(limit):
        ask(client, people["ann"])
    with caplog.at_level(logging.WARNING):
        throttled = ask(mail_app.test_client(), people["ann"])
    run_jobs(mail_app)

    assert throttled.status_code == 200 and SENT_PAGE in throttled.get_data(as_text=True)
    assert len(smtp_server.wait_for(limit)) == limit
    assert emails_in_database(mail_app) == limit  # the throttled one was not even queued
    assert any(
        "Password reset for ann@example.com" in line and "throttled (limit per account)" in line
        for line in caplog.messages
    )


def test_requests_are_throttled_per_client_address(make_app, smtp_server, people, caplog):
    app = make_app(**smtp_server.settings(), PASSWORD_RESET_PER_ADDRESS=2)
    client = app.test_client()
    with caplog.at_level(logging.WARNING):
        for email in ("x1@example.com", "x2@example.com", people["ann"]):
            assert SENT_PAGE in ask(client, email).get_data(as_text=True)
    run_jobs(app)
    # the third request, for a real account, came from an address that had asked twice
    assert emails_in_database(app) == 0 and smtp_server.messages == []
    assert any("throttled (limit per address)" in line for line in caplog.messages)


def test_an_expired_link_is_refused_with_a_clear_page(mail_app, smtp_server, people):
    ask(mail_app.test_client(), people["ann"])
    run_jobs(mail_app)
    link = link_in(smtp_server.wait_for(1)[0], "/login/reset/")
    mail_app.config["PASSWORD_RESET_LINK_SECONDS"] = -1  # as if an hour had gone by

    page = mail_app.test_client().get(link)
    assert page.status_code == 400
    assert "This link has expired" in page.get_data(as_text=True)
    assert 'href="/login/forgot"' in page.get_data(as_text=True)


def test_a_tampered_link_is_refused(mail_app, smtp_server, people):
    ask(mail_app.test_client(), people["ann"])
    run_jobs(mail_app)
    link = link_in(smtp_server.wait_for(1)[0], "/login/reset/")
    page = mail_app.test_client().get(link[:-3] + "xyz")
    assert page.status_code == 400 and "This link is not valid" in page.get_data(as_text=True)


def test_a_password_changed_another_way_voids_the_link(mail_app, smtp_server, people):
    ask(mail_app.test_client(), people["ann"])
    run_jobs(mail_app)
    link = link_in(smtp_server.wait_for(1)[0], "/login/reset/")
    with mail_app.app_context():
        user = db.session.scalar(db.select(User).where(User.email == people["ann"]))
        user.set_password("changed from the shell")
        db.session.commit()
    page = mail_app.test_client().get(link)
    assert page.status_code == 400 and "already been used" in page.get_data(as_text=True)


def test_a_new_password_that_breaks_the_rules_is_refused_with_a_message(
    mail_app, smtp_server, people
):
    ask(mail_app.test_client(), people["ann"])
    run_jobs(mail_app)
    link = link_in(smtp_server.wait_for(1)[0], "/login/reset/")
    client = mail_app.test_client()
    short = client.post(link, data={"password": "short", "confirm": "short"})
    assert short.status_code == 400
    assert "The password must be 10 to 200 characters long." in short.get_data(as_text=True)
    differ = client.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD + "x"})
    assert differ.status_code == 400 and "The passwords differ." in differ.get_data(as_text=True)
    assert sign_in(mail_app.test_client(), people["ann"], PASSWORD).status_code == 302


def test_with_two_factor_the_reset_still_asks_for_the_code(mail_app, smtp_server, people):
    from blog import two_factor

    with mail_app.app_context():
        user = db.session.scalar(db.select(User).where(User.email == people["ann"]))
        user.totp_secret, user.totp_enabled = two_factor.new_secret(), True
        db.session.commit()
    ask(mail_app.test_client(), people["ann"])
    run_jobs(mail_app)
    link = link_in(smtp_server.wait_for(1)[0], "/login/reset/")
    client = mail_app.test_client()
    done = client.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert done.status_code == 302 and done.headers["Location"] == "/login/two-factor"
    assert client.get("/admin/").status_code == 302  # not signed in before the code


def test_without_email_the_page_says_so_and_the_cli_prints_a_working_link(app, users):
    client = app.test_client()
    page = client.get("/login/forgot").get_data(as_text=True)
    assert "This site cannot send email" in page and "users reset-link" in page
    assert 'name="email"' not in page
    posted = client.post("/login/forgot", data={"email": users["author"]["email"]})
    assert "This site cannot send email" in posted.get_data(as_text=True)

    result = app.test_cli_runner().invoke(args=["users", "reset-link", users["author"]["email"]])
    assert result.exit_code == 0, result.output
    link = result.output.strip().splitlines()[-1]
    assert link.startswith("http://blog.test/login/reset/")
    path = link.removeprefix("http://blog.test")
    done = client.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert done.status_code == 302
    assert sign_in(app.test_client(), users["author"]["email"], NEW_PASSWORD).status_code == 302


def test_the_cli_refuses_a_reset_link_for_unknown_or_deactivated_accounts(app, users):
    runner = app.test_cli_runner()
    unknown = runner.invoke(args=["users", "reset-link", "nobody@example.com"])
    assert unknown.exit_code == 1 and "No user has the email" in unknown.output
    with app.app_context():
        set_active(db.session.get(User, users["author"]["id"]), False)
        db.session.commit()
    gone = runner.invoke(args=["users", "reset-link", users["author"]["email"]])
    assert gone.exit_code == 1 and "deactivated" in gone.output


def test_a_link_for_a_user_deactivated_since_is_refused(mail_app, smtp_server, people):
    ask(mail_app.test_client(), people["ann"])
    run_jobs(mail_app)
    link = link_in(smtp_server.wait_for(1)[0], "/login/reset/")
    with mail_app.app_context():
        user = db.session.scalar(db.select(User).where(User.email == people["ann"]))
        set_active(user, False)
        db.session.commit()
        assert password_reset.link_seconds() == 3600
    assert mail_app.test_client().get(link).status_code == 400

"""Outgoing email, against a real SMTP server (aiosmtpd on 127.0.0.1): what arrives, how it
looks in a text-only client, TLS, and what happens when the server refuses or is down."""

import re

import pytest

from blog import mail
from blog.extensions import db
from blog.models import EmailStatus, Job, JobStatus, OutgoingEmail
from tests.conftest import FAST_RETRIES, PASSWORD, run_jobs
from tests.smtp_server import SmtpServer


def _send(app, to="reader@example.org", **context):
    with app.app_context():
        email = mail.send(
            to,
            "Test message from your blog",
            "test_message",
            purpose="test",
            name=context.pop("name", "Ann"),
            **context,
        )
        db.session.commit()
        return email.id


def _job_and_email(app, email_id):
    with app.app_context():
        email = db.session.get(OutgoingEmail, email_id)
        job = db.session.scalars(db.select(Job).where(Job.kind == "email")).all()
        job = [j for j in job if j.payload["email_id"] == email_id][0]
        return (job.status, job.attempts, job.last_error), (email.status, email.last_error)


def test_an_email_is_multipart_with_site_name_message_id_date_and_auto_submitted(
    mail_app, smtp_server
):
    email_id = _send(mail_app)
    run_jobs(mail_app)

    [message] = smtp_server.wait_for(1)
    assert message["From"] == "My Blog <blog@example.org>"
    assert message["To"] == "reader@example.org"
    assert message["Subject"] == "Test message from your blog"
    assert re.fullmatch(r"<[^@>]+@blog\.test>", message["Message-ID"])
    assert message["Date"]
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Hello Ann," in text and "<" not in text  # a text-only client reads it as written
    assert "http://blog.test/admin/settings" in text
    assert '<a href="http://blog.test/admin/settings">' in html
    with mail_app.app_context():
        stored = db.session.get(OutgoingEmail, email_id)
        assert stored.status == EmailStatus.SENT and stored.message_id == message["Message-ID"]


def test_what_a_person_wrote_cannot_become_markup_in_the_html_part(mail_app, smtp_server):
    _send(mail_app, name='<img src=x onerror=alert(1)> & "you"')
    run_jobs(mail_app)

    [message] = smtp_server.wait_for(1)
    html = message.get_body(("html",)).get_content()
    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; &#34;you&#34;" in html
    assert '<img src=x onerror=alert(1)> & "you"' in message.get_body(("plain",)).get_content()


def test_a_job_run_again_after_the_server_took_the_email_sends_nothing(mail_app, smtp_server):
    email_id = _send(mail_app)
    run_jobs(mail_app)
    smtp_server.wait_for(1)
    with mail_app.app_context():
        job = db.session.scalars(db.select(Job)).one()
        job.status, job.attempts = JobStatus.QUEUED, 0  # as if the queue delivered it again
        db.session.commit()
        from blog import jobs

        jobs.push(job.id)
    run_jobs(mail_app)

    assert len(smtp_server.messages) == 1
    assert _job_and_email(mail_app, email_id)[1][0] == EmailStatus.SENT


def test_a_server_that_answers_421_then_accepts_gets_the_email_once(mail_app, smtp_server):
    smtp_server.refuse_next(421, times=2)
    email_id = _send(mail_app)
    run_jobs(mail_app)

    [message] = smtp_server.wait_for(1)
    assert message["To"] == "reader@example.org"
    assert [code for _, code in smtp_server.refused] == [421, 421]
    (status, attempts, error), (email_status, _) = _job_and_email(mail_app, email_id)
    assert (status, attempts, email_status) == (JobStatus.DONE, 3, EmailStatus.SENT)
    assert error == ""


def test_a_permanent_refusal_fails_the_job_at_once_with_the_servers_reason(mail_app, smtp_server):
    smtp_server.refuse_next(550)
    email_id = _send(mail_app, to="nobody@example.org")
    run_jobs(mail_app)

    assert smtp_server.messages == []
    (status, attempts, error), (email_status, email_error) = _job_and_email(mail_app, email_id)
    assert (status, attempts, email_status) == (JobStatus.FAILED, 1, EmailStatus.FAILED)
    assert "550 No such user here" in error and "550" in email_error


def test_a_server_down_for_the_whole_retry_window_ends_failed_and_shows_in_admin_jobs(
    make_app, users
):
    from tests.live_servers import free_port

    app = make_app(MAIL_HOST="127.0.0.1", MAIL_PORT=free_port(), MAIL_SECURITY="none",
                   MAIL_TIMEOUT=2, **FAST_RETRIES)  # fmt: skip
    client = app.test_client()
    email_id = _send(app)
    run_jobs(app)

    (status, attempts, error), (email_status, _) = _job_and_email(app, email_id)
    assert (status, attempts, email_status) == (JobStatus.FAILED, 8, EmailStatus.QUEUED)
    assert error.startswith("Gave up after 8 attempts: Could not reach the SMTP server")
    client.post("/login", data={"email": users["admin"]["email"], "password": PASSWORD})
    page = client.get("/admin/jobs?status=failed").get_data(as_text=True)
    assert "Email to reader@example.org: Test message from your blog" in page
    assert "Gave up after 8 attempts: Could not reach the SMTP server" in page
    assert "Retry" in page


def test_starttls_with_the_servers_certificate_trusted(make_app, tmp_path):
    with SmtpServer(tls="starttls", folder=tmp_path / "tls") as server:
        app = make_app(**server.settings(), **FAST_RETRIES)
        email_id = _send(app)
        run_jobs(app)
        [message] = server.wait_for(1)
    assert message["Subject"] == "Test message from your blog"
    assert _job_and_email(app, email_id)[0][0] == JobStatus.DONE


def test_starttls_refuses_a_certificate_nobody_vouches_for(make_app, tmp_path):
    with SmtpServer(tls="starttls", folder=tmp_path / "tls") as server:
        settings = server.settings()
        del settings["MAIL_CA_FILE"]  # the system's authorities never signed it
        app = make_app(**settings, **FAST_RETRIES)
        email_id = _send(app)
        run_jobs(app)
        assert server.messages == []
    (status, attempts, error), _ = _job_and_email(app, email_id)
    assert (status, attempts) == (JobStatus.FAILED, 1)
    assert "certificate was refused" in error


def test_implicit_tls(make_app, tmp_path):
    with SmtpServer(tls="ssl", folder=tmp_path / "tls") as server:
        app = make_app(**server.settings(), **FAST_RETRIES)
        _send(app)
        run_jobs(app)
        assert len(server.wait_for(1)) == 1


def test_without_mail_host_nothing_is_queued_and_settings_says_how_to_set_it_up(app, client, auth):
    with app.app_context():
        with pytest.raises(mail.MailConfigError, match="cannot send email"):
            mail.send("a@example.org", "Hi", "test_message", purpose="test", name="A")
        db.session.rollback()
        assert db.session.scalars(db.select(Job)).all() == []
    auth.login()
    page = client.get("/admin/settings").get_data(as_text=True)
    assert "Email is not set up" in page and "MAIL_HOST" in page
    answer = client.post("/admin/settings/test-email", follow_redirects=True)
    assert "This site cannot send email yet." in answer.get_data(as_text=True)


def test_settings_sends_a_test_message_to_the_admin(mail_app, smtp_server, users):
    client = mail_app.test_client()
    client.post("/login", data={"email": users["admin"]["email"], "password": PASSWORD})
    page = client.get("/admin/settings").get_data(as_text=True)
    assert "sends email through <strong>127.0.0.1:" in page
    answer = client.post("/admin/settings/test-email", follow_redirects=True)
    assert f"A test message to {users['admin']['email']} is queued." in answer.get_data(
        as_text=True
    )
    run_jobs(mail_app)

    [message] = smtp_server.wait_for(1)
    assert message["To"] == users["admin"]["email"]
    assert "Hello Ada Admin," in message.get_body(("plain",)).get_content()
    page = client.get("/admin/settings").get_data(as_text=True)
    assert "Last email accepted by the server:" in page


def test_an_unknown_security_setting_is_refused_with_the_choices(make_app):
    with pytest.raises(mail.MailConfigError, match="one of none, starttls, ssl"):
        make_app(MAIL_SECURITY="tls")

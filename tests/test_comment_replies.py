"""Reply emails: a commenter asks to hear of answers, confirms by email, and stops with a click.

Every email goes through the real job queue to a real SMTP server (aiosmtpd)."""

import re
import time
import urllib.parse

import pytest
import time_machine

from blog import comment_guard
from blog.extensions import db
from blog.models import Comment, CommentStatus, Post, PostStatus, ReplyEmails, User, utcnow
from blog.settings import set_settings
from tests.conftest import FAST_RETRIES, PASSWORD, run_jobs


@pytest.fixture
def site(make_app, smtp_server, users):
    """An app that can send email, with one published article by the author."""
    app = make_app(**smtp_server.settings(), **FAST_RETRIES)
    with app.app_context():
        author = db.session.get(User, users["author"]["id"])
        db.session.add(
            Post(title="Hello readers", slug="hello", body_md="T.", body_html="<p>T.</p>",
                 status=PostStatus.PUBLISHED, published_at=utcnow(), author=author)
        )  # fmt: skip
        # Moderators' own notifications are not what these tests are about.
        for user in db.session.scalars(db.select(User)):
            user.notifications_off = ["comment_waiting"]
        db.session.commit()
    return app


def _token(app) -> str:
    with app.app_context():
        return comment_guard.new_token(comment_guard.secret_key(), time.time() - 30)


def _comment(app, client, **fields) -> int:
    data = {"text": "A remark.", "name": "Bea", "email": "bea@example.org",
            "form_token": _token(app), **fields}  # fmt: skip
    answer = client.post("/hello/comments", data=data)
    assert answer.status_code == 303, answer.get_data(as_text=True)
    with app.app_context():
        return db.session.scalar(db.select(db.func.max(Comment.id)))


def _moderate(app, comment_id: int, action: str = "approve") -> None:
    moderator = app.test_client()
    moderator.post("/login", data={"email": "author@example.com", "password": PASSWORD})
    assert moderator.post(f"/admin/comments/{comment_id}/{action}").status_code == 302


def _emails_to(smtp_server, address: str) -> list:
    return [message for message in smtp_server.messages if str(message["To"]) == address]


def _text(message) -> str:
    return message.get_body(("plain",)).get_content()


def _link(message, fragment: str) -> str:
    """The path of the link in the email that contains `fragment`."""
    url = re.search(rf"http://blog\.test(\S*{fragment}\S*)", _text(message)).group(1)
    return urllib.parse.urlsplit(url).path


def test_a_reader_confirms_hears_of_a_reply_once_and_stops_with_one_click(site, smtp_server):
    reader = site.test_client()
    page = reader.get("/hello/").get_data(as_text=True)
    assert "Email me when someone replies" in page
    bea = _comment(site, reader, reply_emails="y", text="Does the ferry run in winter?")
    run_jobs(site)
    [confirmation] = _emails_to(smtp_server, "bea@example.org")
    assert "Confirm reply emails" in str(confirmation["Subject"])
    _moderate(site, bea)

    # Before the link is opened, a reply sends Bea nothing.
    with site.app_context():
        set_settings({"comment_moderation": "open"})
        db.session.commit()
    _comment(site, reader, name="Cy", email="cy@example.org", text="Not yet.", reply_to=bea)
    run_jobs(site)
    assert len(_emails_to(smtp_server, "bea@example.org")) == 1

    confirmed = reader.get(_link(confirmation, "/comments/replies/confirm/"))
    assert confirmed.status_code == 200 and "Reply emails are on" in confirmed.get_data(True)
    with site.app_context():
        set_settings({"comment_moderation": "all"})
        db.session.commit()
    reply = _comment(site, reader, name="Cy", email="cy@example.org", reply_to=bea,
                     text="Yes, *twice* a day.")  # fmt: skip
    run_jobs(site)
    assert len(_emails_to(smtp_server, "bea@example.org")) == 1  # held: nobody told yet
    _moderate(site, reply)
    run_jobs(site)
    told = smtp_server.wait_for(2)
    [news] = [message for message in told[1:] if str(message["To"]) == "bea@example.org"]
    assert str(news["Subject"]).strip() == "Cy replied to you on “Hello readers”"
    assert "Yes, *twice* a day." in _text(news)
    assert f"http://blog.test/hello/#comment-{reply}" in _text(news)
    stop = _link(news, "/comments/replies/stop/")
    assert news["List-Unsubscribe"].strip() == f"<http://blog.test{stop}>"
    assert news["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    # Approved again after a trip to the trash: not told twice.
    _moderate(site, reply, "trash")
    _moderate(site, reply, "approve")
    run_jobs(site)
    assert len(_emails_to(smtp_server, "bea@example.org")) == 2

    # A mail client's one-click button: one POST, no session, no page needed.
    one_click = site.test_client().post(stop, data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200
    with site.app_context():
        assert db.session.get(Comment, bea).reply_emails == ReplyEmails.OFF
    later = _comment(site, reader, name="Di", email="di@example.org", reply_to=bea, text="Hi.")
    _moderate(site, later)
    run_jobs(site)
    assert len(_emails_to(smtp_server, "bea@example.org")) == 2


def test_the_stop_link_stops_with_one_click_and_offers_to_start_again(site, smtp_server):
    reader = site.test_client()
    with site.app_context():
        set_settings({"comment_moderation": "open"})
        db.session.commit()
    first = _comment(site, reader, reply_emails="y", text="One.")
    second = _comment(site, reader, reply_emails="y", text="Two.")
    run_jobs(site)
    for message in _emails_to(smtp_server, "bea@example.org"):
        reader.get(_link(message, "/comments/replies/confirm/"))
    _comment(site, reader, name="Cy", email="cy@example.org", reply_to=first, text="Hm.")
    run_jobs(site)
    news = smtp_server.wait_for(3)[-1]
    stop = _link(news, "/comments/replies/stop/")

    page = reader.get(stop)
    assert page.status_code == 200 and "Reply emails stopped" in page.get_data(True)
    assert "Start them again" in page.get_data(True)
    again = reader.get(stop)  # never stored, here or in a browser: the address is the key
    assert again.headers["X-Cache"] == "BYPASS" and "no-store" in again.headers["Cache-Control"]
    with site.app_context():
        states = {c.id: c.reply_emails for c in db.session.scalars(db.select(Comment))}
    assert states[first] == ReplyEmails.OFF and states[second] == ReplyEmails.ON

    restarted = reader.post(stop.replace("/stop/", "/start/"))
    assert "Reply emails are on" in restarted.get_data(True)
    everywhere = reader.post(stop, data={"everywhere": "1"})
    assert "no more emails about replies to any of its comments" in everywhere.get_data(True)
    with site.app_context():
        states = {c.id: c.reply_emails for c in db.session.scalars(db.select(Comment))}
    assert states[first] == states[second] == ReplyEmails.OFF


def test_nobody_is_told_of_their_own_reply_and_each_address_hears_once(site, smtp_server):
    reader = site.test_client()
    with site.app_context():
        set_settings({"comment_moderation": "open"})
        db.session.commit()
    bea = _comment(site, reader, reply_emails="y", text="Start.")
    run_jobs(site)
    reader.get(_link(smtp_server.wait_for(1)[0], "/comments/replies/confirm/"))
    # Bea answers in her own thread: no email to herself.
    own = _comment(site, reader, reply_to=bea, text="And more.", reply_emails="y")
    run_jobs(site)
    assert len(smtp_server.messages) == 2  # the second confirmation only
    reader.get(_link(smtp_server.messages[1], "/comments/replies/confirm/"))
    # Cy answers Bea's reply: she wrote both the thread's start and the answered one: one email.
    _comment(site, reader, name="Cy", email="cy@example.org", reply_to=own, text="Yes.")
    run_jobs(site)
    time.sleep(0.3)
    assert len(_emails_to(smtp_server, "bea@example.org")) == 3


def test_bad_old_and_spam_requests_send_nothing_and_say_why(site, smtp_server):
    reader = site.test_client()
    with site.app_context():
        set_settings({"comment_moderation": "open", "comment_blocklist": "casino"})
        db.session.commit()
    _comment(site, reader, reply_emails="y", text="Visit my casino", email="bot@example.net")
    bea = _comment(site, reader, reply_emails="y", text="Real words.")
    run_jobs(site)
    [confirmation] = smtp_server.wait_for(1)  # the spam comment asked too: no email for it
    time.sleep(0.3)
    assert len(smtp_server.messages) == 1 and str(confirmation["To"]) == "bea@example.org"
    link = _link(confirmation, "/comments/replies/confirm/")

    forged = reader.get(link[:-3] + "xyz")
    assert forged.status_code == 400 and "too old or was changed" in forged.get_data(True)
    with time_machine.travel(time.time() + 8 * 24 * 3600):
        assert reader.get(link).status_code == 400
    with site.app_context():
        assert db.session.get(Comment, bea).reply_emails == ReplyEmails.ASKED
        # An erased or changed address makes the old links useless.
        db.session.get(Comment, bea).author_email = "someone@example.org"
        db.session.commit()
    assert reader.get(link).status_code == 400


def test_without_email_set_up_the_box_is_not_offered(app, client, users):
    with app.app_context():
        author = db.session.get(User, users["author"]["id"])
        db.session.add(
            Post(title="Quiet", slug="quiet", body_md="T.", body_html="<p>T.</p>",
                 status=PostStatus.PUBLISHED, published_at=utcnow(), author=author)
        )  # fmt: skip
        db.session.commit()
    page = client.get("/quiet/").get_data(as_text=True)
    assert 'name="text"' in page and "Email me when someone replies" not in page
    answer = client.post("/quiet/comments", data={
        "text": "Hi.", "name": "Bea", "email": "bea@example.org", "form_token": _token(app),
        "reply_emails": "y"})  # fmt: skip
    assert answer.status_code == 303
    with app.app_context():
        comment = db.session.scalar(db.select(Comment))
        assert comment.status == CommentStatus.PENDING
        assert comment.reply_emails == ReplyEmails.NONE

"""The newsletter with a real SMTP server (aiosmtpd): subscribe, confirm, a post goes out once
to each confirmed subscriber, one-click unsubscribe, scheduled posts, bounces, the admin page."""

import re
import time
import urllib.parse
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import func

from blog import housekeeping
from blog.demo import demo_image
from blog.extensions import db
from blog.media import save_upload
from blog.models import (
    DeliveryStatus,
    NewsletterDelivery,
    NewsletterSend,
    Post,
    SendStatus,
    Subscriber,
    SubscriberStatus,
    User,
    utcnow,
)
from tests.conftest import FAST_RETRIES, PASSWORD, csrf_token_from, run_jobs

FAST = {**FAST_RETRIES, "NEWSLETTER_PER_MINUTE": 100_000, "NEWSLETTER_BATCH_SIZE": 7}


@pytest.fixture
def site(make_app, smtp_server, users):
    app = make_app(**smtp_server.settings(), **FAST)
    with app.app_context():
        for user in db.session.scalars(db.select(User)):
            user.notifications_off = ["comment_waiting"]
        db.session.commit()
    return app


def _text(message) -> str:
    return message.get_body(("plain",)).get_content()


def _html(message) -> str:
    return message.get_body(("html",)).get_content()


def _path(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _link(message, fragment: str) -> str:
    return re.search(rf"(http://blog\.test\S*{re.escape(fragment)}\S*)", _text(message)).group(1)


def _to(smtp_server, address: str) -> list:
    return [m for m in smtp_server.messages if str(m["To"]) == address]


def _subscribe(app, smtp_server, email: str, confirm: bool = True):
    reader = app.test_client()
    answer = reader.post("/subscribe", data={"email": email, "name": "Reader"})
    assert answer.status_code == 200 and "Check your email" in answer.get_data(True)
    run_jobs(app)
    if confirm:
        confirmation = smtp_server.wait_for(1) and _to(smtp_server, email)[-1]
        page = reader.get(_path(_link(confirmation, "/subscribe/confirm/")))
        assert page.status_code == 200 and "You are subscribed" in page.get_data(True)
    return reader


def _publish(app, title: str, action: str = "publish", **fields) -> int:
    """Publish through the editor, as the author would."""
    author = app.test_client()
    author.post("/login", data={"email": "author@example.com", "password": PASSWORD})
    page = author.get("/admin/posts/new").get_data(as_text=True)
    assert 'name="newsletter"' in page
    data = {
        "title": title,
        "body": fields.pop("body", "Hello *readers*."),
        "kind": "post",
        "action": action,
        "newsletter": "full",
        "csrf_token": csrf_token_from(page),
        **fields,
    }
    answer = author.post("/admin/posts/new", data=data)
    assert answer.status_code == 302, answer.get_data(as_text=True)
    with app.app_context():
        return db.session.scalar(db.select(Post.id).where(Post.title == title))


def _confirmed(site, count: int) -> None:
    with site.app_context():
        db.session.add_all(
            Subscriber(email=f"s{n}@example.org", status=SubscriberStatus.CONFIRMED,
                       confirmed_at=utcnow())
            for n in range(count)
        )  # fmt: skip
        db.session.commit()


def _started_send(site, title: str) -> int:
    """A send with its deliveries written and no batch run yet (what the start job does)."""
    from blog.newsletter import sending

    post_id = _publish(site, title)
    with site.app_context():
        sending.start({"post_id": post_id})
        return db.session.scalar(db.select(NewsletterSend.id))


def test_subscribe_confirm_receive_a_post_and_unsubscribe_with_one_click(site, smtp_server):
    reader = site.test_client()
    assert "Get new posts by email" in reader.get("/subscribe").get_data(True)
    _subscribe(site, smtp_server, "bea@example.org")
    _subscribe(site, smtp_server, "unconfirmed@example.org", confirm=False)
    with site.app_context():
        author = db.session.get(User, 3) or db.session.scalar(db.select(User))
        image = save_upload(demo_image(5, size=(1600, 1000)), author)
        db.session.commit()
        image_id = image.id
    _publish(site, "Harbour reopens", body="The harbour reopens.\n\n> Finally.\n\n"
             "[Timetable](/timetable/)", featured_media_id=str(image_id),
             featured_alt="The harbour at dawn", featured_caption="Photo: Ann")  # fmt: skip
    run_jobs(site)
    [news] = [m for m in _to(smtp_server, "bea@example.org") if "Harbour" in str(m["Subject"])]
    assert _to(smtp_server, "unconfirmed@example.org") == [
        _to(smtp_server, "unconfirmed@example.org")[0]
    ]
    # Headers a mail client needs.
    for header in ("Message-ID", "From", "Date", "List-Unsubscribe", "List-Unsubscribe-Post"):
        assert news[header], header
    assert news["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = news["List-Unsubscribe"].strip().strip("<>")
    assert "blog.test" in str(news["From"]) or "@" in str(news["From"])
    # Both parts: the text is the Markdown with absolute links; the HTML has the image.
    text, html = _text(news), _html(news)
    assert "The harbour reopens." in text and "(http://blog.test/timetable/)" in text
    assert unsubscribe in text
    assert "Photo: Ann" in html and 'alt="The harbour at dawn"' in html
    assert "<blockquote" in html and 'style="' in html and "srcset" not in html
    images = re.findall(r'<img src="([^"]+)"[^>]*width="(\d+)"', html)
    assert images and all(int(width) <= 600 for _, width in images)
    # Every link and image in it answers.
    links = set(re.findall(r'(?:href|src)="(http://blog\.test[^"]+)"', html))
    for url in links - {unsubscribe}:
        if "/timetable/" in url:
            continue  # the post's own link to a page that does not exist
        with reader.get(_path(url)) as answer:
            assert answer.status_code == 200, url

    # A GET, as mail filters send to every link they see, only asks.
    asked = site.test_client().get(_path(unsubscribe))
    assert asked.status_code == 200 and "Unsubscribe?" in asked.get_data(True)
    with site.app_context():
        subscriber = db.session.scalar(db.select(Subscriber).filter_by(email="bea@example.org"))
        assert subscriber.status == SubscriberStatus.CONFIRMED
    # One POST, as a mail client's unsubscribe button sends, with no session.
    one_click = site.test_client().post(_path(unsubscribe), data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200
    with site.app_context():
        subscriber = db.session.scalar(db.select(Subscriber).filter_by(email="bea@example.org"))
        assert subscriber.status == SubscriberStatus.UNSUBSCRIBED
    _publish(site, "Ferry timetable")
    run_jobs(site)
    assert [str(m["Subject"]) for m in _to(smtp_server, "bea@example.org")][-1].strip() == (
        "Harbour reopens"
    )


def test_the_answer_is_the_same_whether_or_not_the_address_is_subscribed(site, smtp_server):
    _subscribe(site, smtp_server, "bea@example.org")
    first = site.test_client().post("/subscribe", data={"email": "bea@example.org"})
    second = site.test_client().post("/subscribe", data={"email": "new@example.org"})
    strip = lambda page: page.get_data(True).replace("new@example.org", "bea@example.org")  # noqa: E731
    assert first.status_code == second.status_code == 200
    assert strip(first) == strip(second)
    run_jobs(site)
    assert len(_to(smtp_server, "bea@example.org")) == 1  # a confirmed address: no new email


def test_bad_input_is_refused_in_plain_words_and_the_address_stays_in_the_form(site):
    reader = site.test_client()
    answer = reader.post("/subscribe", data={"email": "not an address"})
    assert answer.status_code == 400
    page = answer.get_data(as_text=True)
    assert "does not look like an email address" in page and 'value="not an address"' in page
    trap = reader.post("/subscribe", data={"email": "bot@example.org", "nickname_confirm": "x"})
    assert trap.status_code == 400 and "meant to stay empty" in trap.get_data(True)
    for number in range(5):
        reader.post("/subscribe", data={"email": f"r{number}@example.org"})
    limited = reader.post("/subscribe", data={"email": "sixth@example.org"})
    assert limited.status_code == 429 and 'value="sixth@example.org"' in limited.get_data(True)


def test_a_scheduled_post_is_sent_when_its_time_comes(site, smtp_server):
    _subscribe(site, smtp_server, "bea@example.org")
    when = (utcnow() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    _publish(site, "Tomorrow's news", action="schedule", publish_at=when)
    run_jobs(site, wait_for_scheduled=False)
    assert len(_to(smtp_server, "bea@example.org")) == 1  # the confirmation only
    with time_machine.travel(utcnow() + timedelta(hours=2, minutes=5), tick=True):
        run_jobs(site)
    smtp_server.wait_for(2)
    assert str(_to(smtp_server, "bea@example.org")[-1]["Subject"]).strip() == "Tomorrow's news"


def test_each_subscriber_gets_a_post_once_across_batches_and_repeated_jobs(site, smtp_server):
    _confirmed(site, 30)
    post_id = _publish(site, "Thirty readers")
    # The start job queued twice (a second save, a second worker): still one send.
    with site.app_context():
        from blog.newsletter import sending

        sending.after_save(db.session.get(Post, post_id))
        db.session.commit()
    run_jobs(site)
    smtp_server.wait_for(30)
    time.sleep(0.3)
    received = sorted(str(m["To"]) for m in smtp_server.messages)
    assert received == sorted(f"s{number}@example.org" for number in range(30))
    with site.app_context():
        send = db.session.scalar(db.select(NewsletterSend))
        assert send.status == SendStatus.DONE and send.total == 30
        assert db.session.scalar(db.select(db.func.count(NewsletterSend.id))) == 1


def test_a_refusing_address_is_marked_bouncing_after_three_posts(site, smtp_server):
    smtp_server.refuse("gone@example.org", 550)
    with site.app_context():
        for email in ("gone@example.org", "here@example.org"):
            db.session.add(Subscriber(email=email, status=SubscriberStatus.CONFIRMED,
                                      confirmed_at=utcnow()))  # fmt: skip
        db.session.commit()
    for number in range(4):
        _publish(site, f"Post {number}")
        run_jobs(site)
    time.sleep(0.3)
    assert len(_to(smtp_server, "here@example.org")) == 4
    with site.app_context():
        gone = db.session.scalar(db.select(Subscriber).filter_by(email="gone@example.org"))
        assert gone.status == SubscriberStatus.BOUNCING and gone.bounces == 3
        assert "550" in gone.last_error
        statuses = db.session.scalars(
            db.select(NewsletterDelivery.status).where(NewsletterDelivery.subscriber_id == gone.id)
        ).all()
        assert sorted(statuses) == [DeliveryStatus.BOUNCED] * 3  # the fourth: not even tried


def test_unconfirmed_addresses_are_forgotten_after_seven_days_by_the_housekeeping(
    site, smtp_server
):
    reader = _subscribe(site, smtp_server, "late@example.org", confirm=False)
    _subscribe(site, smtp_server, "prompt@example.org")
    link = _link(_to(smtp_server, "late@example.org")[-1], "/subscribe/confirm/")
    with site.app_context():
        counts = {o.chore.name: o.count for o in housekeeping.run_all()}
        assert counts["unconfirmed subscribers"] == 0
    with time_machine.travel(utcnow() + timedelta(days=7, minutes=1), tick=False):
        with site.app_context():
            counts = {o.chore.name: o.count for o in housekeeping.run_all()}
            assert counts["unconfirmed subscribers"] == 1
            emails = db.session.scalars(db.select(Subscriber.email)).all()
            assert emails == ["prompt@example.org"]  # the confirmed one stays, however old
        late = reader.get(_path(link))
        assert late.status_code == 400 and "Subscribe again" in late.get_data(True)


def test_staff_see_progress_pause_resume_and_cancel(site, smtp_server, users):
    _confirmed(site, 10)
    post_id = _publish(site, "Paused news")
    with site.app_context():  # what the start job does, before any batch runs
        from blog.newsletter import sending

        sending.start({"post_id": post_id})
    editor = site.test_client()
    editor.post("/login", data={"email": "editor@example.com", "password": PASSWORD})
    page = editor.get("/admin/newsletter").get_data(as_text=True)
    assert "Paused news" in page and "10 confirmed subscribers" in page
    with site.app_context():
        send_id = db.session.scalar(db.select(NewsletterSend.id))
    token = csrf_token_from(page)
    paused = editor.post(f"/admin/newsletter/{send_id}/pause", data={"csrf_token": token})
    assert paused.status_code == 302
    run_jobs(site)
    assert smtp_server.messages == []
    progress = editor.get(f"/admin/newsletter/progress?id={send_id}").get_json()
    assert progress[str(send_id)]["status"] == "paused" and progress[str(send_id)]["queued"] == 10
    editor.post(f"/admin/newsletter/{send_id}/resume", data={"csrf_token": token})
    run_jobs(site)
    smtp_server.wait_for(10)
    progress = editor.get(f"/admin/newsletter/progress?id={send_id}").get_json()
    assert progress[str(send_id)]["sent"] == 10 and progress[str(send_id)]["status"] == "done"
    author = site.test_client()
    author.post("/login", data={"email": "author@example.com", "password": PASSWORD})
    assert author.get("/admin/newsletter").status_code == 403


def test_subscribers_are_found_exported_imported_and_deleted(site, smtp_server):
    editor = site.test_client()
    editor.post("/login", data={"email": "editor@example.com", "password": PASSWORD})
    token = csrf_token_from(editor.get("/admin/newsletter/subscribers").get_data(as_text=True))
    csv_text = (
        "email,name,consent\nann@example.org,Ann,signed up at the fair 2025-06-01\n"
        "bob@example.org,Bob,\nnot-an-address,X,yes\nann@example.org,Ann again,yes\n"
    )
    answer = editor.post("/admin/newsletter/subscribers/import", data={
        "csrf_token": token, "file": (__import__("io").BytesIO(csv_text.encode()), "list.csv")},
        content_type="multipart/form-data", follow_redirects=True)  # fmt: skip
    page = answer.get_data(as_text=True)
    assert "1 confirmed (consent recorded), 1 sent a link to confirm, 1 already on the list, " \
           "1 not an email address" in page  # fmt: skip
    run_jobs(site)
    assert [str(m["To"]) for m in smtp_server.wait_for(1)] == ["bob@example.org"]
    found = editor.get("/admin/newsletter/subscribers?q=ANN").get_data(as_text=True)
    assert "ann@example.org" in found and "bob@example.org" not in found
    exported = editor.get("/admin/newsletter/subscribers.csv?status=confirmed").get_data(True)
    assert exported.splitlines()[0] == "email,name,status,consent,created_at,confirmed_at"
    assert "ann@example.org,Ann,confirmed,imported by editor@example.com" in exported
    assert "bob@example.org" not in exported
    with site.app_context():
        ann_id = db.session.scalar(db.select(Subscriber.id).filter_by(email="ann@example.org"))
    delete = f"/admin/newsletter/subscribers/{ann_id}/delete"
    unticked = editor.post(delete, data={"csrf_token": token}, follow_redirects=True)
    assert "tick the box to confirm first" in unticked.get_data(True)
    with site.app_context():
        assert db.session.get(Subscriber, ann_id) is not None
    editor.post(delete, data={"csrf_token": token, "confirm": "yes"})
    with site.app_context():
        assert db.session.get(Subscriber, ann_id) is None


def test_the_cli_shows_the_sends_and_deletes_a_subscriber_for_good(site, smtp_server):
    _subscribe(site, smtp_server, "dan@example.org")
    _publish(site, "Quay news")
    run_jobs(site)
    runner = site.test_cli_runner()
    shown = runner.invoke(args=["newsletter", "status"])
    assert shown.exit_code == 0, shown.output
    assert "1 confirmed" in shown.output and "Quay news: 1 sent of 1, 0 to go" in shown.output
    found = runner.invoke(args=["newsletter", "find", "DAN@example.org"])
    assert "status: confirmed" in found.output and "subscribe form at" in found.output
    kept = runner.invoke(args=["newsletter", "delete", "dan@example.org"], input="n\n")
    assert kept.exit_code == 1 and "Aborted" in kept.output
    gone = runner.invoke(args=["newsletter", "delete", "dan@example.org", "--yes"])
    assert gone.exit_code == 0 and "Deleted dan@example.org for good." in gone.output
    with site.app_context():
        assert db.session.scalar(db.select(Subscriber)) is None
        assert db.session.scalar(db.select(NewsletterDelivery)) is None  # its record went too
    missing = runner.invoke(args=["newsletter", "find", "dan@example.org"])
    assert "dan@example.org is not on the list." in missing.output


def test_the_editor_emails_a_test_of_the_unsaved_post_to_its_author_only(site, smtp_server):
    post_id = _publish(site, "Draft of the week", action="save", body="Saved text.")
    author = site.test_client()
    author.post("/login", data={"email": "author@example.com", "password": PASSWORD})
    page = author.get(f"/admin/posts/{post_id}/edit").get_data(as_text=True)
    assert "Email me a test" in page
    form = {
        "title": "Draft of the week",
        "body": "Unsaved *words* and [a link](/about/).",
        "newsletter": "full",
        "post_id": str(post_id),
        "csrf_token": csrf_token_from(page),
    }
    answer = author.post("/admin/posts/newsletter-test", data=form)
    assert answer.status_code == 200, answer.get_data(True)
    assert answer.get_json()["message"] == "A test is on its way to author@example.com."
    run_jobs(site)
    [test] = _to(smtp_server, "author@example.com")
    assert str(test["Subject"]).strip() == "[Test] Draft of the week"
    assert "Unsaved *words* and [a link](http://blog.test/about/)." in _text(test)
    assert "<em" in _html(test) and "Unsaved" in _html(test)
    with site.app_context():
        post = db.session.get(Post, post_id)
        assert post.body_md == "Saved text."
        assert db.session.scalar(db.select(NewsletterSend)) is None
        assert db.session.scalar(db.select(func.count()).select_from(Post)) == 1
    # Another author may not use someone else's post.
    other = site.test_client()
    other.post("/login", data={"email": "other@example.com", "password": PASSWORD})
    token = csrf_token_from(other.get("/admin/posts/new").get_data(as_text=True))
    refused = other.post("/admin/posts/newsletter-test", data={**form, "csrf_token": token})
    assert refused.status_code == 403


# What a crash leaves, and what the next batch does with it -------------------------------------


def test_a_message_cut_off_before_its_last_line_is_sent_again_and_one_handed_over_never(
    site, smtp_server
):
    from blog.newsletter import sending

    _confirmed(site, 3)
    send_id = _started_send(site, "Cut off")
    long_ago = utcnow() - timedelta(hours=1)
    with site.app_context():
        first, second, third = db.session.scalars(
            db.select(NewsletterDelivery).order_by(NewsletterDelivery.id)
        ).all()
        # A worker killed mid-transaction (the server threw the message away) ...
        first.status, first.claim, first.claimed_at = DeliveryStatus.SENDING, "dead", long_ago
        first.attempts, first.message_id = 1, "<kept@blog.test>"
        # ... and one killed after the final line went out, before the server's 250 came.
        second.status, second.claim, second.claimed_at = (
            DeliveryStatus.HANDED_OVER, "dead", long_ago)  # fmt: skip
        db.session.commit()
        resent_to, handed_over_to, fresh_to = (
            first.subscriber.email, second.subscriber.email, third.subscriber.email)  # fmt: skip
        sending.batch({"send_id": send_id})
        counts = sending.progress([send_id])[send_id]
        send = db.session.get(NewsletterSend, send_id)
        assert send.status == SendStatus.DONE
    time.sleep(0.2)
    received = [str(m["To"]) for m in smtp_server.messages if str(m["Subject"]) == "Cut off"]
    assert sorted(received) == sorted([resent_to, fresh_to])
    assert handed_over_to not in received
    resent = next(m for m in smtp_server.messages if str(m["To"]) == resent_to)
    assert resent["Message-ID"] == "<kept@blog.test>"  # the same message, not a new one
    assert (counts["sent"], counts["handed_over"]) == (2, 1)


def test_a_worker_that_held_its_claim_past_the_lease_sends_nothing_the_next_one_took(
    site, smtp_server
):
    from blog.newsletter import sending

    _confirmed(site, 4)
    send_id = _started_send(site, "Slow server")
    with site.app_context():
        send = db.session.get(NewsletterSend, send_id)
        slow = sending._claim(send, "slow-batch", 4)  # a batch that then stalled
        db.session.execute(
            db.update(NewsletterDelivery).values(claimed_at=utcnow() - timedelta(hours=1))
        )
        db.session.commit()
        sending.batch({"send_id": send_id})  # another worker takes the stale claims over
        assert sending._deliver(send, "slow-batch", slow) == 0  # the stalled one wakes up
        assert sending.progress([send_id])[send_id]["sent"] == 4
    time.sleep(0.2)
    assert len([m for m in smtp_server.messages if str(m["Subject"]) == "Slow server"]) == 4


def test_a_temporary_refusal_and_a_server_that_is_down_are_retried_until_sent(site, smtp_server):
    _confirmed(site, 3)
    smtp_server.refuse_next(421, times=2)  # "try again later", for two recipients
    _publish(site, "Patience")
    run_jobs(site)
    time.sleep(0.2)
    news = [m for m in smtp_server.messages if str(m["Subject"]) == "Patience"]
    assert sorted(str(m["To"]) for m in news) == [f"s{n}@example.org" for n in range(3)]
    with site.app_context():
        attempts = db.session.scalars(db.select(NewsletterDelivery.attempts)).all()
        assert sorted(attempts) == [1, 2, 2]  # two were refused once, then taken

    # The SMTP server is down when the next post goes: the batch job is retried with backoff,
    # and when it gives up the send waits, paused, for Resume; nothing is lost.
    smtp_server.go_down()
    _publish(site, "While down")
    run_jobs(site)
    with site.app_context():
        send = db.session.scalar(db.select(NewsletterSend).filter_by(title="While down"))
        assert send.status == SendStatus.PAUSED and "Could not reach the SMTP server" in send.note
        counts = sending_progress(site)
        assert counts["queued"] == 3 and counts["sent"] == 0
    smtp_server.come_back()
    editor = site.test_client()
    editor.post("/login", data={"email": "editor@example.com", "password": PASSWORD})
    page = editor.get("/admin/newsletter").get_data(as_text=True)
    assert "Paused: Gave up after 30 attempts" in page
    resumed = editor.post(f"/admin/newsletter/{send.id}/resume",
                          data={"csrf_token": csrf_token_from(page)})  # fmt: skip
    assert resumed.status_code == 302
    run_jobs(site)
    time.sleep(0.2)
    later = [m for m in smtp_server.messages if str(m["Subject"]) == "While down"]
    assert sorted(str(m["To"]) for m in later) == [f"s{n}@example.org" for n in range(3)]


def sending_progress(site) -> dict:
    from blog.newsletter import sending

    send_id = db.session.scalar(db.select(NewsletterSend.id).order_by(NewsletterSend.id.desc()))
    return sending.progress([send_id])[send_id]


def test_the_excerpt_choice_sends_the_summary_and_a_link_and_pages_are_never_sent(
    site, smtp_server
):
    _subscribe(site, smtp_server, "bea@example.org")
    _publish(site, "Long read", body="First paragraph.\n\nSecret second part.",
             excerpt="A short summary.", newsletter="excerpt")  # fmt: skip
    _publish(site, "About us", kind="page")
    run_jobs(site)
    [news] = [m for m in _to(smtp_server, "bea@example.org") if "Long read" in str(m["Subject"])]
    assert "A short summary." in _text(news) and "Secret second part" not in _text(news)
    assert "http://blog.test/long-read/" in _html(news)
    assert not [m for m in smtp_server.messages if "About us" in str(m["Subject"])]


def test_a_reader_moves_their_subscription_to_another_address_and_can_resubscribe(
    site, smtp_server
):
    reader = _subscribe(site, smtp_server, "old@example.org")
    _publish(site, "First")
    run_jobs(site)
    [news] = [m for m in _to(smtp_server, "old@example.org") if "First" in str(m["Subject"])]
    unsubscribe = _path(news["List-Unsubscribe"].strip().strip("<>"))
    left = reader.post(unsubscribe)
    assert "You are unsubscribed" in left.get_data(True)
    token = unsubscribe.rsplit("/", 1)[1]
    again = reader.post(f"/unsubscribe/{token}/undo")
    assert "You are subscribed" in again.get_data(True)
    moved = reader.post(f"/newsletter/{token}/address", data={"email": "New@Example.org"})
    assert moved.status_code == 200 and "Check your email" in moved.get_data(True)
    run_jobs(site)
    [confirm] = _to(smtp_server, "New@Example.org") or _to(smtp_server, "new@example.org")
    done = reader.get(_path(_link(confirm, "/newsletter/address/")))
    assert "Your address is changed" in done.get_data(True)
    _publish(site, "Second")
    run_jobs(site)
    assert [m for m in _to(smtp_server, "new@example.org") if "Second" in str(m["Subject"])]
    assert not [m for m in _to(smtp_server, "old@example.org") if "Second" in str(m["Subject"])]


def test_cancelling_while_a_batch_is_sending_stops_it_and_the_send_stays_cancelled(
    site, smtp_server
):
    import threading

    from blog.newsletter import sending

    _confirmed(site, 6)
    send_id = _started_send(site, "Called off")
    smtp_server.hold.set()  # the batch's first message waits at the server
    worker = threading.Thread(target=lambda: _run_batch(site, send_id))
    worker.start()
    try:
        assert smtp_server.rcpt_seen.wait(20)
        with site.app_context():
            assert sending.cancel(db.session.get(NewsletterSend, send_id)) == 6
            db.session.commit()
    finally:
        smtp_server.hold.clear()
        worker.join(30)
    run_jobs(site)
    time.sleep(0.2)
    with site.app_context():
        send = db.session.get(NewsletterSend, send_id)
        counts = sending.progress([send_id])[send_id]
        assert send.status == SendStatus.CANCELLED  # not "done" after the batch ended
        assert counts["queued"] + counts["sending"] == 0 and counts["cancelled"] == 6
    # The message held at the server was cut off before its last line: nothing arrived.
    assert not [m for m in smtp_server.messages if str(m["Subject"]) == "Called off"]


def _run_batch(site, send_id: int) -> None:
    from blog.newsletter import sending

    with site.app_context():
        sending.batch({"send_id": send_id})
        db.session.remove()

"""Commenters' privacy: addresses erased after 30 days by the housekeeping the worker runs, and a
person's comments found, downloaded and erased by email, from the admin and from the CLI, with
other people's replies kept and readers seeing the result on their next request."""

import json
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from blog import housekeeping
from blog.comments import recount
from blog.extensions import db
from blog.models import Comment, CommentStatus, Post, RateEvent, User, utcnow
from blog.posts import Action, PostInput, save_post
from blog.rendering import render_comment
from tests.conftest import PASSWORD

ALICE = "alice@example.org"


def publish(app, users, title: str) -> int:
    with app.app_context():
        author = db.session.get(User, users["author"]["id"])
        post = save_post(None, PostInput(title=title, body_md="Text."), author, Action.PUBLISH)
        db.session.commit()
        return post.id


def write(app, post_id: int, name: str, text: str, *, email: str = "", answers: int | None = None,
          status=CommentStatus.APPROVED, days_ago: float = 0,
          address="192.0.2.1") -> int:  # fmt: skip
    """A stored comment, as the form stores it; a reply joins the thread of the one it answers."""
    with app.app_context():
        when = utcnow() - timedelta(days=days_ago)
        answered = db.session.get(Comment, answers) if answers else None
        comment = Comment(
            post_id=post_id, author_name=name, author_email=email or f"{name.lower()}@example.org",
            body_md=text, body_html=render_comment(text), status=status, address=address,
            reply_to=answered, thread_id=(answered.thread_id or answered.id) if answered else None,
            created_at=when, updated_at=when,
        )  # fmt: skip
        db.session.add(comment)
        db.session.flush()
        recount(post_id)
        db.session.commit()
        return comment.id


def signed_in(app, users, who: str):
    client = app.test_client()
    response = client.post("/login", data={"email": users[who]["email"], "password": PASSWORD})
    assert response.status_code == 302
    return client


def row(app, comment_id: int) -> Comment | None:
    with app.app_context():
        comment = db.session.get(Comment, comment_id)
        if comment is not None:
            db.session.expunge(comment)
        return comment


# Addresses and housekeeping -------------------------------------------------------------------


def test_housekeeping_erases_addresses_older_than_30_days_and_leaves_pages_cached(app, users):
    post = publish(app, users, "Harbour opens")
    old = write(app, post, "Old", "Long ago.", days_ago=30.1, address="198.51.100.7")
    recent = write(app, post, "Recent", "Last week.", days_ago=29.9, address="198.51.100.8")
    reader = app.test_client()
    reader.get("/harbour-opens/")
    assert reader.get("/harbour-opens/").headers["X-Cache"] == "HIT"
    with app.app_context():
        outcomes = {o.chore.name: o.count for o in housekeeping.run_all()}
    assert outcomes["comment addresses"] == 1
    assert row(app, old).address == "" and row(app, recent).address == "198.51.100.8"
    assert row(app, old).body_md == "Long ago."  # the comment itself stays
    assert reader.get("/harbour-opens/").headers["X-Cache"] == "HIT"  # nothing readers see
    with app.app_context():
        assert housekeeping.run_all()[0].count == 0  # a second run finds nothing to do


def test_the_address_lifetime_is_configurable(make_app, users):
    app = make_app(COMMENT_ADDRESS_DAYS=7)
    with app.app_context():
        from blog.accounts import create_user
        from blog.models import Role

        author = create_user("w@example.com", "Wes Writer", Role.AUTHOR, PASSWORD)
        db.session.flush()
        post = save_post(None, PostInput(title="Tides"), author, Action.PUBLISH)
        db.session.commit()
        post_id = post.id
    eight = write(app, post_id, "Eight", "Eight days.", days_ago=8)
    six = write(app, post_id, "Six", "Six days.", days_ago=6)
    with app.app_context():
        housekeeping.run_all()
    assert (row(app, eight).address, row(app, six).address) == ("", "192.0.2.1")


def test_housekeeping_prunes_day_old_rate_events(app):
    with app.app_context():
        for key, hours in (("address:a", 25), ("address:b", 1)):
            when = utcnow() - timedelta(hours=hours)
            db.session.add(RateEvent(action="password_reset", key=key, created_at=when))
        db.session.commit()
        outcomes = {o.chore.name: o.count for o in housekeeping.run_all()}
        assert outcomes["rate-limit events"] == 1
        assert db.session.scalars(select(RateEvent.key)).all() == ["address:b"]


def test_a_failing_chore_is_rolled_back_alone_and_the_others_still_run(app, users, caplog):
    post = publish(app, users, "Harbour opens")
    old = write(app, post, "Old", "Long ago.", days_ago=40)

    def breaks() -> int:
        db.session.get(Comment, old).author_name = "Changed, then rolled back"
        raise RuntimeError("disk on fire")

    chores = (housekeeping.Chore("broken", breaks, "{}"), *housekeeping.CHORES)
    with app.app_context():
        outcomes = housekeeping.run_all(chores)
    assert [o.count for o in outcomes[:2]] == [None, 1]
    assert str(outcomes[0]) == "broken: failed (see the log)"
    assert "disk on fire" in caplog.text
    assert (row(app, old).author_name, row(app, old).address) == ("Old", "")


def test_the_job_worker_runs_the_housekeeping_every_interval(make_app, users):
    from blog.worker import Worker

    app = make_app(HOUSEKEEPING_SECONDS=0.3, JOB_POLL_MAX_SECONDS=0.2)
    post = publish(app, users, "Harbour opens")
    worker = Worker(app, threads=1, embedded=True)
    worker.start()
    try:
        old = write(app, post, "Old", "Written before the worker's next round.", days_ago=31)
        deadline = time.monotonic() + 10
        while row(app, old).address and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        worker.stop()
    assert row(app, old).address == ""


def test_the_housekeeping_command_runs_every_chore_once(app, users, runner):
    post = publish(app, users, "Harbour opens")
    write(app, post, "Old", "Long ago.", days_ago=31)
    result = runner.invoke(args=["housekeeping"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "1 commenters' addresses erased (older than COMMENT_ADDRESS_DAYS)",
        "0 old rate-limit events deleted",
        "0 newsletter subscribers forgotten (unconfirmed after 7 days)",
    ]


# A person's comments ---------------------------------------------------------------------------


@pytest.fixture
def conversation(app, users):
    """Alice (who asks to be erased) in two articles' conversations, among other people.

    Harbour opens: Alice starts a thread; Bob answers her, Carol answers Bob, Alice answers
    Bob, Dan's answer waits for approval. Bob starts a second thread; Alice answers him and
    Erin answers Alice. Ferry news: Alice's comment waits for approval.
    """
    harbour = publish(app, users, "Harbour opens")
    ferry = publish(app, users, "Ferry news")
    ids = SimpleNamespace(harbour=harbour, ferry=ferry)
    ids.alice_first = write(app, harbour, "Alice", "Alice starts.", email="Alice@Example.org")
    ids.bob = write(app, harbour, "Bob", "Bob answers Alice.", answers=ids.alice_first)
    ids.carol = write(app, harbour, "Carol", "Carol answers Bob.", answers=ids.bob)
    ids.alice_again = write(app, harbour, "Alice", "Alice answers Bob.", email=ALICE,
                            answers=ids.bob)  # fmt: skip
    ids.dan = write(app, harbour, "Dan", "Dan waits.", answers=ids.bob,
                    status=CommentStatus.PENDING)  # fmt: skip
    ids.bob_first = write(app, harbour, "Bob", "Bob starts another.")
    ids.alice_reply = write(app, harbour, "Alice", "Alice answers it.", email=ALICE,
                            answers=ids.bob_first)  # fmt: skip
    ids.erin = write(app, harbour, "Erin", "Erin answers Alice.", answers=ids.alice_reply)
    ids.alice_ferry = write(app, ferry, "Alice", "Alice on the ferry.", email=ALICE,
                            status=CommentStatus.PENDING, address="203.0.113.9")  # fmt: skip
    return ids


def test_an_editor_finds_every_comment_by_an_address_whatever_its_case_and_status(
    app, users, conversation
):
    editor = signed_in(app, users, "editor")
    assert "Find a commenter" in editor.get("/admin/comments").get_data(as_text=True)
    page = editor.post("/admin/comments/by-email", data={"email": " ALICE@example.org "})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "4 comments by alice@example.org" in html
    for text in ("Alice starts.", "Alice answers Bob.", "Alice answers it.", "Alice on the ferry."):
        assert text in html
    assert "Bob answers Alice." not in html
    empty = editor.post("/admin/comments/by-email", data={"email": "nobody@example.org"})
    assert "0 comments by nobody@example.org" in empty.get_data(as_text=True)
    assert editor.post("/admin/comments/by-email", data={"email": ""}).status_code == 400


def test_the_download_holds_everything_stored_about_the_persons_comments(app, users, conversation):
    editor = signed_in(app, users, "editor")
    answer = editor.post("/admin/comments/by-email/export", data={"email": ALICE})
    assert answer.status_code == 200
    assert answer.headers["Content-Disposition"].startswith('attachment; filename="comments-')
    assert answer.headers["Content-Type"] == "application/json"
    document = json.loads(answer.data)
    assert document["email"] == ALICE and document["site"] == "http://blog.test"
    exported = document["comments"]
    assert [c["text"] for c in exported] == [
        "Alice starts.",
        "Alice answers Bob.",
        "Alice answers it.",
        "Alice on the ferry.",
    ]
    ferry = exported[-1]
    assert ferry["status"] == "pending" and ferry["address"] == "203.0.113.9"
    assert ferry["post"] == {"title": "Ferry news", "url": "http://blog.test/ferry-news/"}
    assert ferry["html"] == "<p>Alice on the ferry.</p>"
    assert ferry["email"] == ALICE and ferry["created_at"].endswith("Z")
    assert exported[1]["in_reply_to"] == conversation.bob


def test_erasing_keeps_other_peoples_replies_and_readers_see_it_on_the_next_request(
    app, users, conversation
):
    ids = conversation
    reader = app.test_client()
    reader.get("/harbour-opens/")
    assert "Alice starts." in reader.get("/harbour-opens/").get_data(as_text=True)
    editor = signed_in(app, users, "editor")

    refused = editor.post("/admin/comments/by-email/erase", data={"email": ALICE})
    assert refused.status_code == 400
    assert "Tick the box to confirm" in refused.get_data(as_text=True)
    assert row(app, ids.alice_first) is not None

    done = editor.post("/admin/comments/by-email/erase", data={"email": ALICE, "confirm": "y"})
    assert done.status_code == 303
    message = editor.get(done.headers["Location"]).get_data(as_text=True)
    assert "Erased 4 comments on 2 posts. Replies by others were kept in 1 thread." in message
    assert ALICE not in message

    for gone in (ids.alice_first, ids.alice_again, ids.alice_reply, ids.alice_ferry):
        assert row(app, gone) is None
    # Bob's answer now starts the first thread; Carol's and Dan's replies joined it.
    assert row(app, ids.bob).thread_id is None
    assert (row(app, ids.carol).thread_id, row(app, ids.dan).thread_id) == (ids.bob, ids.bob)
    assert row(app, ids.carol).reply_to_id == ids.bob
    # Erin answered Alice: her reply stays in Bob's thread, without the link to Alice's.
    assert (row(app, ids.erin).thread_id, row(app, ids.erin).reply_to_id) == (ids.bob_first, None)
    with app.app_context():
        counts = dict(db.session.execute(select(Post.slug, Post.comment_count)).all())
    assert counts == {"harbour-opens": 4, "ferry-news": 0}

    response = reader.get("/harbour-opens/")
    assert response.headers["X-Cache"] == "MISS"
    page = response.get_data(as_text=True)
    assert '<span class="comment-author">Alice</span>' not in page
    for text in ("Alice starts.", "Alice answers Bob.", "Alice answers it."):
        assert text not in page
    for text in ("Bob answers Alice.", "Carol answers Bob.", "Bob starts another.",
                 "Erin answers Alice."):  # fmt: skip
        assert text in page
    assert "4 comments" in page
    first_thread = page[page.index(f'id="comment-{ids.bob}"') : page.index("Bob starts another.")]
    assert "Carol answers Bob." in first_thread  # still nested under Bob


def test_a_thread_with_only_the_persons_own_replies_goes_whole(app, users):
    post = publish(app, users, "Harbour opens")
    first = write(app, post, "Alice", "Alone.", email=ALICE)
    write(app, post, "Alice", "Still alone.", email=ALICE, answers=first)
    other = write(app, post, "Bob", "Elsewhere.")
    with app.app_context():
        from blog.comment_privacy import erase

        erasure = erase(ALICE)
        db.session.commit()
        assert (erasure.comments, erasure.posts, erasure.threads_kept) == (2, 1, 0)
        assert db.session.scalars(select(Comment.id)).all() == [other]


def test_the_cli_finds_exports_and_erases_after_confirmation(app, users, conversation, runner,
                                                            tmp_path):  # fmt: skip
    found = runner.invoke(args=["comments", "find", ALICE])
    assert found.exit_code == 0, found.output
    assert "Alice on the ferry." in found.output and found.output.endswith("4 comments.\n")
    assert "Bob" not in found.output.replace("Alice answers Bob.", "")

    target = tmp_path / "alice.json"
    exported = runner.invoke(args=["comments", "export", ALICE, "--output", str(target)])
    assert exported.exit_code == 0 and "Wrote 4 comments" in exported.output
    assert len(json.loads(target.read_text())["comments"]) == 4
    to_stdout = runner.invoke(args=["comments", "export", ALICE])
    assert json.loads(to_stdout.output)["email"] == ALICE

    declined = runner.invoke(args=["comments", "erase", ALICE], input="n\n")
    assert declined.exit_code == 1 and "Erase 4 comments by alice@example.org for good?" in (
        declined.output
    )
    assert row(app, conversation.alice_first) is not None
    erased = runner.invoke(args=["comments", "erase", ALICE], input="y\n")
    assert erased.exit_code == 0, erased.output
    assert "Erased 4 comments by alice@example.org on 2 posts" in erased.output
    assert row(app, conversation.alice_first) is None
    again = runner.invoke(args=["comments", "erase", ALICE, "--yes"])
    assert again.exit_code == 0 and "No comments by alice@example.org." in again.output

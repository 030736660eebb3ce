"""Comments: readers write under an article, moderators decide, bots are turned away.

The spam tests play the common bots against the real form (the tokens come from the page a
reader would see, aged with time-machine instead of waiting), and a set of ordinary comments
written at human speed, which must all reach the queue."""

import re
import time

import pytest
import time_machine

from blog import comment_guard
from blog.extensions import db
from blog.models import Comment, CommentStatus, Post, PostStatus, User, utcnow
from blog.settings import set_settings
from tests.conftest import PASSWORD


@pytest.fixture
def article(app, users):
    with app.app_context():
        author = db.session.get(User, users["author"]["id"])
        post = Post(title="Hello readers", slug="hello", body_md="Text.", body_html="<p>Text.</p>",
                    status=PostStatus.PUBLISHED, published_at=utcnow(), author=author)  # fmt: skip
        db.session.add(post)
        db.session.commit()
        return post.id


def _token_from(page) -> str:
    return re.search(r'name="form_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def _comment(client, token: str, **fields):
    data = {"text": "A thoughtful remark.", "name": "Reader", "email": "reader@example.org",
            "form_token": token, **fields}  # fmt: skip
    return client.post("/hello/comments", data=data)


def _aged_token(app, seconds: float = 30) -> str:
    with app.app_context():
        return comment_guard.new_token(comment_guard.secret_key(), time.time() - seconds)


def _statuses(app) -> list[tuple[str, CommentStatus]]:
    with app.app_context():
        rows = db.session.execute(
            db.select(Comment.author_name, Comment.status).order_by(Comment.id)
        )
        return [tuple(row) for row in rows]


def test_each_reader_gets_a_fresh_token_even_from_the_cached_page(app, client, article):
    first, second = client.get("/hello/"), client.get("/hello/")
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("MISS", "HIT")
    assert _token_from(first) != _token_from(second)
    assert comment_guard.PLACEHOLDER not in second.get_data(as_text=True)
    assert comment_guard.MARK_HEADER not in second.headers
    assert len(first.data) == int(first.headers["Content-Length"])


def test_a_first_comment_is_held_and_shown_only_to_its_writer_as_awaiting_moderation(
    app, client, article
):
    token = _token_from(client.get("/hello/"))
    with time_machine.travel(time.time() + 20):
        answer = _comment(client, token, text="I *liked* it.")
        assert answer.status_code == 303 and "held=" in answer.headers["Location"]
        page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "awaiting moderation" in page and "I <em>liked</em> it." in page
    assert "I <em>liked</em> it." not in client.get("/hello/").get_data(as_text=True)
    assert answer.headers.get("Set-Cookie") is None  # nothing kept in a cookie
    assert _statuses(app) == [("Reader", CommentStatus.PENDING)]


def test_spam_bots_are_turned_away_and_people_at_human_speed_all_get_through(app, client, article):
    """The common bots, then twelve people; none of the people is refused."""
    refusals = {}
    # 1. An instant POST, without loading the form: no token at all.
    refusals["no token"] = _comment(client, "", name="Bot 1")
    # 2. A token fresh from the page, sent at once.
    refusals["too fast"] = _comment(client, _token_from(client.get("/hello/")), name="Bot 2")
    # 3. The honeypot filled in.
    refusals["honeypot"] = _comment(client, _aged_token(app), name="Bot 3",
                                    website_confirm="http://spam.example")  # fmt: skip
    # 4. A token used twice.
    token = _aged_token(app)
    assert _comment(client, token, name="Once", email="once@example.org").status_code == 303
    refusals["replay"] = _comment(client, token, name="Bot 4")
    # 5. A forged token.
    refusals["forged"] = _comment(client, "A" * comment_guard.TOKEN_LENGTH, name="Bot 5")
    # 6. A day-old page.
    refusals["expired"] = _comment(client, _aged_token(app, 25 * 3600), name="Bot 6")
    for what, answer in refusals.items():
        assert answer.status_code == 400, what
        page = answer.get_data(as_text=True)
        assert 'class="flash flash-error"' in page, what
    assert "quicker than anyone" in refusals["too fast"].get_data(as_text=True)
    assert "already sent once" in refusals["replay"].get_data(as_text=True)
    assert "A thoughtful remark." in refusals["replay"].get_data(as_text=True)  # text kept

    # 7. Twenty posts from one address in a minute: the first few reach the queue, then 429.
    flood = [_comment(client, _aged_token(app), name=f"Flood {n}", email=f"f{n}@example.org")
             for n in range(20)]  # fmt: skip
    codes = [answer.status_code for answer in flood]
    assert codes.count(303) == 4 and codes.count(429) == 16  # 5 per address, "Once" counted
    assert "Wait a little" in flood[-1].get_data(as_text=True)

    # The rest come from other addresses, as different people would.
    def from_address(n):
        return {"REMOTE_ADDR": f"192.0.2.{n}"}

    # 8. Ten links: held, with the reason.
    links = " ".join(f"[l{n}](http://example.com/{n})" for n in range(10))
    answer = client.post("/hello/comments", data={"text": links, "name": "Linker",
                         "email": "links@example.org", "form_token": _aged_token(app)},
                         environ_base=from_address(50))  # fmt: skip
    assert answer.status_code == 303
    # 9. A blocklisted word: accepted in appearance, stored as spam.
    with app.app_context():
        set_settings({"comment_blocklist": "casino\n@spam.example"})
        db.session.commit()
    answer = client.post("/hello/comments", data={"text": "Best CASINO here", "name": "Spammer",
                         "email": "s@example.org", "form_token": _aged_token(app)},
                         environ_base=from_address(51))  # fmt: skip
    assert answer.status_code == 303 and "held=" in answer.headers["Location"]

    # Twelve ordinary people, each after reading for a while, each from their own address.
    people = []
    for n in range(12):
        token = _token_from(client.get("/hello/", environ_base=from_address(100 + n)))
        with time_machine.travel(time.time() + 15 + 7 * n):
            people.append(client.post("/hello/comments", data={
                "text": f"Comment number {n}, with a [link](https://example.org/{n}).",
                "name": f"Person {n}", "email": f"person{n}@example.org", "form_token": token,
            }, environ_base=from_address(100 + n)))  # fmt: skip
    assert [answer.status_code for answer in people] == [303] * 12  # 0 false refusals

    with app.app_context():
        by_name = {c.author_name: c for c in db.session.scalars(db.select(Comment))}
    assert by_name["Linker"].status == CommentStatus.PENDING
    assert by_name["Linker"].held_reason == "more than 2 links"
    assert by_name["Spammer"].status == CommentStatus.SPAM
    assert by_name["Spammer"].held_reason == "blocklist: casino"
    assert all(by_name[f"Person {n}"].status == CommentStatus.PENDING for n in range(12))
    assert not any(name.startswith("Bot") for name in by_name)


def test_approval_shows_at_once_for_readers_and_a_held_comment_changes_no_cached_page(
    app, client, auth, article
):
    reader = app.test_client()
    before = reader.get("/hello/")
    etag = before.headers["ETag"]
    assert _comment(reader, _aged_token(app), text="Worth *reading*.").status_code == 303
    again = reader.get("/hello/", headers={"If-None-Match": etag})
    assert again.status_code == 304  # the held comment changed nothing readers see
    auth.login("author")  # the post's author moderates its comments
    queue = client.get("/admin/comments").get_data(as_text=True)
    assert "Worth <em>reading</em>." in queue and "reader@example.org" in queue
    assert re.search(r'Comments <span class="count"[^>]*>1</span>', queue)
    with app.app_context():
        comment_id = db.session.scalar(db.select(Comment.id))
    assert client.post(f"/admin/comments/{comment_id}/approve").status_code == 302
    after = reader.get("/hello/", headers={"If-None-Match": etag})
    assert after.status_code == 200 and after.headers["ETag"] != etag
    page = after.get_data(as_text=True)
    assert "Worth <em>reading</em>." in page and "1 comment" in page
    assert "reader@example.org" not in page  # never shown to readers
    with app.app_context():
        assert db.session.get(Post, article).comment_count == 1
    assert '#comments">1 comment</a>' in reader.get("/").get_data(as_text=True)  # the list


def test_replies_nest_one_level_and_a_reply_to_a_reply_says_whom_it_answers(app, client, article):
    with app.app_context():
        set_settings({"comment_moderation": "open"})
        db.session.commit()
    first = _comment(client, _aged_token(app), text="First.", name="Ann", email="a@example.org")
    first_id = int(first.headers["Location"].rsplit("comment-", 1)[1])
    reply = _comment(client, _aged_token(app), text="Reply.", name="Bob", email="b@example.org",
                     reply_to=first_id)  # fmt: skip
    reply_id = int(reply.headers["Location"].rsplit("comment-", 1)[1])
    _comment(client, _aged_token(app), text="Reply to reply.", name="Cy", email="c@example.org",
             reply_to=reply_id)  # fmt: skip
    page = client.get("/hello/").get_data(as_text=True)
    thread = page[page.index(f'id="comment-{first_id}"') :]
    replies = thread[thread.index('class="replies"') :]
    assert "Reply." in replies and "Reply to reply." in replies
    assert f'In reply to <a href="#comment-{reply_id}">Bob</a>' in replies
    assert page.count('class="replies"') == 1  # one level deep
    assert "3 comments" in page


def test_a_website_is_a_nofollow_ugc_link_and_hostile_fields_stay_text(app, client, article):
    with app.app_context():
        set_settings({"comment_moderation": "open"})
        db.session.commit()
    answer = _comment(
        client, _aged_token(app), name='<img src=x onerror=alert(1)>',
        url="https://example.org/me", text="<script>alert(1)</script> [x](javascript:alert(1))",
    )  # fmt: skip
    assert answer.status_code == 303
    page = client.get("/hello/").get_data(as_text=True)
    assert '<a href="https://example.org/me" rel="nofollow ugc noopener">&lt;img' in page
    assert "<script>alert(1)</script>" not in page and "javascript:" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    refused = _comment(client, _aged_token(app), url="javascript:alert(1)", name="Eve")
    assert refused.status_code == 400
    assert "Use an address starting with http" in refused.get_data(as_text=True)


def test_closed_and_hidden_comments(app, client, article):
    with app.app_context():
        post = db.session.get(Post, article)
        post.comments_mode = "closed"
        db.session.commit()
    page = client.get("/hello/").get_data(as_text=True)
    assert "Comments are closed." in page and 'id="comment-form"' not in page
    assert _comment(client, _aged_token(app)).status_code == 400
    with app.app_context():
        db.session.get(Post, article).comments_mode = "hidden"
        db.session.commit()
    assert 'id="comments"' not in client.get("/hello/").get_data(as_text=True)
    assert _comment(client, _aged_token(app)).status_code == 404


def test_comments_close_by_themselves_after_the_configured_days(app, client, article):
    with time_machine.travel(time.time() + 61 * 86400):
        page = client.get("/hello/").get_data(as_text=True)
        assert "Comments close 60 days after publication." in page
        assert _comment(client, _aged_token(app)).status_code == 400


def test_a_signed_in_user_comments_under_their_account_at_once(app, client, auth, article):
    auth.login("editor")
    page = client.get("/hello/").get_data(as_text=True)
    assert "Commenting as Eddie Editor." in page and 'name="email"' not in page
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = client.post("/hello/comments", data={"text": "From the newsroom.",
                         "form_token": _aged_token(app), "csrf_token": csrf})  # fmt: skip
    assert answer.status_code == 303 and "#comment-" in answer.headers["Location"]
    assert _statuses(app) == [("Eddie Editor", CommentStatus.APPROVED)]


def test_an_author_cannot_moderate_comments_on_someone_elses_post(app, client, auth, article):
    _comment(app.test_client(), _aged_token(app))
    with app.app_context():
        comment_id = db.session.scalar(db.select(Comment.id))
    auth.login("other_author")
    assert "A thoughtful remark." not in client.get("/admin/comments").get_data(as_text=True)
    assert client.post(f"/admin/comments/{comment_id}/approve").status_code == 403
    client.post("/admin/comments/bulk", data={"action": "approve", "ids": [str(comment_id)]})
    assert _statuses(app) == [("Reader", CommentStatus.PENDING)]
    _ = PASSWORD


def test_the_editor_closes_and_hides_comments_per_post(app, client, auth, article, users):
    auth.login("author")
    with app.app_context():
        version = db.session.get(Post, article).version
    form = {"title": "Hello readers", "body": "Text.", "action": "save", "version": version,
            "kind": "post", "comments_mode": "closed"}  # fmt: skip
    assert client.post(f"/admin/posts/{article}/edit", data=form).status_code == 302
    reader = app.test_client()
    assert "Comments are closed." in reader.get("/hello/").get_data(as_text=True)
    edit_page = client.get(f"/admin/posts/{article}/edit").get_data(as_text=True)
    assert '<option selected value="closed">' in edit_page
    with app.app_context():
        form["version"] = db.session.get(Post, article).version
    form["comments_mode"] = "hidden"
    assert client.post(f"/admin/posts/{article}/edit", data=form).status_code == 302
    assert 'id="comments"' not in reader.get("/hello/").get_data(as_text=True)
    with app.app_context():
        form["version"] = db.session.get(Post, article).version
    del form["comments_mode"]  # a form without the field (an old tab) leaves it as it is
    assert client.post(f"/admin/posts/{article}/edit", data=form).status_code == 302
    with app.app_context():
        assert db.session.get(Post, article).comments_mode == "hidden"


def test_the_author_and_the_moderators_get_an_email_for_a_waiting_comment(
    make_app, smtp_server, users
):
    from tests.conftest import FAST_RETRIES, run_jobs

    app = make_app(**smtp_server.settings(), **FAST_RETRIES)
    with app.app_context():
        author = db.session.get(User, users["author"]["id"])
        post = Post(title="Hello readers", slug="hello", body_md="T.", body_html="<p>T.</p>",
                    status=PostStatus.PUBLISHED, published_at=utcnow(), author=author)  # fmt: skip
        db.session.add(post)
        db.session.get(User, users["editor"]["id"]).notifications_off = ["comment_waiting"]
        db.session.commit()
    client = app.test_client()
    answer = _comment(client, _aged_token(app), text="Is the *ferry* running?", name="Bea")
    assert answer.status_code == 303
    run_jobs(app)

    messages = smtp_server.wait_for(2)
    time.sleep(0.3)
    to = sorted(str(message["To"]) for message in smtp_server.messages)
    assert to == sorted([users["author"]["email"], users["admin"]["email"]])  # editor: off
    text = messages[0].get_body(("plain",)).get_content()
    assert 'Bea commented on "Hello readers"' in text and "Is the *ferry* running?" in text
    with app.app_context():
        comment_id = db.session.scalar(db.select(Comment.id))
    approve = f"http://blog.test/admin/comments/{comment_id}?do=approve"
    assert approve in text and f"/admin/comments/{comment_id}?do=trash" in text
    # The link asks for sign-in, then shows the comment with Approve as the button to press:
    # opening the link alone (as a mail scanner would) changed nothing.
    moderator = app.test_client()
    path = approve.removeprefix("http://blog.test")
    assert "/login" in moderator.get(path).headers["Location"]
    moderator.post("/login", data={"email": users["author"]["email"], "password": PASSWORD})
    page = moderator.get(path).get_data(as_text=True)
    assert "Is the <em>ferry</em> running?" in page and "It is <strong>pending</strong>" in page
    assert re.search(r'class="button primary">Approve</button>', page)
    done = moderator.post(f"/admin/comments/{comment_id}/approve", data={"review": comment_id})
    assert done.headers["Location"].endswith(f"/admin/comments/{comment_id}")
    assert "It is <strong>approved</strong>" in moderator.get(path).get_data(as_text=True)
    assert "Is the <em>ferry</em> running?" in client.get("/hello/").get_data(as_text=True)
    # A comment shown at once, or spam, waits for nobody: no email.
    with app.app_context():
        set_settings({"comment_moderation": "open", "comment_blocklist": "casino"})
        db.session.commit()
    for words in ("Thanks!", "casino"):
        _comment(client, _aged_token(app), text=words, name="Cy", email=f"{words[:3]}@example.org")
    run_jobs(app)
    assert len(smtp_server.messages) == 2

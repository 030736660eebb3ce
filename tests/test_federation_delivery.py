"""Publishing to the fediverse: followers' inboxes (a real HTTP server on 127.0.0.1) get a
Create when an article becomes public, an Update when it changes, a Delete when it goes, each
once; a server that fails is retried on the documented schedule and put aside, and never
holds up the others."""

from collections import deque
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from blog.accounts import create_user
from blog.extensions import db
from blog.federation.keys import local_actor
from blog.models import (
    DeliveryState,
    FederationDelivery,
    Follower,
    Job,
    Post,
    PostKind,
    PostStatus,
    RemoteActor,
    RemoteServer,
    Role,
    utcnow,
)
from blog.posts import Action, PostInput, change_status, save_post, trash
from blog.settings import set_settings
from tests.conftest import PASSWORD, csrf_token_from, run_jobs
from tests.fediverse_inboxes import RecordingInboxes
from tests.live_servers import free_port

FAST = {
    "FEDERATION": True,
    "FEDERATION_ALLOW_LOOPBACK": True,
    "FEDERATION_RETRY_SECONDS": [0.2, 0.4, 0.6],
    "FEDERATION_SET_ASIDE_SECONDS": 3600,
    "SITE_URL": "http://blog.test",
}


@pytest.fixture
def inboxes():
    with RecordingInboxes() as servers:
        yield servers


@pytest.fixture
def fed_app(make_app):
    app = make_app(**FAST)
    with app.app_context():
        create_user("author@example.com", "Ann Author", Role.AUTHOR, PASSWORD)
        db.session.commit()
    return app


def _follower(name: str, inbox: str, shared_inbox: str = "", actor=None) -> RemoteActor:
    remote = RemoteActor(
        uri=f"http://{name}.example/users/{name}",
        host=f"{name}.example",
        inbox=inbox,
        shared_inbox=shared_inbox,
        username=name,
        name=name.title(),
    )
    db.session.add(remote)
    db.session.flush()
    db.session.add(Follower(local_actor=actor or local_actor(None), remote_actor=remote))
    return remote


def _author():
    from blog.models import User

    return db.session.scalar(select(User).where(User.email == "author@example.com"))


def _publish(title: str = "Hello, fediverse", body: str = "A *first* article.", **fields) -> Post:
    data = PostInput(title=title, body_md=body, kind=PostKind.POST, **fields)
    post = save_post(None, data, _author(), action=Action.PUBLISH)
    db.session.commit()
    return post


def _types(activities) -> list[str]:
    return [activity["type"] for activity in activities]


def test_publishing_sends_one_create_per_inbox_and_shared_inboxes_once(fed_app, inboxes):
    with fed_app.app_context():
        shared = inboxes.url("/shared")
        _follower("ann", inboxes.url("/users/ann/inbox"), shared)
        _follower("bob", inboxes.url("/users/bob/inbox"), shared)
        _follower("cid", inboxes.url("/users/cid/inbox"))
        db.session.commit()
        post = _publish(tags="news, fediverse")
        run_jobs(fed_app)

        assert sorted(path for path, *_ in inboxes.received) == ["/shared", "/users/cid/inbox"]
        create = inboxes.posts("/shared")[0]
        assert create["type"] == "Create"
        assert create["actor"] == "http://blog.test/"
        article = create["object"]
        assert article["type"] == "Article"
        assert article["name"] == "Hello, fediverse"
        assert article["url"] == f"http://blog.test/{post.slug}/"
        assert "<em>first</em>" in article["content"]
        assert {tag["name"] for tag in article["tag"]} == {"#news", "#fediverse"}
        assert "https://www.w3.org/ns/activitystreams#Public" in create["to"]
        _, _, headers, _ = inboxes.received[0]
        assert 'headers="(request-target) host date digest"' in headers["Signature"]
        assert headers["Digest"].startswith("SHA-256=")
        states = db.session.scalars(select(FederationDelivery.state)).all()
        assert states == [DeliveryState.DELIVERED, DeliveryState.DELIVERED]


def test_an_edit_sends_update_once_an_unchanged_save_nothing_and_unpublishing_delete(
    fed_app, inboxes
):
    with fed_app.app_context():
        _follower("ann", inboxes.url("/ann"))
        db.session.commit()
        post = _publish()
        run_jobs(fed_app)

        save_post(post, PostInput(title="Hello again", body_md="A *first* article."), _author())
        db.session.commit()
        run_jobs(fed_app)
        save_post(post, PostInput(title="Hello again", body_md="A *first* article."), _author())
        db.session.commit()
        run_jobs(fed_app)
        assert _types(inboxes.posts()) == ["Create", "Update"]
        assert inboxes.posts()[1]["object"]["name"] == "Hello again"
        assert inboxes.posts()[1]["object"]["id"] == inboxes.posts()[0]["object"]["id"]

        change_status(post, _author(), Action.UNPUBLISH)
        db.session.commit()
        run_jobs(fed_app)
        delete = inboxes.posts()[-1]
        assert delete["type"] == "Delete"
        assert delete["object"] == {"id": inboxes.posts()[0]["object"]["id"], "type": "Tombstone"}

        change_status(post, _author(), Action.PUBLISH)
        db.session.commit()
        run_jobs(fed_app)
        assert _types(inboxes.posts()) == ["Create", "Update", "Delete", "Create"]


def test_trash_and_deleting_for_good_send_one_delete(fed_app, inboxes):
    with fed_app.app_context():
        _follower("ann", inboxes.url("/ann"))
        db.session.commit()
        post = _publish()
        run_jobs(fed_app)
        trash(post)
        db.session.commit()
        run_jobs(fed_app)
        db.session.delete(post)
        db.session.commit()
        run_jobs(fed_app)
        assert _types(inboxes.posts()) == ["Create", "Delete"]


def test_drafts_pages_old_posts_and_a_site_without_federation_send_nothing(make_app, inboxes):
    app = make_app(**{**FAST, "FEDERATION": None})  # http:// site, Settings off: not enabled
    with app.app_context():
        create_user("author@example.com", "Ann Author", Role.AUTHOR, PASSWORD)
        _follower("ann", inboxes.url("/ann"))
        db.session.commit()
        _publish("Not federated")
    run_jobs(app)
    assert inboxes.posts() == []

    app = make_app(**FAST)  # the same database: the author and the follower are there
    with app.app_context():
        author = _author()
        draft = save_post(None, PostInput(title="A draft", body_md="Not yet."), author)
        db.session.commit()
        save_post(draft, PostInput(title="A draft, edited", body_md="Still not."), author)
        page = PostInput(title="About", body_md="A page.", kind=PostKind.PAGE)
        save_post(None, page, author, action=Action.PUBLISH)
        db.session.add(  # as an import writes an old article: public since last month
            Post(title="From the archive", slug="archive", author=author, body_html="<p>Old.</p>",
                 status=PostStatus.PUBLISHED, published_at=utcnow() - timedelta(days=30))
        )  # fmt: skip
        db.session.commit()
        # Not even a job: an import of a thousand old articles queues nothing.
        assert db.session.scalars(select(Job).where(Job.kind == "federation_sync")).all() == []
    run_jobs(app)
    assert inboxes.posts() == []


def test_a_scheduled_article_is_sent_when_its_time_comes(fed_app, inboxes):
    with fed_app.app_context():
        _follower("ann", inboxes.url("/ann"))
        db.session.commit()
        publish_at = utcnow() + timedelta(hours=1)
        data = PostInput(title="Later", body_md="Soon.")
        save_post(None, data, _author(), action=Action.SCHEDULE, publish_at=publish_at)
        db.session.commit()
        run_jobs(fed_app, wait_for_scheduled=False)
        assert inboxes.posts() == []
    # The clock, not the speed of the machine, decides: a wall-clock margin of seconds
    # was overrun on a loaded CI machine and the article went out "early".
    with time_machine.travel(publish_at + timedelta(seconds=1), tick=True):
        run_jobs(fed_app)
    assert _types(inboxes.posts()) == ["Create"]


def test_an_inbox_failing_with_503_three_times_gets_the_activity_once(fed_app, inboxes):
    inboxes.answers["/flaky"] = deque([503, 503, 503])
    with fed_app.app_context():
        _follower("ann", inboxes.url("/flaky"))
        db.session.commit()
        _publish()
    run_jobs(fed_app)
    assert [status for status in _types(inboxes.posts())] == ["Create"] * 4  # 3 refused, 1 taken
    with fed_app.app_context():
        delivery = db.session.scalars(select(FederationDelivery)).one()
        assert delivery.state == DeliveryState.DELIVERED
        assert delivery.attempts == 4
        server = db.session.scalar(select(RemoteServer).where(RemoteServer.host == "127.0.0.1"))
        assert server.failures == 0 and server.set_aside_until is None


def test_an_unreachable_server_is_retried_on_schedule_then_put_aside_without_holding_up_others(
    fed_app, inboxes
):
    dead_port = free_port()  # nothing listens there: connections are refused
    with fed_app.app_context():
        _follower("ann", inboxes.url("/ann"))
        _follower("dan", f"http://localhost:{dead_port}/inbox")
        db.session.commit()
        _publish()
    run_jobs(fed_app)
    with fed_app.app_context():
        by_host = {d.host: d for d in db.session.scalars(select(FederationDelivery))}
        assert by_host["127.0.0.1"].state == DeliveryState.DELIVERED
        gone = by_host["localhost"]
        assert gone.state == DeliveryState.FAILED
        assert gone.attempts == 4  # the first try and one per wait of FEDERATION_RETRY_SECONDS
        assert "gave up after 4 tries" in gone.last_error
        server = db.session.scalar(select(RemoteServer).where(RemoteServer.host == "localhost"))
        assert server.set_aside_until > utcnow() + timedelta(minutes=50)
        retries = db.session.scalars(
            select(Job)
            .where(Job.kind == "federation_delivery", Job.label.startswith("Retry"))
            .order_by(Job.id)
        ).all()
        waits = [round((job.run_after - job.queued_at).total_seconds(), 1) for job in retries]
        assert waits == [0.2, 0.4, 0.6]  # FEDERATION_RETRY_SECONDS, each after a failed try
        assert "could not reach localhost" in gone.last_error
        assert "Connection refused" in gone.last_error

        # The next article reaches ann at once; dan's server waits until it is no longer aside.
        _publish("Second")
    run_jobs(fed_app, wait_for_scheduled=False)
    assert _types(inboxes.posts("/ann")) == ["Create", "Create"]
    with fed_app.app_context():
        waiting = db.session.scalar(
            select(FederationDelivery).where(
                FederationDelivery.host == "localhost", FederationDelivery.state == "pending"
            )
        )
        assert waiting.attempts == 0
        assert waiting.next_attempt_at > utcnow() + timedelta(minutes=50)


def test_author_actors_send_the_create_and_the_site_announces_it(fed_app, inboxes):
    with fed_app.app_context():
        set_settings({"federation_author_actors": True})
        _follower("ann", inboxes.url("/site-follower"))
        _follower("bob", inboxes.url("/author-follower"), actor=local_actor(_author()))
        db.session.commit()
        slug = _publish().slug
    run_jobs(fed_app)
    create = inboxes.posts("/author-follower")
    announce = inboxes.posts("/site-follower")
    assert _types(create) == ["Create"] and _types(announce) == ["Announce"]
    assert create[0]["actor"].startswith("http://blog.test/author/")
    assert create[0]["object"]["attributedTo"] == create[0]["actor"]
    assert announce[0]["object"] == f"http://blog.test/{slug}/"


def test_publishing_from_the_editor_sends_the_create(fed_app, inboxes):
    with fed_app.app_context():
        _follower("ann", inboxes.url("/ann"))
        db.session.commit()
    author = fed_app.test_client()
    author.post("/login", data={"email": "author@example.com", "password": PASSWORD})
    page = author.get("/admin/posts/new").get_data(as_text=True)
    answer = author.post(
        "/admin/posts/new",
        data={"title": "From the editor", "body": "Typed by hand.", "kind": "post",
              "action": "publish", "csrf_token": csrf_token_from(page)},
    )  # fmt: skip
    assert answer.status_code == 302
    run_jobs(fed_app)
    assert [a["object"]["name"] for a in inboxes.posts()] == ["From the editor"]
    with fed_app.app_context():
        assert db.session.scalar(select(func.count(FederationDelivery.id))) == 1


def test_a_blocked_server_gets_nothing_while_others_do(fed_app, inboxes):
    with fed_app.app_context():
        _follower("ann", inboxes.url("/ann"))
        _follower("eve", "http://spam.example/inbox")  # its server is blocked below
        db.session.add(RemoteServer(host="example", blocked=True))  # a domain and its subdomains
        db.session.commit()
        _publish()
    run_jobs(fed_app)
    assert _types(inboxes.posts("/ann")) == ["Create"]
    with fed_app.app_context():
        refused = db.session.scalar(
            select(FederationDelivery).where(FederationDelivery.host == "spam.example")
        )
        assert refused.state == DeliveryState.FAILED
        assert refused.attempts == 0
        assert refused.last_error == "The server is blocked."


def test_an_inactive_authors_article_goes_out_under_the_sites_name(fed_app, inboxes):
    with fed_app.app_context():
        set_settings({"federation_author_actors": True})
        _follower("ann", inboxes.url("/site-follower"))
        db.session.commit()
        author = _author()
        post = save_post(None, PostInput(title="Kept", body_md="Text."), author, Action.PUBLISH)
        author.active = False  # an account switched off: no actor of its own
        db.session.commit()
        assert post.id
    run_jobs(fed_app)
    [create] = inboxes.posts("/site-follower")
    assert create["type"] == "Create" and create["actor"] == "http://blog.test/"
    assert create["object"]["attributedTo"] == create["actor"]

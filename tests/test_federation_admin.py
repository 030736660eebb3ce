"""The fediverse in the admin: Settings → Fediverse, the followers, servers and deliveries
pages, blocking a server, likes and boosts in the post list, and `flask fediverse`.

Followers, reactions, replies and deliveries are rows written here as the inbox and the
delivery jobs would write them (those parts have tests of their own)."""

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select

from blog import federation
from blog.extensions import db
from blog.federation import administration
from blog.models import (
    Comment,
    CommentStatus,
    DeliveryState,
    FederationDelivery,
    Follower,
    LocalActor,
    Reaction,
    ReactionKind,
    RemoteActor,
    RemoteServer,
    User,
    utcnow,
)
from blog.posts import Action, PostInput, save_post
from blog.settings import get_setting
from tests.conftest import PASSWORD

SETTINGS = "/admin/settings/fediverse"
FORM = {
    "federation_enabled": "y",
    "federation_actor_name": "blog",
    "federation_actor_summary": "News from the harbour.",
    "federation_replies_as_comments": "y",
}


def shown_of(client) -> dict:
    html = client.get(SETTINGS).get_data(as_text=True)
    return {"shown": re.search(r'name="shown" value="([0-9a-f]+)"', html).group(1)}


def sign_in(app, who: str, users):
    client = app.test_client()
    response = client.post("/login", data={"email": users[who]["email"], "password": PASSWORD})
    assert response.status_code == 302
    return client


def site_actor() -> LocalActor:
    actor = db.session.scalar(select(LocalActor).where(LocalActor.user_id.is_(None)))
    if actor is None:
        actor = LocalActor(slot="site", public_key_pem="public", private_key_pem="private")
        db.session.add(actor)
        db.session.flush()
    return actor


def remote(username: str, host: str, name: str = "") -> RemoteActor:
    actor = RemoteActor(
        uri=f"https://{host}/users/{username}",
        host=host,
        inbox=f"https://{host}/users/{username}/inbox",
        shared_inbox=f"https://{host}/inbox",
        username=username,
        name=name or username.title(),
        profile_url=f"https://{host}/@{username}",
    )
    db.session.add(actor)
    db.session.flush()
    return actor


def follow(username: str, host: str, name: str = "", **extra) -> Follower:
    follower = Follower(
        local_actor=site_actor(), remote_actor=remote(username, host, name), **extra
    )
    db.session.add(follower)
    db.session.flush()
    return follower


def publish(app, users, title: str) -> int:
    with app.app_context():
        author = db.session.get(User, users["author"]["id"])
        post = save_post(None, PostInput(title=title, body_md="Text."), author, Action.PUBLISH)
        db.session.commit()
        return post.id


def reply(post_id: int, actor: RemoteActor, status: CommentStatus, text: str) -> Comment:
    comment = Comment(
        post_id=post_id,
        author_name=actor.name,
        author_url=actor.profile_url,
        body_md=text,
        body_html=f"<p>{text}</p>",
        status=status,
        remote_id=f"{actor.uri}/statuses/{text.replace(' ', '-')}",
        remote_actor_id=actor.id,
    )
    db.session.add(comment)
    db.session.flush()
    return comment


def delivery(host: str, state: DeliveryState, kind: str = "Create", **extra):
    activity = {"id": f"https://blog.test/activities/{kind}", "type": kind,
                "object": {"type": "Article", "name": "Quay news"}}  # fmt: skip
    row = FederationDelivery(
        activity_id=activity["id"],
        activity_json=json.dumps(activity),
        local_actor=site_actor(),
        inbox=f"https://{host}/inbox",
        host=host,
        state=state,
        **extra,
    )
    db.session.add(row)
    return row


# Settings → Fediverse ------------------------------------------------------------------------


def test_federation_is_refused_on_an_http_site_and_nothing_is_saved(app, auth):
    auth.login()
    data = {**FORM, "federation_actor_name": "harbour"}
    response = auth._client.post(SETTINGS, data={**data, **shown_of(auth._client)})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Federation needs an https:// site address" in page
    assert "refuse to follow plain-http sites" in page and "http://blog.test" in page
    assert 'value="harbour"' in page  # what the admin typed is still there
    with app.app_context():
        assert get_setting("federation_enabled") is False
        assert get_setting("federation_actor_name") == "blog"
        assert federation.enabled() is False
    shown = auth._client.get(SETTINGS).get_data(as_text=True)
    assert (
        "Can only be turned on when the site&#39;s address (SITE_URL, now http://blog.test)"
        in shown
    )


def test_an_https_site_turns_federation_on_and_shows_the_handle(make_app, users):
    app = make_app(SITE_URL="https://harbour.example")
    client = sign_in(app, "admin", users)
    response = client.post(SETTINGS, data={**FORM, **shown_of(client)})
    assert response.status_code == 303
    page = client.get(SETTINGS).get_data(as_text=True)
    assert "Fediverse settings saved." in page
    assert "@blog@harbour.example" in page and "search for @blog@harbour.example" in page
    assert "On: turned on in Settings → Fediverse." in page
    with app.app_context():
        assert federation.enabled() is True
        assert get_setting("federation_actor_summary") == "News from the harbour."
        assert get_setting("federation_author_actors") is False  # unticked

    renamed = {**FORM, "federation_actor_name": "quay-news"}
    client.post(SETTINGS, data={**renamed, **shown_of(client)})
    page = client.get(SETTINGS).get_data(as_text=True)
    assert "People now find the blog as @quay-news@harbour.example" in page
    assert "searching for @blog@harbour.example finds nothing any more" in page


def test_configuration_turns_federation_on_and_the_switch_only_shows_it(make_app, users):
    app = make_app(FEDERATION=True)
    client = sign_in(app, "admin", users)
    page = client.get(SETTINGS).get_data(as_text=True)
    assert "On: FEDERATION is set in the configuration." in page
    assert re.search(r'<input type="checkbox" id="federation_enabled" checked disabled', page)
    unticked = {key: value for key, value in FORM.items() if key != "federation_enabled"}
    response = client.post(SETTINGS, data={**unticked, **shown_of(client)})
    assert response.status_code == 303  # an http:// SITE_URL, but configuration decides
    with app.app_context():
        assert federation.enabled() is True
        assert get_setting("federation_enabled") is False  # the stored switch is left alone
        assert get_setting("federation_actor_summary") == "News from the harbour."


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "Enter a name, such as blog."),
        ("Blog", "Use 1 to 30 lower-case letters, digits, _ or - (no spaces)."),
        ("harbour news", "Use 1 to 30 lower-case letters, digits, _ or - (no spaces)."),
        ("a" * 31, "Use 1 to 30 lower-case letters, digits, _ or - (no spaces)."),
        ("blog@x", "Use 1 to 30 lower-case letters, digits, _ or - (no spaces)."),
    ],
)
def test_a_bad_name_is_refused_with_why(make_app, users, name, message):
    app = make_app(SITE_URL="https://harbour.example")
    client = sign_in(app, "admin", users)
    data = {**FORM, "federation_actor_name": name, "federation_actor_summary": "Kept text"}
    response = client.post(SETTINGS, data={**data, **shown_of(client)})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert message in page
    assert "Kept text" in page
    with app.app_context():
        assert get_setting("federation_enabled") is False


def test_the_name_cannot_be_an_authors_when_authors_have_actors(make_app, users):
    app = make_app(SITE_URL="https://harbour.example")
    client = sign_in(app, "admin", users)
    data = {**FORM, "federation_actor_name": "ann-author", "federation_author_actors": "y"}
    response = client.post(SETTINGS, data={**data, **shown_of(client)})
    assert response.status_code == 400
    assert "An author is followed as @ann-author@harbour.example already" in response.get_data(
        as_text=True
    )
    data.pop("federation_author_actors")  # without author actors the name is free
    assert client.post(SETTINGS, data={**data, **shown_of(client)}).status_code == 303


def test_a_save_from_a_stale_page_is_refused(make_app, users):
    app = make_app(SITE_URL="https://harbour.example")
    client = sign_in(app, "admin", users)
    stale = shown_of(client)
    client.post(SETTINGS, data={**FORM, **stale})
    again = client.post(SETTINGS, data={**FORM, "federation_actor_name": "other", **stale})
    assert again.status_code == 409
    with app.app_context():
        assert get_setting("federation_actor_name") == "blog"


# Admin → Fediverse ---------------------------------------------------------------------------


def test_the_followers_page_lists_followers_with_their_server(app, users):
    with app.app_context():
        follow("mia", "mastodon.example", "Mia Marsh")
        follow("olu", "social.example", "Olu <b>Bold</b>")
        db.session.commit()
    editor = sign_in(app, "editor", users)
    page = editor.get("/admin/fediverse").get_data(as_text=True)
    assert "@mia@mastodon.example" in page and "@olu@social.example" in page
    assert (
        '<a href="https://mastodon.example/@mia" rel="noopener noreferrer nofollow">Mia Marsh'
        in page
    )
    assert "Olu &lt;b&gt;Bold&lt;/b&gt;" in page  # a remote name is text, never markup
    assert "@blog@blog.test" in page  # whom they follow
    assert "2 followers" in page
    assert "Remove" not in page and "Block" not in page  # editors look, admins act

    one_server = editor.get("/admin/fediverse?server=social.example").get_data(as_text=True)
    assert "@olu@social.example" in one_server and "@mia@mastodon.example" not in one_server


def statements_for(app, client, url: str) -> int:
    with app.app_context():
        engine = db.engine
    seen = []

    def record(*args):
        seen.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    try:
        assert client.get(url).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return len(seen)


def test_the_followers_page_costs_the_same_for_3_and_for_40_followers(app, users):
    admin = sign_in(app, "admin", users)
    with app.app_context():
        for number in range(3):
            follow(f"reader{number}", f"s{number % 2}.example")
        db.session.commit()
    admin.get("/admin/fediverse")
    few = statements_for(app, admin, "/admin/fediverse")
    with app.app_context():
        for number in range(3, 40):
            follow(f"reader{number}", f"s{number % 5}.example")
        db.session.commit()
    admin.get("/admin/fediverse")
    many = statements_for(app, admin, "/admin/fediverse")
    assert few == many
    with app.app_context():
        db.session.add_all(RemoteServer(host=f"s{number}.example") for number in range(5))
        db.session.commit()
    admin.get("/admin/fediverse/servers")
    few_servers = statements_for(app, admin, "/admin/fediverse/servers")
    with app.app_context():
        db.session.add_all(RemoteServer(host=f"t{number}.example") for number in range(30))
        db.session.commit()
    assert statements_for(app, admin, "/admin/fediverse/servers") == few_servers
    assert "@reader39@s4.example" in admin.get("/admin/fediverse").get_data(as_text=True)


def test_an_admin_removes_a_follower(app, users):
    with app.app_context():
        mia = follow("mia", "mastodon.example").id
        follow("olu", "social.example")
        db.session.commit()
    admin = sign_in(app, "admin", users)
    response = admin.post(f"/admin/fediverse/followers/{mia}/remove", follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "@mia@mastodon.example no longer follows the blog" in page
    assert "@olu@social.example" in page
    with app.app_context():
        assert db.session.scalar(select(func.count(Follower.id))) == 1
    editor = sign_in(app, "editor", users)
    with app.app_context():
        olu = db.session.scalar(select(Follower.id))
    assert editor.post(f"/admin/fediverse/followers/{olu}/remove").status_code == 403
    with app.app_context():
        assert db.session.get(Follower, olu) is not None


def test_blocking_a_server_removes_what_came_from_it_and_it_does_not_come_back(app, users):
    post_id = publish(app, users, "Quay news")
    with app.app_context():
        spam = follow("spammer", "spam.example")
        sub = follow("bot", "media.spam.example")
        kept = follow("mia", "mastodon.example")
        for actor in (spam.remote_actor, kept.remote_actor):
            db.session.add(Reaction(post_id=post_id, remote_actor_id=actor.id, kind="like"))
        reply(post_id, spam.remote_actor, CommentStatus.PENDING, "buy now")
        reply(post_id, sub.remote_actor, CommentStatus.PENDING, "cheap pills")
        reply(post_id, spam.remote_actor, CommentStatus.APPROVED, "an old fair comment")
        reply(post_id, kept.remote_actor, CommentStatus.PENDING, "lovely harbour")
        delivery("spam.example", DeliveryState.PENDING)
        delivery("mastodon.example", DeliveryState.PENDING)
        db.session.commit()
    admin = sign_in(app, "admin", users)

    unticked = admin.post("/admin/fediverse/servers/block", data={"host": "spam.example"},
                          follow_redirects=True)  # fmt: skip
    assert "tick the box to confirm blocking spam.example" in unticked.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(Follower.id))) == 3

    blocked = admin.post("/admin/fediverse/servers/block",
                         data={"host": " https://Spam.Example/ ", "confirm": "yes"},
                         follow_redirects=True)  # fmt: skip
    page = blocked.get_data(as_text=True)
    assert "spam.example is blocked: 2 followers, 1 likes and boosts and 2 waiting replies" in page
    with app.app_context():
        handles = {f.remote_actor.handle for f in db.session.scalars(select(Follower))}
        assert handles == {"@mia@mastodon.example"}
        assert db.session.scalar(select(func.count(Reaction.id))) == 1
        comments = set(db.session.scalars(select(Comment.body_md)))
        assert comments == {"an old fair comment", "lovely harbour"}
        states = dict(
            db.session.execute(select(FederationDelivery.host, FederationDelivery.state)).all()
        )
        assert states == {"spam.example": DeliveryState.FAILED,
                          "mastodon.example": DeliveryState.PENDING}  # fmt: skip
        # What the inbox asks before it stores anything from a server.
        assert administration.is_blocked("spam.example")
        assert administration.is_blocked("media.spam.example")
        assert not administration.is_blocked("notspam.example")
        assert not administration.is_blocked("mastodon.example")
    listed = admin.get("/admin/fediverse/servers").get_data(as_text=True)
    assert re.search(r"spam\.example <span class=\"badge\">blocked</span>", listed)
    assert "Unblock" in listed
    assert "@spammer@spam.example" not in admin.get("/admin/fediverse").get_data(as_text=True)

    admin.post("/admin/fediverse/servers/unblock", data={"host": "spam.example"})
    with app.app_context():
        assert not administration.is_blocked("spam.example")
        assert db.session.scalar(select(func.count(Follower.id))) == 1  # nothing came back


def test_a_bad_host_and_the_blogs_own_are_refused(app, users):
    admin = sign_in(app, "admin", users)
    for host, message in (
        ("not a host", "Enter a server&#39;s address"),
        ("", "Enter a server&#39;s address"),
        ("blog.test", "it cannot block itself"),
    ):
        data = {"host": host, "confirm": "yes"}
        response = admin.post("/admin/fediverse/servers/block", data=data, follow_redirects=True)
        assert message in response.get_data(as_text=True), host
    with app.app_context():
        assert db.session.scalar(select(func.count(RemoteServer.id))) == 0


def test_the_servers_and_deliveries_pages_show_delivery_health(app, users):
    later = utcnow() + timedelta(hours=20)
    with app.app_context():
        follow("mia", "down.example")
        db.session.add(RemoteServer(host="down.example", failures=7, set_aside_until=later,
                                    last_error="HTTP 503 Service Unavailable"))  # fmt: skip
        db.session.add(RemoteServer(host="fine.example", last_success_at=utcnow()))
        delivery("down.example", DeliveryState.PENDING, attempts=3, last_error="HTTP 503")
        delivery("down.example", DeliveryState.FAILED, "Update", attempts=5)
        delivery("fine.example", DeliveryState.DELIVERED, "Delete", attempts=1)
        db.session.commit()
    editor = sign_in(app, "editor", users)
    servers = editor.get("/admin/fediverse/servers").get_data(as_text=True)
    assert servers.index("down.example") < servers.index("fine.example")  # failing first
    assert "HTTP 503 Service Unavailable" in servers
    assert later.strftime("%Y-%m-%d %H:%M") in servers
    assert "1 waiting, 1 failed" in servers and "0 waiting, 0 failed" in servers
    assert "set aside while failing: down.example" in servers

    deliveries = editor.get("/admin/fediverse/deliveries").get_data(as_text=True)
    assert "Create Article" in deliveries and "Update Article" in deliveries
    assert "Delete Article" in deliveries
    failed = editor.get("/admin/fediverse/deliveries?state=failed").get_data(as_text=True)
    assert "Update Article" in failed and "Create Article" not in failed
    assert editor.get("/admin/fediverse/deliveries?state=nonsense").status_code == 404


# Likes and boosts ----------------------------------------------------------------------------


def test_likes_and_boosts_show_in_the_post_list_and_the_editor(app, users):
    liked = publish(app, users, "Quay news")
    publish(app, users, "Nobody reacted")
    with app.app_context():
        fans = [remote(f"fan{number}", "mastodon.example") for number in range(3)]
        for fan in fans:
            db.session.add(Reaction(post_id=liked, remote_actor_id=fan.id, kind=ReactionKind.LIKE))
        db.session.add(Reaction(post_id=liked, remote_actor_id=fans[0].id, kind="announce"))
        db.session.commit()
    editor = sign_in(app, "editor", users)
    listing = editor.get("/admin/posts/").get_data(as_text=True)
    row = listing[listing.index("Quay news") :].split("</tr>")[0]
    assert "3 likes · 1 boost" in row
    other = listing[listing.index("Nobody reacted") :].split("</tr>")[0]
    assert "likes" not in other
    page = editor.get(f"/admin/posts/{liked}/edit").get_data(as_text=True)
    assert "On the fediverse:" in page and "3 likes · 1 boost" in page


# flask fediverse -----------------------------------------------------------------------------


def test_the_cli_tells_the_state_and_blocks_and_unblocks(make_app, users):
    app = make_app(SITE_URL="https://harbour.example")
    runner = app.test_cli_runner()
    with app.app_context():
        follow("spammer", "spam.example")
        follow("mia", "mastodon.example")
        db.session.add(RemoteServer(host="down.example", failures=4,
                                    set_aside_until=utcnow() + timedelta(hours=3),
                                    last_error="timed out"))  # fmt: skip
        delivery("down.example", DeliveryState.PENDING)
        delivery("down.example", DeliveryState.FAILED)
        db.session.commit()
    shown = runner.invoke(args=["fediverse", "status"])
    assert shown.exit_code == 0, shown.output
    assert "Off: turned off in Settings → Fediverse." in shown.output
    assert "Handle: @blog@harbour.example" in shown.output
    assert "Followers: 2" in shown.output
    assert "Deliveries: 1 waiting, 1 failed" in shown.output
    assert "down.example (4 failures in a row: timed out)" in shown.output

    kept = runner.invoke(args=["fediverse", "block", "spam.example"], input="n\n")
    assert kept.exit_code == 1 and "Aborted" in kept.output
    done = runner.invoke(args=["fediverse", "block", "spam.example", "--yes"])
    assert done.exit_code == 0, done.output
    assert "Blocked spam.example: removed 1 followers" in done.output
    assert "Blocked: spam.example" in runner.invoke(args=["fediverse", "status"]).output
    bad = runner.invoke(args=["fediverse", "block", "not a host", "--yes"])
    assert bad.exit_code == 2 and "is not a server's address" in bad.output

    assert (
        "Unblocked spam.example."
        in runner.invoke(args=["fediverse", "unblock", "spam.example"]).output
    )
    again = runner.invoke(args=["fediverse", "unblock", "spam.example"])
    assert "spam.example was not blocked." in again.output
    with app.app_context():
        assert not administration.is_blocked("spam.example")
        assert db.session.scalar(select(func.count(Follower.id))) == 1


def test_the_cli_says_why_federation_is_off_on_an_http_site(make_app):
    app = make_app()
    with app.app_context():
        from blog.settings import set_settings

        set_settings({"federation_enabled": True})
        db.session.commit()
    shown = app.test_cli_runner().invoke(args=["fediverse", "status"])
    assert "SITE_URL is not an https:// address" in shown.output

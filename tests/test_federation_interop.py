"""Interoperability: the blog federating with a fediverse server this project did not write.

The remote side is tests/fediverse_remote.py: apkit's server (FastAPI under uvicorn) on
127.0.0.1, whose signing and checking of HTTP Signatures is apsig's and whose reading of
documents is pyld's JSON-LD expansion; it imports nothing from blog/. The blog runs as a live
server on 127.0.0.1 (FEDERATION=1, FEDERATION_ALLOW_LOOPBACK=1); its deliveries are jobs,
worked here by `run_jobs`. A reader on the remote server follows `@blog@127.0.0.1:PORT`, gets
the Create of a newly published article and checks its signature, replies, and the reply
waits in the moderation queue with the reader's name and link; editing and deleting the reply
there change and remove the comment, and unfollowing takes the reader off the followers.
"""

import http.client
import json
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from blog.accounts import create_user
from blog.extensions import db
from blog.models import (
    Comment,
    CommentStatus,
    Follower,
    Post,
    Reaction,
    ReactionKind,
    RemoteActor,
    Role,
)
from tests.browser_fixtures import LiveServer
from tests.conftest import PASSWORD, run_jobs
from tests.fediverse_remote import AS, AS_PUBLIC, RemoteServer, expanded, values

AUTHOR = ("ann@example.com", "Ann Author", Role.AUTHOR)
MODERATOR = ("mo@example.com", "Mo Moderator", Role.EDITOR)


@pytest.fixture
def blog(make_app):
    """The blog, federating, served on 127.0.0.1 with its address as its SITE_URL."""
    app = make_app(FEDERATION=1, FEDERATION_ALLOW_LOOPBACK=1)
    with app.app_context():
        for email, name, role in (AUTHOR, MODERATOR):
            create_user(email, name, role, PASSWORD)
        db.session.commit()
    server = LiveServer(app).start()
    app.config["SITE_URL"] = server.url
    yield server
    server.stop()


@pytest.fixture
def remote():
    server = RemoteServer("rita", "Rita Remote").start()
    yield server
    server.stop()


def signed_in(app, email: str):
    client = app.test_client()
    assert client.post("/login", data={"email": email, "password": PASSWORD}).status_code == 302
    return client


def followers_of_blog(app) -> list[str]:
    with app.app_context():
        query = select(RemoteActor.uri).join(Follower, Follower.remote_actor_id == RemoteActor.id)
        return list(db.session.scalars(query))


def remote_comment(app, note_id: str) -> Comment | None:
    with app.app_context():
        comment = db.session.scalar(select(Comment).where(Comment.remote_id == note_id))
        db.session.expunge_all()
        return comment


def article_of(create: dict) -> dict:
    """The Article in a Create, as JSON-LD reads it whatever the sender's spelling."""
    [article] = expanded(create)[f"{AS}#object"]
    return article


def test_a_reader_on_another_server_follows_receives_replies_and_leaves(blog, remote):
    app, host = blog.app, blog.url.removeprefix("http://")
    blog_actor = blog.url + "/"

    # Following: WebFinger finds @blog, the Follow is taken and answered with a signed Accept.
    follow = remote.follow(f"acct:blog@{host}")
    assert remote.lookup(f"acct:blog@{host}") == blog_actor
    run_jobs(app)
    accept = remote.wait_for("Accept", where=lambda a: _object_id(a) == follow["id"])
    assert accept.activity["actor"] == blog_actor
    assert accept.key_id == blog_actor + "#main-key"
    assert followers_of_blog(app) == [remote.actor_id]
    [followers] = values(expanded(remote.following[blog_actor].document), "followers")
    assert remote.fetch(followers).get("totalItems") == 1

    # Publishing: the follower gets a Create of the Article, signed by the blog's key.
    author = signed_in(app, AUTHOR[0])
    title, body = "Harbour reopens", "The harbour reopens on *Monday* after the storm."
    answer = author.post(
        "/admin/posts/new", data={"title": title, "body": body, "action": "publish"}
    )
    assert answer.status_code == 302
    with app.app_context():
        post = db.session.scalar(select(Post).filter_by(title=title))
        post_id, article_url = post.id, f"{blog.url}/{post.slug}/"
    run_jobs(app)
    create = remote.wait_for("Create")
    assert create.key_id == blog_actor + "#main-key"
    assert create.activity["actor"] == blog_actor
    article = article_of(create.activity)
    assert article["@type"] == [f"{AS}#Article"]
    assert values(article, "name") == [title]
    assert article_url in values(article, "url")
    [content] = values(article, "content")
    assert "<em>Monday</em>" in content and "after the storm" in content
    assert AS_PUBLIC in values(expanded(create.activity), "to") + values(article, "to")
    article_id = article["@id"]
    assert remote.fetch(article_url)["id"] == article_id  # the same address, as JSON

    # Likes and boosts are counted on the post.
    remote.like(article_id, blog_actor)
    remote.announce(article_id, blog_actor)
    run_jobs(app)
    with app.app_context():
        kinds = db.session.scalars(select(Reaction.kind).where(Reaction.post_id == post_id))
        assert sorted(kinds) == [ReactionKind.ANNOUNCE, ReactionKind.LIKE]

    # Replying: the note waits in the moderation queue under the reader's name and link.
    reply = remote.reply(article_id, "<p>Lovely <em>harbour</em> news.</p>", blog_actor)
    note_id = reply["object"]["id"]
    run_jobs(app)
    comment = remote_comment(app, note_id)
    assert comment is not None, "the reply did not become a comment"
    assert comment.post_id == post_id
    assert comment.status == CommentStatus.PENDING
    assert comment.author_name == "Rita Remote"
    assert comment.author_url in (remote.actor.url, remote.actor_id)
    assert "<em>harbour</em>" in comment.body_html
    moderator = signed_in(app, MODERATOR[0])
    queue = moderator.get("/admin/comments").get_data(as_text=True)
    assert "Rita Remote" in queue and comment.author_url in queue
    assert "Lovely <em>harbour</em> news." in queue

    # The reader edits the note, then deletes it: the comment follows.
    remote.update_note(note_id, "<p>Lovely harbour news, and a fine photo.</p>", blog_actor)
    run_jobs(app)
    assert "a fine photo" in remote_comment(app, note_id).body_html
    remote.delete_note(note_id, blog_actor)
    run_jobs(app)
    gone = remote_comment(app, note_id)
    assert gone is None or gone.status in (CommentStatus.TRASH, CommentStatus.SPAM)
    assert "a fine photo" not in moderator.get("/admin/comments").get_data(as_text=True)

    # Editing the article sends Update; deleting it sends Delete of the same object.
    with app.app_context():
        version = db.session.get(Post, post_id).version
    answer = author.post(
        f"/admin/posts/{post_id}/edit",
        data={
            "title": title,
            "body": body + " Ferries run hourly.",
            "version": str(version),
            "action": "save",
        },
    )
    assert answer.status_code == 302
    run_jobs(app)
    update = remote.wait_for("Update", where=lambda a: _object_id(a) == article_id)
    assert "Ferries run hourly." in values(article_of(update.activity), "content")[0]
    with app.app_context():
        version = db.session.get(Post, post_id).version
    trashed = author.post(f"/admin/posts/{post_id}/delete", data={"version": str(version)})
    assert trashed.status_code == 302
    run_jobs(app)
    remote.wait_for("Delete", where=lambda a: _object_id(a) == article_id)

    # Unfollowing: Undo of the Follow takes the reader off the followers.
    remote.unfollow(blog_actor)
    run_jobs(app)
    assert followers_of_blog(app) == []
    assert remote.refused() == [], "the remote server refused something the blog sent"


def _object_id(activity: dict) -> str:
    target = activity.get("object")
    return target.get("id", "") if isinstance(target, dict) else str(target)


def test_the_blog_takes_a_reply_signed_by_apsig_and_refuses_it_altered(blog, remote):
    """The blog checks signatures it did not make: apsig's, on a reply sent as is, and the
    same request with its body changed after signing."""
    app = blog.app
    blog_actor, inbox = blog.url + "/", blog.url + "/inbox"
    author = signed_in(app, AUTHOR[0])
    data = {"title": "Tide tables", "body": "High water at noon.", "action": "publish"}
    assert author.post("/admin/posts/new", data=data).status_code == 302
    with app.app_context():
        article_url = f"{blog.url}/{db.session.scalar(select(Post.slug))}/"

    def create(note_id: str, html: str) -> dict:
        return {
            "@context": AS,
            "id": f"{note_id}/activity",
            "type": "Create",
            "actor": remote.actor_id,
            "to": [AS_PUBLIC],
            "cc": [blog_actor],
            "object": {
                "id": note_id,
                "type": "Note",
                "attributedTo": remote.actor_id,
                "inReplyTo": article_url,
                "content": html,
                "to": [AS_PUBLIC],
                "cc": [blog_actor],
            },
        }

    honest_id, altered_id = f"{remote.base}/objects/honest", f"{remote.base}/objects/altered"
    body = json.dumps(create(honest_id, "<p>When is low water?</p>")).encode()
    assert post_raw(inbox, body, remote.signed_headers(inbox, body)) in (200, 201, 202)

    body = json.dumps(create(altered_id, "<p>Signed words.</p>")).encode()
    headers = remote.signed_headers(inbox, body)
    altered = body.replace(b"Signed words.", b"Other words.")
    assert post_raw(inbox, altered, headers) == 401
    run_jobs(app)
    assert remote_comment(app, honest_id) is not None
    assert remote_comment(app, altered_id) is None


def post_raw(url: str, body: bytes, headers: dict) -> int:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("POST", parts.path, body=body, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()

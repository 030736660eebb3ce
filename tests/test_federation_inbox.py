"""The inbox applies what fediverse accounts do: follow and unfollow (answered with an Accept,
queued for delivery), like and boost, reply to an article (a held comment, through the comment
pipeline), edit and delete the reply, delete the account. Every activity is signed by a real
actor server on 127.0.0.1 (tests/fediverse.py), as in production."""

import json
import re
from urllib.parse import urlsplit

import pytest
from bleach._vendor import html5lib
from bs4 import BeautifulSoup
from sqlalchemy import func, select

from blog import comments
from blog.extensions import db
from blog.models import (
    Comment,
    CommentStatus,
    FederatedPost,
    FederationDelivery,
    Follower,
    LocalActor,
    Post,
    Reaction,
    ReactionKind,
    RemoteActor,
    User,
)
from blog.settings import set_settings
from tests.fediverse import FEDERATED, SITE, FakeServer, post_signed, publish
from tests.security.test_xss import SSTI_PRODUCT, hostile_corpus, pack

ARTICLE = f"{SITE}/harbour-opens/"


@pytest.fixture
def fediverse():
    with FakeServer() as server:
        yield server


@pytest.fixture
def blog(make_app, users):
    app = make_app(**FEDERATED)
    publish(app, users)
    return app


@pytest.fixture
def client(blog):
    return blog.test_client()


def accepted(client, actor, activity):
    response = post_signed(client, actor, activity)
    assert response.status_code == 202, response.get_data(as_text=True)
    return response


def rows(app, model, *where) -> list:
    with app.app_context():
        return list(db.session.scalars(select(model).where(*where)))


def settings(app, **values):
    with app.app_context():
        set_settings(values)
        db.session.commit()


def comment_of(app, note) -> Comment:
    [comment] = rows(app, Comment, Comment.remote_id == note["id"])
    return comment


def approve(app, comment_id: int) -> None:
    with app.app_context():
        comments.set_status(db.session.get(Comment, comment_id), CommentStatus.APPROVED)
        db.session.commit()


# Follows -------------------------------------------------------------------------------------


def test_a_follow_is_recorded_and_answered_with_an_accept(blog, client, fediverse):
    alice = fediverse.add_actor("alice")
    follow = alice.activity("Follow", f"{SITE}/")
    accepted(client, alice, follow)
    [follower] = rows(blog, Follower)
    assert follower.follow_id == follow["id"]
    [delivery] = rows(blog, FederationDelivery)
    assert delivery.inbox == fediverse.base + "/inbox"  # the shared inbox
    accept = json.loads(delivery.activity_json)
    assert accept["type"] == "Accept"
    assert accept["actor"] == f"{SITE}/"
    assert accept["object"]["id"] == follow["id"]
    assert accept["object"]["actor"] == alice.id
    with blog.app_context():
        site_actor = db.session.scalar(select(LocalActor))
        assert follower.local_actor_id == site_actor.id and site_actor.user_id is None
    accepted(client, alice, alice.activity("Follow", f"{SITE}/"))  # following again
    assert len(rows(blog, Follower)) == 1


def test_undo_of_a_follow_inline_or_by_id_removes_the_follower(blog, client, fediverse):
    alice, bob = fediverse.add_actor("alice"), fediverse.add_actor("bob")
    follows = {actor: actor.activity("Follow", f"{SITE}/") for actor in (alice, bob)}
    for actor, follow in follows.items():
        accepted(client, actor, follow)
    accepted(client, bob, alice.activity("Undo", follows[alice]) | {"actor": bob.id})
    assert len(rows(blog, Follower)) == 2  # bob cannot undo alice's follow
    accepted(client, alice, alice.activity("Undo", follows[alice]))
    accepted(client, bob, bob.activity("Undo", follows[bob]["id"]))
    assert rows(blog, Follower) == []


def test_follows_of_authors_only_when_authors_have_actors(blog, client, fediverse, users):
    alice = fediverse.add_actor("alice")
    author_page = f"{SITE}/author/ann-author/"
    accepted(client, alice, alice.activity("Follow", author_page))
    accepted(client, alice, alice.activity("Follow", f"{SITE}/nowhere/"))
    assert rows(blog, Follower) == [] and rows(blog, FederationDelivery) == []
    settings(blog, federation_author_actors=True)
    accepted(client, alice, alice.activity("Follow", author_page))
    [follower] = rows(blog, Follower)
    with blog.app_context():
        assert db.session.get(LocalActor, follower.local_actor_id).user_id == users["author"]["id"]
    [delivery] = rows(blog, FederationDelivery)
    assert json.loads(delivery.activity_json)["actor"] == author_page


# Likes and boosts ----------------------------------------------------------------------------


def test_likes_and_boosts_are_counted_once_and_undone(blog, client, fediverse):
    alice = fediverse.add_actor("alice")
    like = alice.activity("Like", ARTICLE)
    accepted(client, alice, like)
    accepted(client, alice, alice.activity("Like", ARTICLE))  # again: still one
    boost = alice.activity("Announce", ARTICLE, to=["https://www.w3.org/ns/activitystreams#Public"])
    accepted(client, alice, boost)
    kinds = sorted(reaction.kind for reaction in rows(blog, Reaction))
    assert kinds == [ReactionKind.ANNOUNCE, ReactionKind.LIKE]
    accepted(client, alice, alice.activity("Undo", like))
    assert [reaction.kind for reaction in rows(blog, Reaction)] == [ReactionKind.ANNOUNCE]
    accepted(client, alice, alice.activity("Undo", boost["id"]))
    assert rows(blog, Reaction) == []


def test_reactions_find_articles_by_their_first_federated_id(blog, client, fediverse):
    alice = fediverse.add_actor("alice")
    with blog.app_context():
        post = db.session.scalar(select(Post))
        site_actor = db.session.scalar(select(LocalActor))
        if site_actor is None:
            client.get("/", headers={"Accept": "application/activity+json"})
            site_actor = db.session.scalar(select(LocalActor))
        db.session.add(
            FederatedPost(
                post_id=post.id, object_id=f"{SITE}/old-slug/", local_actor_id=site_actor.id
            )
        )
        db.session.commit()
    accepted(client, alice, alice.activity("Like", f"{SITE}/old-slug/"))
    assert len(rows(blog, Reaction)) == 1


def test_reactions_to_anything_but_a_public_article_are_ignored(blog, client, fediverse, users):
    alice = fediverse.add_actor("alice")
    with blog.app_context():
        db.session.scalar(select(Post)).status = "draft"
        db.session.commit()
    for target in (ARTICLE, f"{SITE}/", "https://elsewhere.example/harbour-opens/"):
        accepted(client, alice, alice.activity("Like", target))
    assert rows(blog, Reaction) == []


# Replies -------------------------------------------------------------------------------------


def test_a_reply_becomes_a_held_comment_shown_once_approved(blog, client, fediverse):
    alice = fediverse.add_actor("alice", name="Alice Liddell")
    page = client.get("/harbour-opens/")
    assert client.get("/harbour-opens/").headers["X-Cache"] == "HIT"
    note = alice.note(
        ARTICLE,
        '<p><span class="h-card"><a href="http://blog.test/" class="u-url mention">@'
        "<span>blog</span></a></span> Lovely <strong>harbour</strong>! "
        '<a href="https://example.org/tides">tides</a></p><p>Second line</p>',
    )
    accepted(client, alice, alice.activity("Create", note))
    comment = comment_of(blog, note)
    assert comment.status == CommentStatus.PENDING
    assert comment.author_name == "Alice Liddell"
    assert comment.author_url == f"{fediverse.base}/@alice"
    assert comment.author_email == ""
    with blog.app_context():
        remote = db.session.scalar(select(RemoteActor))
        assert comment.remote_actor_id == remote.id
    assert "<strong>harbour</strong>" in comment.body_html
    assert 'href="https://example.org/tides"' in comment.body_html
    assert "Second line" in comment.body_html
    assert "@" not in comment.body_html  # the mention of the blog itself is left out
    assert comment.body_html.startswith("<p>Lovely")
    page = client.get("/harbour-opens/").get_data(as_text=True)
    assert "Lovely" not in page  # held
    approve(blog, comment.id)
    response = client.get("/harbour-opens/")
    assert response.headers["X-Cache"] == "MISS"
    page = response.get_data(as_text=True)
    assert "Lovely" in page and "Alice Liddell" in page
    accepted(client, alice, alice.activity("Create", note))  # delivered twice: one comment
    assert len(rows(blog, Comment)) == 1


def test_replies_are_held_whatever_the_moderation_setting(blog, client, fediverse):
    settings(blog, comment_moderation="open")
    alice = fediverse.add_actor("alice")
    note = alice.note(ARTICLE, "<p>Hello</p>")
    accepted(client, alice, alice.activity("Create", note))
    assert comment_of(blog, note).status == CommentStatus.PENDING


def test_no_comment_when_replies_are_off_or_comments_closed(blog, client, fediverse):
    alice = fediverse.add_actor("alice")
    settings(blog, federation_replies_as_comments=False)
    accepted(client, alice, alice.activity("Create", alice.note(ARTICLE, "<p>One</p>")))
    settings(blog, federation_replies_as_comments=True, comment_moderation="closed")
    accepted(client, alice, alice.activity("Create", alice.note(ARTICLE, "<p>Two</p>")))
    settings(blog, comment_moderation="first_time")
    with blog.app_context():
        db.session.scalar(select(Post)).comments_mode = "closed"
        db.session.commit()
    accepted(client, alice, alice.activity("Create", alice.note(ARTICLE, "<p>Three</p>")))
    assert rows(blog, Comment) == []


def test_notes_written_by_someone_else_or_not_replies_are_ignored(blog, client, fediverse):
    alice, bob = fediverse.add_actor("alice"), fediverse.add_actor("bob")
    by_bob = bob.note(ARTICLE, "<p>Bob's words</p>")
    accepted(client, alice, alice.activity("Create", by_bob))
    accepted(client, alice, alice.activity("Create", alice.note(f"{SITE}/", "<p>Home</p>")))
    elsewhere = alice.note(ARTICLE, "<p>x</p>", id="https://elsewhere.example/notes/1")
    accepted(client, alice, alice.activity("Create", elsewhere))
    assert rows(blog, Comment) == []


def test_an_edited_reply_changes_the_comment_and_goes_back_to_the_queue(blog, client, fediverse):
    alice, bob = fediverse.add_actor("alice"), fediverse.add_actor("bob")
    note = alice.note(ARTICLE, "<p>First words</p>")
    accepted(client, alice, alice.activity("Create", note))
    comment = comment_of(blog, note)
    approve(blog, comment.id)
    assert "First words" in client.get("/harbour-opens/").get_data(as_text=True)
    accepted(client, bob, bob.activity("Update", note))  # not bob's to change
    assert "First words" in comment_of(blog, note).body_html
    accepted(client, alice, alice.activity("Update", note | {"content": "<p>Second words</p>"}))
    changed = comment_of(blog, note)
    assert "Second words" in changed.body_html
    assert changed.status == CommentStatus.PENDING
    page = client.get("/harbour-opens/").get_data(as_text=True)
    assert "First words" not in page and "Second words" not in page
    with blog.app_context():
        assert db.session.scalar(select(Post.comment_count)) == 0


def test_a_deleted_reply_deletes_the_comment(blog, client, fediverse):
    alice, bob = fediverse.add_actor("alice"), fediverse.add_actor("bob")
    first, second = alice.note(ARTICLE, "<p>One</p>"), alice.note(ARTICLE, "<p>Two</p>")
    for note in (first, second):
        accepted(client, alice, alice.activity("Create", note))
    approve(blog, comment_of(blog, first).id)
    accepted(client, bob, bob.activity("Delete", first["id"]))  # not bob's
    assert len(rows(blog, Comment)) == 2
    accepted(client, alice, alice.activity("Delete", first["id"]))
    tombstone = {"id": second["id"], "type": "Tombstone"}
    accepted(client, alice, alice.activity("Delete", tombstone))
    assert rows(blog, Comment) == []
    assert "One" not in client.get("/harbour-opens/").get_data(as_text=True)
    with blog.app_context():
        assert db.session.scalar(select(Post.comment_count)) == 0


def test_a_deleted_account_takes_its_follows_reactions_and_held_comments(blog, client, fediverse):
    alice, bob = fediverse.add_actor("alice"), fediverse.add_actor("bob")
    for actor in (alice, bob):
        accepted(client, actor, actor.activity("Follow", f"{SITE}/"))
        accepted(client, actor, actor.activity("Like", ARTICLE))
    shown, held = alice.note(ARTICLE, "<p>Shown</p>"), alice.note(ARTICLE, "<p>Held</p>")
    for note in (shown, held):
        accepted(client, alice, alice.activity("Create", note))
    approve(blog, comment_of(blog, shown).id)
    accepted(client, alice, alice.activity("Delete", alice.id))
    with blog.app_context():
        alice_row = db.session.scalar(select(RemoteActor).where(RemoteActor.uri == alice.id))
        assert (
            db.session.scalar(
                select(func.count(Follower.id)).where(Follower.remote_actor_id == alice_row.id)
            )
            == 0
        )
        assert db.session.scalar(select(func.count(Follower.id))) == 1  # bob's
        assert db.session.scalar(select(func.count(Reaction.id))) == 1  # bob's
    assert [comment.remote_id for comment in rows(blog, Comment)] == [shown["id"]]


def test_a_long_remote_name_and_odd_profile_stay_plain(blog, client, fediverse):
    alice = fediverse.add_actor("alice", name="A\u0000li\nce " + "x" * 300)
    fediverse.documents["/users/alice"] = (
        200,
        alice.document() | {"url": "javascript:alert(1)"},
    )
    note = alice.note(ARTICLE, "<p>Hi</p>")
    accepted(client, alice, alice.activity("Create", note))
    comment = comment_of(blog, note)
    assert comment.author_name.startswith("A li ce x") and len(comment.author_name) == 100
    assert comment.author_url == alice.id  # the actor's address instead of a script URL


# Hostile markup ------------------------------------------------------------------------------

NOISE = re.compile(
    "[\u0000-\u0020\u007f-\u00a0\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]"
)
URL_ATTRIBUTES = frozenset(
    "href src action formaction xlink:href data poster background codebase cite longdesc "
    "lowsrc dynsrc ping icon manifest archive classid usemap srcset imagesrcset to from "
    "values".split()
)
FORBIDDEN = frozenset(
    "iframe frame frameset object embed applet base svg math style template portal noscript "
    "xmp noembed noframes marquee video audio source track area map".split()
)


def _script_url(value: str) -> bool:
    url = NOISE.sub("", value or "").lower()
    return bool(re.match(r"(javascript|vbscript|livescript|mocha):", url)) or (
        url.startswith("data:") and not re.match(r"data:image/(png|jpeg|gif|webp)[;,]", url)
    )


def executable_parts(page: str) -> list[str]:
    """What in an HTML page could run script, found the way a browser parses it (html5lib):
    the rules of tests/security/test_xss.py's DOM scan, without the browser."""
    root = html5lib.parse(page, treebuilder="etree", namespaceHTMLElements=False)
    parents = {child: parent for parent in root.iter() for child in parent}

    def form_of(element):
        while element is not None and element.tag != "form":
            element = parents.get(element)
        return element

    def our_form(form) -> bool:
        if form is None:
            return False
        action = urlsplit(form.get("action", "")).path
        return action == "/search" or (
            form.get("id") == "comment-form" and action.endswith("/comments")
        )

    found = []
    for element in root.iter():
        tag = element.tag.rsplit("}", 1)[-1] if isinstance(element.tag, str) else ""
        described = f"<{tag} {dict(element.attrib)}>"[:160]
        for name, value in element.attrib.items():
            name = name.lower()
            if name.startswith("on"):
                found.append("handler " + described)
            if name in ("style", "srcdoc"):
                found.append(name + " " + described)
            if name in URL_ATTRIBUTES or name.endswith(":href"):
                values = value.split(",") if name.endswith("srcset") else [value]
                if any(_script_url(v) for v in values):
                    found.append("script URL " + described)
        if tag in FORBIDDEN:
            found.append("element " + described)
        if tag == "meta" and "http-equiv" in element.attrib:
            found.append("meta " + described)
        if tag == "form" and not our_form(element):
            found.append("form " + described)
        if tag in ("input", "button", "select", "textarea") and not our_form(form_of(element)):
            found.append("control " + described)
        if tag == "link":
            rel = element.get("rel", "").lower()
            href = element.get("href", "")
            allowed = (
                href.startswith("/static/") or href.startswith("/media/")
                if rel in ("stylesheet", "icon", "apple-touch-icon")
                else rel in ("canonical", "alternate")
            )
            if not allowed:
                found.append("link " + described)
        if tag == "script":
            kind = element.get("type", "").lower()
            if "src" in element.attrib:
                if not element.get("src").startswith("/static/"):
                    found.append("script " + described)
            elif kind == "application/ld+json":
                json.loads(element.text or "")
            else:
                found.append("inline script " + described)
    if SSTI_PRODUCT in page:
        found.append("a template evaluated {{7*7191}}")
    return found


def test_the_checker_catches_what_it_must():
    assert executable_parts("<p>fine</p><a href='https://example.org'>x</a>") == []
    for unsafe in (
        "<img src=x onerror=alert(1)>",
        "<a href=' jav&#x09;ascript:alert(1)'>x</a>",
        "<script>alert(1)</script>",
        "<svg><g></g></svg>",
        "<form action=/login></form>",
        "<p style='x'>y</p>",
        '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    ):
        assert executable_parts(unsafe), unsafe


def test_hostile_markup_in_remote_replies_leaves_nothing_executable(blog, client, fediverse):
    """Every entry of the project's hostile-markup corpus, as the HTML of remote notes (and
    as the names of their writers), sent through the inbox, approved, shown on the article."""
    # A NUL is refused at the door (400, nothing stored): PostgreSQL cannot keep one.
    nul = fediverse.add_actor("nul")
    response = post_signed(client, nul, nul.activity("Create", nul.note(ARTICLE, "<p>\x00</p>")))
    assert response.status_code == 400 and rows(blog, Comment) == []
    corpus = [payload.replace("\x00", "") for payload in hostile_corpus()]
    writers = [fediverse.add_actor(f"w{n}", name=name) for n, name in enumerate(pack(corpus, 200))]
    writers[0].name = "<img src=x onerror=alert(1)>"
    notes = pack(corpus, 2500, separator="<br>")
    for number, content in enumerate(notes):
        writer = writers[number % len(writers)]
        accepted(client, writer, writer.activity("Create", writer.note(ARTICLE, content)))
    # Every note with any text is a comment (one is only empty <div>s: nothing to show).
    with_text = [note for note in notes if BeautifulSoup(note, "html.parser").get_text().strip()]
    held = rows(blog, Comment)
    assert len(held) == len(with_text) > 10
    for comment in held:
        approve(blog, comment.id)
    page = client.get("/harbour-opens/").get_data(as_text=True)
    assert page.count('class="comment"') == len(with_text)
    assert executable_parts(page) == []
    assert "&lt;script&gt;" in page  # what was markup in the note is shown as text
    with blog.app_context():
        assert db.session.scalar(select(func.count(User.id))) == 4  # no account was made


def test_moderators_are_emailed_about_a_held_reply(make_app, users, smtp_server, fediverse):
    from tests.conftest import FAST_RETRIES, run_jobs

    app = make_app(**FEDERATED, **smtp_server.settings(), **FAST_RETRIES)
    publish(app, users)
    alice = fediverse.add_actor("alice", name="Alice Liddell")
    note = alice.note(ARTICLE, "<p>Is the harbour open on Sundays?</p>")
    accepted(app.test_client(), alice, alice.activity("Create", note))
    run_jobs(app)
    [message] = smtp_server.messages_to("author@example.com")
    assert message["Subject"] == "A comment waits on “Harbour opens”"
    body = message.get_body(("plain",)).get_content()
    assert "Alice Liddell" in body and "Is the harbour open on Sundays?" in body
    assert smtp_server.messages_to("admin@example.com")

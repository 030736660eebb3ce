"""Comment feeds: each article's and the site's, valid Atom, approved comments of shown posts only,
linked from the pages, served from the page cache yet never stale, at a fixed cost."""

from datetime import timedelta

import feedparser
import pytest
from sqlalchemy import event

from blog import comments
from blog.extensions import db
from blog.models import Comment, CommentsMode, CommentStatus, Post, PostKind, User, utcnow
from blog.posts import Action, PostInput, save_post, trash
from blog.rendering import render_comment
from tests.conftest import PASSWORD

SITE = "http://blog.test"


def publish(app, users, title: str, **fields) -> int:
    with app.app_context():
        author = db.session.get(User, users["author"]["id"])
        post = save_post(None, PostInput(title=title, body_md="Text.", **fields), author,
                         Action.PUBLISH)  # fmt: skip
        db.session.commit()
        return post.id


def add_comment(app, post_id: int, name: str, text: str, *, status=CommentStatus.APPROVED,
                minutes_ago: int = 0, url: str = "") -> int:  # fmt: skip
    """A comment stored as the form stores one, then moved to `status` by the moderation code."""
    with app.app_context():
        when = utcnow() - timedelta(minutes=minutes_ago)
        comment = Comment(post_id=post_id, author_name=name, author_email=f"{name}@example.org",
                          author_url=url, body_md=text, body_html=render_comment(text),
                          address="192.0.2.7", created_at=when, updated_at=when)  # fmt: skip
        db.session.add(comment)
        db.session.flush()
        comments.set_status(comment, status)
        db.session.commit()
        return comment.id


def parse(client, path: str):
    response = client.get(path)
    assert response.status_code == 200, path
    assert response.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    feed = feedparser.parse(response.data, sanitize_html=False, resolve_relative_uris=False)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    return response, feed


@pytest.fixture
def site(app, users):
    """An article with a conversation, a second article, and posts whose comments are not shown."""
    ids = {
        "harbour": publish(app, users, "Harbour opens"),
        "ferry": publish(app, users, "Ferry news"),
        "hidden": publish(app, users, "Quiet post", comments_mode=CommentsMode.HIDDEN.value),
        "page": publish(app, users, "About us", kind=PostKind.PAGE),
        "open page": publish(
            app, users, "Guestbook", kind=PostKind.PAGE, comments_mode=CommentsMode.OPEN.value
        ),  # fmt: skip
        "trashed": publish(app, users, "Gone soon"),
    }
    harbour = ids["harbour"]
    ids["first"] = add_comment(app, harbour, "Mia", "Fair *winds*, see [the map](/map/).",
                               minutes_ago=30, url="https://mia.example/")  # fmt: skip
    ids["second"] = add_comment(app, harbour, "Noor", "Thanks!", minutes_ago=20)
    add_comment(app, harbour, "Held", "Waiting here.", status=CommentStatus.PENDING)
    add_comment(app, harbour, "Spammer", "Buy now.", status=CommentStatus.SPAM)
    add_comment(app, harbour, "Binned", "Rude.", status=CommentStatus.TRASH)
    ids["ferry comment"] = add_comment(app, ids["ferry"], "Omar", "Late again.", minutes_ago=10)
    add_comment(app, ids["hidden"], "Hidden", "Not shown.", minutes_ago=5)
    ids["guestbook"] = add_comment(app, ids["open page"], "Pia", "Hello.", minutes_ago=1)
    add_comment(app, ids["trashed"], "Trashed", "On a trashed post.", minutes_ago=2)
    with app.app_context():
        trash(db.session.get(Post, ids["trashed"]))
        db.session.commit()
    return ids


def test_an_article_feed_holds_its_approved_comments_with_name_link_text_and_dates(site, client):
    _, feed = parse(client, "/harbour-opens/comments/atom.xml")
    assert feed.feed.title == "Comments on “Harbour opens”"
    assert [link.href for link in feed.feed.links if link.rel == "self"] == [
        f"{SITE}/harbour-opens/comments/atom.xml"
    ]
    assert feed.feed.link == f"{SITE}/harbour-opens/#comments"
    # Newest first; not the held one, the spam or the trash.
    assert [entry.author for entry in feed.entries] == ["Noor", "Mia"]
    mia = feed.entries[1]
    assert mia.title == "Mia on “Harbour opens”"
    assert mia.link == f"{SITE}/harbour-opens/#comment-{site['first']}"
    assert mia.author_detail.href == "https://mia.example/"
    assert mia.id.startswith("tag:blog.test,") and mia.id.endswith(f":comment-{site['first']}")
    # The stored HTML, with its relative link made absolute for feed readers.
    assert mia.content[0].value == (
        f'<p>Fair <em>winds</em>, see <a href="{SITE}/map/" rel="nofollow ugc noopener">'
        "the map</a>.</p>"
    )
    assert mia.published_parsed and mia.updated_parsed >= mia.published_parsed


def test_the_site_feed_holds_the_latest_approved_comments_of_posts_that_show_them(site, client):
    _, feed = parse(client, "/comments/atom.xml")
    assert feed.feed.title == "My Blog: comments"
    assert [entry.author for entry in feed.entries] == ["Pia", "Omar", "Noor", "Mia"]
    assert feed.entries[0].link == f"{SITE}/guestbook/#comment-{site['guestbook']}"
    assert feed.entries[1].title == "Omar on “Ferry news”"


def test_the_site_feed_keeps_the_20_newest(app, site, client):
    for number in range(25):
        add_comment(app, site["ferry"], f"Reader{number}", "Again.", minutes_ago=-number)
    _, feed = parse(client, "/comments/atom.xml")
    assert len(feed.entries) == 20
    assert feed.entries[0].author == "Reader24"


def test_posts_that_do_not_show_comments_have_no_comment_feed(site, client):
    for slug in ("quiet-post", "about-us", "gone-soon", "no-such-post"):
        assert client.get(f"/{slug}/comments/atom.xml").status_code == 404, slug
    assert client.get("/guestbook/comments/atom.xml").status_code == 200


def test_hostile_names_and_control_characters_stay_text_in_valid_xml(app, site, client):
    add_comment(app, site["harbour"], "<b>Eve</b> & \x0b\x1f friends", "<script>x</script>")
    _, feed = parse(client, "/harbour-opens/comments/atom.xml")
    assert feed.entries[0].author == "<b>Eve</b> &  friends"
    assert "<script" not in feed.entries[0].content[0].value


def test_the_article_links_its_comment_feed_in_the_head_and_the_comments_section(site, client):
    page = client.get("/harbour-opens/").get_data(as_text=True)
    head, body = page.split("</head>")
    assert (
        '<link rel="alternate" type="application/atom+xml" title="Comments (Atom)" '
        f'href="{SITE}/harbour-opens/comments/atom.xml">' in head
    )
    section = body[body.index('id="comments"') :]
    assert '<a href="/harbour-opens/comments/atom.xml">Comments feed (Atom)</a>' in section
    assert (
        '<link rel="alternate" type="application/atom+xml" title="My Blog: comments (Atom)" '
        f'href="{SITE}/comments/atom.xml">' in head
    )  # the site's latest comments, on every page
    quiet = client.get("/quiet-post/").get_data(as_text=True)
    assert "comments/atom.xml" not in quiet.replace(f'href="{SITE}/comments/atom.xml"', "")


def test_an_approval_shows_in_both_feeds_on_the_next_request_and_a_held_comment_changes_nothing(
    app, site, users, client
):
    urls = ("/harbour-opens/comments/atom.xml", "/comments/atom.xml")
    for url in urls:
        client.get(url)
        assert client.get(url).headers["X-Cache"] == "HIT"
    etags = {url: client.get(url).headers["ETag"] for url in urls}
    waiting = add_comment(app, site["harbour"], "Quinn", "Held for now.",
                          status=CommentStatus.PENDING)  # fmt: skip
    for url in urls:
        response = client.get(url)
        assert response.headers["X-Cache"] == "HIT" and response.headers["ETag"] == etags[url]
    editor = app.test_client()
    editor.post("/login", data={"email": users["editor"]["email"], "password": PASSWORD})
    assert editor.post(f"/admin/comments/{waiting}/approve").status_code == 302
    for url in urls:
        response = client.get(url)
        assert response.headers["X-Cache"] == "MISS" and response.headers["ETag"] != etags[url]
        assert "Quinn" in response.get_data(as_text=True)


def _statements(app, client, url: str) -> int:
    statements = []
    with app.app_context():
        engine = db.engine

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        assert client.get(url).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return len(statements)


def test_a_comment_feed_costs_the_same_with_3_comments_and_with_40(make_app, users):
    quiet = make_app(PAGE_CACHE_BYTES=0)
    post = publish(quiet, users, "Harbour opens")
    urls = ("/harbour-opens/comments/atom.xml", "/comments/atom.xml")
    reader = quiet.test_client()
    reader.get("/")

    def measure() -> list[int]:
        return [_statements(quiet, reader, url) for url in urls]

    for number in range(3):
        add_comment(quiet, post, f"Early{number}", "Hello.")
    few = measure()
    for number in range(37):
        add_comment(quiet, post, f"Late{number}", "Hello.", url="https://late.example/")
    many = measure()
    print(f"\nstatements per comment feed (article, site), 3 and 40 comments: {few} {many}")
    assert few == many
    assert many[0] <= 3 and many[1] <= 2  # (post,) comments, settings

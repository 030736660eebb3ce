"""The page cache: every change a reader could see shows on the very next request.

Each change is made through the code path a person uses (the admin pages, signed in, or the
CLI); the reader's page was cached (X-Cache: HIT) just before. The last tests run two real
server processes on one database and change content through one of them.
"""

import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, timedelta
from http.cookiejar import CookieJar
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
import time_machine
from PIL import Image
from sqlalchemy import event, select, update

from blog import generation
from blog.accounts import create_user
from blog.comments import set_status
from blog.concurrent_edits import fingerprint
from blog.extensions import db
from blog.models import (
    Comment,
    CommentStatus,
    Post,
    PostKind,
    Revision,
    Role,
    SiteState,
    User,
    utcnow,
)
from blog.page_cache import cache_for
from blog.posts import Action, PostInput, save_post, trash
from blog.taxonomy import create_category
from tests.conftest import PASSWORD, csrf_token_from, shown_by

REPO = Path(__file__).resolve().parent.parent


# Helpers -------------------------------------------------------------------------------------


@pytest.fixture
def site(app, users):
    """A category, a published post in it with a tag, and a static page."""
    with app.app_context():
        author = db.session.get(User, users["author"]["id"])
        news = create_category("News")
        db.session.flush()
        post = publish(author, "Harbour opens", category_id=news.id, tags="boats")
        publish(author, "About us", kind=PostKind.PAGE)
        db.session.commit()
        return SimpleNamespace(
            post=post.id, category=news.id, tag=post.tags[0].id, author=author.id, users=users
        )


def publish(author, title, **fields) -> Post:
    data = PostInput(title=title, body_md=f"The text of {title}.", **fields)
    return save_post(None, data, author, Action.PUBLISH)


def signed_in(app, users, who: str = "admin"):
    client = app.test_client()
    response = client.post("/login", data={"email": users[who]["email"], "password": PASSWORD})
    assert response.status_code == 302, "sign-in failed"
    return client


def warm(reader, url: str) -> str:
    """Request twice; the second answer must come from the cache. Returns the page."""
    reader.get(url)
    response = reader.get(url)
    assert response.status_code == 200, url
    assert response.headers["X-Cache"] == "HIT", url
    return response.get_data(as_text=True)


def fresh(reader, url: str) -> str:
    """The next request after a change: rendered again, not served from the cache."""
    response = reader.get(url)
    assert response.headers["X-Cache"] == "MISS", url
    return response.get_data(as_text=True)


def editor_form(app, post_id: int, **changes) -> dict:
    """The editor's form as it would be posted for the post, with `changes` applied."""
    with app.app_context():
        post = db.session.get(Post, post_id)
        form = {
            "title": post.title,
            "body": post.body_md,
            "slug": post.slug,
            "excerpt": post.excerpt,
            "kind": post.kind.value,
            "category_id": str(post.category_id or ""),
            "tags": ", ".join(tag.name for tag in post.tags),
            "featured_media_id": str(post.featured_media_id or ""),
            "featured_alt": post.featured_alt,
            "featured_caption": post.featured_caption,
            "version": str(post.version),
            "action": "save",
        }
    return {**form, **changes}


def version_of(app, post_id: int) -> dict:
    """The version field a page about the post carries."""
    with app.app_context():
        return {"version": str(db.session.get(Post, post_id).version)}


def jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.linear_gradient("L").resize((300, 200)).convert("RGB").save(buffer, "JPEG")
    return buffer.getvalue()


def count_statements(app, action) -> tuple[int, object]:
    """Statements run through SQLAlchemy, plus reads of the generation (on their own connection)."""
    statements = []
    with app.app_context():
        engine = db.engine
        reader = generation.reader_for(app, engine)

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    read = reader.read

    def counted_read():
        statements.append(generation.StoredReader.SQL)
        return read()

    event.listen(engine, "before_cursor_execute", record)
    reader.read = counted_read
    try:
        result = action()
    finally:
        event.remove(engine, "before_cursor_execute", record)
        del reader.read
    return len(statements), result


def generation_of(app) -> int:
    with app.app_context():
        return generation.read_stored()[0]


# Every change a reader could see -------------------------------------------------------------


@dataclass
class Change:
    """A change made through the admin (or the CLI), and what the reader sees afterwards."""

    name: str
    url: object  # a path, or a function of the site giving one
    act: object  # function(app, admin_client, site)
    shows: str | None = None
    hides: str | None = None
    prepare: object = None  # function(app, site), run before the page is cached
    who: str = "admin"


def _post_url(site):
    return "/harbour-opens/"


def _rerender_prepare(app, site):
    with app.app_context():  # as if rendered by an older pipeline, before any request
        db.session.execute(
            update(Post)
            .where(Post.id == site.post)
            .values(body_html="<p>stale render</p>", render_version=0)
        )
        db.session.commit()


def _rerender(app, admin, site):
    result = app.test_cli_runner().invoke(args=["posts", "rerender"])
    assert result.exit_code == 0, result.output


def _trash_first(app, site):
    with app.app_context():
        trash(db.session.get(Post, site.post))
        db.session.commit()


def _retitle_first(app, site):
    with app.app_context():
        post = db.session.get(Post, site.post)
        editor = db.session.get(User, site.users["editor"]["id"])
        save_post(post, PostInput(title="Second title", body_md=post.body_md), editor)
        db.session.commit()


def _restore_first_revision(app, admin, site):
    with app.app_context():
        first = db.session.scalar(
            select(Revision.id).where(Revision.post_id == site.post).order_by(Revision.id)
        )
    path = f"/admin/posts/{site.post}/history/{first}/restore"
    response = admin.post(path, data=version_of(app, site.post))
    assert response.status_code == 302


def _second_category(app, site):
    with app.app_context():
        site.other = create_category("Weather").id
        db.session.commit()


def _second_tag(app, site):
    with app.app_context():
        author = db.session.get(User, site.author)
        site.sea = publish(author, "Sea report", tags="sea").tags[0].id
        db.session.commit()


def _with_image(app, site):
    client = signed_in(app, site.users, "author")
    response = client.post(
        "/admin/media/upload", data={"file": (io.BytesIO(jpeg_bytes()), "boat.jpg")}
    )
    assert response.status_code == 201
    site.media = response.get_json()["id"]
    with app.app_context():
        db.session.get(Post, site.post).featured_media_id = site.media
        db.session.commit()


def _waiting_comment(app, site):
    with app.app_context():
        comment = Comment(
            post_id=site.post,
            author_name="Reader",
            author_email="r@example.org",
            body_md="Fair *winds*.",
            body_html="<p>Fair <em>winds</em>.</p>",
        )
        db.session.add(comment)
        db.session.commit()
        site.comment = comment.id


def _approved_comment(app, site):
    _waiting_comment(app, site)
    with app.app_context():
        set_status(db.session.get(Comment, site.comment), CommentStatus.APPROVED)
        db.session.commit()


def _ok(response, status=(302, 303)):
    assert response.status_code in status, response.status_code
    return response


def _trash_the_post(app, client, site):
    _ok(client.post(f"/admin/posts/{site.post}/delete", data=version_of(app, site.post)))


def _publish_ferry_news(app, client, site):
    data = {"title": "Ferry news", "kind": "post", "action": "publish"}
    _ok(client.post("/admin/posts/new", data=data))


def _save_design(client, **changes):
    """Settings → Design as the admin sends it, with `changes` (files included)."""
    data = {
        "accent_light": "#9b1c1c",
        "accent_dark": "#f08080",
        "heading_typeface": "charter",
        "body_typeface": "charter",
        **shown_by(client, "/admin/settings/design"),
        **changes,
    }
    return _ok(client.post("/admin/settings/design", data=data, content_type="multipart/form-data"))


def _square_png(side: int) -> tuple:
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (20, 90, 160)).save(buffer, "PNG")
    buffer.seek(0)
    return (buffer, "icon.png")


def _save_header_menu(client):
    data = {
        "header-0-label": "Contact",
        "header-0-url": "/contact/",
        "header-0-position": "1",
        **shown_by(client, "/admin/settings/menus"),
    }
    return _ok(client.post("/admin/settings/menus", data=data))


def _alt_from_the_editor(app, client, site):
    author = signed_in(app, site.users, "author")  # the uploader
    shown = fingerprint({"alt_text": ""})
    response = author.post(
        f"/admin/media/{site.media}/alt.json", json={"alt_text": "A red boat", "shown": shown}
    )
    _ok(response, (200,))


CHANGES = [
    Change(
        "comment approved",
        _post_url,
        lambda app, c, s: _ok(c.post(f"/admin/comments/{s.comment}/approve")),
        shows="Fair <em>winds</em>.",
        prepare=_waiting_comment,
    ),
    Change(
        "approved comment edited",
        _post_url,
        lambda app, c, s: _ok(c.post(f"/admin/comments/{s.comment}/edit", data={"text": "Calm."})),
        shows="<p>Calm.</p>",
        hides="Fair <em>winds</em>.",
        prepare=_approved_comment,
    ),
    Change(
        "approved comment marked as spam",
        _post_url,
        lambda app, c, s: _ok(c.post(f"/admin/comments/{s.comment}/spam")),
        hides="Fair <em>winds</em>.",
        prepare=_approved_comment,
        who="editor",
    ),
    Change(
        "comment approved (the article's comment feed)",
        "/harbour-opens/comments/atom.xml",
        lambda app, c, s: _ok(c.post(f"/admin/comments/{s.comment}/approve")),
        shows="Fair &lt;em&gt;winds&lt;/em&gt;.",
        prepare=_waiting_comment,
    ),
    Change(
        "approved comment trashed (the site's comment feed)",
        "/comments/atom.xml",
        lambda app, c, s: _ok(c.post(f"/admin/comments/{s.comment}/trash")),
        hides="Fair &lt;em&gt;winds&lt;/em&gt;.",
        prepare=_approved_comment,
        who="editor",
    ),
    Change(
        "post pinned",
        "/",
        lambda app, c, s: _ok(
            c.post(f"/admin/posts/{s.post}/edit", data=editor_form(app, s.post, pinned="y"))
        ),
        shows='aria-label="Pinned"',
    ),
    Change(
        "search and social fields saved",
        _post_url,
        lambda app, c, s: _ok(
            c.post(
                f"/admin/posts/{s.post}/edit",
                data=editor_form(
                    app,
                    s.post,
                    meta_title="Boats return",
                    canonical_url="https://example.org/harbour",
                ),
            )
        ),
        shows='<meta property="og:title" content="Boats return">',
        hides='<link rel="canonical" href="http://blog.test/harbour-opens/">',
    ),
    Change(
        "image alt text changed from the editor",
        _post_url,
        _alt_from_the_editor,
        shows='alt="A red boat"',
        prepare=_with_image,
    ),
    Change(
        "post saved",
        "/",
        lambda app, c, s: _ok(
            c.post(
                f"/admin/posts/{s.post}/edit", data=editor_form(app, s.post, title="Harbour shuts")
            )
        ),
        shows="Harbour shuts</a>",
        hides="Harbour opens</a>",
    ),
    Change(
        "post published",
        "/",
        _publish_ferry_news,
        shows="Ferry news",
    ),
    Change(
        "post published (search results)",
        "/search?q=ferry",
        _publish_ferry_news,
        shows="Ferry news",
    ),
    Change(
        "post trashed (search results)",
        "/search?q=harbour",
        _trash_the_post,
        hides="Harbour opens",
    ),
    Change(
        "post unpublished",
        "/",
        lambda app, c, s: _ok(
            c.post(f"/admin/posts/{s.post}/unpublish", data=version_of(app, s.post))
        ),
        hides="Harbour opens",
    ),
    Change(
        "status changed in bulk",
        "/category/news/",
        lambda app, c, s: _ok(
            c.post(
                "/admin/posts/bulk",
                data={
                    "action": "unpublish",
                    "post_id": str(s.post),
                    f"version-{s.post}": version_of(app, s.post)["version"],
                },
            )
        ),
        hides="Harbour opens",
    ),
    Change(
        "post trashed",
        "/tag/boats/",
        _trash_the_post,
        hides="Harbour opens",
    ),
    Change(
        "post restored from the trash",
        "/",
        lambda app, c, s: _ok(
            c.post(f"/admin/posts/{s.post}/restore", data=version_of(app, s.post))
        ),
        shows="Harbour opens",
        prepare=_trash_first,
    ),
    Change(
        "revision restored",
        "/",
        _restore_first_revision,
        shows="Harbour opens</a>",
        hides="Second title</a>",
        prepare=_retitle_first,
    ),
    Change(
        "posts rendered again",
        _post_url,
        _rerender,
        shows="<p>The text of Harbour opens.</p>",
        hides="stale render",
        prepare=_rerender_prepare,
    ),
    Change(
        "settings saved",
        "/feed.xml",
        lambda app, c, s: _ok(
            c.post(
                "/admin/settings",
                data={
                    "site_title": "Harbour Times",
                    "posts_per_page": "10",
                    "timezone": "UTC",
                    "comment_moderation": "first_time",
                    "comments_close_days": "60",
                    "comment_max_links": "2",
                    **shown_by(c, "/admin/settings"),
                },
            )
        ),
        shows="Harbour Times",
    ),
    Change(
        "accent colour changed",
        _post_url,
        lambda app, c, s: _save_design(c, accent_light="#1a5fb4"),
        shows='<link rel="stylesheet" href="/design-',
    ),
    Change(
        "logo uploaded",
        "/",
        lambda app, c, s: _save_design(c, logo=_square_png(200)),
        shows='class="site-title site-logo"',
    ),
    Change(
        "site icon uploaded",
        "/tag/boats/",
        lambda app, c, s: _save_design(c, icon=_square_png(200)),
        shows='rel="apple-touch-icon"',
    ),
    Change(
        "header menu saved",
        "/",
        lambda app, c, s: _save_header_menu(c),
        shows='href="/contact/">Contact</a>',
        hides='<li><a href="/category/news/"',
    ),
    Change(
        "category created",
        "/",
        lambda app, c, s: _ok(c.post("/admin/categories/", data={"name": "Sports"})),
        shows='href="/category/sports/"',
    ),
    Change(
        "category renamed",
        _post_url,
        lambda app, c, s: _ok(
            c.post(
                f"/admin/categories/{s.category}",
                data={
                    "name": "Local news",
                    "slug": "local",
                    **shown_by(c, f"/admin/categories/{s.category}"),
                },
            )
        ),
        shows='href="/category/local/">Local news',
        hides='href="/category/news/"',
    ),
    Change(
        "category deleted",
        _post_url,
        lambda app, c, s: _ok(
            c.post(f"/admin/categories/{s.category}/delete", data={"move_to": ""})
        ),
        hides='href="/category/news/"',
    ),
    Change(
        "categories merged",
        _post_url,
        lambda app, c, s: _ok(
            c.post(f"/admin/categories/{s.category}/delete", data={"move_to": str(s.other)})
        ),
        shows='in <a class="category" href="/category/weather/"',
        hides='in <a class="category" href="/category/news/"',
        prepare=_second_category,
    ),
    Change(
        "tag renamed",
        _post_url,
        lambda app, c, s: _ok(c.post(f"/admin/tags/{s.tag}", data={"name": "Ships", "slug": ""})),
        shows='href="/tag/ships/"',
        hides='href="/tag/boats/"',
    ),
    Change(
        "tags merged",
        _post_url,
        lambda app, c, s: _ok(c.post(f"/admin/tags/{s.tag}/merge", data={"target": str(s.sea)})),
        shows='href="/tag/sea/"',
        hides='href="/tag/boats/"',
        prepare=_second_tag,
    ),
    Change(
        "tag deleted",
        _post_url,
        lambda app, c, s: _ok(c.post(f"/admin/tags/{s.tag}/delete")),
        hides='href="/tag/boats/"',
    ),
    Change(
        "display name and bio changed",
        "/author/ann-author/",
        lambda app, c, s: _ok(
            c.post("/admin/profile", data={"display_name": "Ann Author", "bio": "Sails daily."})
        ),
        shows="Sails daily.",
        who="author",
    ),
    Change(
        "profile photo uploaded",
        _post_url,
        lambda app, c, s: _ok(
            c.post(
                "/admin/profile",
                data={"display_name": "Ann Author", "photo": (io.BytesIO(jpeg_bytes()), "me.jpg")},
                content_type="multipart/form-data",
            )
        ),
        shows='class="avatar"',
        who="author",
    ),
    Change(
        "author deactivated",
        _post_url,
        lambda app, c, s: _ok(c.post(f"/admin/users/{s.author}/deactivate")),
    ),
    Change(
        "image alt text changed",
        _post_url,
        lambda app, c, s: _ok(
            c.post(
                f"/admin/media/{s.media}",
                data={
                    "alt_text": "A red boat",
                    **shown_by(c, "/admin/media/", f"/admin/media/{s.media}"),
                },
            )
        ),
        shows='alt="A red boat"',
        prepare=_with_image,
    ),
    Change(
        "image deleted",
        _post_url,
        lambda app, c, s: _ok(c.post(f"/admin/media/{s.media}/delete")),
        hides='class="featured"',
        prepare=_with_image,
    ),
]


@pytest.mark.parametrize("change", CHANGES, ids=[change.name for change in CHANGES])
def test_the_next_request_after_a_change_shows_it(app, site, change):
    if change.prepare:
        change.prepare(app, site)
    url = change.url(site) if callable(change.url) else change.url
    reader = app.test_client()
    before = warm(reader, url)
    assert change.shows is None or change.shows not in before
    assert change.hides is None or change.hides in before
    admin = signed_in(app, site.users, change.who)
    generation_before = generation_of(app)
    change.act(app, admin, site)
    assert generation_of(app) == generation_before + 1
    response = reader.get(url)
    assert response.headers["X-Cache"] == "MISS"
    after = response.get_data(as_text=True)
    assert change.shows is None or change.shows in after
    assert change.hides is None or change.hides not in after


def test_a_scheduled_post_appears_when_its_time_comes(app, site, users):
    when = utcnow().replace(microsecond=0) + timedelta(hours=2)
    with app.app_context():
        author = db.session.get(User, users["author"]["id"])
        data = PostInput(title="Tide tables", body_md="Low tide at noon.")
        save_post(None, data, author, Action.SCHEDULE, when)
        db.session.commit()
    reader = app.test_client()
    before = warm(reader, "/")
    etag = reader.get("/").headers["ETag"]
    assert "Tide tables" not in before
    with time_machine.travel((when - timedelta(seconds=1)).replace(tzinfo=UTC), tick=False):
        assert reader.get("/").headers["X-Cache"] == "HIT"
    with time_machine.travel((when + timedelta(seconds=1)).replace(tzinfo=UTC), tick=False):
        response = reader.get("/", headers={"If-None-Match": etag})
        assert response.status_code == 200 and response.headers["ETag"] != etag
        assert "Tide tables" in response.get_data(as_text=True)
        assert response.headers["X-Cache"] == "MISS"
        assert reader.get("/").headers["X-Cache"] == "HIT"
        assert reader.get("/tide-tables/").status_code == 200


def test_a_rolled_back_change_keeps_the_cache(app, site):
    reader = app.test_client()
    warm(reader, "/")
    with app.app_context():
        post = db.session.get(Post, site.post)
        trash(post)
        db.session.rollback()
    assert reader.get("/").headers["X-Cache"] == "HIT"


def test_bump_counts_once_per_transaction_and_creates_the_row(app):
    with app.app_context():
        assert db.session.get(SiteState, 1) is None
        assert generation.read_stored() == (0, None)
        generation.bump()
        generation.bump()
        db.session.commit()
        assert generation.read_stored()[0] == 1
        generation.bump()
        db.session.rollback()
        assert generation.read_stored()[0] == 1
        generation.bump()
        db.session.commit()
        assert generation.read_stored()[0] == 2


# Who and what is not served from the cache ---------------------------------------------------


def test_signed_in_users_are_never_served_the_cache(app, site):
    reader = app.test_client()
    warm(reader, "/")
    admin = signed_in(app, site.users)
    response = admin.get("/")
    assert response.headers["X-Cache"] == "BYPASS"
    assert "Dashboard" in response.get_data(as_text=True)
    assert "private" in response.headers["Cache-Control"]
    assert reader.get("/").headers["X-Cache"] == "HIT"  # and their page was not stored
    assert "Dashboard" not in reader.get("/").get_data(as_text=True)


def test_a_remembered_sign_in_bypasses_the_cache(app, site):
    reader = app.test_client()
    warm(reader, "/")
    reader.set_cookie("remember_token", "anything")
    assert reader.get("/").headers["X-Cache"] == "BYPASS"


def test_a_waiting_flash_message_bypasses_the_cache(app, site):
    reader = signed_in(app, site.users)
    warm(app.test_client(), "/")
    reader.post("/logout")  # signed out, with a message to show on the next page
    response = reader.get("/")
    assert response.headers["X-Cache"] == "BYPASS"


def test_other_cookies_and_malformed_cookie_headers_still_get_the_cached_page(app, site):
    reader = app.test_client()
    page = warm(reader, "/")
    for cookie in ("theme=dark; consent=yes", ';;; =="broken', "session"):
        response = reader.get("/", headers={"Cookie": cookie})
        assert response.status_code == 200, cookie
        assert response.headers["X-Cache"] == "HIT", cookie
        assert response.get_data(as_text=True) == page


def test_a_reader_with_an_anonymous_session_gets_the_same_cached_page(app, site):
    """A session holding nothing personal (only a CSRF token, say) does not stop the cache."""
    reader = app.test_client()
    page = warm(reader, "/")
    with reader.session_transaction() as session:
        session["csrf_token"] = "token"
    response = reader.get("/")
    assert response.headers["X-Cache"] == "HIT" and response.get_data(as_text=True) == page


@pytest.mark.parametrize(
    "url",
    [
        "/?utm_source=x",
        "/?page=1&page=2",
        "/?PAGE=1",
        "/search?q=harbour&utm_source=x",
        "/search?q=a&q=b",
    ],
)
def test_other_query_strings_bypass_the_cache(app, site, url):
    reader = app.test_client()
    reader.get(url)
    assert reader.get(url).headers["X-Cache"] == "BYPASS"


def _without_form_token(page: str) -> str:
    return re.sub(r'name="form_token" value="[^"]+"', 'name="form_token"', page)


def test_searches_are_cached_apart_and_cannot_push_out_the_articles(make_app, users):
    app = make_app(PAGE_CACHE_BYTES=200_000)  # searches get an eighth: 25,000 bytes
    with app.app_context():
        author = db.session.get(User, users["author"]["id"])
        publish(author, "Harbour opens")
        db.session.commit()
    reader = app.test_client()
    article = warm(reader, "/harbour-opens/")
    results = warm(reader, "/search?q=harbour")
    assert "Harbour opens" in results and "Harbour opens" not in reader.get("/search?q=x").text
    for number in range(60):  # made-up queries, as anyone can send
        assert reader.get(f"/search?q=word{number}").status_code == 200
    assert reader.get("/harbour-opens/").headers["X-Cache"] == "HIT"
    again = reader.get("/harbour-opens/").get_data(as_text=True)
    assert _without_form_token(again) == _without_form_token(article)  # each reader's own token
    assert reader.get("/search?q=word59").headers["X-Cache"] == "HIT"  # the newest stay
    assert reader.get("/search?q=harbour").headers["X-Cache"] == "MISS"  # pushed out


def test_page_numbers_are_cached_separately(app, site, users):
    with app.app_context():
        author = db.session.get(User, users["author"]["id"])
        for number in range(12):
            publish(author, f"Note {number}")
        db.session.commit()
    reader = app.test_client()
    first, second = warm(reader, "/"), warm(reader, "/?page=2")
    assert first != second and 'rel="prev"' in second


def test_media_health_and_non_get_requests_are_not_cached(app, site):
    reader = app.test_client()
    for _ in range(2):
        assert reader.get("/healthz").headers["X-Cache"] == "BYPASS"
        assert reader.get("/media/" + "a" * 32 + ".jpg").headers["X-Cache"] == "BYPASS"
        assert "X-Cache" not in reader.post("/").headers
        assert reader.get("/no-such-post/").headers["X-Cache"] == "MISS"  # a 404 is not kept


def test_head_requests_are_served_from_the_cache(app, site):
    reader = app.test_client()
    reader.get("/harbour-opens/")
    response = reader.head("/harbour-opens/")
    assert response.status_code == 200 and response.headers["X-Cache"] == "HIT"
    assert response.get_data() == b""


def test_no_cache_when_its_size_is_zero(make_app, users):
    app = make_app(PAGE_CACHE_BYTES=0)
    reader = app.test_client()
    for _ in range(2):
        response = reader.get("/")
        assert response.status_code == 200 and "X-Cache" not in response.headers
        assert response.headers["ETag"]  # the hash of the body, as without the cache


def test_the_cache_stays_within_its_size(make_app, users):
    # An article with its author box, share links and comment form is about 8 KB with its
    # headers, and 2-3 KB more gzip-compressed beside it; a page over a quarter of the cache is
    # never kept.
    app = make_app(PAGE_CACHE_BYTES=60_000)
    with app.app_context():
        author = db.session.get(User, users["author"]["id"])
        for number in range(12):
            publish(author, f"Story number {number}")
        db.session.commit()
    reader = app.test_client()
    for number in range(12):
        reader.get(f"/story-number-{number}/")
    cache = cache_for(app)
    assert 0 < cache.size <= 60_000 and len(cache) < 12
    assert reader.get("/story-number-11/").headers["X-Cache"] == "HIT"  # the newest stay
    assert reader.get("/story-number-0/").headers["X-Cache"] == "MISS"


def test_a_page_read_often_stays_while_others_come_and_go(make_app, users):
    app = make_app(PAGE_CACHE_BYTES=60_000)  # articles of about 10 KB, see above
    with app.app_context():
        author = db.session.get(User, users["author"]["id"])
        for number in range(12):
            publish(author, f"Story number {number}")
        db.session.commit()
    reader = app.test_client()
    warm(reader, "/story-number-0/")
    for number in range(1, 12):
        reader.get(f"/story-number-{number}/")
        assert reader.get("/story-number-0/").headers["X-Cache"] == "HIT", number
    assert reader.get("/story-number-1/").headers["X-Cache"] == "MISS"  # read once, long ago


# Revalidation --------------------------------------------------------------------------------


def test_a_current_etag_is_answered_304_with_one_query(app, site):
    reader = app.test_client()
    reader.get("/")
    etag = reader.get("/").headers["ETag"]
    for url in ("/", "/feed.xml"):
        first = reader.get(url)
        statements, response = count_statements(
            app,
            lambda url=url, tag=first.headers["ETag"]: reader.get(
                url, headers={"If-None-Match": tag}
            ),
        )
        assert response.status_code == 304 and statements == 1  # the generation, nothing else
        assert response.headers["ETag"] == first.headers["ETag"]
        assert response.headers["Cache-Control"] == first.headers["Cache-Control"]
        assert response.data == b""
    statements, hit = count_statements(app, lambda: reader.get("/"))
    assert hit.headers["X-Cache"] == "HIT" and statements == 1
    admin = signed_in(app, site.users)
    admin.post("/admin/categories/", data={"name": "Sports"})
    changed = reader.get("/", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def test_etags_are_the_same_in_every_process_and_differ_per_page(app, make_app, site):
    first, second = app.test_client(), make_app().test_client()
    assert first.get("/").headers["ETag"] == second.get("/").headers["ETag"]
    assert first.get("/").headers["ETag"] != first.get("/?page=1").headers["ETag"]
    assert first.get("/").headers["ETag"] != first.get("/feed.xml").headers["ETag"]


def test_a_cached_page_keeps_its_headers(app, site):
    reader = app.test_client()
    missed = reader.get("/feed.xml")
    hit = reader.get("/feed.xml")
    assert hit.headers["X-Cache"] == "HIT" and hit.data == missed.data
    for name in ("Content-Type", "ETag", "Last-Modified", "Cache-Control"):
        assert hit.headers[name] == missed.headers[name], name
    assert "Set-Cookie" not in hit.headers
    assert hit.headers["Content-Security-Policy"]
    kept = {"Set-Cookie", "X-Cache", "Date"}
    assert sorted(h for h in hit.headers if h[0] not in kept) == sorted(
        h for h in missed.headers if h[0] not in kept
    )


# Two server processes on one database --------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`flask --app blog serve` in its own process, on 127.0.0.1."""

    def __init__(self, environment: dict, log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "blog", "serve", "--port", str(self.port)],
            cwd=REPO,
            env={**environment, "BLOG_SITE_URL": self.url},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.cookies = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def wait_until_up(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server stopped: see {self.log.name}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"the server did not answer in {timeout} s")

    def get(self, path: str, opener=None, headers: dict | None = None) -> tuple[int, dict, str]:
        request = urllib.request.Request(self.url + path, headers=headers or {})
        try:
            with (opener or urllib.request.build_opener()).open(request, timeout=10) as r:
                return r.status, dict(r.headers), r.read().decode()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, dict(error.headers), error.read().decode()

    def post(self, path: str, fields: dict, form_page: str | None = None) -> int:
        """POST a form as the signed-in browser would, CSRF token included (from the page the
        form is on: `path` itself unless `form_page` says otherwise)."""
        _, _, page = self.get(form_page or path, self.opener)
        data = urllib.parse.urlencode({**fields, "csrf_token": csrf_token_from(page)}).encode()
        with self.opener.open(self.url + path, data=data, timeout=10) as response:
            return response.status

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log.close()


def run_two_servers(tmp_path: Path, database_url: str) -> None:
    environment = {
        **os.environ,
        "BLOG_INSTANCE_PATH": str(tmp_path / "instance"),
        "BLOG_DATABASE_URL": database_url,
        "BLOG_PASSWORD_HASH_METHOD": "scrypt:1024:8:1",
        "FLASK_DEBUG": "0",
    }
    servers = []
    try:
        first = Server(environment, tmp_path / "a.log")  # it applies the migrations
        servers.append(first)
        first.wait_until_up()
        second = Server(environment, tmp_path / "b.log")
        servers.append(second)
        second.wait_until_up()
        make_admin(environment)
        for server in servers:  # warm both caches
            server.get("/")
            status, headers, page = server.get("/")
            assert status == 200 and headers["X-Cache"] == "HIT"
            assert "Crossing the bay" not in page
        first.post("/login", {"email": "ada@example.com", "password": PASSWORD})
        status = first.post(
            "/admin/posts/new",
            {"title": "Crossing the bay", "body": "By ferry.", "kind": "post", "action": "publish"},
        )
        assert status == 200  # the editor, after the redirect
        status, headers, page = second.get("/")
        assert status == 200 and headers["X-Cache"] == "MISS"
        assert "Crossing the bay" in page
        assert second.get("/")[1]["X-Cache"] == "HIT"
        assert second.get("/crossing-the-bay/")[0] == 200
        comment_held_then_approved(first, second)
    finally:
        for server in servers:
            server.stop()


def comment_held_then_approved(first: Server, second: Server) -> None:
    """A reader's held comment changes no page in either process; its approval in one process
    changes the article's ETag in both (each server has its own address, so its own ETag)."""
    article = "/crossing-the-bay/"
    etags = {server: server.get(article)[1]["ETag"] for server in (first, second)}
    page = second.get(article)[2]
    token = re.search(r'name="form_token" value="([^"]+)"', page).group(1)
    time.sleep(3.2)  # the form refuses what comes back within 3 s of being served
    fields = {"text": "Did the *ferry* run?", "name": "Bea", "email": "bea@example.org",
              "form_token": token}  # fmt: skip
    data = urllib.parse.urlencode(fields).encode()
    with urllib.request.urlopen(second.url + article + "comments", data=data, timeout=10) as r:
        assert "awaiting moderation" in r.read().decode()  # the 303 led to the writer's view
    for server, etag in etags.items():
        assert server.get(article, headers={"If-None-Match": etag})[0] == 304
    _, _, queue = first.get("/admin/comments", first.opener)
    comment_id = re.search(r'<li id="comment-(\d+)"', queue).group(1)
    assert first.post(f"/admin/comments/{comment_id}/approve", {}, "/admin/comments") == 200
    for server, etag in etags.items():
        status, headers, page = server.get(article, headers={"If-None-Match": etag})
        assert status == 200 and headers["ETag"] != etag
        assert "Did the <em>ferry</em> run?" in page and "1 comment" in page


def make_admin(environment: dict) -> None:
    """Create the admin in a third process (as an operator would, with the CLI)."""
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "blog", "users", "create", "--email",
         "ada@example.com", "--name", "Ada", "--role", "admin", "--password", PASSWORD],
        cwd=REPO, env=environment, check=True, capture_output=True, timeout=60,
    )  # fmt: skip


def test_two_processes_on_one_sqlite_file(tmp_path):
    run_two_servers(tmp_path, f"sqlite:///{tmp_path / 'instance' / 'blog.sqlite3'}")


def test_two_processes_on_one_postgresql_database(tmp_path, postgres_url):
    """On a database of its own: `serve` migrates it, which the shared test schema is not."""
    name = f"blog_two_processes_{os.getpid()}"
    admin_url = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        run_two_servers(tmp_path, postgres_url.rsplit("/", 1)[0] + "/" + name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_missing_site_state_row_reads_as_generation_zero(make_app, users):
    app = make_app()
    with app.app_context():
        db.session.execute(SiteState.__table__.delete())
        db.session.commit()
    reader = app.test_client()
    reader.get("/")
    assert reader.get("/").headers["X-Cache"] == "HIT"


def test_creating_a_user_changes_no_public_page(app):
    with app.app_context():
        create_user("x@example.com", "X", Role.AUTHOR, PASSWORD)
        db.session.commit()
        assert generation.read_stored()[0] == 0

"""Cache invalidation without hand-placed calls: only changes a reader could see move the site
generation, and the rule for "public" is one rule.

The list of changes that must move it lives in tests/test_page_cache.py (the never-stale
tests); here are the writes that must leave every cached page alone, the one rule checked
against itself, and two real server processes sharing one database.
"""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select, update

from blog import generation, visibility
from blog.extensions import db
from blog.media import save_upload
from blog.models import Post, PostStatus, Setting, User, utcnow
from blog.posts import Action, PostInput, autosave, save_post, trash
from blog.taxonomy import create_category
from tests.conftest import PASSWORD
from tests.live_servers import Browser, Server, field_value


def _generation(app) -> int:
    with app.app_context():
        return generation.read_stored()[0]


def _user(app, users, who="author") -> User:
    return db.session.get(User, users[who]["id"])


def _draft(app, users, title="Notes") -> int:
    with app.app_context():
        post = save_post(None, PostInput(title=title, body_md="first words"), _user(app, users))
        db.session.commit()
        return post.id


def _published(app, users, title="Harbour opens") -> int:
    with app.app_context():
        data = PostInput(title=title, body_md="The harbour opens.")
        post = save_post(None, data, _user(app, users), Action.PUBLISH)
        db.session.commit()
        return post.id


def _save_draft_again(app, users, post_id):
    post = db.session.get(Post, post_id)
    data = PostInput(title=post.title, body_md=post.body_md + " and more", tags="notes")
    save_post(post, data, _user(app, users), base_version=post.version)


def _autosave_draft(app, users, post_id):
    post = db.session.get(Post, post_id)
    autosave(post, PostInput(title="Notes", body_md="typed, not saved"), _user(app, users))


def _autosave_published(app, users, post_id):
    post = db.session.get(Post, post_id)
    autosave(post, PostInput(title=post.title, body_md="an edit in progress"), _user(app, users))


def _trash_draft(app, users, post_id):
    trash(db.session.get(Post, post_id))


def _upload(app, users, post_id):
    from blog.demo import demo_image

    save_upload(demo_image(7, (320, 200)), _user(app, users))


def _password_change(app, users, post_id):
    user = _user(app, users)
    user.set_password("another long password")


QUIET_CHANGES = {
    "a new draft": lambda app, users, _: save_post(
        None, PostInput(title="Idea", body_md="x"), _user(app, users)
    ),
    "a draft saved again, with a new tag": _save_draft_again,
    "a draft autosaved": _autosave_draft,
    "a published post autosaved": _autosave_published,
    "a draft trashed": _trash_draft,
    "an image uploaded": _upload,
    "a password changed": _password_change,
}


@pytest.mark.parametrize("change", QUIET_CHANGES, ids=str)
def test_writes_readers_cannot_see_leave_the_generation_alone(app, users, change):
    draft = _draft(app, users)
    published = _published(app, users)
    before = _generation(app)
    with app.app_context():
        post_id = published if "published" in change else draft
        QUIET_CHANGES[change](app, users, post_id)
        db.session.commit()
    assert _generation(app) == before


def test_publishing_a_draft_moves_the_generation_once(app, users):
    draft = _draft(app, users)
    before = _generation(app)
    with app.app_context():
        post = db.session.get(Post, draft)
        data = PostInput(title=post.title, body_md=post.body_md)
        save_post(post, data, _user(app, users), Action.PUBLISH, base_version=post.version)
        db.session.commit()
    assert _generation(app) == before + 1


def test_a_rolled_back_change_leaves_the_generation_alone(app, users):
    published = _published(app, users)
    before = _generation(app)
    with app.app_context():
        db.session.get(Post, published).title = "Renamed"
        create_category("Weather")  # flushed: the bump ran inside the transaction
        db.session.rollback()
    assert _generation(app) == before


def test_bulk_statements_on_public_tables_move_the_generation_when_they_touch_rows(app, users):
    published = _published(app, users)
    before = _generation(app)
    with app.app_context():
        db.session.execute(update(Post).where(Post.id == -1).values(title="nobody"))
        db.session.commit()
    assert _generation(app) == before, "a bulk update that touched no row"
    with app.app_context():
        db.session.execute(update(Post).where(Post.id == published).values(title="Renamed"))
        db.session.commit()
    assert _generation(app) == before + 1
    with app.app_context():
        db.session.execute(update(User).values(totp_last_step=7))
        db.session.commit()
    assert _generation(app) == before + 1, "a user column no page shows"


def test_a_settings_change_moves_the_generation(app):
    before = _generation(app)
    with app.app_context():
        db.session.add(Setting(key="site_title", value="Harbour News"))
        db.session.commit()
    assert _generation(app) == before + 1


# One rule for "public" -----------------------------------------------------------------------

NOW = utcnow().replace(microsecond=0)
STATES = [
    (status, published_at, deleted_at)
    for status in PostStatus
    for published_at in (None, NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    for deleted_at in (None, NOW - timedelta(minutes=5))
]


def test_the_model_and_the_queries_agree_on_what_is_public(app, users):
    """Every combination of status, time and trash: `Post.is_public` and the SQL clause agree.

    (`Post.is_public` used to ignore a scheduled post whose time had come.)
    """
    with app.app_context():
        author = _user(app, users)
        posts = []
        for number, (status, published_at, deleted_at) in enumerate(STATES):
            post = Post(title=f"State {number}", slug=f"state-{number}", author_id=author.id)
            post.status, post.published_at, post.deleted_at = status, published_at, deleted_at
            db.session.add(post)
            posts.append(post)
        db.session.commit()
        public_ids = set(db.session.scalars(select(Post.id).where(visibility.public_clause(NOW))))
        for post in posts:
            assert visibility.is_public(post, NOW) == (post.id in public_ids), (
                post.status,
                post.published_at,
                post.deleted_at,
            )
        scheduled_and_due = next(
            post
            for post in posts
            if post.status == PostStatus.SCHEDULED
            and post.published_at == NOW - timedelta(hours=1)
            and post.deleted_at is None
        )
        assert scheduled_and_due.is_public


# Two processes -------------------------------------------------------------------------------


@pytest.fixture
def two_servers(app, users, database_url, tmp_path):
    """A reader's server and an author's server, separate gunicorn processes, one database."""
    site = SimpleNamespace(draft=_draft(app, users), published=_published(app, users))
    with app.app_context():
        site.slug = db.session.get(Post, site.published).slug
    servers = [Server(tmp_path / f"server-{name}", database_url) for name in ("reader", "author")]
    try:
        site.reader_port, site.author_port = (server.wait_until_up().port for server in servers)
        yield site
    finally:
        for server in servers:
            server.stop()


def _edit(author: Browser, post_id: int, body: str, action: str = "save") -> None:
    page = author.get(f"/admin/posts/{post_id}/edit")
    assert page.status == 200
    form = {name: field_value(page.body, name) for name in ("title", "version")}
    form.update(kind="post", body=body, action=action)
    answer = author.request("POST", f"/admin/posts/{post_id}/edit", form)
    assert answer.status == 302, answer.status


def test_a_draft_save_keeps_cached_pages_and_a_published_edit_renews_them(two_servers, users):
    reader = Browser(two_servers.reader_port, keep_alive=True)
    author = Browser(two_servers.author_port)
    try:
        article = f"/{two_servers.slug}/"
        reader.get(article)
        cached = reader.get(article)
        assert (cached.status, cached.headers["x-cache"]) == (200, "HIT")
        etag = cached.headers["etag"]
        author.sign_in(users["author"]["email"], PASSWORD)

        _edit(author, two_servers.draft, "a draft nobody reads yet")
        answer = reader.get(article, **{"If-None-Match": etag})
        assert answer.status == 304, "a draft save emptied the reader's cache"
        assert answer.headers["etag"] == etag
        assert reader.get(article).headers["x-cache"] == "HIT"

        _edit(author, two_servers.published, "The harbour opens at dawn.")
        answer = reader.get(article, **{"If-None-Match": etag})
        assert answer.status == 200 and answer.headers["etag"] != etag
        assert "The harbour opens at dawn." in answer.body
    finally:
        reader.close()

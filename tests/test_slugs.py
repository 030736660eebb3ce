"""Slugs never take an address that a route of the site owns.

The words a route owns are read from the app's URL map here too, so a route added later is
covered without touching the tests. Posts and pages live at `/<slug>/`, beside the site's
own top-level routes; categories, tags and authors live under their own prefix, where no
route collides today, so a test app gets one colliding route of each to show the rule.
"""

import re

import pytest
from sqlalchemy import select

from blog.accounts import create_user
from blog.extensions import db
from blog.models import Category, Post, PostKind, PostStatus, Role, Tag, User, utcnow
from blog.taxonomy import create_category, get_or_create_tags
from blog.text import slugify
from tests.conftest import PASSWORD
from tests.test_wordpress_import import import_wordpress, small_export, small_item

POST_RULE = "/<slug>/"
REFUSED = "belongs to the site itself"


def route_words(app, prefix: str = "") -> set[str]:
    """Fixed segments that routes have right after `prefix` ("" for the top level, "category"
    for /category/…), keeping those a slug could be."""
    depth = len(prefix.split("/")) if prefix else 0
    words = set()
    for rule in app.url_map.iter_rules():
        segments = rule.rule.strip("/").split("/")
        if len(segments) <= depth or "/".join(segments[:depth]) != prefix:
            continue
        word = segments[depth]
        if word and "<" not in word and slugify(word, fallback="") == word:
            words.add(word)
    return words


def editor_error_by_slug(html: str) -> str:
    """The text between the slug field and the text field: where the slug's message goes."""
    start = html.index('name="slug"')
    return html[start : html.index('name="body"', start)]


def hidden_fields(html: str) -> dict[str, str]:
    """The hidden inputs of a page (the version an edit started from, and the like)."""
    fields = {}
    for tag in re.findall(r"<input[^>]*>", html):
        if 'type="hidden"' in tag:
            name, value = re.search(r'name="([^"]*)"', tag), re.search(r'value="([^"]*)"', tag)
            if name:
                fields[name.group(1)] = value.group(1) if value else ""
    return fields


def submit_edit(client, path: str, **fields):
    """POST an edit form with what its page carries besides the fields given."""
    page = client.get(path).get_data(as_text=True)
    return client.post(path, data={**hidden_fields(page), **fields})


def test_the_words_come_from_the_url_map(app):
    words = route_words(app)
    assert {"admin", "login", "static", "media", "search"} <= words
    assert "hello" not in words


@pytest.mark.parametrize("kind", [PostKind.POST, PostKind.PAGE])
def test_a_post_or_page_cannot_take_an_address_a_route_owns(app, client, auth, kind):
    auth.login("admin")
    for word in sorted(route_words(app)):
        form = {"title": f"About {word}", "body": "Text.", "slug": word, "kind": kind.value}
        response = client.post("/admin/posts/new", data={**form, "action": "save"})
        assert response.status_code == 400, word
        html = response.get_data(as_text=True)
        assert REFUSED in editor_error_by_slug(html), word
        assert f"About {word}" in html  # the author's text stays on screen
    with app.app_context():
        assert db.session.scalar(select(Post.id).limit(1)) is None


def test_an_existing_post_cannot_move_to_such_an_address(app, client, auth, users):
    auth.login("admin")
    response = client.post("/admin/posts/new", data={"title": "Notes", "body": "x"})
    post_id = int(re.search(r"/posts/(\d+)/", response.headers["Location"]).group(1))
    with app.app_context():
        version = db.session.get(Post, post_id).version
    form = {"title": "Notes", "body": "x", "slug": "admin", "version": version, "kind": "post"}
    response = client.post(f"/admin/posts/{post_id}/edit", data=form)
    assert response.status_code == 400
    assert REFUSED in editor_error_by_slug(response.get_data(as_text=True))
    with app.app_context():
        assert db.session.get(Post, post_id).slug == "notes"


def test_a_generated_slug_steps_past_a_route(app, client, auth):
    auth.login("admin")
    response = client.post(
        "/admin/posts/new", data={"title": "Search", "body": "Found.", "action": "publish"}
    )
    assert response.status_code == 302
    with app.app_context():
        slug = db.session.scalar(select(Post.slug))
    assert slug == "search-2"
    assert client.get("/search-2/").status_code == 200


def add_colliding_routes(app) -> dict[str, str]:
    """One route under each listing prefix, taking a word a category, tag or author could
    have; returns the word per table."""
    words = {"category": "latest", "tag": "popular", "user": "me"}
    for table, prefix in (("category", "category"), ("tag", "tag"), ("user", "author")):
        word = words[table]
        app.add_url_rule(f"/{prefix}/{word}/", f"test_{table}_{word}", lambda: "a route")
        assert word in route_words(app, prefix)
    return words


def test_categories_tags_and_authors_step_past_routes_under_their_prefix(app, client, auth, users):
    words = add_colliding_routes(app)
    auth.login("admin")
    with app.app_context():
        category = create_category("Harbour")
        (tag,) = get_or_create_tags(["Boats"])
        db.session.commit()
        category_id, tag_id = category.id, tag.id

    path = f"/admin/categories/{category_id}"
    response = submit_edit(client, path, name="Harbour", slug=words["category"])
    assert response.status_code == 400 and REFUSED in response.get_data(as_text=True)
    response = submit_edit(client, f"/admin/tags/{tag_id}", name="Boats", slug=words["tag"])
    assert response.status_code == 400 and REFUSED in response.get_data(as_text=True)

    with app.app_context():
        assert db.session.get(Category, category_id).slug == "harbour"
        assert db.session.get(Tag, tag_id).slug == "boats"
        assert create_category("Latest").slug == "latest-2"  # a blank slug follows the name
        assert get_or_create_tags(["Popular"])[0].slug == "popular-2"
        assert create_user("me@example.com", "Me", Role.AUTHOR, PASSWORD).slug == "me-2"
        db.session.commit()


def test_an_import_moves_a_post_off_a_route_with_a_warning(app, runner, tmp_path):
    site = tmp_path / "site" / "_posts"
    site.mkdir(parents=True)
    (site / "2021-03-04-admin.md").write_text("---\ntitle: The admin team\n---\nHello.\n")
    result = runner.invoke(args=["import", "markdown", str(tmp_path / "site")])
    assert result.exit_code == 0, result.output
    assert "the address “admin” belongs to this site (/admin/); it became “admin-2”" in (
        result.output
    )
    again = runner.invoke(args=["import", "markdown", str(tmp_path / "site")])
    assert "imported 0, updated 0, unchanged 1" in again.output

    export = tmp_path / "wordpress.xml"
    export.write_bytes(small_export("", small_item(1, "Log in here", "login")))
    result = import_wordpress(runner, export)
    assert result.exit_code == 0, result.output
    assert "the address “login” belongs to this site (/login); it became “login-2”" in (
        result.output
    )
    with app.app_context():
        slugs = set(db.session.scalars(select(Post.slug)))
    assert slugs == {"admin-2", "login-2"}


def test_the_sitemap_leaves_out_an_address_a_route_answers(app, client, users):
    with app.app_context():
        author = db.session.get(User, users["author"]["id"])
        for slug in ("admin", "harbour-news"):  # "admin" saved before the rule existed
            db.session.add(
                Post(
                    title=slug, slug=slug, body_md="x", body_html="<p>x</p>", author=author,
                    status=PostStatus.PUBLISHED, published_at=utcnow(),
                )
            )  # fmt: skip
        db.session.commit()
    sitemap = client.get("/sitemap.xml").get_data(as_text=True)
    assert "/harbour-news/" in sitemap
    assert "/admin/" not in sitemap

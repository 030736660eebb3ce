"""Categories as a tree: nested addresses, parents' pages and feeds with their children's posts,
breadcrumbs, further categories, the admin's guard against cycles, and the tree kept by the
cache, backups and the JSON export."""

import json
import re
import tarfile
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from blog import taxonomy
from blog.category_tree import MAX_DEPTH
from blog.extensions import db
from blog.models import Category, Post, User, post_category
from blog.posts import Action, PostInput, save_post
from blog.settings import set_settings
from blog.taxonomy import TaxonomyError
from tests.conftest import PASSWORD, shown_by
from tests.test_backup import fresh_app  # noqa: F401 (a fixture)

SITE = "http://blog.test"
WHEN = datetime(2024, 4, 1, 9, 0)


def publish(users, title, category=None, further=(), hours=0) -> int:
    """A public post at WHEN + hours, through the one save service."""
    author = db.session.get(User, users["author"]["id"])
    data = PostInput(
        title=title,
        body_md=f"About {title}.",
        category_id=category,
        secondary_category_ids=list(further),
    )
    post = save_post(None, data, author, Action.PUBLISH)
    post.published_at = WHEN + timedelta(hours=hours)
    db.session.flush()
    return post.id


@pytest.fixture
def world(app, users):
    """World > Europe > France, and Asia beside World; a post in each of several places."""
    with app.app_context():
        ids = {"world": taxonomy.create_category("World").id}
        ids["europe"] = taxonomy.create_category("Europe", parent_id=ids["world"]).id
        ids["france"] = taxonomy.create_category("France", parent_id=ids["europe"]).id
        ids["asia"] = taxonomy.create_category("Asia").id
        publish(users, "World summit", ids["world"], hours=1)
        publish(users, "Paris spring", ids["france"], hours=2)
        publish(users, "Tokyo trains", ids["asia"], hours=3)
        publish(users, "Silk road", ids["asia"], further=[ids["europe"]], hours=4)
        db.session.commit()
    return ids


def titles(response) -> list[str]:
    html = response.get_data(as_text=True)
    return re.findall(r'class="card-title"><a href="[^"]+">([^<]+)</a>', html)


def between(html: str, start: str, end: str) -> str:
    """The part of `html` from `start` to the next `end`."""
    first = html.index(start)
    return html[first : html.index(end, first)]


def json_ld_blocks(html: str) -> list[dict]:
    return [
        json.loads(block)
        for block in re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    ]


def breadcrumbs_of(html: str) -> list[tuple[str, str]]:
    lists = [block for block in json_ld_blocks(html) if block["@type"] == "BreadcrumbList"]
    assert len(lists) == 1, lists
    items = lists[0]["itemListElement"]
    assert [item["position"] for item in items] == list(range(1, len(items) + 1))
    assert all(item["@type"] == "ListItem" for item in items)
    return [(item["name"], item["item"]) for item in items]


# The tree and its addresses -------------------------------------------------------------------


def test_nested_addresses_and_every_other_path_redirects(client, world):
    assert client.get("/category/world/europe/france/").status_code == 200
    for old, new in [
        ("/category/france/", "/category/world/europe/france/"),  # the flat address of before
        ("/category/europe/france/", "/category/world/europe/france/"),
        ("/category/asia/france/", "/category/world/europe/france/"),
        ("/category/europe/?page=2", "/category/world/europe/?page=2"),
        ("/category/europe/feed.xml", "/category/world/europe/feed.xml"),
        ("/category/france/atom.xml", "/category/world/europe/france/atom.xml"),
    ]:
        response = client.get(old)
        assert response.status_code == 301, old
        assert response.headers["Location"] == new, old
    assert client.get("/category/world/nowhere/").status_code == 404
    assert client.get("/category/asia/").status_code == 200  # a top-level one, as before


def test_the_menu_shows_the_top_of_the_tree_and_a_parent_page_its_children(client, world):
    html = client.get("/").get_data(as_text=True)
    menu = between(html, 'class="site-nav"', "</nav>")
    assert 'href="/category/world/"' in menu and 'href="/category/asia/"' in menu
    assert "/category/world/europe/" not in menu
    page = client.get("/category/world/").get_data(as_text=True)
    assert 'aria-label="Categories in World"' in page
    assert '<a href="/category/world/europe/">Europe</a>' in page


def test_a_parent_page_lists_its_descendants_posts_newest_first(app, client, world):
    # Primary or further, at any depth below; not a sibling's.
    assert titles(client.get("/category/world/")) == ["Silk road", "Paris spring", "World summit"]
    assert titles(client.get("/category/world/europe/")) == ["Silk road", "Paris spring"]
    assert titles(client.get("/category/world/europe/france/")) == ["Paris spring"]
    assert titles(client.get("/category/asia/")) == ["Silk road", "Tokyo trains"]
    with app.app_context():
        set_settings({"posts_per_page": 2})
        db.session.commit()
    assert titles(client.get("/category/world/")) == ["Silk road", "Paris spring"]
    assert titles(client.get("/category/world/?page=2")) == ["World summit"]
    assert client.get("/category/world/?page=3").status_code == 404


def test_feeds_follow_the_tree(client, world):
    feed = client.get("/category/world/feed.xml").get_data(as_text=True)
    assert feed.count("<item>") == 3 and "Tokyo trains" not in feed
    assert f"<link>{SITE}/category/world/</link>" in feed
    atom = client.get("/category/world/europe/atom.xml").get_data(as_text=True)
    assert "Silk road" in atom and "Paris spring" in atom and "World summit" not in atom
    page = client.get("/category/world/europe/").get_data(as_text=True)
    assert f'href="{SITE}/category/world/europe/feed.xml"' in page  # autodiscovery


def test_the_sitemap_lists_nested_addresses(client, world):
    sitemap = client.get("/sitemap.xml").get_data(as_text=True)
    for path in ("world/", "world/europe/", "world/europe/france/", "asia/"):
        assert f"<loc>{SITE}/category/{path}</loc>" in sitemap
    assert f"<loc>{SITE}/category/europe/</loc>" not in sitemap


# Breadcrumbs and the byline ---------------------------------------------------------------------


def test_breadcrumbs_and_their_json_ld_follow_the_primary_category(app, client, world):
    html = client.get("/paris-spring/").get_data(as_text=True)
    nav = between(html, 'aria-label="Breadcrumb"', "</nav>")
    assert re.findall(r'<a href="([^"]+)">([^<]+)</a>', nav) == [
        ("/category/world/", "World"),
        ("/category/world/europe/", "Europe"),
        ("/category/world/europe/france/", "France"),
    ]
    assert breadcrumbs_of(html) == [
        ("World", f"{SITE}/category/world/"),
        ("Europe", f"{SITE}/category/world/europe/"),
        ("France", f"{SITE}/category/world/europe/france/"),
        ("Paris spring", f"{SITE}/paris-spring/"),
    ]
    assert json_ld_blocks(html)[0]["@type"] == "BlogPosting"
    assert json_ld_blocks(html)[0]["articleSection"] == "France"

    page = client.get("/category/world/europe/").get_data(as_text=True)
    assert '<span aria-current="page">Europe</span>' in page
    assert breadcrumbs_of(page) == [
        ("World", f"{SITE}/category/world/"),
        ("Europe", f"{SITE}/category/world/europe/"),
    ]
    # A post without a category has no trail to show.
    with app.app_context():
        author = db.session.get(User, db.session.scalar(select(Post.author_id).limit(1)))
        save_post(None, PostInput(title="Loose note"), author, Action.PUBLISH)
        db.session.commit()
    loose = client.get("/loose-note/").get_data(as_text=True)
    assert [block["@type"] for block in json_ld_blocks(loose)] == ["BlogPosting"]
    assert 'aria-label="Breadcrumb"' not in loose


def test_the_editor_saves_further_categories_and_the_primary_one_leads(app, client, auth, world):
    auth.login("author")
    form = {
        "title": "Rail across Europe",
        "body": "Trains.",
        "kind": "post",
        "category_id": str(world["europe"]),
        # the primary one again, and a further one: the primary one is not repeated
        "secondary_category_ids": [str(world["europe"]), str(world["asia"])],
        "comments_mode": "default",
        "newsletter": "off",
        "action": "publish",
    }
    response = client.post("/admin/posts/new", data=form)
    assert response.status_code in (302, 303), response.get_data(as_text=True)
    with app.app_context():
        post = db.session.scalar(select(Post).where(Post.title == "Rail across Europe"))
        assert post.category_id == world["europe"]
        assert [c.name for c in post.secondary_categories] == ["Asia"]
        post_id = post.id
    html = client.get(f"/admin/posts/{post_id}/edit").get_data(as_text=True)
    checked = re.findall(r'name="secondary_category_ids" value="(\d+)" checked', html)
    assert checked == [str(world["asia"])]

    article = client.get("/rail-across-europe/").get_data(as_text=True)
    byline = between(article, 'class="byline"', "</p>")
    assert 'in <a class="category" href="/category/world/europe/">Europe</a>' in byline
    assert "Rail across Europe" in titles(client.get("/category/asia/"))  # its further one
    assert "Rail across Europe" in titles(client.get("/category/world/"))  # above its primary

    form["secondary_category_ids"] = ["999999"]
    with app.app_context():
        form["version"] = str(db.session.get(Post, post_id).version)
    refused = client.post(f"/admin/posts/{post_id}/edit", data=form)
    assert refused.status_code in (400, 409, 422)
    assert "no longer exists" in refused.get_data(as_text=True)
    with app.app_context():
        assert [c.name for c in db.session.get(Post, post_id).secondary_categories] == ["Asia"]


# The admin and the service ----------------------------------------------------------------------


def test_a_category_cannot_become_its_own_ancestor(app, client, auth, world):
    auth.login("editor")
    url = f"/admin/categories/{world['world']}"
    base = {"name": "World", "slug": "world", "description": "", "position": "1"}
    for parent, message in [
        (world["france"], "“France” is inside this category"),
        (world["world"], "A category cannot be its own parent."),
    ]:
        data = {**base, "parent_id": str(parent), **shown_by(client, url)}
        response = client.post(url, data=data)
        assert response.status_code == 400
        assert message in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Category, world["world"]).parent_id is None
    # The form offers neither the category nor anything below it.
    html = client.get(url).get_data(as_text=True)
    select_html = between(html, 'name="parent_id"', "</select>")
    assert f'value="{world["asia"]}"' in select_html
    assert f'value="{world["europe"]}"' not in select_html
    assert f'value="{world["world"]}"' not in select_html


def test_depth_is_limited(app, world):
    with app.app_context():
        parent = world["france"]  # the third level
        for level in range(4, MAX_DEPTH + 1):
            parent = taxonomy.create_category(f"Level {level}", parent_id=parent).id
        japan = taxonomy.create_category("Japan", parent_id=world["asia"])
        db.session.commit()
        with pytest.raises(TaxonomyError, match=f"at most {MAX_DEPTH} levels") as caught:
            taxonomy.create_category("Too deep", parent_id=parent)
        assert caught.value.field == "parent_id"
        db.session.rollback()
        # A move counts everything below the category: Europe's branch has 9 levels.
        europe = db.session.get(Category, world["europe"])
        with pytest.raises(TaxonomyError, match="levels"):
            taxonomy.set_parent(europe, db.session.get(Category, japan.id))
        db.session.rollback()
        taxonomy.set_parent(europe, db.session.get(Category, world["asia"]))  # 1 + 9 levels


def test_the_admin_moves_a_category_and_deleting_one_moves_its_children_up(
    app, client, auth, world
):
    auth.login("editor")
    new = client.post(
        "/admin/categories/",
        data={"name": "Japan", "description": "", "parent_id": str(world["asia"])},
    )
    assert new.status_code == 303
    listing = client.get("/admin/categories/").get_data(as_text=True)
    assert "(in Asia)</span>" in listing and "(in World)</span>" in listing
    assert client.get("/category/asia/japan/").status_code == 200

    delete_url = f"/admin/categories/{world['europe']}/delete"
    page = client.get(delete_url).get_data(as_text=True)
    assert "(France) will move up to" in page and "“World”" in page
    assert client.post(delete_url, data={"move_to": str(world["world"])}).status_code == 303
    with app.app_context():
        assert db.session.get(Category, world["france"]).parent_id == world["world"]
        silk = db.session.scalar(select(Post).where(Post.title == "Silk road"))
        assert [c.id for c in silk.secondary_categories] == [world["world"]]  # moved, not lost
    assert client.get("/category/world/france/").status_code == 200


def test_merging_into_a_posts_further_category_does_not_list_it_twice(app, users, world):
    with app.app_context():
        silk = db.session.scalar(select(Post).where(Post.title == "Silk road"))
        asia = db.session.get(Category, world["asia"])
        europe = db.session.get(Category, world["europe"])
        taxonomy.merge_categories(asia, europe)  # Silk road: primary Asia, further Europe
        db.session.commit()
        silk = db.session.get(Post, silk.id)
        assert silk.category_id == world["europe"] and silk.secondary_categories == []


# The cache, backups and the export ----------------------------------------------------------------


def test_cached_pages_are_fresh_after_re_parenting(app, client, auth, users, world):
    reader = app.test_client()
    for url in ("/category/world/", "/paris-spring/"):
        reader.get(url)
        assert reader.get(url).headers["X-Cache"] == "HIT", url
    auth.login("editor")
    url = f"/admin/categories/{world['europe']}"
    data = {"name": "Europe", "slug": "europe", "description": "", "position": "2",
            "parent_id": "", **shown_by(client, url)}  # fmt: skip
    assert client.post(url, data=data).status_code == 303  # Europe to the top level

    page = reader.get("/category/world/")
    assert page.headers["X-Cache"] == "MISS"
    assert titles(page) == ["World summit"]
    article = reader.get("/paris-spring/").get_data(as_text=True)
    trail = between(article, 'aria-label="Breadcrumb"', "</nav>")
    assert re.findall(r'href="([^"]+)"', trail) == ["/category/europe/", "/category/europe/france/"]
    moved = reader.get("/category/world/europe/")
    assert moved.status_code == 301 and moved.headers["Location"] == "/category/europe/"


def test_backup_restore_and_json_export_keep_parents_and_further_categories(
    app,
    users,
    world,
    fresh_app,  # noqa: F811 (the fixture imported above)
    tmp_path,
):
    with app.app_context():
        # A parent newer than its child: the restore cannot insert rows in id order alone.
        newer = taxonomy.create_category("Planet")
        taxonomy.set_parent(db.session.get(Category, world["world"]), newer)
        db.session.commit()
        expected_parents = dict(db.session.execute(select(Category.slug, Category.parent_id)).all())
        expected_further = sorted(db.session.execute(select(post_category)).all())
    assert len(expected_further) == 1

    archive = tmp_path / "site.tar.gz"
    result = app.test_cli_runner().invoke(args=["backup", str(archive)])
    assert result.exit_code == 0, result.output
    with tarfile.open(archive) as opened:
        assert "database/post_category.jsonl" in opened.getnames()
    target = fresh_app(with_schema=True)  # an empty blog with the models' tables
    result = target.test_cli_runner().invoke(args=["restore", str(archive)])
    assert result.exit_code == 0, result.output
    with target.app_context():
        assert dict(db.session.execute(select(Category.slug, Category.parent_id)).all()) == (
            expected_parents
        )
        assert sorted(db.session.execute(select(post_category)).all()) == expected_further
    restored = target.test_client()
    assert restored.get("/category/planet/world/europe/").status_code == 200
    assert titles(restored.get("/category/planet/world/europe/")) == ["Silk road", "Paris spring"]

    out = tmp_path / "export.json"
    assert app.test_cli_runner().invoke(args=["export", "json", str(out)]).exit_code == 0
    document = json.loads(out.read_text(encoding="utf-8"))
    by_slug = {row["slug"]: row for row in document["categories"]}
    assert by_slug["europe"]["parent_id"] == by_slug["world"]["id"]
    assert by_slug["world"]["parent_id"] == by_slug["planet"]["id"]
    assert by_slug["asia"]["parent_id"] is None
    silk = next(row for row in document["posts"] if row["title"] == "Silk road")
    assert silk["category_id"] == by_slug["asia"]["id"]
    assert silk["secondary_category_ids"] == [by_slug["europe"]["id"]]


def test_old_single_category_posts_read_as_before(app, client, users):
    """Data from before the tree: a category, a post with only `category_id`, no other rows."""
    with app.app_context():
        news = Category(name="News", slug="news")
        db.session.add(news)
        db.session.flush()
        author = db.session.get(User, users["author"]["id"])
        save_post(None, PostInput(title="Plain", category_id=news.id), author, Action.PUBLISH)
        db.session.commit()
    assert titles(client.get("/category/news/")) == ["Plain"]
    html = client.get("/plain/").get_data(as_text=True)
    assert breadcrumbs_of(html) == [("News", f"{SITE}/category/news/"), ("Plain", f"{SITE}/plain/")]
    response = client.post("/login", data={"email": users["author"]["email"], "password": PASSWORD})
    assert response.status_code == 302


def test_the_menu_marks_the_branch_the_page_is_in(client, world):
    for url in ("/category/world/europe/france/", "/paris-spring/"):
        menu = between(client.get(url).get_data(as_text=True), 'class="site-nav"', "</nav>")
        assert re.findall(r'<a href="([^"]+)" aria-current="page">', menu) == ["/category/world/"]


def test_a_hostile_category_name_stays_text_in_the_trail_and_its_json_ld(app, client, users):
    name = 'Break </script><script>alert("x")</script> & <!-- out'
    with app.app_context():
        parent = taxonomy.create_category(name)
        child = taxonomy.create_category("Child", parent_id=parent.id)
        publish(users, "Quiet story", child.id)
        db.session.commit()
        path = f"/category/{parent.slug}/child/"
    for url in (path, "/quiet-story/"):
        html = client.get(url).get_data(as_text=True)
        assert breadcrumbs_of(html)[0][0] == name
        raw_blocks = re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
        assert all("</script" not in block.lower() and "<!--" not in block for block in raw_blocks)
        assert "<script>alert" not in html
        trail = between(html, 'aria-label="Breadcrumb"', "</nav>")
        assert "Break &lt;/script&gt;&lt;script&gt;alert(&#34;x&#34;)" in trail

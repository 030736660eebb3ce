"""Every page runs a small, fixed number of SQL statements, however many posts the site has.

Counted with the page cache off (PAGE_CACHE_BYTES=0), on a site of 5 posts and then of 60: the
counts must be equal. "Cold" is the first request after a change (nothing remembered for the
site's version yet: counts and the like are read again); "warm" is the next one.
"""

from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, select

from blog import comments, generation, taxonomy
from blog.extensions import db
from blog.models import Category, Comment, CommentStatus, Media, Post, User
from blog.posts import Action, PostInput, save_post
from blog.settings import set_settings
from tests.conftest import PASSWORD

WHEN = datetime(2024, 3, 1, 9, 0)  # every post in March 2024, an hour apart

# The most statements each page may run, cold. The list pages: settings, the menu (categories,
# static pages), the site version, the next scheduled time, the count, the page's posts, plus
# the section's own row; the article: the post (with its author and the author's photo) and its
# tags, the two neighbours, related posts (one query by category, one by tags). The category
# tree (menu, addresses, breadcrumbs) is one query, remembered until the site changes.
LIMITS = {
    "home": 7,
    "article": 11,  # with the approved comments' threads; cold, the site version and the tree
    "category, page 1": 8,
    "category, last page": 8,
    "tag": 10,
    "author": 8,
    "archive index": 6,
    "archive month": 7,
    # On PostgreSQL a search first asks the planner how many posts match (EXPLAIN), and one
    # read through the GIN index turns plain index scans off and on again around it; cold,
    # the post count that sizes its window (blog.search). The menu's pages are remembered.
    "search": 11,
    "feed": 8,
    "comment feed, post": 3,  # the post, its comments, the settings
    "comment feed, site": 2,  # the settings, the comments with their posts
    "sitemap": 7,  # the categories' paths come from the tree (their pages list sub-categories')
    # The newest edit time (keys the remembered count), comments waiting, the page's likes and
    # boosts from the fediverse (one grouped query).
    "admin post list": 13,
}


@pytest.fixture
def quiet_app(make_app, users):
    return make_app(PAGE_CACHE_BYTES=0)


def add_posts(app, users, count: int, start: int) -> None:
    with app.app_context():
        author = db.session.get(User, users["author"]["id"])
        category = db.session.query(Category).filter_by(slug="news").one_or_none()
        if category is None:
            category = Category(name="News", slug="news")
            image = Media(filename="b" * 32 + ".jpg", content_type="image/jpeg", width=800,
                          height=600, size_bytes=1000, variants=[])  # fmt: skip
            db.session.add_all([category, image])
            db.session.flush()
            author.avatar_media_id = image.id  # the article's author box shows a photo
        image = db.session.query(Media).first()
        for number in range(start, start + count):
            data = PostInput(
                title=f"Story {number}",
                body_md=f"The harbour story number {number}.",
                category_id=category.id,
                tags=f"common, group {number % 3}",
                featured_media_id=image.id if number % 2 else None,
            )
            post = save_post(None, data, author, Action.PUBLISH)
            post.published_at = WHEN + timedelta(hours=number)
            add_comments(post, number % 4)  # listing pages show each card's count
        db.session.commit()


def add_comments(post: Post, approved: int) -> None:
    """`approved` comments shown on the post (the first with a reply) and one held back."""
    db.session.flush()
    for index in range(approved + 1):
        status = CommentStatus.APPROVED if index < approved else CommentStatus.PENDING
        db.session.add(
            Comment(post_id=post.id, author_name=f"Reader {index}", body_md="Well said.",
                    body_html="<p>Well said.</p>", status=status)
        )  # fmt: skip
    db.session.flush()
    if approved > 1:
        first, reply = db.session.scalars(
            select(Comment).where(Comment.post_id == post.id).order_by(Comment.id).limit(2)
        )
        reply.thread_id = reply.reply_to_id = first.id
    comments.recount(post.id)


def urls(post_count: int) -> dict[str, str]:
    last_page = (post_count - 1) // 10 + 1
    return {
        "home": "/",
        "article": "/story-2/",
        "category, page 1": "/category/news/",
        "category, last page": f"/category/news/?page={last_page}",
        "tag": "/tag/common/",
        "author": "/author/ann-author/",
        "archive index": "/archive/",
        "archive month": "/archive/2024/3/",
        "search": "/search?q=harbour",
        "feed": "/feed.xml",
        "comment feed, post": "/story-2/comments/atom.xml",
        "comment feed, site": "/comments/atom.xml",
        "sitemap": "/sitemap.xml",
        "admin post list": "/admin/posts/",
    }


def count(app, client, url: str) -> int:
    statements = []
    with app.app_context():
        engine = db.engine

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        response = client.get(url)
        assert response.status_code == 200, url
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return len(statements)


def measure(app, users, post_count: int) -> dict[str, tuple[int, int]]:
    reader = app.test_client()
    admin = app.test_client()
    admin.post("/login", data={"email": users["admin"]["email"], "password": PASSWORD})
    reader.get("/")  # the first request of a process also checks that the site has a user
    counts = {}
    for name, url in urls(post_count).items():
        client = admin if name.startswith("admin") else reader
        with app.app_context():
            generation.bump()  # a change: nothing is remembered for the new version
            db.session.commit()
        cold = count(app, client, url)
        counts[name] = (cold, count(app, client, url))
    return counts


def test_every_page_costs_the_same_at_5_and_at_60_posts(quiet_app, users):
    add_posts(quiet_app, users, 5, start=0)
    small = measure(quiet_app, users, 5)
    add_posts(quiet_app, users, 55, start=5)
    large = measure(quiet_app, users, 60)
    article = quiet_app.test_client().get(urls(60)["article"]).data.decode()
    assert 'class="avatar"' in article  # what the article's count covers is on the page
    assert article.count('class="related-title"') == 3
    home = quiet_app.test_client().get("/").get_data(as_text=True)
    assert "3 comments</a>" in home and "1 comment</a>" in home  # the counts are on the cards
    assert "Reader 2" in quiet_app.test_client().get("/story-3/").get_data(as_text=True)
    report = "\n".join(f"{name:20} cold/warm {small[name]} {large[name]}" for name in small)
    print("\nstatements per request (5 posts, 60 posts):\n" + report)
    assert small == large, report
    for name, (cold, warm) in large.items():
        assert cold <= LIMITS[name], f"{name}: {cold} statements\n{report}"
        assert warm <= cold, name


def test_logos_and_menus_cost_at_most_one_statement(quiet_app, users):
    """Both logos are read in one query; a header menu is a setting, read with the others."""
    add_posts(quiet_app, users, 5, start=0)
    plain = measure(quiet_app, users, 5)
    with quiet_app.app_context():
        image = db.session.query(Media).first()
        set_settings(
            {
                "logo_media_id": image.id,
                "logo_dark_media_id": image.id,
                "header_menu": [{"label": "News", "url": "/category/news/", "children": []}],
                "accent_light": "#1a5fb4",
            }
        )
        db.session.commit()
    designed = measure(quiet_app, users, 5)
    for name, (cold, warm) in plain.items():
        if name.startswith("admin"):
            continue
        assert designed[name][0] <= cold + 1, (name, plain[name], designed[name])
        assert designed[name][1] <= warm + 1, (name, plain[name], designed[name])


def pin_the_first_story(app) -> None:
    with app.app_context():
        db.session.query(Post).filter_by(title="Story 0").one().pinned = True
        db.session.commit()


def test_the_home_page_with_a_pinned_post_costs_the_same_at_5_and_at_60_posts(quiet_app, users):
    add_posts(quiet_app, users, 5, start=0)
    pin_the_first_story(quiet_app)
    small = measure(quiet_app, users, 5)["home"]
    add_posts(quiet_app, users, 55, start=5)
    large = measure(quiet_app, users, 60)["home"]
    print(f"\nhome with a pinned post, cold/warm: {small} (5 posts), {large} (60 posts)")
    assert small == large
    cold, warm = large
    assert cold <= LIMITS["home"] + 1  # the pinned post's own row
    assert warm <= cold
    page = quiet_app.test_client().get("/").get_data(as_text=True)
    assert page.index("Story 0") < page.index("Story 59")


def add_tree_posts(app, users, count: int, start: int) -> None:
    """World > Europe > France: posts in France (primary) and, every third one, also in a
    category outside the tree that lists them as a further one."""
    with app.app_context():
        found = db.session.query(Category).filter_by(slug="france").one_or_none()
        if found is None:
            world = taxonomy.create_category("World")
            europe = taxonomy.create_category("Europe", parent_id=world.id)
            found = taxonomy.create_category("France", parent_id=europe.id)
            taxonomy.create_category("Travel")
        travel = db.session.query(Category).filter_by(slug="travel").one()
        author = db.session.get(User, users["author"]["id"])
        for number in range(start, start + count):
            data = PostInput(
                title=f"Dispatch {number}",
                body_md=f"From Paris, number {number}.",
                category_id=found.id,
                secondary_category_ids=[travel.id] if number % 3 == 0 else [],
            )
            post = save_post(None, data, author, Action.PUBLISH)
            post.published_at = WHEN + timedelta(hours=number)
        db.session.commit()


def test_category_pages_cost_the_same_at_any_depth_and_size(quiet_app, users):
    """A parent's page reads its descendants' posts (primary or further) in the same few
    statements as a flat category's: the tree is one remembered query."""
    reader = quiet_app.test_client()
    reader.get("/")
    pages = {
        "top of the tree": "/category/world/",
        "third level": "/category/world/europe/france/",
        "further category": "/category/travel/",
        "feed of the top": "/category/world/feed.xml",
    }

    def measure_tree(post_count: int) -> dict[str, tuple[int, int]]:
        last = (post_count - 1) // 10 + 1
        urls = {**pages, "top, last page": f"/category/world/?page={last}"}
        counts = {}
        for name, url in urls.items():
            with quiet_app.app_context():
                generation.bump()
                db.session.commit()
            counts[name] = (count(quiet_app, reader, url), count(quiet_app, reader, url))
        return counts

    add_tree_posts(quiet_app, users, 5, start=0)
    small = measure_tree(5)
    add_tree_posts(quiet_app, users, 55, start=5)
    large = measure_tree(60)
    report = "\n".join(f"{name:20} cold/warm {small[name]} {large[name]}" for name in small)
    print("\nstatements per request in a tree (5 posts, 60 posts):\n" + report)
    assert small == large, report
    for name, (cold, warm) in large.items():
        limit = LIMITS["feed"] if "feed" in name else LIMITS["category, page 1"]
        assert cold <= limit, f"{name}: {cold} statements\n{report}"
        assert warm <= cold, name
    top = reader.get("/category/world/").get_data(as_text=True)
    assert "Dispatch 59" in top and 'href="/category/world/europe/france/"' in top

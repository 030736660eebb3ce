"""Reader pages: every page type, pagination, redirects, 404s, HTTP validators."""

import re
from datetime import timedelta
from urllib.parse import quote

import pytest
from sqlalchemy import select

from blog.accounts import set_active
from blog.extensions import db
from blog.models import Category, Post, PostKind, User, utcnow
from blog.posts import Action, PostInput, save_post, trash
from tests.conftest import shown_by


@pytest.fixture
def site(app, users):
    """Two categories, published posts, a page, a draft, a scheduled and a trashed post."""
    with app.app_context():
        author = db.session.get(User, users["author"]["id"])
        other = db.session.get(User, users["other_author"]["id"])
        news = Category(name="News", slug="news", description="What happened today.")
        world = Category(name="World", slug="world")
        db.session.add_all([news, world])
        db.session.flush()

        def publish(title, category=None, tags="", who=author, kind=PostKind.POST, **extra):
            data = PostInput(title=title, body_md=f"Text of {title}.", tags=tags, kind=kind,
                             category_id=category.id if category else None)  # fmt: skip
            return save_post(None, data, who, action=Action.PUBLISH, **extra)

        posts = [publish(f"News story {n}", news, tags="harbour") for n in range(1, 13)]
        for number, post in enumerate(posts):  # distinct, increasing publication times
            post.published_at = utcnow() - timedelta(days=40 - number)
        publish("World report", world, tags="harbour, weather", who=other)
        publish("About us", kind=PostKind.PAGE)
        save_post(None, PostInput(title="Secret draft", body_md="x"), author)
        future = utcnow() + timedelta(days=2)
        save_post(None, PostInput(title="Future piece"), author, Action.SCHEDULE, future)
        trash(publish("Binned story", news))
        save_post(None, PostInput(title="Draft of a leaver", body_md="x"), other)
        db.session.commit()
    return app


def titles(response) -> str:
    return response.data.decode()


def test_home_lists_latest_posts_with_cards_and_pages(client, site):
    home = titles(client.get("/"))
    assert "World report" in home and "News story 12" in home
    assert "Secret draft" not in home and "Future piece" not in home and "Binned story" not in home
    assert 'href="/about-us/">About us</a></h2>' not in home  # pages are not in the stream
    assert 'rel="next" href="/?page=2"' in home
    second = titles(client.get("/?page=2"))
    assert "News story 1</a>" in second
    assert 'rel="prev" href="/?page=1"' in second


@pytest.mark.parametrize("page", ["0", "-1", "abc", "99", "1.5", "9999999"])
def test_pagination_boundaries_are_404(client, site, page):
    assert client.get(f"/?page={page}").status_code == 404
    assert client.get(f"/category/news/?page={page}").status_code == 404


def test_article_page_has_everything_in_order(client, site):
    html = titles(client.get("/news-story-5/"))
    order = [
        'class="site-title"',
        'class="kicker breadcrumbs" aria-label="Breadcrumb"',
        '<li><a href="/category/news/">News</a></li>',
        'class="article-title">News story 5</h1>',
        'class="byline"',
        'href="/author/ann-author/"',
        'in <a class="category" href="/category/news/">News</a>',
        "<time datetime=",
        "min read",
        '<div class="article-body">',
        "<p>Text of News story 5.</p>",
        'href="/tag/harbour/"',
        'class="share"',
        'class="author-box"',
        "Related",
        'rel="prev" href="/news-story-4/"',
        'rel="next" href="/news-story-6/"',
        '<footer class="site-footer">',
    ]
    position = 0
    for marker in order:  # each part comes after the one before
        position = html.index(marker, position) + len(marker)
    article = html[html.index("<article") : html.index("</article>")]
    # the primary category twice: the breadcrumb above the title, and the byline
    assert article.count('href="/category/news/"') == 2


def related_titles(html: str) -> list[str]:
    start = html.index('class="related"')
    section = html[start : html.index("</section>", start)]
    return re.findall(r'class="related-title"><a href="[^"]+">([^<]+)</a>', section)


def test_related_posts_share_the_category_or_a_tag_newest_first(app, client, site, users):
    # "World report" shares the tag "harbour" with the News stories, not their category.
    assert related_titles(titles(client.get("/world-report/"))) == [
        "News story 12", "News story 11", "News story 10"]  # fmt: skip
    assert related_titles(titles(client.get("/news-story-3/"))) == [
        "World report", "News story 12", "News story 11"]  # fmt: skip
    with app.app_context():  # a newer post in the category with no shared tag comes first
        author = db.session.get(User, users["author"]["id"])
        news = db.session.scalar(select(Category).filter_by(slug="news"))
        save_post(None, PostInput(title="Latest news", category_id=news.id), author,
                  action=Action.PUBLISH)  # fmt: skip
        db.session.commit()
    assert related_titles(titles(client.get("/news-story-3/")))[0] == "Latest news"
    assert "Related" not in titles(client.get("/about-us/"))  # pages have none


def test_share_links_are_plain_links_to_the_article(client, site):
    html = titles(client.get("/news-story-5/"))
    share = html[html.index('class="share"') : html.index("</ul>", html.index('class="share"'))]
    links = re.findall(r'href="([^"]+)"', share)
    assert len(links) >= 3
    address = quote("http://blog.test/news-story-5/", safe="")
    assert all(address in link for link in links), links
    assert any(link.startswith("mailto:?") for link in links)
    scripts = re.findall(r"<script[^>]*>", html)
    # data only, nothing runs: the article's BlogPosting and its category's BreadcrumbList
    assert scripts == ['<script type="application/ld+json">'] * 2
    assert "<iframe" not in html


def test_the_author_box_shows_name_bio_photo_and_a_link(app, client, site, users):
    with app.app_context():
        author = db.session.get(User, users["author"]["id"])
        author.bio = "Ann covers the harbour."
        db.session.commit()
    html = titles(client.get("/news-story-5/"))
    start = html.index('class="author-box"')
    box = html[start : html.index("</aside>", start)]
    assert "Ann covers the harbour." in box
    assert 'href="/author/ann-author/"' in box and "Ann Author" in box
    assert "<img" not in box  # no photo uploaded yet


def test_category_tag_author_and_archive_pages(client, site):
    category = titles(client.get("/category/news/"))
    assert "What happened today." in category and "News story 12" in category
    assert "World report" not in category
    tag = titles(client.get("/tag/weather/"))
    assert "World report" in tag and "News story" not in tag
    author = titles(client.get("/author/otto-other/"))
    assert "World report" in author and "News story" not in author
    now = utcnow()
    month = titles(client.get(f"/archive/{now.year}/{now.month}/"))
    assert "World report" in month
    assert titles(client.get(f"/archive/{now.year}/")).count('<article class="card') >= 1
    archive = titles(client.get("/archive/"))
    assert f'href="/archive/{now.year}/{now.month}/"' in archive


@pytest.mark.parametrize(
    "path",
    [
        "/category/nope/",
        "/tag/nope/",
        "/author/nope/",
        "/archive/2020/13/",
        "/archive/0/",
        "/no-such-post/",
        "/secret-draft/",
        "/future-piece/",
        "/binned-story/",
    ],
)
def test_unknown_and_unpublished_pages_are_friendly_404s(client, site, path):
    response = client.get(path)
    assert response.status_code == 404
    assert b"Page not found" in response.data
    assert b'name="q"' in response.data  # a search box to find the way


def test_static_page_has_its_own_address_and_no_date(client, site):
    html = titles(client.get("/about-us/"))
    assert "About us</h1>" in html
    assert 'class="byline"' not in html
    assert 'href="/about-us/">About us</a>' in titles(client.get("/"))  # in the menu


def test_a_deactivated_authors_drafts_stay_hidden(app, client, site, users):
    with app.app_context():
        set_active(db.session.get(User, users["other_author"]["id"]), False)
        db.session.commit()
    assert client.get("/draft-of-a-leaver/").status_code == 404
    assert client.get("/world-report/").status_code == 200  # published work stays up


def test_slug_change_answers_301(app, client, site, users):
    with app.app_context():
        post = db.session.scalar(select(Post).where(Post.slug == "world-report"))
        editor = db.session.get(User, users["editor"]["id"])
        data = PostInput(title=post.title, body_md=post.body_md, slug="world-news",
                         category_id=post.category_id)  # fmt: skip
        save_post(post, data, editor)
        db.session.commit()
    response = client.get("/world-report/")
    assert response.status_code == 301
    assert response.headers["Location"] == "/world-news/"


def test_public_pages_answer_304_when_unchanged(client, site):
    first = client.get("/news-story-5/")
    assert first.headers["ETag"]
    assert first.headers["Last-Modified"]
    assert "must-revalidate" in first.headers["Cache-Control"]
    again = client.get("/news-story-5/", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    home = client.get("/")
    assert client.get("/", headers={"If-None-Match": home.headers["ETag"]}).status_code == 304


def test_signed_in_pages_are_private(client, auth, site):
    auth.login("author")
    response = client.get("/news-story-5/")
    assert "private" in response.headers["Cache-Control"]


def test_static_files_are_fingerprinted_and_cached_long(client, site):
    html = titles(client.get("/"))
    href = html.split('rel="stylesheet" href="')[1].split('"')[0]
    assert href.startswith("/static/css/site.min.css?v=")
    with client.get(href) as response:
        assert response.status_code == 200
        assert "immutable" in response.headers["Cache-Control"]
        assert "max-age=31536000" in response.headers["Cache-Control"]


def test_banner_appears_only_when_set(app, client, site):
    from blog.models import Media
    from blog.settings import set_settings

    assert b"site-banner" not in client.get("/").data
    with app.app_context():
        media = Media(filename="a" * 32 + ".png", content_type="image/png", width=1200,
                      height=200, size_bytes=10, variants=[])  # fmt: skip
        db.session.add(media)
        db.session.flush()
        set_settings({"banner_media_id": media.id, "banner_link": "https://example.org/offer",
                      "banner_alt": "Spring offer"})  # fmt: skip
        db.session.commit()
    html = titles(client.get("/news-story-5/"))
    assert '<a href="https://example.org/offer">' in html and 'alt="Spring offer"' in html
    assert html.index("site-banner") < html.index("article-title")


def test_admin_settings_page_changes_the_site(client, auth, site):
    auth.login("admin")
    form = {"site_title": "Harbour Times", "tagline": "News from the quay",
            "posts_per_page": "5", "timezone": "Europe/Paris", "banner_link": "",
            "banner_alt": "", "footer_text": "Printed on recycled pixels",
            "comment_moderation": "all", "comments_close_days": "0", "comment_max_links": "1",
            "comment_blocklist": "casino\n@spam.example"}  # fmt: skip
    form.update(shown_by(client, "/admin/settings"))
    assert client.post("/admin/settings", data=form).status_code == 302
    home = titles(client.get("/"))
    assert "Harbour Times" in home and "News from the quay" in home
    assert "Printed on recycled pixels" in home
    assert home.count('<article class="card') == 5
    with client.application.app_context():
        from blog.settings import get_settings

        stored = get_settings()
    assert (stored["comment_moderation"], stored["comments_close_days"]) == ("all", 0)
    assert stored["comment_max_links"] == 1
    assert stored["comment_blocklist"] == "casino\n@spam.example"
    bad = client.post("/admin/settings", data={**form, "banner_link": "javascript:alert(1)"})
    assert bad.status_code == 400 and b"Use an http" in bad.data
    auth.logout()
    auth.login("editor")
    assert client.get("/admin/settings").status_code == 403


def test_the_code_colours_load_only_for_an_article_with_code(app, client, site, users):
    assert "pygments.css" not in titles(client.get("/news-story-5/"))
    with app.app_context():
        author = db.session.get(User, users["author"]["id"])
        code = PostInput(title="Code", body_md="```python\nprint('ahoy')\n```")
        save_post(None, code, author, action=Action.PUBLISH)
        db.session.commit()
    assert "pygments.css" in titles(client.get("/code/"))


def test_a_page_reached_directly_lists_what_walking_older_links_lists(make_app, users):
    """A page reached first (no earlier page served in this process) is read from the nearer
    end of the list; it must show the same posts, in the same order, as the walk from page 1,
    with publication times shared by several posts."""
    app = make_app()
    with app.app_context():
        author = db.session.get(User, users["author"]["id"])
        tides = Category(name="Tides", slug="tides")
        db.session.add(tides)
        db.session.flush()
        moment = utcnow() - timedelta(days=5)
        for number in range(1, 28):
            data = PostInput(title=f"Tide note {number:02}", body_md="x", category_id=tides.id)
            post = save_post(None, data, author, action=Action.PUBLISH)
            post.published_at = moment + timedelta(hours=number // 3)  # three at a time
        trash(save_post(None, PostInput(title="Tide note binned", category_id=tides.id), author))
        db.session.commit()

    def listed(client, number: int) -> list[str]:
        page = client.get(f"/category/tides/?page={number}").get_data(as_text=True)
        return list(dict.fromkeys(re.findall(r"Tide note \w+", page)))

    walker = app.test_client()
    walked = [listed(walker, number) for number in (1, 2, 3)]
    assert [len(page) for page in walked] == [10, 10, 7]
    assert sorted(sum(walked, [])) == [f"Tide note {number:02}" for number in range(1, 28)]
    for number in (3, 2, 1):
        assert listed(make_app().test_client(), number) == walked[number - 1], number

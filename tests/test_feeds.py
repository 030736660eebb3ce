"""Feeds, sitemap, robots.txt and <head> metadata: valid XML, absolute URLs, public posts only."""

import json
import re
import xml.etree.ElementTree as ET
from datetime import timedelta
from html.parser import HTMLParser

import feedparser
import pytest
from flask import render_template_string
from sqlalchemy import event, select

from blog.extensions import db
from blog.models import Category, Media, Post, PostKind, Tag, User, utcnow
from blog.posts import Action, PostInput, save_post, trash
from blog.public.feeds import rfc3339
from blog.settings import set_settings
from blog.urls import absolutize_html, absolutize_srcset

SITE = "http://blog.test"
SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
FEED_PATHS = {"rss": "feed.xml", "atom": "atom.xml"}
CONTENT_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
}
BODY = (
    "See [the middle one](/middle/), [a friend](https://example.org/) and [mail](mailto:a@b.c).\n\n"
    "![A shell](/media/shell.jpg)\n\n"
    '<img src="pics/sand.png" alt="Sand">\n\n'
    "Back to [the top](#top), with a note.[^1]\n\n"
    "[^1]: The note."
)


# Writing a small site -------------------------------------------------------------------------


def write(app, users, title, *, who="author", action=Action.PUBLISH, hours_ago=0, **fields) -> int:
    """Save a post through the real save path; published posts go out `hours_ago` hours ago."""
    with app.app_context():
        editor = db.session.get(User, users[who]["id"])
        publish_at = utcnow() + timedelta(days=1) if action == Action.SCHEDULE else None
        post = save_post(None, PostInput(title=title, **fields), editor, action, publish_at)
        if action == Action.PUBLISH:
            post.published_at = utcnow() - timedelta(hours=hours_ago)
        db.session.commit()
        return post.id


def add_category(app, name: str, slug: str) -> int:
    with app.app_context():
        category = Category(name=name, slug=slug)
        db.session.add(category)
        db.session.commit()
        return category.id


def add_image(app, users) -> int:
    with app.app_context():
        media = Media(
            filename="beach.jpg",
            content_type="image/jpeg",
            width=1600,
            height=900,
            size_bytes=123456,
            variants=[
                {"width": 480, "height": 270, "filename": "beach-480.jpg", "size_bytes": 9000},
                {"width": 1280, "height": 720, "filename": "beach-1280.jpg", "size_bytes": 60000},
            ],
            alt_text="A sunny beach",
            uploader_id=users["author"]["id"],
        )
        db.session.add(media)
        db.session.commit()
        return media.id


@pytest.fixture
def site(app, users):
    """Three public posts in two categories, plus a draft, a scheduled, a trashed post, a page."""
    travel = add_category(app, "Travel", "travel")
    food = add_category(app, "Food", "food")
    add_category(app, "Empty", "empty")
    image = add_image(app, users)
    write(app, users, "Oldest", hours_ago=3, category_id=travel, tags="sea, sun")
    write(app, users, "Middle", hours_ago=2, category_id=food, tags="sun", who="other_author")
    write(
        app, users, "Newest", hours_ago=1, category_id=travel, tags="sea",
        body_md=BODY, featured_media_id=image, featured_alt="The beach at noon",
    )  # fmt: skip
    write(app, users, "A draft", action=Action.SAVE, category_id=travel, tags="sea")
    write(app, users, "Scheduled", action=Action.SCHEDULE, category_id=travel, tags="sea")
    trashed = write(app, users, "Trashed", hours_ago=1, category_id=travel, tags="sea")
    write(app, users, "About", kind=PostKind.PAGE)
    with app.app_context():
        trash(db.session.get(Post, trashed))
        db.session.commit()
    return app


def fetch_feed(client, path: str):
    response = client.get(path)
    assert response.status_code == 200, path
    # Neither sanitising nor resolving relative URLs: the feed must stand on its own.
    parsed = feedparser.parse(response.data, sanitize_html=False, resolve_relative_uris=False)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return response, parsed


class _UrlCollector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src"):
                self.urls.append(value)
            elif name == "srcset":
                self.urls += [part.split()[0] for part in value.split(",")]


def urls_in(html: str) -> list[str]:
    collector = _UrlCollector()
    collector.feed(html)
    return collector.urls


# Feeds ----------------------------------------------------------------------------------------


def test_site_feeds_list_public_posts_newest_first(site, client):
    for kind, name in FEED_PATHS.items():
        response, feed = fetch_feed(client, f"/{name}")
        assert response.headers["Content-Type"] == CONTENT_TYPES[kind]
        # Not the draft, the scheduled or the trashed post, nor the page.
        assert [entry.title for entry in feed.entries] == ["Newest", "Middle", "Oldest"]
        assert feed.feed.title == "My Blog"
        assert [link.href for link in feed.feed.links if link.rel == "self"] == [f"{SITE}/{name}"]
        newest = feed.entries[0]
        assert newest.link == f"{SITE}/newest/"
        assert newest.id.startswith("tag:blog.test,") and newest.id.endswith(":post-3")
        assert newest.author == "Ann Author"
        assert feed.entries[1].author == "Otto Other"
        assert [tag.term for tag in newest.tags] == ["Travel", "sea"]
        assert newest.published_parsed
        if kind == "atom":
            assert newest.updated_parsed >= newest.published_parsed


def test_entries_carry_full_text_with_absolute_urls(site, client):
    for name in FEED_PATHS.values():
        _, feed = fetch_feed(client, f"/{name}")
        newest = feed.entries[0]
        content = newest.content[0].value
        assert content.startswith(f'<p><img src="{SITE}/media/beach.jpg"')
        assert 'alt="The beach at noon"' in content
        urls = urls_in(content)
        assert f"{SITE}/middle/" in urls
        assert f"{SITE}/newest/#top" in urls and f"{SITE}/newest/#fn-1" in urls
        assert f"{SITE}/newest/pics/sand.png" in urls and f"{SITE}/media/shell.jpg" in urls
        assert "https://example.org/" in urls and "mailto:a@b.c" in urls
        others = [url for url in urls if url not in ("https://example.org/", "mailto:a@b.c")]
        assert others and all(url.startswith(f"{SITE}/") for url in others)
        enclosures = [link for link in newest.links if link.rel == "enclosure"]
        assert [(e.href, e.type, str(e.length)) for e in enclosures] == [
            (f"{SITE}/media/beach.jpg", "image/jpeg", "123456")
        ]
        for entry in feed.entries:
            assert all(link.href.startswith(f"{SITE}/") for link in entry.links)


def test_excerpt_only_when_full_text_is_off(site, client):
    with site.app_context():
        set_settings({"feed_full_text": False})
        db.session.commit()
        summary = db.session.scalar(select(Post.summary).where(Post.slug == "newest"))
    assert "See the middle one" in summary
    for name in FEED_PATHS.values():
        _, feed = fetch_feed(client, f"/{name}")
        assert all("content" not in entry for entry in feed.entries)
        assert feed.entries[0].summary == summary


def test_category_and_tag_feeds(site, client):
    for name in FEED_PATHS.values():
        _, travel = fetch_feed(client, f"/category/travel/{name}")
        # Not the draft, the scheduled or the trashed post of the category.
        assert [entry.title for entry in travel.entries] == ["Newest", "Oldest"]
        assert travel.feed.title == "My Blog: Travel"
        assert [link.href for link in travel.feed.links if link.rel == "self"] == [
            f"{SITE}/category/travel/{name}"
        ]
        _, sun = fetch_feed(client, f"/tag/sun/{name}")
        assert [entry.title for entry in sun.entries] == ["Middle", "Oldest"]
        _, sea = fetch_feed(client, f"/tag/sea/{name}")
        assert [entry.title for entry in sea.entries] == ["Newest", "Oldest"]
        _, empty = fetch_feed(client, f"/category/empty/{name}")
        assert empty.entries == []
        assert client.get(f"/category/nope/{name}").status_code == 404
        assert client.get(f"/tag/nope/{name}").status_code == 404


def test_titles_with_markup_or_control_characters_survive(app, users, client):
    title = """Fish & chips: <b>"bold"</b> isn't </script> 1 < 2"""
    write(app, users, "Bell\x07 and \x01", hours_ago=1, body_md="Form\x0cfeed \x01 here")
    write(app, users, title, body_md="Text with <em>emphasis</em> & more.")
    for name in FEED_PATHS.values():
        response, feed = fetch_feed(client, f"/{name}")
        assert [entry.title for entry in feed.entries] == [title, "Bell and"]
        root = ET.fromstring(response.data)  # our own output, trusted
        titles = [element.text for element in root.iter() if element.tag.endswith("title")]
        assert title in titles


def test_feed_is_capped_and_does_one_query_per_relation(make_app, users):
    app = make_app(PAGE_CACHE_BYTES=0)  # count what rendering the feed costs, not a cache hit
    client = app.test_client()
    categories = [add_category(app, "One", "one"), add_category(app, "Two", "two")]
    image = add_image(app, users)
    write(app, users, "First", hours_ago=30, tags="a", category_id=categories[0])
    client.get("/feed.xml")  # the first request of a process also checks the site has a user
    queries = count_queries(app, lambda: client.get("/feed.xml"))
    for number in range(22):
        write(
            app, users, f"Post {number}", hours_ago=number, tags=f"t{number}, common",
            who=("author", "other_author", "editor")[number % 3],
            category_id=categories[number % 2], featured_media_id=image,
        )  # fmt: skip
    assert count_queries(app, lambda: client.get("/feed.xml")) == queries + 1  # + media
    _, feed = fetch_feed(client, "/feed.xml")
    assert len(feed.entries) == 20
    assert feed.entries[0].title == "Post 0" and feed.entries[-1].title == "Post 19"


def count_queries(app, action) -> int:
    statements = []

    def record(*args):
        statements.append(args[2])

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert action().status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return len(statements)


def test_feed_urls_ignore_the_host_header(site, client):
    for path in ("/feed.xml", "/atom.xml", "/sitemap.xml", "/robots.txt"):
        response = client.get(path, headers={"Host": "evil.example"})
        assert response.status_code == 200
        assert b"evil.example" not in response.data
        assert SITE.encode() in response.data


def test_feeds_answer_conditional_requests(site, client):
    first = client.get("/feed.xml")
    again = client.get("/feed.xml", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


# Sitemap and robots.txt -----------------------------------------------------------------------


def test_sitemap_lists_public_pages_with_their_last_change(site, users, client):
    response = client.get("/sitemap.xml")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/xml; charset=utf-8"
    root = ET.fromstring(response.data)  # our own output, trusted
    entries = {
        url.findtext(f"{SITEMAP_NS}loc"): url.findtext(f"{SITEMAP_NS}lastmod")
        for url in root.iter(f"{SITEMAP_NS}url")
    }
    with site.app_context():
        changed = {
            post.slug: rfc3339(max(post.updated_at, post.published_at))
            for post in db.session.scalars(select(Post).where(Post.published_at.is_not(None)))
        }
        ann = db.session.get(User, users["author"]["id"]).slug
        otto = db.session.get(User, users["other_author"]["id"]).slug
    newest_post = max(changed["newest"], changed["middle"], changed["oldest"])
    assert entries == {
        f"{SITE}/": newest_post,
        f"{SITE}/newest/": changed["newest"],
        f"{SITE}/middle/": changed["middle"],
        f"{SITE}/oldest/": changed["oldest"],
        f"{SITE}/about/": changed["about"],
        f"{SITE}/category/travel/": max(changed["newest"], changed["oldest"]),
        f"{SITE}/category/food/": changed["middle"],
        f"{SITE}/tag/sea/": max(changed["newest"], changed["oldest"]),
        f"{SITE}/tag/sun/": max(changed["middle"], changed["oldest"]),
        f"{SITE}/author/{ann}/": max(changed["newest"], changed["oldest"]),
        f"{SITE}/author/{otto}/": changed["middle"],
    }


def test_robots_txt_allows_all_but_private_pages(app, users, client):
    response = client.get("/robots.txt")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    lines = response.get_data(as_text=True).splitlines()
    assert lines[:2] == ["User-agent: *", "Allow: /"]
    assert {"Disallow: /admin/", "Disallow: /login$", "Disallow: /setup$"} <= set(lines)
    assert f"Sitemap: {SITE}/sitemap.xml" in lines


# <head> metadata ------------------------------------------------------------------------------


class _HeadParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.meta, self.links = {}, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "meta":
            self.meta[attrs.get("property") or attrs.get("name")] = attrs["content"]
        elif tag == "link":
            self.links.append(attrs)


def render_meta(app, slug: str | None = None, path: str = "/", **context):
    with app.test_request_context(path):
        if slug is not None:
            context["post"] = db.session.scalar(select(Post).where(Post.slug == slug))
        html = render_template_string('{% include "public/_meta.html" %}', **context)
    head = _HeadParser()
    head.feed(html)
    return html, head


def json_ld(html: str) -> tuple[str, dict]:
    match = re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    assert match, "no JSON-LD"
    return match.group(1), json.loads(match.group(1))


def test_meta_for_an_article(site):
    html, head = render_meta(site, "newest", path="/newest/")
    assert {"rel": "canonical", "href": f"{SITE}/newest/"} in head.links
    assert head.meta["og:type"] == "article"
    assert head.meta["og:url"] == f"{SITE}/newest/"
    assert head.meta["og:title"] == "Newest"
    assert head.meta["og:description"].startswith("See the middle one")
    assert head.meta["description"] == head.meta["og:description"]
    assert head.meta["og:site_name"] == "My Blog"
    assert head.meta["og:image"] == f"{SITE}/media/beach-1280.jpg"
    assert (head.meta["og:image:width"], head.meta["og:image:height"]) == ("1280", "720")
    assert head.meta["twitter:card"] == "summary_large_image"
    feeds = {(link["type"], link["href"]) for link in head.links if link["rel"] == "alternate"}
    assert feeds == {
        ("application/rss+xml", f"{SITE}/feed.xml"),
        ("application/atom+xml", f"{SITE}/atom.xml"),
        ("application/atom+xml", f"{SITE}/comments/atom.xml"),  # the site's latest comments
        ("application/atom+xml", f"{SITE}/newest/comments/atom.xml"),  # its comments
    }
    _, data = json_ld(html)
    assert data["@type"] == "BlogPosting"
    assert data["headline"] == "Newest"
    assert data["mainEntityOfPage"]["@id"] == f"{SITE}/newest/"
    assert data["author"]["name"] == "Ann Author"
    assert data["author"]["url"].startswith(f"{SITE}/author/")
    assert data["image"] == f"{SITE}/media/beach-1280.jpg"
    assert data["publisher"]["name"] == "My Blog"
    assert data["datePublished"].endswith("Z") and data["dateModified"].endswith("Z")


def test_json_ld_survives_a_script_closing_title(app, users):
    title = 'Break </script><script>alert("x")</script> & <!-- out'
    write(app, users, title, body_md="Body.")
    with app.app_context():
        slug = db.session.scalar(select(Post.slug))
    html, head = render_meta(app, slug)
    raw, data = json_ld(html)
    assert data["headline"] == title
    assert "</script" not in raw.lower() and "<!--" not in raw
    assert html.lower().count("</script>") == 1
    assert head.meta["og:title"] == title
    assert head.meta["twitter:card"] == "summary"


def test_meta_for_other_pages_uses_site_settings_and_the_configured_host(site):
    with site.app_context():
        set_settings({"tagline": "Notes & sketches"})
        db.session.commit()
    with site.app_context():
        tag = db.session.scalar(select(Tag).where(Tag.slug == "sea"))
        html, head = render_meta(site, path="/tag/sea/?page=2&token=secret", tag=tag)
    assert {"rel": "canonical", "href": f"{SITE}/tag/sea/?page=2"} in head.links
    assert head.meta["og:type"] == "website"
    assert head.meta["og:title"] == "sea"
    assert head.meta["description"] == "Notes & sketches"
    assert head.meta["twitter:card"] == "summary"
    assert "application/ld+json" not in html
    feeds = {link["href"] for link in head.links if link["rel"] == "alternate"}
    assert {f"{SITE}/tag/sea/feed.xml", f"{SITE}/tag/sea/atom.xml"} <= feeds


def test_reader_pages_carry_the_metadata(site, client):
    article = client.get("/newest/", headers={"Host": "evil.example"}).get_data(as_text=True)
    assert f'<link rel="canonical" href="{SITE}/newest/">' in article
    assert "application/ld+json" in article and "evil.example" not in article
    travel = client.get("/category/travel/").get_data(as_text=True)
    assert f'<link rel="canonical" href="{SITE}/category/travel/">' in travel
    assert f'href="{SITE}/category/travel/atom.xml"' in travel
    assert '<meta property="og:title" content="Travel">' in travel


def test_error_pages_and_previews_are_not_indexed(site):
    html, head = render_meta(site, path="/missing/", code=404)
    assert head.meta["robots"] == "noindex"
    assert not any(link["rel"] == "canonical" for link in head.links)
    _, head = render_meta(site, "newest", preview=True)
    assert head.meta["robots"] == "noindex"


# absolutize_html ------------------------------------------------------------------------------

BASE = "http://blog.test/a-post/"


def test_absolutize_keeps_everything_else_byte_identical():
    html = (
        '<p>Caf\u00e9 &amp; <a href="/x/?a=1&amp;b=2" title="t&amp;t">x</a>&#160;'
        '<a href="https://e.org/" rel="noopener noreferrer nofollow">e</a></p>\n'
        "<pre><code>&lt;a href=&quot;/no/&quot;&gt;</code></pre>\n"
        '<p><img alt="" src="https://cdn.example/i.png" loading="lazy"></p>'
    )
    expected = html.replace('href="/x/?a=1', 'href="http://blog.test/x/?a=1')
    assert absolutize_html(html, BASE) == expected
    assert absolutize_html(expected, BASE) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("#fn-1", "http://blog.test/a-post/#fn-1"),
        ("/media/p.jpg", "http://blog.test/media/p.jpg"),
        ("img/p.jpg", "http://blog.test/a-post/img/p.jpg"),
        ("../other/", "http://blog.test/other/"),
        ("//cdn.example/x.png", "http://cdn.example/x.png"),
        ("mailto:a@b.c", "mailto:a@b.c"),
        ("https://e.org/?q=1", "https://e.org/?q=1"),
    ],
)
def test_absolutize_resolves_against_the_base(value, expected):
    assert absolutize_html(f'<a href="{value}">x</a>', BASE) == f'<a href="{expected}">x</a>'


def test_absolutize_handles_src_srcset_and_multiline_html():
    html = '<p>one</p>\n<p>two\n<img src="a.png" srcset="a.png 1x, /b,c.png 2x" alt="x&quot;y"></p>'
    assert absolutize_html(html, BASE) == (
        '<p>one</p>\n<p>two\n<img src="http://blog.test/a-post/a.png" '
        'srcset="http://blog.test/a-post/a.png 1x, http://blog.test/b,c.png 2x" '
        'alt="x&quot;y"></p>'
    )
    assert absolutize_srcset("a.jpg 1x,b.jpg 2x", BASE) == (
        "http://blog.test/a-post/a.jpg 1x, http://blog.test/a-post/b.jpg 2x"
    )
    assert absolutize_srcset(" a.jpg, b.jpg 480w ", BASE) == (
        "http://blog.test/a-post/a.jpg, http://blog.test/a-post/b.jpg 480w"
    )
    assert absolutize_srcset("a,b.jpg", BASE) == "http://blog.test/a-post/a,b.jpg"

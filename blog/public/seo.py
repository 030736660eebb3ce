"""What search engines and link previews read: sitemap.xml, robots.txt and the <head> metadata.

`page_meta()` is a template global used by templates/public/_meta.html. It reads from the
template's context:

- `post`: a Post; the page describes it (canonical permalink, summary, featured image, JSON-LD);
- `meta`: a dict overriding any of `title`, `description`, `url` (a path or absolute URL),
  `type` (og:type), `image` (a Media), `noindex`, `feeds` (extra FeedLink items);
- `category` / `tag` / `author`: a listing page's subject gives the title and description; a
  category or tag also adds its feeds for autodiscovery;
- a category's page, and an article with a primary category, also get a schema.org
  BreadcrumbList of the category's trail in the tree (the article's title last), in a JSON-LD
  block of its own after the BlogPosting one;
- `preview` (admin previews) and `code` (error pages): the page is marked noindex.
"""

from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from flask import Response, render_template, request
from jinja2 import pass_context
from sqlalchemy import func, select, union_all

from .. import category_tree, comments, http_caching
from ..extensions import db
from ..models import Category, Media, Post, PostKind, Tag, User, post_category, post_tag
from ..settings import site_settings_for_templates
from ..slugs import shadowing_route
from ..urls import (
    absolute_url,
    author_url,
    listing_url,
    media_absolute_url,
    post_url,
    site_url,
)
from ..visibility import public_clause
from . import bp
from .feeds import rfc3339

DESCRIPTION_LIMIT = 300
SHARE_IMAGE_WIDTH = 1200  # what link previews ask for; the smallest stored size at least this wide
NOINDEX_BLUEPRINTS = frozenset({"auth", "admin"})

# robots.txt: `$` ends a pattern (RFC 9309), so a post slug like /login-tips/ stays crawlable.
ROBOTS_DISALLOW = ("/admin/", "/login$", "/login?", "/setup$", "/setup?")


# sitemap.xml --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SitemapUrl:
    loc: str
    lastmod: datetime | None = None


@bp.get("/sitemap.xml")
def sitemap():
    urls = sitemap_urls()
    http_caching.last_modified(max((url.lastmod for url in urls if url.lastmod), default=None))
    body = render_template("feeds/sitemap.xml", urls=urls, rfc3339=rfc3339)
    return Response(body, content_type="application/xml; charset=utf-8")


def sitemap_urls() -> list[SitemapUrl]:
    """The home page, every public post and page, and the listings that have public posts."""
    posts = _public_posts()
    newest = max((lastmod for _, kind, lastmod, _ in posts if kind == PostKind.POST), default=None)
    urls = [SitemapUrl(absolute_url("public.index"), newest)]
    urls += [
        SitemapUrl(post_path_url(slug), lastmod)
        for slug, _, lastmod, canonical in posts
        if not shadowing_route("post", slug)  # saved before the rule; a route answers there
        and canonical in ("", post_path_url(slug))  # one that names another address defers to it
    ]
    urls += [
        SitemapUrl(listing_url("category", path), lastmod)
        for path, lastmod in _category_listings()
        if not shadowing_route("category", path.rsplit("/", 1)[-1])
    ]
    for kind, model in (("tag", Tag), ("author", User)):
        urls += [
            SitemapUrl(listing_url(kind, slug), lastmod)
            for slug, lastmod in _listings(model)
            if not shadowing_route(model.__tablename__, slug)
        ]
    return urls


def post_path_url(slug: str) -> str:
    return absolute_url("public.post", slug=slug)


def _public_posts() -> list[tuple[str, PostKind, datetime, str]]:
    """(slug, kind, last change, canonical override) of every public post and page, newest
    first, in one query."""
    rows = db.session.execute(
        select(Post.slug, Post.kind, Post.published_at, Post.updated_at, Post.canonical_url)
        .where(public_clause())
        .order_by(Post.published_at.desc(), Post.id.desc())
    )
    return [
        (slug, kind, max(published, updated), canonical)
        for slug, kind, published, updated, canonical in rows
    ]


def _listings(model) -> list[tuple[str, datetime]]:
    """(slug, last change among its public posts) for each category, tag or author with posts.

    A scheduled post is saved before it appears; the later of the two times is when the
    listing changed.
    """
    query = select(model.slug, func.max(Post.published_at), func.max(Post.updated_at))
    if model is Tag:
        query = query.join(post_tag, post_tag.c.tag_id == Tag.id).join(
            Post, Post.id == post_tag.c.post_id
        )
    else:
        query = query.join(Post, _OWNER_COLUMNS[model] == model.id)
    query = (
        query.where(Post.kind == PostKind.POST, public_clause())
        .group_by(model.id, model.slug)
        .order_by(model.slug)
    )
    rows = db.session.execute(query)
    return [(slug, max(published, updated)) for slug, published, updated in rows]


_OWNER_COLUMNS = {Category: Post.category_id, User: Post.author_id}


def _category_listings() -> list[tuple[str, datetime]]:
    """(path, last change) of each category whose page lists public posts: those that are a
    post's primary or further category, and every category above them (their pages list the
    posts of the categories below). One query of two grouped parts, then the tree."""
    published, changed = func.max(Post.published_at), func.max(Post.updated_at)
    public_posts = (Post.kind == PostKind.POST, public_clause())
    primary = (
        select(Post.category_id, published, changed)
        .where(Post.category_id.is_not(None), *public_posts)
        .group_by(Post.category_id)
    )
    further = (
        select(post_category.c.category_id, published, changed)
        .join(Post, Post.id == post_category.c.post_id)
        .where(*public_posts)
        .group_by(post_category.c.category_id)
    )
    tree = category_tree.current()
    latest: dict[int, datetime] = {}
    for category_id, when_published, when_changed in db.session.execute(
        union_all(primary, further)
    ):
        when = max(when_published, when_changed)
        for node in tree.lineage(category_id):
            latest[node.id] = max(latest.get(node.id, when), when)
    return sorted((tree.path(category_id), when) for category_id, when in latest.items())


# robots.txt ---------------------------------------------------------------------------------


@bp.get("/robots.txt")
def robots_txt():
    return Response(robots_lines(), content_type="text/plain; charset=utf-8")


def robots_lines() -> str:
    """Allow everything but the sign-in, setup and admin pages; point to the sitemap.

    Paths carry SITE_URL's own path, for a blog served under a prefix (crawlers read
    robots.txt only at the host's root, so such a site needs this file copied there).
    """
    prefix = urlsplit(site_url()).path
    lines = ["User-agent: *", "Allow: /"]
    lines += [f"Disallow: {prefix}{path}" for path in ROBOTS_DISALLOW]
    lines += ["", f"Sitemap: {absolute_url('public.sitemap')}", ""]
    return "\n".join(lines)


# <head> metadata ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedLink:
    title: str
    type: str
    url: str


@dataclass(frozen=True)
class ShareImage:
    url: str
    width: int
    height: int
    alt: str


@dataclass
class PageMeta:
    title: str
    description: str
    site_name: str
    canonical: str
    og_type: str = "website"
    image: ShareImage | None = None
    noindex: bool = False
    published: str | None = None
    modified: str | None = None
    section: str | None = None
    tags: list[str] = field(default_factory=list)
    feeds: list[FeedLink] = field(default_factory=list)
    json_ld: dict | None = None
    breadcrumbs_ld: dict | None = None

    @property
    def twitter_card(self) -> str:
        return "summary_large_image" if self.image else "summary"


@bp.app_template_global("page_meta")
@pass_context
def page_meta(context) -> PageMeta:
    """Everything templates/public/_meta.html shows, from the variables the page was given."""
    site = site_settings_for_templates()
    post = context.get("post")
    overrides = context.get("meta") or {}
    if isinstance(post, Post):
        meta = post_meta(post, site)
    else:
        title, description = listing_subject(context)
        meta = PageMeta(
            title=title or site.site_title,
            description=description or site.tagline,
            site_name=site.site_title,
            canonical=request_canonical_url(),
        )
    _apply_overrides(meta, overrides)
    meta.description = shorten(meta.description, DESCRIPTION_LIMIT)
    if isinstance(post, Post) and post.kind == PostKind.POST:
        meta.json_ld = blog_posting(post, meta)
    meta.breadcrumbs_ld = breadcrumb_list(context, meta)
    meta.noindex = bool(
        meta.noindex
        or context.get("preview")
        or context.get("code")
        or request.blueprint in NOINDEX_BLUEPRINTS
    )
    meta.feeds = [
        *site_feed_links(site), *listing_feed_links(context), *comment_feed_links(context),
        *meta.feeds,
    ]  # fmt: skip
    return meta


def post_meta(post: Post, site) -> PageMeta:
    """The post's own search and social fields where written, else what they derive from."""
    meta = PageMeta(
        title=post.meta_title or post.title,
        description=post.meta_description or post.summary or site.tagline,
        site_name=site.site_title,
        canonical=post.canonical_url or post_url(post),
        image=post_share_image(post),
    )
    if post.kind == PostKind.POST:
        meta.og_type = "article"
        meta.published = _iso(post.published_at)
        meta.modified = _iso(max(filter(None, (post.updated_at, post.published_at))))
        meta.section = post.category.name if post.category else None
        meta.tags = [tag.name for tag in post.tags]
    return meta


def post_share_image(post: Post) -> ShareImage | None:
    """The social image chosen for the post, else its featured image, else none."""
    if post.social_media is not None:
        return share_image(post.social_media)
    if post.featured_media is not None:
        return share_image(post.featured_media, post.featured_alt)
    return None


def listing_subject(context) -> tuple[str, str]:
    """(title, description) of the category, tag or author a listing page shows, if any."""
    category, tag, author = (context.get(name) for name in ("category", "tag", "author"))
    if isinstance(category, Category):
        return category.name, category.description
    if isinstance(tag, Tag):
        return tag.name, ""
    if isinstance(author, User):
        return author.display_name, author.bio
    return "", ""


def blog_posting(post: Post, meta: PageMeta) -> dict:
    """schema.org BlogPosting; the template serialises it with |tojson, which is script-safe."""
    data = {
        "@context": "https://schema.org",
        "@type": "BlogPosting",
        "headline": post.title,
        "description": meta.description,
        "url": meta.canonical,
        "mainEntityOfPage": {"@type": "WebPage", "@id": meta.canonical},
        "author": {
            "@type": "Person",
            "name": post.author.display_name,
            "url": author_url(post.author),
        },
        "publisher": {"@type": "Organization", "name": meta.site_name},
    }
    optional = {
        "datePublished": meta.published,
        "dateModified": meta.modified,
        "image": meta.image.url if meta.image else None,
        "articleSection": meta.section,
        "keywords": meta.tags or None,
    }
    data.update({key: value for key, value in optional.items() if value is not None})
    return data


def breadcrumb_list(context, meta: PageMeta) -> dict | None:
    """schema.org BreadcrumbList: the category's trail in the tree; on an article, its primary
    category's, then the article. None for a page without a category."""
    post, category = context.get("post"), context.get("category")
    if isinstance(post, Post):
        if post.kind != PostKind.POST or post.category is None or context.get("preview"):
            return None
        category = post.category
    if not isinstance(category, Category):
        return None
    lineage = category_tree.lineage_of(category)
    items = [
        (node.name, listing_url("category", "/".join(n.slug for n in lineage[: i + 1])))
        for i, node in enumerate(lineage)
    ]
    if isinstance(post, Post):
        items.append((post.title, meta.canonical))
    return {
        "@context": "https://schema.org",
        "@type": "BreadcrumbList",
        "itemListElement": [
            {"@type": "ListItem", "position": number, "name": name, "item": url}
            for number, (name, url) in enumerate(items, start=1)
        ],
    }


def _apply_overrides(meta: PageMeta, overrides: dict) -> None:
    for key in ("title", "description", "noindex"):
        if key in overrides:
            setattr(meta, key, overrides[key])
    if overrides.get("url"):
        url = overrides["url"]
        meta.canonical = absolute_url(url) if url.startswith("/") else url
    if overrides.get("type"):
        meta.og_type = overrides["type"]
    if isinstance(overrides.get("image"), Media):
        meta.image = share_image(overrides["image"])
    meta.feeds = list(overrides.get("feeds", []))


def request_canonical_url() -> str:
    """This page's address under SITE_URL; of the query only a page number above 1 is kept."""
    url = absolute_url(request.path)
    page = request.args.get("page", "")
    return f"{url}?page={page}" if page.isdigit() and int(page) > 1 else url


def share_image(media: Media, alt: str = "") -> ShareImage:
    """The smallest stored size at least SHARE_IMAGE_WIDTH wide, else the largest there is."""
    sizes = [(v["width"], v["height"], v["filename"]) for v in media.variants or []]
    sizes.append((media.width, media.height, media.filename))
    wide_enough = [size for size in sizes if size[0] >= SHARE_IMAGE_WIDTH]
    width, height, filename = min(wide_enough) if wide_enough else max(sizes)
    return ShareImage(media_absolute_url(filename), width, height, alt or media.alt_text)


def site_feed_links(site) -> list[FeedLink]:
    """The site's feeds, and its latest comments' (linked here, not in the footer, which has
    room for one line of links beside the copyright on a phone)."""
    comments_feed = FeedLink(
        f"{site.site_title}: comments (Atom)", "application/atom+xml",
        absolute_url("public.site_comments_feed"),
    )  # fmt: skip
    return [*feed_pair(site.site_title, "public.rss_feed", "public.atom_feed"), comments_feed]


def listing_feed_links(context) -> list[FeedLink]:
    """The feeds of the category or tag a listing page shows, if it passed one."""
    links = []
    category, tag = context.get("category"), context.get("tag")
    if isinstance(category, Category):
        links += feed_pair(
            category.name,
            "public.category_rss_feed",
            "public.category_atom_feed",
            category_tree.path_of(category),
        )
    if isinstance(tag, Tag):
        links += feed_pair(tag.name, "public.tag_rss_feed", "public.tag_atom_feed", tag.slug)
    return links


def comment_feed_links(context) -> list[FeedLink]:
    """An article's comment feed, when it shows comments (not on a shared preview)."""
    post = context.get("post")
    if not isinstance(post, Post) or context.get("preview") or not comments.shown_on(post):
        return []
    url = absolute_url("public.post_comments_feed", slug=post.slug)
    return [FeedLink("Comments (Atom)", "application/atom+xml", url)]


def feed_pair(name: str, rss_endpoint: str, atom_endpoint: str, slug=None) -> list[FeedLink]:
    values = {} if slug is None else {"slug": slug}
    return [
        FeedLink(f"{name} (RSS)", "application/rss+xml", absolute_url(rss_endpoint, **values)),
        FeedLink(f"{name} (Atom)", "application/atom+xml", absolute_url(atom_endpoint, **values)),
    ]


def shorten(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary with an ellipsis."""
    text = " ".join((text or "").split())
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:.") + "\u2026"


def _iso(moment: datetime | None) -> str | None:
    return rfc3339(moment) if moment else None

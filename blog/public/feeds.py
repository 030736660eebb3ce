"""RSS 2.0 and Atom 1.0 feeds for the whole site, each category and each tag.

A category's feeds hold the posts of its page: its own and those of the categories below it,
primary or further (blog.category_tree), at `/category/<path>/feed.xml` and `…/atom.xml`.

The views gather everything a feed shows into plain dataclasses (absolute URLs, text cleaned of
characters XML cannot hold); the templates in templates/feeds/ only lay them out, with Jinja's
autoescaping doing all the XML escaping.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import urlsplit

from flask import Response, abort, render_template
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from .. import category_tree, http_caching
from ..extensions import db
from ..models import Media, Post, PostKind, Tag, utcnow
from ..settings import site_settings_for_templates
from ..urls import (
    absolute_url,
    absolutize_html,
    author_url,
    category_url,
    media_absolute_url,
    post_url,
    site_url,
    tag_url,
)
from ..visibility import public_clause
from . import bp
from .listings import category_at

FEED_SIZE = 20

# Characters XML 1.0 cannot carry even escaped; a stray one would make the whole feed unreadable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class FeedFormat:
    template: str
    mimetype: str


RSS = FeedFormat("feeds/rss.xml", "application/rss+xml")
ATOM = FeedFormat("feeds/atom.xml", "application/atom+xml")


@dataclass(frozen=True)
class FeedScope:
    """Which posts a feed holds and how it describes itself."""

    title: str
    subtitle: str
    page_url: str  # the HTML page the feed follows
    rss_url: str
    atom_url: str
    conditions: tuple = ()


@dataclass(frozen=True)
class Enclosure:
    url: str
    length: int
    type: str


@dataclass(frozen=True)
class FeedEntry:
    title: str
    url: str
    id: str
    author_name: str
    author_url: str
    published: datetime
    updated: datetime
    categories: tuple[str, ...]
    summary: str  # plain text
    content_html: str | None  # None when the site publishes excerpts only
    enclosure: Enclosure | None

    @property
    def summary_html(self) -> str:
        """The summary as the HTML RSS readers expect in <description> (Jinja escapes it again)."""
        return str(escape(self.summary))


# Routes -----------------------------------------------------------------------------------


@bp.get("/feed.xml")
def rss_feed():
    return feed_response(site_scope(), RSS)


@bp.get("/atom.xml")
def atom_feed():
    return feed_response(site_scope(), ATOM)


@bp.get("/category/<path:slug>/feed.xml")
def category_rss_feed(slug: str):
    return feed_response(category_scope(slug), RSS)


@bp.get("/category/<path:slug>/atom.xml")
def category_atom_feed(slug: str):
    return feed_response(category_scope(slug), ATOM)


@bp.get("/tag/<slug>/feed.xml")
def tag_rss_feed(slug: str):
    return feed_response(tag_scope(slug), RSS)


@bp.get("/tag/<slug>/atom.xml")
def tag_atom_feed(slug: str):
    return feed_response(tag_scope(slug), ATOM)


# Scopes -----------------------------------------------------------------------------------


def site_scope() -> FeedScope:
    site = site_settings_for_templates()
    return FeedScope(
        title=xml_text(site.site_title),
        subtitle=xml_text(site.tagline),
        page_url=absolute_url("public.index"),
        rss_url=absolute_url("public.rss_feed"),
        atom_url=absolute_url("public.atom_feed"),
    )


def category_scope(path: str) -> FeedScope:
    category = category_at(path)  # the same address rules as the category's page
    path = category_tree.path_of(category)
    site = site_settings_for_templates()
    return FeedScope(
        title=xml_text(f"{site.site_title}: {category.name}"),
        subtitle=xml_text(category.description or site.tagline),
        page_url=category_url(category),
        rss_url=absolute_url("public.category_rss_feed", slug=path),
        atom_url=absolute_url("public.category_atom_feed", slug=path),
        conditions=(category_tree.posts_in_condition(category.id),),
    )


def tag_scope(slug: str) -> FeedScope:
    tag = db.session.scalar(select(Tag).where(Tag.slug == slug)) or abort(404)
    site = site_settings_for_templates()
    return FeedScope(
        title=xml_text(f"{site.site_title}: {tag.name}"),
        subtitle=xml_text(site.tagline),
        page_url=tag_url(tag),
        rss_url=absolute_url("public.tag_rss_feed", slug=tag.slug),
        atom_url=absolute_url("public.tag_atom_feed", slug=tag.slug),
        conditions=(Post.tags.any(Tag.id == tag.id),),
    )


# Building a feed --------------------------------------------------------------------------


def feed_response(scope: FeedScope, feed_format: FeedFormat) -> Response:
    """The feed document; the blueprint's caching hook adds ETag and answers 304s."""
    full_text = bool(site_settings_for_templates().feed_full_text)
    entries = [feed_entry(post, full_text) for post in latest_posts(scope.conditions)]
    updated = max((entry.updated for entry in entries), default=None)
    http_caching.last_modified(updated)
    body = render_template(
        feed_format.template,
        feed=scope,
        entries=entries,
        updated=updated or utcnow(),
        rfc822=rfc822,
        rfc3339=rfc3339,
    )
    return Response(body, content_type=f"{feed_format.mimetype}; charset=utf-8")


def latest_posts(conditions: tuple = (), limit: int = FEED_SIZE) -> list[Post]:
    """The newest public posts, with everything an entry shows loaded up front (no N+1)."""
    return list(
        db.session.scalars(
            select(Post)
            .where(Post.kind == PostKind.POST, public_clause(), *conditions)
            .options(
                selectinload(Post.author),
                selectinload(Post.category),
                selectinload(Post.tags),
                selectinload(Post.featured_media),
                joinedload(Post.social_media),  # many-to-one: no query of its own
            )
            .order_by(Post.published_at.desc(), Post.id.desc())
            .limit(limit)
        )
    )


def feed_entry(post: Post, full_text: bool) -> FeedEntry:
    url = post_url(post)
    names = ([post.category.name] if post.category else []) + [tag.name for tag in post.tags]
    return FeedEntry(
        title=xml_text(post.title),
        url=url,
        id=entry_id(post),
        author_name=xml_text(post.author.display_name),
        author_url=author_url(post.author),
        published=post.published_at,
        # A scheduled post is saved before it goes out; it must not look older than it is.
        updated=max(post.updated_at, post.published_at),
        categories=tuple(xml_text(name) for name in names),
        # The author's search description, when written, is their own summary of the post.
        summary=xml_text(post.meta_description or post.summary),
        content_html=xml_text(entry_content(post, url)) if full_text else None,
        enclosure=enclosure(post.social_media or post.featured_media),
    )


def entry_content(post: Post, url: str) -> str:
    """The stored body with absolute URLs, under the featured image if there is one."""
    body = absolutize_html(post.body_html, url)
    media = post.featured_media
    if media is None:
        return body
    image = Markup('<p><img src="{}" width="{}" height="{}" alt="{}"></p>\n').format(
        media_absolute_url(media.filename),
        media.width,
        media.height,
        post.featured_alt or media.alt_text,
    )
    return str(image) + body


def enclosure(media: Media | None) -> Enclosure | None:
    if media is None:
        return None
    return Enclosure(media_absolute_url(media.filename), media.size_bytes, media.content_type)


def entry_id(post: Post) -> str:
    """A tag: URI (RFC 4151) that outlives slug changes: site host, creation date, post id.

    It changes only if SITE_URL moves to another host; then readers see the posts as new.
    """
    host = urlsplit(site_url()).hostname or "localhost"
    return f"tag:{host},{post.created_at:%Y-%m-%d}:post-{post.id}"


def xml_text(value: str | None) -> str:
    return _NOT_XML.sub("", value or "")


def rfc822(moment: datetime) -> str:
    """A naive UTC time as RSS wants it: 'Tue, 02 Jan 2024 15:04:05 GMT'."""
    return format_datetime(moment.replace(tzinfo=UTC), usegmt=True)


def rfc3339(moment: datetime) -> str:
    """A naive UTC time as Atom and sitemaps want it: '2024-01-02T15:04:05Z'."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

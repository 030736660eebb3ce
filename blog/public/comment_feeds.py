"""Atom feeds of approved comments: one per article (`/<slug>/comments/atom.xml`) and one for
the whole site (`/comments/atom.xml`), linked from the article's head, its comments section and
the site's footer.

Decisions:
- Only approved comments of public posts that show their comments (`comments.shown_clause`,
  the SQL twin of `comments.shown_on`) are in a feed; a post whose comments are hidden, or a
  page without comments, has no comment feed (404).
- An entry's content is the comment's stored HTML, sanitised when it was saved, with relative
  URLs made absolute as in the post feeds; nothing is rendered here.
- The feeds are reader pages like the others: the page cache keeps them per site generation,
  and approving, editing or removing a shown comment moves the generation
  (blog.invalidation), so a change shows on the very next request.
- Atom only: the site's post feeds offer RSS for old readers; comment readers are fewer.
- A feed costs the settings (every page reads them), the post (an article's feed) and one
  query for the comments with their posts' titles and addresses, however many there are.
"""

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from flask import Response, abort, render_template
from sqlalchemy import select
from sqlalchemy.orm import contains_eager

from .. import http_caching
from ..comments import shown_clause, shown_on
from ..extensions import db
from ..models import Comment, CommentStatus, Post, utcnow
from ..settings import site_settings_for_templates
from ..urls import absolute_url, absolutize_html, post_url, site_url
from ..visibility import public_clause
from . import bp
from .feeds import FEED_SIZE, rfc3339, xml_text

MIMETYPE = "application/atom+xml"


@dataclass(frozen=True)
class CommentFeed:
    title: str
    page_url: str
    atom_url: str


@dataclass(frozen=True)
class CommentEntry:
    title: str
    url: str
    id: str
    author_name: str
    author_url: str
    published: datetime
    updated: datetime
    content_html: str


@bp.get("/comments/atom.xml")
def site_comments_feed():
    site = site_settings_for_templates()
    feed = CommentFeed(
        title=xml_text(f"{site.site_title}: comments"),
        page_url=absolute_url("public.index"),
        atom_url=absolute_url("public.site_comments_feed"),
    )
    return feed_response(feed, latest_comments(), since=None)


@bp.get("/<slug>/comments/atom.xml")
def post_comments_feed(slug: str):
    post = db.session.scalar(select(Post).where(Post.slug == slug, public_clause()))
    if post is None or not shown_on(post):
        abort(404)
    feed = CommentFeed(
        title=xml_text(f"Comments on “{post.title}”"),
        page_url=post_url(post) + "#comments",
        atom_url=absolute_url("public.post_comments_feed", slug=post.slug),
    )
    return feed_response(feed, latest_comments(Comment.post_id == post.id), post.published_at)


def feed_response(feed: CommentFeed, found: list[Comment], since: datetime | None) -> Response:
    """The feed document; the blueprint's caching hook adds the ETag and answers 304s."""
    entries = [comment_entry(comment) for comment in found]
    updated = max((entry.updated for entry in entries), default=since)
    http_caching.last_modified(updated)
    body = render_template(
        "feeds/comments_atom.xml",
        feed=feed,
        entries=entries,
        updated=updated or utcnow(),
        rfc3339=rfc3339,
    )
    return Response(body, content_type=f"{MIMETYPE}; charset=utf-8")


def latest_comments(*conditions, limit: int = FEED_SIZE) -> list[Comment]:
    """The newest approved comments of public posts that show them, each with its post's title
    and address (one query: they come in the same row)."""
    return list(
        db.session.scalars(
            select(Comment)
            .join(Comment.post)
            .where(
                Comment.status == CommentStatus.APPROVED,
                public_clause(),
                shown_clause(),
                *conditions,
            )
            # Only what an entry shows of the post: not its body, once per comment.
            .options(contains_eager(Comment.post).load_only(Post.id, Post.slug, Post.title))
            .order_by(Comment.created_at.desc(), Comment.id.desc())
            .limit(limit)
        )
    )


def comment_entry(comment: Comment) -> CommentEntry:
    page = post_url(comment.post)
    name = xml_text(comment.author_name)
    return CommentEntry(
        title=xml_text(f"{name} on “{comment.post.title}”"),
        url=f"{page}#comment-{comment.id}",
        id=entry_id(comment),
        author_name=name,
        author_url=xml_text(comment.author_url),
        published=comment.created_at,
        updated=max(comment.updated_at, comment.created_at),
        content_html=xml_text(absolutize_html(comment.body_html, page)),
    )


def entry_id(comment: Comment) -> str:
    """A tag: URI, as for posts: the comment keeps it when the post's slug changes."""
    host = urlsplit(site_url()).hostname or "localhost"
    return f"tag:{host},{comment.created_at:%Y-%m-%d}:comment-{comment.id}"

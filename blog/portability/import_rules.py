"""The rules every importer follows (WordPress, Markdown, Ghost): matching an item brought
in before, choosing a post's address, creating authors and recording old addresses.

An importer reads its source into the shapes here (`IncomingPost`, an author's email and
name, a map of old paths) and calls these steps; it never decides these things itself.

Decisions:
- An item is known again by its import key (`import_key` on Post, Media and Comment), never
  by title or slug alone: a post written here with the same address is someone else's. The
  one exception is this blog's own export coming back: a post written here is known by its
  address, title and creation time to the microsecond, an image by its stored name (a random
  token), so importing an export into the blog that made it changes nothing.
- One comparison (`post_differences`): every field a source can carry (search and social
  fields too; pinned, comments, newsletter and further categories only when the source
  says), tags by name without case (the tag look-up ignores case, so "Python" and "python"
  are one tag), an empty incoming slug meaning "keep it". The source's modification time
  alone is no change.
- A post brought in before is left alone when it is in the trash here, or was changed here
  after the import (its time here is newer than the source's): nothing written here is lost.
- Addresses: the wanted slug is slugified to the column's length (`posts.MAX_SLUG`, 200).
  A slug that had to be cut, that another post has (or had: its old address redirects), or
  that a route of the site owns (`slugs.shadowing_route`) becomes the next free numbered one,
  with a warning naming the old and the new slug. A post imported before keeps the slug it
  got then when its wanted slug is still not free (it was warned about then).
- Categories and tags are found by slug, then by name without case; a new category goes at
  the end of the list. A term's address that a route owns is numbered, with a warning.
- Authors are found by email; a new one is a deactivated account with the author role and
  no password, so it owns posts and has an author page but cannot sign in until an admin
  sets it up. Reading the email from the source (and a stand-in when there is none) is the
  importer's part.
- A source's time without a zone is in the site's time zone (Settings → Time zone).
- Old addresses are stored decoded, at most 500 characters, only when they lead somewhere
  else; a re-run points an old address at the current target (see public/old_addresses).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select

from ..accounts import find_user, unique_user_slug
from ..extensions import db
from ..models import (
    Category,
    Media,
    Post,
    PostStatus,
    Redirect,
    Revision,
    Role,
    SlugRedirect,
    Tag,
    User,
)
from ..posts import MAX_SLUG, PostInput, save_post
from ..settings import get_setting
from ..slugs import shadowing_route, unique_slug
from ..taxonomy import MAX_NAME_LENGTH, MAX_TAG_NAME_LENGTH, SLUG_LENGTH, clean_text, find_by_name
from ..text import slugify
from ..uploads import STORED_NAME
from .report import Summary

MAX_OLD_PATH = 500
_UNCUT = 100_000  # slugify's limit when asking what a slug would be without the column's


# --- matching what was imported before --------------------------------------------------------


def import_key(prefix: str, value: str) -> str:
    """A key for Post/Media/Comment.import_key, hashed when too long for the column."""
    key = f"{prefix}:{value}"
    if len(key) > 500:
        key = f"{prefix}:sha256:{hashlib.sha256(value.encode()).hexdigest()}"
    return key


def find_imported(model, key: str):
    """The row of `model` (Post, Media, Comment) brought in before under `key`, or None."""
    return db.session.scalar(select(model).where(model.import_key == key))


def find_own_post(slug: str, title: str, created: datetime | None) -> Post | None:
    """A post written here that comes back in this blog's own export: the same address,
    title and creation time to the microsecond, which only an export of that post carries."""
    if created is None:
        return None
    post = db.session.scalar(select(Post).where(Post.slug == slug, Post.import_key.is_(None)))
    if post is None or post.created_at != created or post.title != " ".join(title.split()):
        return None
    return post


def find_own_media(stored_name: str) -> Media | None:
    """An image of this blog under its stored name (a random 32-digit token, so a name
    from this blog's export is that image and no other)."""
    if not STORED_NAME.fullmatch(stored_name):
        return None
    return db.session.scalar(select(Media).where(Media.filename == stored_name))


@dataclass
class IncomingPost:
    """A post or page as an importer read it, ready for `apply_post`."""

    data: PostInput
    author: User
    status: PostStatus
    published: datetime | None  # naive UTC, None for a draft
    created: datetime
    updated: datetime


def post_differences(post: Post, incoming: IncomingPost) -> list[str]:
    """The fields where the stored post differs from the incoming one (empty: unchanged)."""
    data = incoming.data
    stored_tags = sorted(tag.name.lower() for tag in post.tags)
    wanted_tags = sorted(name.strip().lower() for name in data.tags.split(",") if name.strip())
    pairs = {
        "title": (post.title, data.title),
        "body": (post.body_md, data.body_md),
        "slug": (post.slug, slugify(data.slug, max_length=MAX_SLUG) if data.slug else post.slug),
        "excerpt": (post.excerpt, data.excerpt.strip()),
        "kind": (post.kind, data.kind),
        "category": (post.category_id, data.category_id),
        "tags": (stored_tags, wanted_tags),
        "featured image": (post.featured_media_id, data.featured_media_id),
        "alt text": (post.featured_alt, data.featured_alt.strip()),
        "caption": (post.featured_caption, data.featured_caption.strip()),
        "status": (post.status, incoming.status),
        "date": (post.published_at, incoming.published),
        "author": (post.author_id, incoming.author.id),
        "search title": (post.meta_title, " ".join(data.meta_title.split())),
        "search description": (post.meta_description, " ".join(data.meta_description.split())),
        "social image": (post.social_media_id, data.social_media_id),
        "canonical address": (post.canonical_url, data.canonical_url.strip()),
    }
    kept_unless_given = {  # None in the input keeps what is stored
        "pinned": (post.pinned, data.pinned),
        "comments": (post.comments_mode, data.comments_mode),
        "newsletter": (post.newsletter, data.newsletter),
        "further categories": (
            sorted(c.id for c in post.secondary_categories if c.id != post.category_id),
            sorted({i for i in data.secondary_category_ids or [] if i != data.category_id}),
        ),
    }
    if data.secondary_category_ids is None:
        del kept_unless_given["further categories"]
    pairs.update({k: v for k, v in kept_unless_given.items() if v[1] is not None})
    return [name for name, (stored, wanted) in pairs.items() if stored != wanted]


def apply_post(
    existing: Post | None, incoming: IncomingPost, key: str, label: str, summary: Summary
) -> Post | None:
    """Create the post, update it, or leave it as it is, and count which (the caller commits).

    Returns the post as it now is here, or None when there is none to attach comments to
    (it is in the trash here).
    """
    if existing is None:
        post = save_post(None, incoming.data, incoming.author)
        post.import_key = key
        _stamp(post, incoming)
        summary.imported += 1
        return post
    if existing.deleted_at is not None:
        summary.skip("in the trash here")
        summary.warn(label, "is in the trash here; left alone.")
        return None
    if existing.updated_at > incoming.updated:
        summary.skip("changed here since the import")
        summary.warn(label, "was changed here after the import; left alone.")
        return existing
    if not post_differences(existing, incoming):
        summary.unchanged += 1
        return existing
    post = save_post(existing, incoming.data, incoming.author)
    post.author_id = incoming.author.id
    _stamp(post, incoming)
    summary.updated += 1
    return post


def _stamp(post: Post, incoming: IncomingPost) -> None:
    """After `save_post`: the status and times the post had where it came from.

    The revision that save made is dated like the post, so the history reads right.
    """
    post.status = incoming.status
    post.published_at = incoming.published
    post.created_at = incoming.created
    post.updated_at = incoming.updated
    db.session.flush()
    revision = db.session.scalar(
        select(Revision).where(Revision.post_id == post.id, Revision.post_version == post.version)
    )
    if revision is not None:
        revision.created_at = incoming.updated


def site_zone() -> ZoneInfo:
    """The site's time zone, for a source's times that carry none (UTC if it is unknown)."""
    try:
        return ZoneInfo(str(get_setting("timezone")))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


# --- addresses --------------------------------------------------------------------------------


def post_slug_taken(slug: str, post_id: int | None) -> bool:
    """True if another post has this address, now or as an old address that redirects."""
    query = select(Post.id).where(Post.slug == slug)
    if post_id is not None:
        query = query.where(Post.id != post_id)
    if db.session.scalar(query.limit(1)) is not None:
        return True
    owner = db.session.scalar(select(SlugRedirect.post_id).where(SlugRedirect.old_slug == slug))
    return owner is not None and owner != post_id


def choose_post_slug(wanted: str, existing: Post | None, label: str, summary: Summary) -> str:
    """The address for an incoming post that wants `wanted` (any text; slugified here).

    "" when the source has none: `save_post` then keeps the stored slug or makes one from
    the title. Every change to the wanted slug is told in a warning under `label`.
    """
    whole = slugify(wanted, max_length=_UNCUT, fallback="") if wanted else ""
    if not whole:
        return existing.slug if existing is not None else ""
    slug = slugify(wanted, max_length=MAX_SLUG, fallback="")
    own_id = existing.id if existing is not None else None
    route = shadowing_route("post", slug)
    taken = post_slug_taken(slug, own_id)
    if (taken or route) and existing is not None:
        return existing.slug  # settled, with a warning, when it was first imported
    if slug != whole and (existing is None or existing.slug != slug):
        summary.warn(
            label,
            f"the address “{whole}” is longer than {MAX_SLUG} characters; it became “{slug}”.",
        )
    if not taken and route is None:
        return slug
    free, number = slug, 1
    while post_slug_taken(free, own_id) or shadowing_route("post", free):
        number += 1
        suffix = f"-{number}"
        free = slug[: MAX_SLUG - len(suffix)].rstrip("-") + suffix
    why = f"belongs to this site ({route})" if route else "is taken here"
    summary.warn(label, f"the address “{slug}” {why}; it became “{free}”.")
    return free


# --- categories and tags --------------------------------------------------------------------


def find_term(model, slug: str, name: str):
    """The Category or Tag with this slug, else with this name (without case), or None."""
    found = db.session.scalar(select(model).where(model.slug == slug)) if slug else None
    return found or find_by_name(model, name)


def new_category(name: str, slug: str, description: str, summary: Summary) -> Category:
    """A category at the end of the list; a slug a route owns or another category has gets
    the next free number, with a warning naming both."""
    name = clean_text(name)[:MAX_NAME_LENGTH]
    slug = slugify(slug or name, max_length=SLUG_LENGTH, fallback="category")
    route = shadowing_route("category", slug)
    if route or db.session.scalar(select(Category.id).where(Category.slug == slug)) is not None:
        free = unique_slug(Category, slug, max_length=SLUG_LENGTH, fallback="category")
        why = f"belongs to this site ({route})" if route else "is taken here"
        summary.warn(name, f"the address “{slug}” {why}; the category became “{free}”.")
        slug = free
    position = (db.session.scalar(select(func.max(Category.position))) or 0) + 1
    category = Category(name=name, slug=slug, description=description, position=position)
    db.session.add(category)
    db.session.flush()
    summary.categories_created += 1
    return category


def find_or_create_tag(name: str, slug: str, summary: Summary) -> Tag:
    """The tag with this slug or name, or a new one; a name too long is shortened, with a
    warning."""
    name = clean_text(name).replace(",", " ")
    if len(name) > MAX_TAG_NAME_LENGTH:
        summary.warn(f"Tag {name[:30]}…", f"name shortened to {MAX_TAG_NAME_LENGTH} characters.")
        name = name[:MAX_TAG_NAME_LENGTH].rstrip()
    slug = slugify(slug or name, max_length=SLUG_LENGTH, fallback="tag")
    found = find_term(Tag, slug, name)
    if found is not None:
        return found
    tag = Tag(name=name, slug=unique_slug(Tag, slug, max_length=SLUG_LENGTH, fallback="tag"))
    db.session.add(tag)
    db.session.flush()
    summary.tags_created += 1
    return tag


# --- authors ----------------------------------------------------------------------------------


def find_or_create_author(email: str, name: str, summary: Summary) -> User:
    """The account with this email, or a new deactivated author account (see Decisions)."""
    user = find_user(email)
    if user is not None:
        summary.users_existing += 1
        return user
    name = " ".join(name.split())[:120] or email.split("@")[0][:120] or "Author"
    user = User(
        email=email.strip().lower(),
        display_name=name,
        slug=unique_user_slug(name),
        role=Role.AUTHOR,
        active=False,
        password_hash=None,
    )
    db.session.add(user)
    db.session.flush()
    summary.users_created += 1
    return user


# --- old addresses ----------------------------------------------------------------------------


def record_redirects(wanted: dict[str, str], summary: Summary) -> None:
    """Store `old path -> new path` redirects (see Decisions); counted in the summary."""
    wanted = {
        old: new
        for old, new in wanted.items()
        if len(old) <= MAX_OLD_PATH and unquote(old) != unquote(new) and old.startswith("/")
    }
    existing: dict[str, Redirect] = {}
    olds = list(wanted)
    for start in range(0, len(olds), 500):
        chunk = olds[start : start + 500]
        for row in db.session.scalars(select(Redirect).where(Redirect.old_path.in_(chunk))):
            existing[row.old_path] = row
    for old, new in wanted.items():
        row = existing.get(old)
        if row is None:
            db.session.add(Redirect(old_path=old, new_path=new))
        elif row.new_path != new:
            row.new_path = new
    summary.redirects = len(wanted)
    db.session.flush()

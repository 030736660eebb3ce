"""The editor's "Email me a test": the post as it stands in the editor, unsaved, made into the
newsletter email exactly as a send would make it, and sent to the person who asked.

Nothing is saved: the post is a plain object with the fields the email is made from, not a
model (a Post given an author would join that user's posts in the session). The email goes
through the usual outgoing-email record and job, so it is retried like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..extensions import db
from ..mail import queue_message
from ..models import Media, NewsletterChoice, Post, User, utcnow
from ..posts import library_images
from ..rendering import render_post
from ..urls import absolute_url
from . import email_version

TESTS_PER_HOUR = 10
RATE_WINDOW = timedelta(hours=1)


@dataclass
class UnsavedPost:
    """What `email_version.make` reads of a post."""

    title: str
    slug: str
    body_md: str
    body_html: str
    summary: str
    newsletter: NewsletterChoice
    featured_media: Media | None
    featured_alt: str
    featured_caption: str
    author: User
    published_at: datetime


def unsaved_post(fields: dict[str, str], saved: Post | None, user: User) -> UnsavedPost:
    """The post as the editor's fields have it."""
    body, excerpt = fields.get("body", ""), fields.get("excerpt", "")
    rendered = render_post(body, excerpt, library_images(body))
    choice = fields.get("newsletter", "")
    media_id = fields.get("featured_media_id", "")
    return UnsavedPost(
        title=fields.get("title", "").strip() or "(no title)",
        slug=(saved.slug if saved else "") or "preview",
        body_md=body,
        body_html=rendered.html,
        summary=rendered.summary,
        newsletter=NewsletterChoice(choice) if choice == "excerpt" else NewsletterChoice.FULL,
        featured_media=db.session.get(Media, int(media_id)) if media_id.isdigit() else None,
        featured_alt=fields.get("featured_alt", ""),
        featured_caption=fields.get("featured_caption", ""),
        author=saved.author if saved else user,
        published_at=(saved.published_at if saved else None) or utcnow(),
    )


def send_test(post: UnsavedPost, user: User) -> None:
    """Queue the email of `post` to `user` (the caller commits)."""
    version = email_version.make(post)
    instead = absolute_url("public.subscribe")  # each subscriber's own link goes here
    queue_message(
        user.email,
        f"[Test] {version.subject}",
        email_version.personal(version.text, instead),
        email_version.personal(version.html, instead),
        purpose="newsletter_test",
        user=user,
        created_by=user,
    )

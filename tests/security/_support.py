"""Shared pieces of the attack suite: objects to aim at, table snapshots, the counts reported.

Imported by the tests and by this folder's conftest.py under one name, so `COUNTS` is one dict.
"""

import hashlib
import secrets
from dataclasses import dataclass
from itertools import count
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from blog import taxonomy
from blog.accounts import create_user
from blog.extensions import db
from blog.models import Comment, Media, Revision, Role, User
from blog.posts import Action, PostInput, save_post
from blog.user_sessions import open_session
from tests.conftest import PASSWORD, csrf_token_from

# Figures the issue wants visible in the test output: tests fill it, the conftest prints it.
COUNTS: dict[str, int] = {}

_serial = count(1)


@dataclass(frozen=True)
class World:
    """One of each object a route can be aimed at; the post and the image belong to `author`."""

    post_id: int
    post_slug: str
    revision_id: int
    media_id: int
    media_filename: str
    category_id: int
    category_slug: str
    tag_id: int
    tag_slug: str
    other_tag_id: int
    user_id: int  # a spare author, so role changes and deactivation hit nobody who signs in
    user_slug: str
    session_id: int  # a sign-in session of `author` (another browser of theirs)
    comment_id: int  # a reader's comment, waiting, on the post

    def url_values(self) -> dict:
        """Values for every URL variable the app's rules use, by name."""
        return {
            "post_id": self.post_id,
            "revision_id": self.revision_id,
            "media_id": self.media_id,
            "category_id": self.category_id,
            "tag_id": self.tag_id,
            "user_id": self.user_id,
            "session_id": self.session_id,
            "comment_id": self.comment_id,
            "action": "approve",
            "link_id": 1,  # no such preview link (the post is published): "no longer exists"
            "slug": self.post_slug,
            "filename": self.media_filename,
            "year": 2024,
            "month": 1,
            "job_id": "0123456789abcdef",  # no such import job: admins get 404, others 403
            "export_id": "0123456789abcdef",  # no such export: admins get 404, others 403
            "background_job": 999_999,  # no such background job: admins get 404, others 403
            "invitation_id": 999_999,  # no such invitation: admins get 404, others 403
            "send_id": 999_999,  # no such newsletter send
            "subscriber_id": 999_999,  # no such subscriber
            "follower_id": 999_999,  # no such fediverse follower
            "token": "not-a-real-token",  # emailed links (reset, invitation, new address)
        }


def build_world(app: Flask, author_id: int) -> World:
    """Create, through the app's own code, a published post (two revisions) by `author_id`
    in a category with two tags, an image row they uploaded, a sign-in session of theirs on
    another browser, and a spare user."""
    n = next(_serial)
    with app.test_request_context():
        author = db.session.get(User, author_id)
        category = taxonomy.create_category(f"Target category {n}", "aimed at")
        db.session.flush()
        data = PostInput(
            title=f"Target post {n}",
            body_md="Some *text*.",
            category_id=category.id,
            tags=f"target-{n}, other-target-{n}",
        )
        post = save_post(None, data, author, Action.PUBLISH)
        data.body_md = "Some *more* text."
        save_post(post, data, author)
        media = Media(
            filename=f"{secrets.token_hex(16)}.png",
            original_name="target.png",
            content_type="image/png",
            width=10,
            height=10,
            size_bytes=100,
            variants=[],
            alt_text="an image",
            uploader_id=author.id,
        )
        db.session.add(media)
        open_session(author, device="Another browser")
        comment = Comment(
            post=post, author_name="A reader", author_email="reader@example.org",
            body_md="Nice.", body_html="<p>Nice.</p>",
        )  # fmt: skip
        db.session.add(comment)
        spare = create_user(f"spare{n}@example.com", f"Spare User {n}", Role.AUTHOR, PASSWORD)
        db.session.flush()
        revision_id = db.session.scalar(
            select(Revision.id).where(Revision.post_id == post.id).order_by(Revision.id)
        )
        tag, other_tag = sorted(post.tags, key=lambda tag: tag.id)
        world = World(
            post_id=post.id,
            post_slug=post.slug,
            revision_id=revision_id,
            media_id=media.id,
            media_filename=media.filename,
            category_id=category.id,
            category_slug=category.slug,
            tag_id=tag.id,
            tag_slug=tag.slug,
            other_tag_id=other_tag.id,
            user_id=spare.id,
            user_slug=spare.slug,
            session_id=max(session.id for session in author.sessions),
            comment_id=comment.id,
        )
        db.session.commit()
    return world


def snapshot(app: Flask) -> dict[str, tuple[int, str]]:
    """Every table's row count and a checksum of its rows, plus the files in the upload folder."""
    state = {}
    with app.app_context():
        for table in db.metadata.sorted_tables:
            rows = db.session.execute(select(table).order_by(*table.primary_key.columns)).all()
            digest = hashlib.sha256(repr([tuple(row) for row in rows]).encode()).hexdigest()
            state[table.name] = (len(rows), digest)
        db.session.remove()
    uploads = Path(app.config["UPLOAD_FOLDER"])
    files = sorted(p.name for p in uploads.iterdir()) if uploads.exists() else []
    state["upload folder"] = (len(files), hashlib.sha256(repr(files).encode()).hexdigest())
    return state


def changed_tables(before: dict, after: dict) -> list[str]:
    return sorted(
        name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
    )


def sign_in_with_form(client, email: str, password: str = PASSWORD) -> None:
    """Sign in the way a browser does, CSRF token included (works with CSRF on or off)."""
    page = client.get("/login")
    token = csrf_token_from(page.text) if 'name="csrf_token"' in page.text else ""
    response = client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}
    )
    assert response.status_code == 302, f"sign-in as {email} failed: {response.status_code}"

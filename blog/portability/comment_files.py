"""A post's comments as one YAML file beside its Markdown file, and back (see FORMAT.md).

    _posts/2024-03-01-boats-at-dawn.md            the post
    _posts/2024-03-01-boats-at-dawn.comments.yml  its comments

Decisions:
- YAML, as the posts' front matter is: a person reads it (each text is a `|` block, as
  written), a program parses it back with any YAML reader, and no text can end the file's
  structure early, as a `---` line in a comment could in a file of Markdown documents.
- The name ends in `.comments.yml`, not `.md`: Markdown importers (this one, and Jekyll's
  post reader) do not take it for a post.
- Approved and held comments are written, oldest first; spam and trash are not content and
  stay out (the JSON export has every comment). Emails are written, as the site owner's
  data: the file says to keep it private. Client addresses and form tokens are never written.
- Each comment has its id in this blog and, for a reply, the id it answers; the import uses
  them to rebuild the threads and, with the post's key, to recognise a comment it brought in
  before (`Comment.import_key`), so a second import adds nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

import yaml
from sqlalchemy import select

from ..extensions import db
from ..models import Comment, CommentStatus, Post, User
from .comment_import import IncomingComment
from .import_rules import import_key
from .report import Summary

SUFFIX = ".comments.yml"
EXPORTED = (CommentStatus.APPROVED, CommentStatus.PENDING)


def comments_path(post_path: str) -> str:
    """`_posts/2024-03-01-slug.md` -> `_posts/2024-03-01-slug.comments.yml`."""
    return post_path.removesuffix(".md") + SUFFIX


# --- writing ----------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Multi-line texts as `|` blocks, so a comment reads as it was written."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def exported_comments(post: Post) -> list[Comment]:
    """The post's approved and held comments, oldest first."""
    return list(
        db.session.scalars(
            select(Comment)
            .where(Comment.post_id == post.id, Comment.status.in_(EXPORTED))
            .order_by(Comment.created_at, Comment.id)
        )
    )


def comments_file(post: Post, rows: list[Comment]) -> bytes:
    """The YAML of the given comments of `post`."""
    emails = _account_emails({row.user_id for row in rows if row.user_id is not None})
    document = {
        "post": post.slug,
        "title": post.title,
        "comments": [_entry(row, emails) for row in rows],
    }
    header = (
        f"# Comments on “{post.title}”. They hold their writers' emails: keep this file private.\n"
    )
    body = yaml.dump(
        document, Dumper=_Dumper, allow_unicode=True, sort_keys=False, default_flow_style=False
    )
    return (header + body).encode()


def _account_emails(user_ids: set[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    return dict(db.session.execute(select(User.id, User.email).where(User.id.in_(user_ids))).all())


def _entry(row: Comment, emails: dict[int, str]) -> dict:
    return {
        "id": row.id,
        "reply_to": row.reply_to_id,
        "author": row.author_name,
        "email": row.author_email,
        "website": row.author_url,
        "account": emails.get(row.user_id) if row.user_id is not None else None,
        "date": row.created_at.replace(tzinfo=UTC),
        "status": row.status.value,
        "import_key": row.import_key,
        "text": row.body_md,
    }


# --- reading ----------------------------------------------------------------------------------


def read_comments_file(data: bytes, post: Post, name: str, summary: Summary) -> list:
    """The comments of a file as `IncomingComment`s; a file that cannot be read is a warning."""
    try:
        document = yaml.safe_load(data.decode("utf-8"))
        entries = document.get("comments") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise ValueError("it has no list of comments")
    except (UnicodeDecodeError, ValueError, yaml.YAMLError) as error:
        summary.warn(name, f"its comments were not imported: {str(error).splitlines()[0]}")
        return []
    incoming = []
    for number, entry in enumerate(entries, start=1):
        comment = _incoming(entry, post)
        if comment is None:
            summary.skip_comment("unreadable")
            summary.warn(name, f"comment {number} has no text or no id; skipped.")
        else:
            incoming.append(comment)
    return incoming


def _incoming(entry, post: Post) -> IncomingComment | None:
    if not isinstance(entry, dict):
        return None
    ref, text = _string(entry.get("id")), _string(entry.get("text"))
    if not ref or not text.strip():
        return None
    account = _string(entry.get("account")).lower()
    user = db.session.scalar(select(User).where(User.email == account)) if account else None
    key = _string(entry.get("import_key")) or import_key(
        "markdown-comment", f"{post.import_key or post.slug}#{ref}"
    )
    return IncomingComment(
        key=key,
        ref=ref,
        body_md=text,
        status=_status(entry.get("status")),
        created_at=_utc(entry.get("date")),
        author_name=_string(entry.get("author")),
        author_email=_string(entry.get("email")),
        author_url=_string(entry.get("website")),
        reply_to=_string(entry.get("reply_to")) or None,
        user_id=user.id if user is not None else None,
    )


def _string(value) -> str:
    return "" if value is None else str(value)


def _status(value) -> CommentStatus:
    try:
        return CommentStatus(_string(value).strip().lower())
    except ValueError:
        return CommentStatus.PENDING  # unknown: a moderator decides


def _utc(value) -> datetime:
    """A YAML timestamp or ISO text as naive UTC; now when it is missing or unreadable."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            value = None
    if not isinstance(value, datetime):
        return datetime.now(UTC).replace(tzinfo=None)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value

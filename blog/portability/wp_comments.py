"""The comments of a WordPress item, read into what `comment_import.add_comments` stores.

Decisions:
- `wp:comment_approved` 1 → approved, 0 → pending (held, as on the old site). Spam, trash
  (and `post-trashed`, the comments of a trashed post) and pingbacks and trackbacks are not
  comments a reader wrote here: they are skipped and counted by kind in the summary.
- The time is `comment_date_gmt`, which is UTC; when it is missing (all zeros) the local
  `comment_date` is read in the site's time zone (Settings → Time zone) and turned into UTC.
- The text is WordPress's HTML turned into Markdown by the same conversion as post content,
  then rendered by the comment pipeline, whose stricter allowlist decides what shows.
- A comment written by a signed-in WordPress user (`comment_user_id`) keeps the link to the
  account that user's posts were imported to, if any.
- The key is the old site's address with the comment's id, so the comment is known again on
  a second run of the same export.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from ..models import CommentStatus, User
from .comment_import import IncomingComment
from .import_rules import site_zone
from .report import Summary
from .wpcontent import wordpress_to_markdown
from .wxr import WxrComment, WxrItem, wp_datetime
from .wxr_export import kept_markdown

STATUSES = {"1": CommentStatus.APPROVED, "0": CommentStatus.PENDING}
SKIPPED_STATUSES = {"spam": "spam", "trash": "trash", "post-trashed": "trash"}
COMMENT_TYPES = {"", "comment"}
HELD_REASON = "held on the WordPress site"

KeyFor = Callable[[str], str]


def read_comments(
    item: WxrItem, key_for: KeyFor, users_by_wp_id: dict[str, User], summary: Summary
) -> list[IncomingComment]:
    """The item's comments worth importing; the others are counted in `summary`."""
    zone = site_zone()
    incoming = []
    for comment in item.comments:
        status = _status(comment, summary)
        if status is None:
            continue
        kept = kept_markdown(comment.meta, comment.content)  # an export of this blog
        body = kept if kept is not None else wordpress_to_markdown(comment.content).markdown
        body = body.strip()
        if not body:
            summary.skip_comment("empty")
            continue
        user = users_by_wp_id.get(comment.user_id) if comment.user_id not in ("", "0") else None
        incoming.append(
            IncomingComment(
                key=key_for(comment.wp_id),
                ref=comment.wp_id,
                body_md=body,
                status=status,
                created_at=comment_time(comment, zone),
                author_name=comment.author or (user.display_name if user else ""),
                author_email=comment.author_email or (user.email if user else ""),
                author_url=comment.author_url,
                reply_to=comment.parent if comment.parent not in ("", "0") else None,
                user_id=user.id if user is not None else None,
                held_reason=HELD_REASON if status == CommentStatus.PENDING else "",
            )
        )
    return incoming


def _status(comment: WxrComment, summary: Summary) -> CommentStatus | None:
    kind = comment.comment_type.lower()
    if kind not in COMMENT_TYPES:
        summary.skip_comment(kind)
        return None
    state = comment.approved.lower()
    if state in STATUSES:
        return STATUSES[state]
    summary.skip_comment(SKIPPED_STATUSES.get(state, f"“{state or 'no'}” status"))
    return None


def comment_time(comment: WxrComment, zone: ZoneInfo) -> datetime:
    """Naive UTC, as the database keeps times."""
    gmt = wp_datetime(comment.date_gmt)
    if gmt is not None:
        return gmt
    local = wp_datetime(comment.date)
    if local is None:
        return datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    return local.replace(tzinfo=zone).astimezone(UTC).replace(tzinfo=None)

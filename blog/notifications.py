"""Notifications: "something needs you" emails to users picked by role, or to a post's author.

    notifications.notify([Role.ADMIN, Role.EDITOR], "A comment awaits moderation",
                         "comment_waiting", kind="comment_moderation", post=post)
    notifications.notify([post], ...)         # a post stands for its author
    db.session.commit()                       # the caller commits, as for blog.mail

Decisions:
- Every kind is listed in KINDS with the words Profile shows next to its switch. A user's
  switched-off kinds are a JSON list on the user (`User.notifications_off`), so a new kind is
  one line here and no migration; it starts switched on for everyone.
- Deactivated users, users who switched the kind off, and anyone in `exclude` (the person
  whose action caused it) get nothing; a user named twice (by role and as the author) gets one
  email.
- With no MAIL_HOST nothing is sent and nothing breaks: notifications are a convenience, so
  the caller's work goes on; the log says what was not sent.
- Notifications are about the site's work, so the email is Auto-Submitted and says where to
  switch it off.
"""

from collections.abc import Iterable

from flask import current_app
from sqlalchemy import select

from . import mail
from .extensions import db
from .models import Post, Role, User
from .urls import absolute_url

# kind -> what Profile shows beside its switch. Later features add their kinds here.
KINDS: dict[str, str] = {
    "invitation_accepted": "Someone accepted an invitation to join (admins)",
    "comment_waiting": "A comment waits for moderation (editors; authors, on their posts)",
}


def is_wanted(user: User, kind: str) -> bool:
    return user.active and kind not in (user.notifications_off or [])


def set_wanted(user: User, wanted: Iterable[str]) -> None:
    """Keep the kinds not in `wanted` switched off (unknown kinds are ignored)."""
    wanted = set(wanted)
    user.notifications_off = sorted(kind for kind in KINDS if kind not in wanted)


def recipients(targets: Iterable[User | Role | Post]) -> list[User]:
    """The users that roles, users and posts (their authors) name, each once, in order."""
    roles = [target for target in targets if isinstance(target, Role)]
    found: dict[int, User] = {}
    for target in targets:
        if isinstance(target, User):
            found.setdefault(target.id, target)
        elif isinstance(target, Post) and target.author is not None:
            found.setdefault(target.author.id, target.author)
    if roles:
        query = select(User).where(User.role.in_(roles)).order_by(User.id)
        for user in db.session.scalars(query):
            found.setdefault(user.id, user)
    return list(found.values())


def notify(
    targets: Iterable[User | Role | Post],
    subject: str,
    template: str,
    *,
    kind: str,
    exclude: Iterable[User] = (),
    **context,
) -> list[User]:
    """Queue one email per wanting user (the caller commits); returns who will get one."""
    if kind not in KINDS:
        raise ValueError(f"Unknown notification kind {kind!r}; add it to KINDS")
    targets = list(targets)
    excluded = {user.id for user in exclude}
    chosen = [
        user for user in recipients(targets) if user.id not in excluded and is_wanted(user, kind)
    ]
    if not chosen:
        return []
    if not mail.is_configured():
        current_app.logger.info(
            "Notification %r not emailed to %d users: email is not set up", kind, len(chosen)
        )
        return []
    profile_link = absolute_url("admin.profile") + "#notifications"
    for user in chosen:
        mail.send(
            user.email,
            subject,
            f"notifications/{template}",
            purpose=f"notify:{kind}"[:40],
            user=user,
            name=user.display_name,
            settings_link=profile_link,
            **context,
        )
    current_app.logger.info("Notification %r queued for %d users", kind, len(chosen))
    return chosen

"""Invitations: an admin asks someone to join with a role; the account is made on acceptance.

    invitation, link = invitations.invite(email, role, invited_by=admin)   # the caller commits
    invitations.email(invitation, link)            # when email is set up; else show the link
    user = invitations.accept(token, name, password)

Decisions:
- The link holds a random token; the database keeps its SHA-256 only, like sign-in sessions.
  So a link can be shown once (the admin's page, the CLI) and emailed, never shown again;
  resending makes a new token (and a new seven days), which voids the older link.
- An invitation is pending until it is accepted, revoked or past `expires_at`; revoked and
  accepted ones stay as a record of who invited whom.
- Accepting creates the account through `accounts.create_user`, so every rule on names,
  addresses and passwords applies; an address that got an account meanwhile is refused.
"""

import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from . import mail
from .accounts import AccountError, create_user, find_user, normalize_email, parse_role
from .extensions import db
from .models import Invitation, Role, User, utcnow
from .urls import absolute_url

TOKEN_BYTES = 32
MAX_TOKEN_LENGTH = 100


class InvitationRefused(ValueError):
    """The link cannot be used; the message says why."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _lifetime() -> timedelta:
    return timedelta(days=current_app.config["INVITATION_DAYS"])


def link_for(token: str) -> str:
    return absolute_url("auth.accept_invitation", token=token)


def _new_token(invitation: Invitation) -> str:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = utcnow()
    invitation.token_hash = _hash(token)
    invitation.sent_at = now
    invitation.expires_at = now + _lifetime()
    return token


def pending() -> list[Invitation]:
    """Invitations still waiting for an answer, newest first."""
    query = (
        select(Invitation)
        .options(joinedload(Invitation.invited_by))
        .where(
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > utcnow(),
        )
        .order_by(Invitation.sent_at.desc(), Invitation.id.desc())
    )
    return list(db.session.scalars(query))


def _pending_for(email: str) -> Invitation | None:
    return next((item for item in pending() if item.email == email), None)


def invite(email: str, role: Role | str, invited_by: User | None) -> tuple[Invitation, str]:
    """Add an invitation to the session (the caller commits); returns it and its link."""
    email = normalize_email(email)
    role = parse_role(role) if isinstance(role, str) else role
    if find_user(email) is not None:
        raise AccountError(f"{email} already has an account.")
    if _pending_for(email) is not None:
        raise AccountError(f"{email} is already invited; resend that invitation instead.")
    invitation = Invitation(email=email, role=role, invited_by=invited_by)
    token = _new_token(invitation)
    db.session.add(invitation)
    return invitation, link_for(token)


def renew(invitation: Invitation) -> str:
    """A new link for a pending (or expired) invitation, valid from now; the old one stops."""
    if invitation.accepted_at is not None or invitation.revoked_at is not None:
        raise AccountError("That invitation was already accepted or revoked.")
    return link_for(_new_token(invitation))


def revoke(invitation: Invitation) -> None:
    if invitation.accepted_at is not None:
        raise AccountError("That invitation was already accepted; deactivate the account instead.")
    invitation.revoked_at = invitation.revoked_at or utcnow()


def send(invitation: Invitation, link: str, sender: User | None = None) -> None:
    """Email the link (the caller commits); MailConfigError when the site cannot send email."""
    inviter = invitation.invited_by.display_name if invitation.invited_by else "An admin"
    mail.send(
        invitation.email,
        f"You are invited to {_site_title()}",
        "invitation",
        purpose="invitation",
        created_by=sender,
        inviter=inviter,
        role=invitation.role.value,
        link=link,
        days=current_app.config["INVITATION_DAYS"],
    )


def _site_title() -> str:
    from .settings import get_setting

    return str(get_setting("site_title"))


def find(token: str) -> Invitation:
    """The pending invitation a link is for, or InvitationRefused saying why not."""
    invitation = None
    if isinstance(token, str) and 0 < len(token) <= MAX_TOKEN_LENGTH:
        query = select(Invitation).where(Invitation.token_hash == _hash(token))
        invitation = db.session.scalar(query)
    if invitation is None:
        raise InvitationRefused(
            "This invitation link is not valid: it may be incomplete, or a newer invitation "
            "replaced it."
        )
    if invitation.accepted_at is not None:
        raise InvitationRefused("This invitation has already been accepted. Sign in instead.")
    if invitation.revoked_at is not None:
        raise InvitationRefused("This invitation was withdrawn by an admin.")
    if invitation.expires_at <= utcnow():
        raise InvitationRefused("This invitation has expired.")
    return invitation


def accept(invitation: Invitation, display_name: str, password: str) -> User:
    """Create the invited account (the caller commits); AccountError if a rule is broken."""
    user = create_user(invitation.email, display_name, invitation.role, password)
    db.session.flush()
    invitation.accepted_at = utcnow()
    invitation.user_id = user.id
    return user

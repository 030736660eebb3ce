"""Subscribing, confirming, leaving and changing address: the reader's side of the newsletter.

Decisions:
- Double opt-in: the form stores an unconfirmed subscriber and emails a confirmation link
  (valid CONFIRM_DAYS days); only the link's click makes them confirmed. An unconfirmed
  address gets nothing else, and is forgotten after CONFIRM_DAYS (`forget_unconfirmed`).
- The form's answer is the same whether or not the address is already on the list, so it
  tells nobody who subscribes. An already confirmed address is not emailed again; an
  unsubscribed one is sent a new confirmation (they must agree again).
- Links carry a signed reference to the subscriber and a digest of their address, so a link
  stops working when the address changes or the subscriber is deleted; the unsubscribe link
  does not expire (RFC 8058 asks that it keep working).
- Rate limited per client address and per email, in the database (blog.rate_limits), as
  comments are.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer, URLSafeTimedSerializer
from sqlalchemy import delete, func, select

from .. import mail
from ..extensions import db
from ..models import Subscriber, SubscriberStatus, utcnow
from ..urls import absolute_url

CONFIRM_DAYS = 7
CONFIRM_SALT = "newsletter-confirm"
LINK_SALT = "newsletter-link"  # unsubscribe, preferences: long-lived
CHANGE_SALT = "newsletter-change-address"


class SubscribeError(Exception):
    """What to tell the reader, in plain words."""


# Links -----------------------------------------------------------------------------------------


def _digest(email: str) -> str:
    return hashlib.sha256(email.lower().encode()).hexdigest()[:16]


def _secret() -> str:
    return current_app.config["SECRET_KEY"]


def confirm_token(subscriber: Subscriber) -> str:
    serializer = URLSafeTimedSerializer(_secret(), salt=CONFIRM_SALT)
    return serializer.dumps([subscriber.id, _digest(subscriber.email)])


def link_token(subscriber: Subscriber) -> str:
    return URLSafeSerializer(_secret(), salt=LINK_SALT).dumps(
        [subscriber.id, _digest(subscriber.email)]
    )


def unsubscribe_url(subscriber: Subscriber) -> str:
    return absolute_url("public.unsubscribe", token=link_token(subscriber))


def change_token(subscriber: Subscriber, new_email: str) -> str:
    serializer = URLSafeTimedSerializer(_secret(), salt=CHANGE_SALT)
    return serializer.dumps([subscriber.id, _digest(subscriber.email), new_email])


def subscriber_for(token: str, *, confirming: bool = False) -> Subscriber | None:
    """The subscriber a link names, if the link is good and still matches their address."""
    try:
        if confirming:
            serializer = URLSafeTimedSerializer(_secret(), salt=CONFIRM_SALT)
            payload = serializer.loads(token, max_age=CONFIRM_DAYS * 86400)
        else:
            payload = URLSafeSerializer(_secret(), salt=LINK_SALT).loads(token)
    except BadSignature:
        return None
    return _matching(payload)


def change_for(token: str) -> tuple[Subscriber, str] | None:
    try:
        payload = URLSafeTimedSerializer(_secret(), salt=CHANGE_SALT).loads(
            token, max_age=CONFIRM_DAYS * 86400
        )
    except BadSignature:
        return None
    subscriber = _matching(payload[:2]) if isinstance(payload, list) and len(payload) == 3 else None
    return (subscriber, str(payload[2])) if subscriber else None


def _matching(payload) -> Subscriber | None:
    if not (isinstance(payload, list) and len(payload) == 2 and isinstance(payload[0], int)):
        return None
    subscriber = db.session.get(Subscriber, payload[0])
    if subscriber is None or _digest(subscriber.email) != payload[1]:
        return None
    return subscriber


# Subscribing -----------------------------------------------------------------------------------


def normalise(email: str) -> str:
    return email.strip().lower()


def subscribe(email: str, name: str = "", *, consent: str) -> Subscriber:
    """Record the wish and send the confirmation link, unless already confirmed (the caller
    commits). The caller answers the same either way."""
    if not mail.is_configured():
        raise SubscribeError("This site cannot send email yet, so it cannot take subscribers.")
    email = normalise(email)
    subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email == email))
    if subscriber is None:
        subscriber = Subscriber(email=email, name=name.strip()[:100], consent=consent[:300])
        db.session.add(subscriber)
        db.session.flush()
    elif subscriber.status == SubscriberStatus.CONFIRMED:
        return subscriber  # nothing to send; nothing to reveal
    else:
        subscriber.consent = consent[:300]
        if subscriber.status == SubscriberStatus.UNCONFIRMED:
            subscriber.created_at = utcnow()  # kept CONFIRM_DAYS from the newest link
        if name.strip():
            subscriber.name = name.strip()[:100]
    send_confirmation(subscriber)
    return subscriber


def send_confirmation(subscriber: Subscriber) -> None:
    mail.send(
        subscriber.email,
        "Confirm your subscription",
        "newsletter_confirm",
        purpose="newsletter_confirm",
        name=subscriber.name,
        days=CONFIRM_DAYS,
        link=absolute_url("public.confirm_subscription", token=confirm_token(subscriber)),
    )


def confirm(subscriber: Subscriber) -> None:
    if subscriber.status != SubscriberStatus.CONFIRMED:
        subscriber.status = SubscriberStatus.CONFIRMED
        subscriber.confirmed_at = utcnow()
        subscriber.unsubscribed_at = None
        subscriber.bounces = 0


def unsubscribe(subscriber: Subscriber) -> bool:
    if subscriber.status == SubscriberStatus.UNSUBSCRIBED:
        return False
    subscriber.status = SubscriberStatus.UNSUBSCRIBED
    subscriber.unsubscribed_at = utcnow()
    return True


def resubscribe(subscriber: Subscriber) -> None:
    """From the unsubscribe page's button: the person just showed they hold the link."""
    confirm(subscriber)
    subscriber.consent = f"resubscribed from the unsubscribe page, {utcnow():%Y-%m-%d %H:%M} UTC"


def ask_to_change_address(subscriber: Subscriber, new_email: str) -> None:
    """Email a confirmation link to the new address; nothing changes until it is opened."""
    mail.send(
        new_email,
        "Confirm your new address",
        "newsletter_change_address",
        purpose="newsletter_change_address",
        name=subscriber.name,
        days=CONFIRM_DAYS,
        link=absolute_url(
            "public.confirm_new_address", token=change_token(subscriber, normalise(new_email))
        ),
    )


def change_address(subscriber: Subscriber, new_email: str) -> None:
    """Raises SubscribeError when the new address is someone else's subscription."""
    taken = db.session.scalar(
        select(Subscriber.id).where(Subscriber.email == new_email, Subscriber.id != subscriber.id)
    )
    if taken:
        raise SubscribeError(
            f"{new_email} is already subscribed, so there is nothing to change: unsubscribe "
            "the old address from its newsletter emails if you no longer want them there."
        )
    subscriber.email = new_email


# Housekeeping ----------------------------------------------------------------------------------


def forget_unconfirmed(now=None) -> int:
    """Delete subscribers who never confirmed within CONFIRM_DAYS (the caller commits)."""
    limit = (now or utcnow()) - timedelta(days=CONFIRM_DAYS)
    result = db.session.execute(
        delete(Subscriber).where(
            Subscriber.status == SubscriberStatus.UNCONFIRMED, Subscriber.created_at < limit
        )
    )
    return result.rowcount or 0


def counts() -> dict[str, int]:
    rows = db.session.execute(
        select(Subscriber.status, func.count(Subscriber.id)).group_by(Subscriber.status)
    )
    found = {status.value: 0 for status in SubscriberStatus}
    found.update({status.value: number for status, number in rows})
    return found

"""Sending a post to the subscribers: once each, at a pace the SMTP server accepts, through
crashes, restarts and second workers.

How a send goes:
1. Saving a post whose newsletter choice is on queues a `newsletter_start` job for the moment
   it becomes public (now, or its scheduled time: only the worker needs to run then).
2. That job makes the email once (`email_version`), and in one transaction writes the
   `newsletter_send` (one per post, ever: a unique key), one `newsletter_delivery` row per
   confirmed subscriber (a single INSERT ... SELECT), and the first `newsletter_batch` job
   (NEWSLETTER_PARALLEL_BATCHES of them, for sites with more than one worker).
3. Each batch job claims up to NEWSLETTER_BATCH_SIZE queued deliveries with a conditional
   UPDATE, sends them over one SMTP connection, and queues the next batch of its chain for
   when the rate (NEWSLETTER_PER_MINUTE, shared by the chains) allows. The batch that finds
   nothing left marks the send done.

Exactly once, and what that means over SMTP:
- A batch claims its deliveries (`sending`, with the batch's token) in a conditional UPDATE,
  and every later change of a delivery is an UPDATE conditional on that token and state.
- The SMTP transaction runs up to the message's last line; right before the final "." that
  completes it, the delivery moves from `sending` to `handed_over` (committed). Only one
  worker can make that move, so only one ever sends that final line. On the server's 250 it
  becomes `sent`.
- A worker killed before that move leaves an unfinished SMTP transaction, which the server
  throws away; its claim runs out after JOB_LEASE_SECONDS and another batch sends the
  message: no one is skipped. A worker that held a claim that long (a slow server) finds it
  taken over at its next step and drops its unfinished message.
- A worker killed after the move has sent the whole message; only the server's answer went
  unheard. It is never sent again (nothing is sent twice), and the admin counts it as
  "handed over" rather than "sent". The one case that loses a message is a kill in the
  microseconds between that commit and the final "." leaving the socket.
- A 5xx for an address marks that delivery bounced; three bounced newsletters in a row mark
  the subscriber bouncing, and bouncing subscribers get no further sends. A 4xx for an
  address puts it back in the queue (up to MAX_ATTEMPTS). A server that cannot be reached
  fails the batch job, which the job system retries with backoff; nothing is lost.
"""

from __future__ import annotations

import logging
import re
import secrets
import smtplib
import socket
import time
from datetime import timedelta
from email.utils import formataddr, make_msgid

from flask import current_app
from flask_mailman import EmailMultiAlternatives
from flask_mailman.message import sanitize_address
from markupsafe import escape
from sqlalchemy import and_, func, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from .. import jobs, mail
from ..extensions import db
from ..models import (
    DeliveryStatus,
    NewsletterChoice,
    NewsletterDelivery,
    NewsletterSend,
    Post,
    PostKind,
    PostStatus,
    SendStatus,
    Subscriber,
    SubscriberStatus,
    utcnow,
)
from . import email_version, subscribers

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5  # per delivery, for 4xx answers
BOUNCES_TO_STOP = 3


# Starting ------------------------------------------------------------------------------------


def wants_sending(post: Post) -> bool:
    return (
        post.kind == PostKind.POST
        and post.newsletter in (NewsletterChoice.FULL, NewsletterChoice.EXCERPT)
        and post.status in (PostStatus.PUBLISHED, PostStatus.SCHEDULED)
        and post.deleted_at is None
    )


def after_save(post: Post, user=None) -> bool:
    """Queue the start of the post's send for when it becomes public (the caller commits).

    Saving again queues another start job; only one can ever create the send."""
    if not wants_sending(post) or already_sent(post) or not mail.is_configured():
        return False
    job = jobs.enqueue(
        "newsletter_start", {"post_id": post.id}, f"Newsletter: start sending “{post.title}”",
        created_by=user, run_after=max(post.published_at or utcnow(), utcnow()),
    )  # fmt: skip
    log.info("Newsletter for post %s: sending starts at %s", post.id, job.run_after)
    return True


def already_sent(post: Post) -> bool:
    return send_of(post) is not None


def send_of(post: Post) -> NewsletterSend | None:
    return db.session.scalar(select(NewsletterSend).where(NewsletterSend.post_id == post.id))


def offered() -> bool:
    """The newsletter works only when the site can send email."""
    return mail.is_configured()


@jobs.handler("newsletter_start", max_attempts=5)
def start(payload: dict) -> None:
    post = db.session.get(Post, payload["post_id"])
    if post is None or not wants_sending(post):
        log.info("Newsletter start for post %s: nothing to send now", payload["post_id"])
        return
    if not post.is_public:
        log.info("Newsletter start for post %s: not public yet; its own job comes later", post.id)
        return
    if already_sent(post):
        return
    version = email_version.make(post)
    send = NewsletterSend(
        post_id=post.id, title=post.title, subject=version.subject,
        html_body=version.html, text_body=version.text,
    )  # fmt: skip
    db.session.add(send)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()  # another worker started it a moment ago
        return
    _write_deliveries(send)
    send.total = _count_deliveries(send)
    _queue_batches(send)
    if send.total == 0:
        send.status, send.finished_at, send.note = SendStatus.DONE, utcnow(), "No subscribers."
    db.session.commit()
    log.info("Newsletter send %s for post %s: %s subscribers", send.id, post.id, send.total)


def _write_deliveries(send: NewsletterSend) -> None:
    """One queued delivery per confirmed subscriber, in one statement."""
    chosen = select(
        literal(send.id), Subscriber.id, literal(DeliveryStatus.QUEUED.value), literal(0),
        literal(""), literal(""), literal(""),
    ).where(Subscriber.status == SubscriberStatus.CONFIRMED)  # fmt: skip
    db.session.execute(
        insert(NewsletterDelivery).from_select(
            ["send_id", "subscriber_id", "status", "attempts", "message_id", "claim", "last_error"],
            chosen,
        )
    )


def _count_deliveries(send: NewsletterSend) -> int:
    """Counted, not taken from the INSERT's rowcount, which some drivers leave at -1."""
    return db.session.scalar(select(func.count()).where(NewsletterDelivery.send_id == send.id)) or 0


def _parallel() -> int:
    return max(int(current_app.config["NEWSLETTER_PARALLEL_BATCHES"]), 1)


def _queue_batches(send: NewsletterSend) -> None:
    """Start the send's chains of batches: each batch queues the next of its chain."""
    for _ in range(_parallel()):
        _queue_batch(send, utcnow())


def _queue_batch(send: NewsletterSend, when) -> None:
    jobs.enqueue(
        "newsletter_batch", {"send_id": send.id}, f"Newsletter: send “{send.title}”",
        run_after=when, max_attempts=30,
    )  # fmt: skip


# Batches -------------------------------------------------------------------------------------


class ClaimLost(Exception):
    """Another worker took the delivery over (this one held it past JOB_LEASE_SECONDS)."""


def _paused_for_good(payload: dict, reason: str) -> None:
    """The batch job gave up (the SMTP server unreachable for a day): the send waits, paused,
    for the admin's Resume, instead of hanging in "sending" with nothing to move it on."""
    send = db.session.get(NewsletterSend, payload["send_id"])
    if send is not None and _end_sending(send, SendStatus.PAUSED, note=f"Paused: {reason}"[:500]):
        log.warning("Newsletter send %s paused: %s", send.id, reason)


@jobs.handler("newsletter_batch", max_attempts=30, gave_up=_paused_for_good)
def batch(payload: dict) -> None:
    send = db.session.get(NewsletterSend, payload["send_id"])
    if send is None or send.status != SendStatus.SENDING:
        return
    started = time.monotonic()
    token = secrets.token_hex(16)
    claimed = _claim(send, token, int(current_app.config["NEWSLETTER_BATCH_SIZE"]))
    sent = _deliver(send, token, claimed) if claimed else 0
    db.session.refresh(send)  # the admin may have paused or cancelled it meanwhile
    if send.status != SendStatus.SENDING:
        return
    if not _left(send):
        if _end_sending(send, SendStatus.DONE, finished_at=utcnow()):
            log.info("Newsletter send %s done", send.id)
        return
    rate = max(float(current_app.config["NEWSLETTER_PER_MINUTE"]), 1.0)
    wait = max(sent * 60.0 * _parallel() / rate - (time.monotonic() - started), 0.0)
    if not claimed:  # what is left is held by a batch elsewhere, or by a dead worker
        wait = _until_claims_run_out(send)
    _queue_batch(send, utcnow() + timedelta(seconds=wait))
    db.session.commit()


def _end_sending(send: NewsletterSend, status: SendStatus, **values) -> bool:
    """Move a send on from `sending` (done, paused), unless the admin moved it first."""
    changed = db.session.execute(
        update(NewsletterSend)
        .where(NewsletterSend.id == send.id, NewsletterSend.status == SendStatus.SENDING)
        .values(status=status, **values)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    db.session.expire(send)
    return changed == 1


def _lease() -> timedelta:
    return timedelta(seconds=int(current_app.config["JOB_LEASE_SECONDS"]))


def _claimable(send: NewsletterSend, now):
    """Queued deliveries, and claims nobody renewed for a lease (their worker died)."""
    return and_(
        NewsletterDelivery.send_id == send.id,
        or_(
            NewsletterDelivery.status == DeliveryStatus.QUEUED,
            and_(
                NewsletterDelivery.status == DeliveryStatus.SENDING,
                NewsletterDelivery.claimed_at < now - _lease(),
            ),
        ),
    )


def _claim(send: NewsletterSend, token: str, size: int) -> list[NewsletterDelivery]:
    """Take up to `size` deliveries for this batch, marked with its token."""
    now = utcnow()
    ids = db.session.scalars(
        select(NewsletterDelivery.id)
        .where(_claimable(send, now))
        .order_by(NewsletterDelivery.id)
        .limit(size)
    ).all()
    if not ids:
        return []
    db.session.execute(
        update(NewsletterDelivery)
        .where(NewsletterDelivery.id.in_(ids), _claimable(send, now))
        .values(claim=token, claimed_at=now, status=DeliveryStatus.SENDING)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return db.session.scalars(
        select(NewsletterDelivery)
        .where(NewsletterDelivery.id.in_(ids), NewsletterDelivery.claim == token)
        .options(joinedload(NewsletterDelivery.subscriber))
        .order_by(NewsletterDelivery.id)
    ).all()


def _left(send: NewsletterSend) -> bool:
    return (
        db.session.scalar(
            select(NewsletterDelivery.id)
            .where(
                NewsletterDelivery.send_id == send.id,
                NewsletterDelivery.status.in_((DeliveryStatus.QUEUED, DeliveryStatus.SENDING)),
            )
            .limit(1)
        )
        is not None
    )


def _until_claims_run_out(send: NewsletterSend) -> float:
    """Seconds until the oldest claim on this send could be taken over (at least one)."""
    oldest = db.session.scalar(
        select(func.min(NewsletterDelivery.claimed_at)).where(
            NewsletterDelivery.send_id == send.id,
            NewsletterDelivery.status == DeliveryStatus.SENDING,
        )
    )
    if oldest is None:
        return 1.0
    return max((oldest + _lease() - utcnow()).total_seconds() + 0.5, 1.0)


def _deliver(send: NewsletterSend, token: str, claimed: list[NewsletterDelivery]) -> int:
    """Send each claimed delivery over one connection; returns how many went out."""
    backend = mail.VerifiedSMTPBackend(fail_silently=False)
    sent = 0
    try:
        backend.open()
        for position, delivery in enumerate(claimed):
            if not _still_sending(send):
                _release(token, claimed[position:])
                break
            try:
                sent += _send_one(backend, send, token, delivery)
            except ClaimLost:
                log.warning("Newsletter delivery %s was taken over; not sent here", delivery.id)
                _drop_connection(backend)  # the server discards the unfinished message
                backend.open()
    except (smtplib.SMTPException, OSError) as error:
        db.session.rollback()
        _release(token, claimed)  # back to the queue, but for a message already handed over
        temporary, reason = mail.classify(error)
        log.warning("Newsletter send %s: batch stopped: %s", send.id, reason)
        if temporary:
            raise jobs.TemporaryFailure(reason) from error
        _end_sending(send, SendStatus.PAUSED, note=f"Paused: {reason}"[:500])
    finally:
        mail.close_quietly(backend)
    return sent


def _drop_connection(backend) -> None:
    """Close the socket without QUIT, which mid-message would become part of the message."""
    if backend.connection is not None:
        backend.connection.close()
        backend.connection = None


def _still_sending(send: NewsletterSend) -> bool:
    status = db.session.scalar(select(NewsletterSend.status).where(NewsletterSend.id == send.id))
    return status == SendStatus.SENDING


def _release(token: str, deliveries: list[NewsletterDelivery]) -> None:
    """Give back this batch's claims on messages not handed over."""
    ids = [delivery.id for delivery in deliveries]
    if ids:
        db.session.execute(
            update(NewsletterDelivery)
            .where(
                NewsletterDelivery.id.in_(ids),
                NewsletterDelivery.claim == token,
                NewsletterDelivery.status == DeliveryStatus.SENDING,
            )
            .values(status=DeliveryStatus.QUEUED, claim="", claimed_at=None)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()


def _move(delivery: NewsletterDelivery, token: str, states, **values) -> bool:
    """Change a delivery this batch still holds, in one conditional UPDATE, and commit."""
    result = db.session.execute(
        update(NewsletterDelivery)
        .where(
            NewsletterDelivery.id == delivery.id,
            NewsletterDelivery.claim == token,
            NewsletterDelivery.status.in_(states),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    db.session.expire(delivery)
    return result.rowcount == 1


def _send_one(backend, send: NewsletterSend, token: str, delivery: NewsletterDelivery) -> bool:
    """One message: its claim renewed, handed over (recorded before its final line), then
    recorded as sent or refused. Every step is conditional on this batch's claim."""
    subscriber = delivery.subscriber
    if subscriber.status != SubscriberStatus.CONFIRMED:
        _move(
            delivery, token, [DeliveryStatus.SENDING], status=DeliveryStatus.CANCELLED,
            last_error=f"The subscriber is {subscriber.status.value}.",
        )  # fmt: skip
        return False
    message_id = delivery.message_id or make_msgid(domain=mail.message_id_domain())
    renewed = _move(
        delivery, token, [DeliveryStatus.SENDING], claimed_at=utcnow(), message_id=message_id,
        attempts=NewsletterDelivery.attempts + 1,
    )  # fmt: skip
    if not renewed:
        return False
    message = _message(send, message_id, subscriber)

    def handing_over() -> None:
        if not _move(delivery, token, [DeliveryStatus.SENDING], status=DeliveryStatus.HANDED_OVER):
            raise ClaimLost(delivery.id)

    try:
        smtp_transaction(backend, message, before_final_line=handing_over)
    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError) as error:
        temporary, reason = mail.classify(error)
        _refused(delivery, token, subscriber, temporary, reason)
        return False
    _move(
        delivery, token, [DeliveryStatus.HANDED_OVER], status=DeliveryStatus.SENT,
        sent_at=utcnow(), last_error="",
    )  # fmt: skip
    if subscriber.bounces:
        subscriber.bounces = 0
        db.session.commit()
    return True


def smtp_transaction(backend, message, before_final_line) -> None:
    """Send one message as smtplib's `sendmail` does, calling `before_final_line` just before
    the "." that makes the server take it: up to then, a crash loses nothing but the attempt."""
    connection = backend.connection
    # The final line follows the body in a write of its own: without this, Nagle's algorithm
    # holds it back until the server's delayed ACK of the body (40 ms a message on Linux).
    connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    encoding = message.encoding or backend.mailman.default_charset
    sender = sanitize_address(message.from_email, encoding)
    (recipient,) = [sanitize_address(address, encoding) for address in message.recipients()]
    connection.ehlo_or_helo_if_needed()
    code, reply = connection.mail(sender)
    if code != 250:
        connection.rset()
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    code, reply = connection.rcpt(recipient)
    if code not in (250, 251):
        connection.rset()
        raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
    connection.putcmd("data")
    code, reply = connection.getreply()
    if code != 354:
        connection.rset()
        raise smtplib.SMTPDataError(code, reply)
    connection.send(_dot_stuffed(message.message().as_bytes(linesep="\r\n")))
    before_final_line()
    connection.send(b".\r\n")
    code, reply = connection.getreply()
    if code != 250:
        raise smtplib.SMTPDataError(code, reply)


def _dot_stuffed(data: bytes) -> bytes:
    """RFC 5321 4.5.2: CRLF line ends, a leading "." doubled, ending in CRLF."""
    data = re.sub(rb"\r\n|\r|\n", b"\r\n", data)
    data = re.sub(rb"(?m)^\.", b"..", data)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def _refused(delivery, token: str, subscriber: Subscriber, temporary: bool, reason: str) -> None:
    holding = [DeliveryStatus.SENDING, DeliveryStatus.HANDED_OVER]
    if temporary and delivery.attempts < MAX_ATTEMPTS:
        _move(
            delivery, token, holding, status=DeliveryStatus.QUEUED, claim="", claimed_at=None,
            last_error=reason[:500],
        )  # fmt: skip
        return
    if temporary:
        _move(delivery, token, holding, status=DeliveryStatus.FAILED, last_error=reason[:500])
        return
    if _move(delivery, token, holding, status=DeliveryStatus.BOUNCED, last_error=reason[:500]):
        db.session.execute(
            update(Subscriber)
            .where(Subscriber.id == subscriber.id)
            .values(bounces=Subscriber.bounces + 1, last_error=reason[:500])
        )
        db.session.execute(
            update(Subscriber)
            .where(Subscriber.id == subscriber.id, Subscriber.bounces >= BOUNCES_TO_STOP)
            .where(Subscriber.status == SubscriberStatus.CONFIRMED)
            .values(status=SubscriberStatus.BOUNCING)
        )
        db.session.commit()
        db.session.expire(subscriber)
        if subscriber.status == SubscriberStatus.BOUNCING:
            log.warning("Subscriber %s is bouncing: %s", subscriber.id, reason)


def _message(send: NewsletterSend, message_id: str, subscriber: Subscriber):
    from ..settings import get_setting

    unsubscribe = subscribers.unsubscribe_url(subscriber)
    message = EmailMultiAlternatives(
        subject=send.subject,
        body=email_version.personal(send.text_body, unsubscribe),
        from_email=formataddr((str(get_setting("site_title")), mail.sender_address())),
        to=[subscriber.email],
        headers={
            "Message-ID": message_id,
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "List-Id": f"{get_setting('site_title')} <newsletter.{mail.message_id_domain()}>",
            "Precedence": "bulk",
        },
    )
    html = email_version.personal(send.html_body, str(escape(unsubscribe)))
    message.attach_alternative(html, "text/html")
    return message


# The admin's controls ------------------------------------------------------------------------


def pause(send: NewsletterSend) -> None:
    if send.status == SendStatus.SENDING:
        send.status = SendStatus.PAUSED


def resume(send: NewsletterSend) -> None:
    """Go on from where it stopped (also for a send whose batch job gave up)."""
    if send.status in (SendStatus.PAUSED, SendStatus.SENDING):
        send.status, send.note = SendStatus.SENDING, ""
        _queue_batches(send)


def cancel(send: NewsletterSend) -> int:
    """Stop for good: the deliveries not yet handed over are cancelled, those a running batch
    holds too (its next step finds them gone and sends nothing)."""
    if send.status in (SendStatus.DONE, SendStatus.CANCELLED):
        return 0
    send.status, send.finished_at = SendStatus.CANCELLED, utcnow()
    result = db.session.execute(
        update(NewsletterDelivery)
        .where(
            NewsletterDelivery.send_id == send.id,
            NewsletterDelivery.status.in_((DeliveryStatus.QUEUED, DeliveryStatus.SENDING)),
        )
        .values(status=DeliveryStatus.CANCELLED, claim="")
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def progress(send_ids: list[int]) -> dict[int, dict[str, int]]:
    """Deliveries per state for each send, in one grouped query."""
    found = {send_id: {status.value: 0 for status in DeliveryStatus} for send_id in send_ids}
    if not send_ids:
        return found
    rows = db.session.execute(
        select(NewsletterDelivery.send_id, NewsletterDelivery.status, func.count())
        .where(NewsletterDelivery.send_id.in_(send_ids))
        .group_by(NewsletterDelivery.send_id, NewsletterDelivery.status)
    )
    for send_id, status, number in rows:
        found[send_id][status.value] = number
    return found

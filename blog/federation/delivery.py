"""What this site sends to other servers: one recorded delivery per inbox, sent by a job.

    federation.delivery.queue_activity(actor, activity, followers)   # the caller commits

Decisions:
- A `FederationDelivery` row is written in the caller's transaction before anything is sent,
  and its job reaches the queue only after the commit: nothing is sent for a change that was
  rolled back, and nothing is sent twice.
- Followers on one server that share an inbox get one delivery for that inbox.
- Retries are the delivery's own, on FEDERATION_RETRY_SECONDS (1 min, 5 min, 30 min, 2 h,
  6 h by default: about 8.6 hours in all), not the job system's backoff, so the schedule is
  the documented one whatever the job settings. Each try is a job of its own.
- A receiving server takes an activity again by its id (ActivityPub inboxes de-duplicate), so
  the one window where a crash resends (after the POST, before the commit) costs nothing.
- `remote` (requests, urllib3, and cryptography for the signatures) is imported by the job
  that sends, not by the module: web workers import this module only to queue deliveries,
  and the HTTP client would cost each of them 8-12 MB (bench/README.md, memory).
"""

import json
import logging
from collections.abc import Iterable
from datetime import timedelta
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .. import jobs
from ..extensions import db
from ..models import (
    DeliveryState,
    FederationDelivery,
    LocalActor,
    RemoteActor,
    RemoteServer,
    utcnow,
)
from . import administration

log = logging.getLogger(__name__)

# Failed tries in a row, across a server's deliveries, that put the server aside.
SET_ASIDE_AFTER_FAILURES = 10


def inbox_for(recipient: RemoteActor) -> str:
    return recipient.shared_inbox or recipient.inbox


def queue_activity(
    actor: LocalActor, activity: dict, recipients: Iterable[RemoteActor]
) -> list[FederationDelivery]:
    """Record `activity` for each recipient's inbox (shared inboxes once) and queue its job."""
    body = json.dumps(activity, separators=(",", ":"), ensure_ascii=False)
    deliveries, seen = [], set()
    for recipient in recipients:
        inbox = inbox_for(recipient)
        if not inbox or inbox in seen:
            continue
        seen.add(inbox)
        delivery = FederationDelivery(
            activity_id=str(activity.get("id", ""))[:2000],
            activity_json=body,
            local_actor=actor,
            inbox=inbox,
            host=(urlsplit(inbox).hostname or "")[:253],
        )
        db.session.add(delivery)
        deliveries.append(delivery)
    db.session.flush()
    for delivery in deliveries:
        jobs.enqueue(
            "federation_delivery",
            {"delivery_id": delivery.id},
            label=f"{activity.get('type', 'Activity')} to {delivery.host}",
        )
    return deliveries


@jobs.handler("federation_delivery", max_attempts=3)
def deliver(payload: dict) -> None:
    """Send one recorded delivery, once it is due and its server is not put aside.

    A temporary failure (the server down, a 5xx, a timeout) records the attempt and queues
    the next try after the next wait of FEDERATION_RETRY_SECONDS; when those are used up the
    delivery fails for good. A server whose deliveries keep failing is put aside for
    FEDERATION_SET_ASIDE_SECONDS: its deliveries wait, without trying, until then, and
    deliveries to other servers never wait for it (each is a job of its own)."""
    delivery = db.session.get(FederationDelivery, payload["delivery_id"])
    if delivery is None or delivery.state != DeliveryState.PENDING:
        return
    server = remote_server(delivery.host)
    now = utcnow()
    if server.blocked or administration.is_blocked(delivery.host):
        _end(delivery, DeliveryState.FAILED, "The server is blocked.")
    elif server.set_aside_until is not None and server.set_aside_until > now:
        _try_later(delivery, server.set_aside_until)
    else:
        _attempt(delivery, server)
    db.session.commit()


def _attempt(delivery: FederationDelivery, server: RemoteServer) -> None:
    from . import remote

    try:
        remote.post_activity(delivery.inbox, delivery.activity_json.encode(), delivery.local_actor)
    except remote.RemoteError as error:
        delivery.attempts += 1
        delivery.last_error = str(error)[:500]
        log.info("Delivery %s to %s failed: %s", delivery.id, delivery.inbox, error)
        if not error.temporary:
            _end(delivery, DeliveryState.FAILED, str(error))
            return
        _server_failed(server, str(error))
        waits = current_app.config["FEDERATION_RETRY_SECONDS"]
        if delivery.attempts > len(waits):
            _end(
                delivery, DeliveryState.FAILED, f"gave up after {delivery.attempts} tries: {error}"
            )
            _set_aside(server)
            return
        next_try = utcnow() + timedelta(seconds=float(waits[delivery.attempts - 1]))
        if server.set_aside_until is not None:
            next_try = max(next_try, server.set_aside_until)
        _try_later(delivery, next_try)
        return
    delivery.attempts += 1
    _end(delivery, DeliveryState.DELIVERED, "")
    delivery.delivered_at = utcnow()
    server.failures, server.set_aside_until = 0, None
    server.last_success_at = utcnow()


def _end(delivery: FederationDelivery, state: DeliveryState, reason: str) -> None:
    delivery.state, delivery.next_attempt_at = state, None
    if reason:
        delivery.last_error = reason[:500]


def _try_later(delivery: FederationDelivery, moment) -> None:
    delivery.next_attempt_at = moment
    jobs.enqueue(
        "federation_delivery",
        {"delivery_id": delivery.id},
        label=f"Retry of delivery {delivery.id} to {delivery.host}",
        run_after=moment,
    )


def _server_failed(server: RemoteServer, reason: str) -> None:
    server.failures += 1
    server.last_error = reason[:500]
    if server.failures >= SET_ASIDE_AFTER_FAILURES:
        _set_aside(server)


def _set_aside(server: RemoteServer) -> None:
    seconds = float(current_app.config["FEDERATION_SET_ASIDE_SECONDS"])
    server.set_aside_until = utcnow() + timedelta(seconds=seconds)
    log.warning("Fediverse server %s put aside until %s: %s", server.host,
                server.set_aside_until, server.last_error)  # fmt: skip


def remote_server(host: str) -> RemoteServer:
    """The row for `host`, made the first time (two workers at once: one insert wins)."""
    server = db.session.scalar(select(RemoteServer).where(RemoteServer.host == host))
    if server is not None:
        return server
    try:
        with db.session.begin_nested():
            server = RemoteServer(host=host)
            db.session.add(server)
    except IntegrityError:
        server = db.session.scalar(select(RemoteServer).where(RemoteServer.host == host))
    return server

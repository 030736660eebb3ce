"""What this site sends to other servers: one recorded delivery per inbox, sent by a job.

    federation.delivery.queue_activity(actor, activity, followers)   # the caller commits

Decisions:
- A `FederationDelivery` row is written in the caller's transaction before anything is sent,
  and its job reaches the queue only after the commit: nothing is sent for a change that was
  rolled back, and nothing is sent twice.
- Followers on one server that share an inbox get one delivery for that inbox.
"""

import json
from collections.abc import Iterable
from urllib.parse import urlsplit

from .. import jobs
from ..extensions import db
from ..models import FederationDelivery, LocalActor, RemoteActor


def inbox_for(remote: RemoteActor) -> str:
    return remote.shared_inbox or remote.inbox


def queue_activity(
    actor: LocalActor, activity: dict, recipients: Iterable[RemoteActor]
) -> list[FederationDelivery]:
    """Record `activity` for each recipient's inbox (shared inboxes once) and queue its job."""
    body = json.dumps(activity, separators=(",", ":"), ensure_ascii=False)
    deliveries, seen = [], set()
    for remote in recipients:
        inbox = inbox_for(remote)
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
    """Send one delivery (being written: retries on the documented schedule, servers put
    aside while they keep failing)."""
    raise jobs.PermanentFailure("federation delivery is not built yet")

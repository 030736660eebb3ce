"""Background jobs: recorded in the site's database, carried by a queue, run by a worker.

    job = jobs.enqueue("email", {"email_id": 7}, label="Email to ann@…")   # caller commits
    @jobs.handler("email", max_attempts=8)
    def deliver(payload): ...

A job is a `Job` row. The queue engine (Huey, `blog.queue`) carries nothing but its id, and
the worker (`blog.worker`) runs it by calling `run(job_id)`.

Decisions:
- The row is written in the caller's transaction, with whatever needs it (an invitation and
  its email commit together or not at all), and is handed to the queue only once that
  transaction commits. A job committed but never handed over (a crash between the two) is
  found by the sweep and handed over then.
- A worker claims a job with one conditional UPDATE before running it, so a second delivery of
  the same id (the sweep, a second worker, a second app server) finds it taken and does
  nothing.
- The claim is a lease the worker renews while the job runs. A worker killed in the middle of
  a job stops renewing; once the lease runs out (at once, when the dead worker was on this
  machine) the sweep queues the job again. So handlers must be idempotent: they record what
  they did before they do it, and a second run skips what the first finished (an email
  accepted by the SMTP server is not sent again).
- Failures: a `TemporaryFailure` (an SMTP server down, a 4xx answer) and any unexpected error
  are retried with exponential backoff until the kind's `max_attempts`; a `PermanentFailure`
  ends the job at once. Either way a failed job keeps its reason for Admin → Jobs, where an
  admin can run it again.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from .extensions import db
from .models import Job, JobStatus, utcnow

log = logging.getLogger(__name__)

WAITING = (JobStatus.QUEUED, JobStatus.RETRYING)
# Where the handlers live: the worker imports these so every kind is known before it runs.
HANDLER_MODULES = (
    "blog.mail",
    "blog.portability.jobs",
    "blog.portability.export_jobs",
    "blog.newsletter.sending",
    "blog.federation.delivery",
    "blog.federation.publishing",
)
_PENDING_PUSH = "jobs_to_queue"


class TemporaryFailure(Exception):
    """The job may succeed later (a server down, a 4xx answer): retry with backoff."""


class PermanentFailure(Exception):
    """Trying again cannot help (a 5xx answer, a missing record): the job fails now."""


@dataclass(frozen=True)
class Kind:
    run: Callable[[dict], None]
    max_attempts: int
    gave_up: Callable[[dict, str], None] | None = None  # told when the job fails for good


HANDLERS: dict[str, Kind] = {}


def handler(kind: str, max_attempts: int = 8, gave_up: Callable[[dict, str], None] | None = None):
    """Register the function that runs jobs of `kind`; it gets the job's payload. `gave_up`,
    if given, gets the payload and the reason when a job of this kind fails for good (in a
    transaction of its own, committed after it returns)."""

    def register(function: Callable[[dict], None]):
        HANDLERS[kind] = Kind(function, max_attempts, gave_up)
        return function

    return register


def load_handlers() -> None:
    import importlib

    for module in HANDLER_MODULES:
        importlib.import_module(module)


# Queueing -------------------------------------------------------------------------------------


def enqueue(
    kind: str,
    payload: dict,
    label: str,
    *,
    created_by=None,
    max_attempts=None,
    run_after: datetime | None = None,
) -> Job:
    """Add a job to the session; it reaches the queue when the caller's transaction commits
    (to run at `run_after`, if given and later than now)."""
    load_handlers()
    if kind not in HANDLERS:
        raise KeyError(f"no handler for job kind {kind!r}")
    now = utcnow()
    job = Job(
        kind=kind,
        payload=payload,
        label=label[:300],
        max_attempts=max_attempts or HANDLERS[kind].max_attempts,
        created_by=created_by,
        run_after=max(run_after or now, now),
        queued_at=now,
    )
    db.session.add(job)
    return job


def init_app(session) -> None:
    """Hand committed jobs to the queue: collected at flush, sent after the commit.

    Idempotent: every app of a process shares the session, so a second app must not listen
    again (each commit would run every copy)."""
    from sqlalchemy import event

    for name, listener in (
        ("after_flush", _collect_new_jobs),
        ("after_commit", _queue_collected_jobs),
        ("after_rollback", _forget_collected_jobs),
    ):
        if not event.contains(session, name, listener):
            event.listen(session, name, listener)


def _collect_new_jobs(session: Session, flush_context) -> None:
    new = [(obj.id, obj.run_after) for obj in session.new if isinstance(obj, Job)]
    if new:
        session.info.setdefault(_PENDING_PUSH, []).extend(new)


def _queue_collected_jobs(session: Session) -> None:
    now = utcnow()
    for job_id, run_after in session.info.pop(_PENDING_PUSH, []):
        push(job_id, run_after if run_after and run_after > now else None)


def _forget_collected_jobs(session: Session) -> None:
    session.info.pop(_PENDING_PUSH, None)


def push(job_id: int, eta: datetime | None = None) -> None:
    """Hand a job's id to the queue. A failure is logged, not raised: the sweep retries it."""
    from . import queue

    try:
        queue.get_queue(current_app).push(job_id, eta)
    except Exception:  # noqa: BLE001 - the job is safe in the database; the sweep finds it
        log.exception("Could not hand job %s to the queue; the worker's sweep will", job_id)


# Running ---------------------------------------------------------------------------------------


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Leases:
    """The jobs this process is running, whose leases its heartbeat renews."""

    def __init__(self) -> None:
        self._held: set[int] = set()
        self._lock = threading.Lock()

    def hold(self, job_id: int) -> None:
        with self._lock:
            self._held.add(job_id)

    def release(self, job_id: int) -> None:
        with self._lock:
            self._held.discard(job_id)

    def held(self) -> list[int]:
        with self._lock:
            return sorted(self._held)


LEASES = Leases()


def lease_seconds() -> int:
    return int(current_app.config["JOB_LEASE_SECONDS"])


def run(job_id: int) -> JobStatus | None:
    """Claim the job and run it to its next state. None when it was not this worker's to run."""
    load_handlers()
    job = _claim(job_id)
    if job is None:
        return None
    LEASES.hold(job.id)
    kind = HANDLERS.get(job.kind)
    try:
        if kind is None:
            raise PermanentFailure(f"This version of the blog has no job kind {job.kind!r}.")
        kind.run(dict(job.payload))
    except PermanentFailure as error:
        return _fail_for_good(job, str(error))
    except TemporaryFailure as error:
        return _retry_or_fail(job, str(error))
    except Exception as error:  # noqa: BLE001 - a job must end in a recorded state
        db.session.rollback()
        log.exception("Job %s (%s) raised an unexpected error", job.id, job.kind)
        return _retry_or_fail(job, f"Unexpected error: {type(error).__name__}: {error}")
    else:
        return _finish(job, JobStatus.DONE, "")
    finally:
        LEASES.release(job.id)
        db.session.remove()


def _claim(job_id: int) -> Job | None:
    """Take the job if it is due and free: one conditional UPDATE decides between workers."""
    now = utcnow()
    due = now + timedelta(seconds=5)  # the queue's clock may run a little ahead of ours
    claimed = db.session.execute(
        update(Job)
        .where(
            Job.id == job_id,
            Job.attempts < Job.max_attempts,
            or_(
                Job.status.in_(WAITING) & (Job.run_after <= due),
                (Job.status == JobStatus.RUNNING) & (Job.lease_until < now),
            ),
        )
        .values(
            status=JobStatus.RUNNING,
            attempts=Job.attempts + 1,
            started_at=now,
            lease_until=now + timedelta(seconds=lease_seconds()),
            worker=worker_name(),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if not claimed:
        return None
    job = db.session.get(Job, job_id)
    log.info("Job %s (%s) started, attempt %s of %s", job.id, job.kind, job.attempts,
             job.max_attempts)  # fmt: skip
    return job


def _retry_or_fail(job: Job, reason: str) -> JobStatus:
    db.session.rollback()
    if job.attempts >= job.max_attempts:
        return _fail_for_good(job, f"Gave up after {job.attempts} attempts: {reason}")
    delay = backoff_seconds(job.attempts)
    run_after = utcnow() + timedelta(seconds=delay)
    _finish(job, JobStatus.RETRYING, reason, run_after=run_after)
    push(job.id, eta=run_after)
    return JobStatus.RETRYING


def _fail_for_good(job: Job, reason: str) -> JobStatus:
    status = _finish(job, JobStatus.FAILED, reason)
    kind = HANDLERS.get(job.kind)
    if status is not None and kind is not None and kind.gave_up is not None:
        try:
            kind.gave_up(dict(job.payload), reason)
            db.session.commit()
        except Exception:  # noqa: BLE001 - the job's own failure is already recorded
            db.session.rollback()
            log.exception("Job %s (%s): its give-up step failed", job.id, job.kind)
    return status


def backoff_seconds(attempts: int) -> float:
    """Doubling waits from JOB_RETRY_BASE_SECONDS, capped, with a little jitter so the jobs a
    server outage failed together do not all come back in the same second."""
    config = current_app.config
    base = float(config["JOB_RETRY_BASE_SECONDS"]) * 2 ** max(attempts - 1, 0)
    return min(base, float(config["JOB_RETRY_MAX_SECONDS"])) * random.uniform(0.9, 1.1)


def _finish(
    job: Job, status: JobStatus, error: str, run_after: datetime | None = None
) -> JobStatus | None:
    """Record the outcome, unless the lease was lost and another worker took the job over."""
    values = {"status": status, "last_error": error[:4000], "lease_until": None}
    if status in (JobStatus.DONE, JobStatus.FAILED):
        values["finished_at"] = utcnow()
    if run_after is not None:
        values.update(run_after=run_after, queued_at=utcnow())
    recorded = db.session.execute(
        update(Job)
        .where(Job.id == job.id, Job.status == JobStatus.RUNNING, Job.worker == worker_name())
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if not recorded:
        log.warning("Job %s ended as %s after another worker took it over", job.id, status)
        return None
    if status == JobStatus.FAILED:
        log.warning("Job %s (%s) failed: %s", job.id, job.kind, error)
    else:
        log.info("Job %s (%s) %s", job.id, job.kind, status)
    return status


# Keeping jobs alive and finding lost ones ------------------------------------------------------


def renew_leases() -> None:
    """The heartbeat: push out the lease of every job this process is running."""
    held = LEASES.held()
    if not held:
        return
    db.session.execute(
        update(Job)
        .where(Job.id.in_(held), Job.status == JobStatus.RUNNING, Job.worker == worker_name())
        .values(lease_until=utcnow() + timedelta(seconds=lease_seconds()))
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def sweep() -> list[int]:
    """Queue again what was lost: jobs of dead workers, and due jobs the queue never got.

    Returns the ids handed to the queue. Cheap when there is nothing to do: a few indexed reads.
    """
    now = utcnow()
    _expire_dead_local_workers(now)
    expired = db.session.scalars(
        select(Job).where(Job.status == JobStatus.RUNNING, Job.lease_until < now)
    ).all()
    forgotten = _forgotten_jobs(now) if _queue_is_empty() else []
    queued = []
    for job in [*expired, *forgotten]:
        if job.attempts >= job.max_attempts:
            job.status = JobStatus.FAILED
            job.finished_at = now
            job.last_error = (
                f"The worker running it stopped during attempt {job.attempts} of "
                f"{job.max_attempts}. {job.last_error}"
            ).strip()[:4000]
            log.warning("Job %s (%s) failed: its worker stopped every time", job.id, job.kind)
            continue
        job.queued_at = now
        queued.append(job.id)
    db.session.commit()
    for job_id in queued:
        log.info("Job %s handed to the queue again by the sweep", job_id)
        push(job_id)
    return queued


def _forgotten_jobs(now: datetime) -> list[Job]:
    """Jobs due for a while that no worker started: the queue never got their id."""
    grace = now - timedelta(seconds=int(current_app.config["JOB_REQUEUE_AFTER_SECONDS"]))
    return db.session.scalars(
        select(Job).where(Job.status.in_(WAITING), Job.run_after <= grace, Job.queued_at <= grace)
    ).all()


def _queue_is_empty() -> bool:
    """Only an empty queue proves a waiting job's id was lost: with a backlog (a newsletter
    going out) the id may simply not have come up yet, and queueing it again would only add
    work to the backlog."""
    from . import queue

    return queue.get_queue(current_app).pending() == 0


def _expire_dead_local_workers(now: datetime) -> None:
    """A job held by a process of this machine that no longer exists: its lease ends now."""
    host = socket.gethostname()
    held = db.session.execute(
        select(Job.id, Job.worker).where(
            Job.status == JobStatus.RUNNING, Job.worker.startswith(f"{host}:")
        )
    ).all()
    dead = [job_id for job_id, worker in held if not _process_alive(worker.rpartition(":")[2])]
    if dead:
        db.session.execute(
            update(Job)
            .where(Job.id.in_(dead), Job.status == JobStatus.RUNNING)
            .values(lease_until=now - timedelta(seconds=1))
            .execution_options(synchronize_session=False)
        )
        db.session.commit()


def _process_alive(pid: str) -> bool:
    if not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# What the admin can do -----------------------------------------------------------------------


def retry(job: Job) -> bool:
    """Run a failed job again, with a fresh allowance of attempts. The caller commits."""
    if job.status != JobStatus.FAILED:
        return False
    job.status = JobStatus.QUEUED
    kind = HANDLERS.get(job.kind)
    job.max_attempts = job.attempts + (kind.max_attempts if kind else 1)
    job.run_after = job.queued_at = utcnow()
    job.finished_at = None
    db.session.info.setdefault(_PENDING_PUSH, []).append((job.id, None))
    return True


def counts_by_status() -> dict[JobStatus, int]:
    from sqlalchemy import func

    rows = db.session.execute(select(Job.status, func.count()).group_by(Job.status)).all()
    counts = dict.fromkeys(JobStatus, 0)
    counts.update({status: count for status, count in rows})
    return counts

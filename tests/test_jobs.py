"""The job queue for real: worker processes killed with SIGKILL, two workers racing for one
job, two worker processes sharing a Redis queue, and the worker inside `flask serve`."""

import os
import subprocess
import threading
import time

from blog import jobs, mail
from blog.extensions import db
from blog.models import EmailStatus, Job, JobStatus, OutgoingEmail
from tests.conftest import FAST_RETRIES
from tests.live_servers import BLOG_WORKER, REPO, WorkerProcess


def _queue_email(app, to: str) -> int:
    with app.app_context():
        mail.send(to, "Hello", "test_message", purpose="test", name="Ann")
        db.session.commit()
        return db.session.scalars(db.select(Job.id).order_by(Job.id.desc())).first()


def _job(app, job_id: int) -> Job:
    with app.app_context():
        job = db.session.get(Job, job_id)
        db.session.expunge(job)
        return job


def _wait(condition, seconds: float = 60, what: str = "condition"):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_two_workers_released_together_run_one_job_once(mail_app, smtp_server):
    job_id = _queue_email(mail_app, "reader@example.org")
    barrier = threading.Barrier(2)
    outcomes = []

    def work():
        with mail_app.app_context():
            barrier.wait()
            outcomes.append(jobs.run(job_id))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(outcomes, key=str) == [None, JobStatus.DONE]  # one ran it, one found it taken
    assert len(smtp_server.wait_for(1)) == 1
    time.sleep(0.3)
    assert len(smtp_server.messages) == 1
    assert _job(mail_app, job_id).attempts == 1


def test_a_worker_killed_mid_send_finishes_the_job_exactly_once_after_restart(
    make_app, smtp_server, database_url, tmp_path
):
    settings = {**smtp_server.settings(), "SITE_URL": "http://blog.test", **FAST_RETRIES}
    app = make_app(**settings)
    job_id = _queue_email(app, "reader@example.org")
    smtp_server.hold.set()  # the server keeps the first transaction waiting at RCPT
    first = WorkerProcess(tmp_path / "instance", database_url, settings, name="first")
    try:
        assert smtp_server.rcpt_seen.wait(90), first.log_text()
        job = _job(app, job_id)
        assert (job.status, job.attempts, job.worker.endswith(f":{first.pid}")) == (
            JobStatus.RUNNING, 1, True)  # fmt: skip
        first.kill()  # in the middle of the job: the email is on its way, not accepted
    finally:
        first.kill()
    smtp_server.hold.clear()
    with app.app_context():
        assert db.session.scalars(db.select(OutgoingEmail.status)).one() == EmailStatus.SENDING

    second = WorkerProcess(tmp_path / "instance", database_url, settings, name="second")
    try:
        _wait(lambda: _job(app, job_id).status == JobStatus.DONE, what="the job to finish")
        assert second.stop() == 0, second.log_text()  # SIGTERM: a clean stop
    finally:
        second.kill()
    assert len(smtp_server.messages) == 1
    assert smtp_server.messages[0]["To"] == "reader@example.org"
    job = _job(app, job_id)
    assert (job.status, job.attempts, job.worker.endswith(f":{second.pid}")) == (
        JobStatus.DONE, 2, True)  # fmt: skip
    assert "stopped mid-send; sending again" in second.log_text()


def test_two_worker_processes_share_a_redis_queue_and_send_each_email_once(
    make_app, smtp_server, database_url, tmp_path, redis_url
):
    settings = {**smtp_server.settings(), "JOB_QUEUE_URL": redis_url, **FAST_RETRIES}
    sender_a = make_app(**settings)  # two app instances putting work on the same queue
    sender_b = make_app(**settings, INSTANCE_PATH=str(tmp_path / "other-instance"))
    smtp_server.hold.set()
    workers = [
        WorkerProcess(tmp_path / "instance", database_url, settings, name=f"worker-{n}")
        for n in (1, 2)
    ]
    try:
        addresses = [f"reader{n}@example.org" for n in range(12)]
        for n, address in enumerate(addresses):
            _queue_email(sender_a if n % 2 else sender_b, address)
        # each worker (one thread each) holds one email at the server: both are working
        _wait(lambda: smtp_server.held_now == 2, what="both workers to hold a job")
        smtp_server.hold.clear()
        messages = smtp_server.wait_for(len(addresses), timeout=90)
    finally:
        for worker in workers:
            worker.stop()
    time.sleep(0.3)
    assert sorted(str(m["To"]) for m in smtp_server.messages) == sorted(addresses)
    with sender_a.app_context():
        done = db.session.scalars(db.select(Job)).all()
        assert {job.status for job in done} == {JobStatus.DONE}
        assert {job.worker.rpartition(":")[2] for job in done} == {
            str(worker.pid) for worker in workers
        }
    assert len(messages) == len(addresses)


def test_a_job_whose_queue_entry_was_lost_is_found_by_the_sweep(mail_app, smtp_server):
    from blog.queue import get_queue

    job_id = _queue_email(mail_app, "reader@example.org")
    get_queue(mail_app).huey.flush()  # the queue forgets it (a crash before the push, say)
    with mail_app.app_context():
        assert jobs.sweep() == []  # not yet: a due job gets JOB_REQUEUE_AFTER_SECONDS
        mail_app.config["JOB_REQUEUE_AFTER_SECONDS"] = 0
        time.sleep(0.01)
        assert jobs.sweep() == [job_id]
    from tests.conftest import run_jobs

    run_jobs(mail_app)
    assert len(smtp_server.wait_for(1)) == 1
    assert _job(mail_app, job_id).status == JobStatus.DONE


def test_flask_serve_runs_the_jobs_itself_and_stops_them_with_ctrl_c(smtp_server, tmp_path):
    """The small box: one `flask serve`, nothing else started, and the email goes out."""
    import os
    import signal
    import subprocess
    import sys

    from tests.conftest import PASSWORD
    from tests.live_servers import REPO, Browser, blog_environment, free_port, prepare_instance

    folder = tmp_path / "site"
    prepare_instance(folder, [("ada@example.org", "Ada", "admin")], PASSWORD)
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("BLOG_")}
    env.update(BLOG_INSTANCE_PATH=str(folder), BLOG_SECRET_KEY="test-secret-key",
               BLOG_PASSWORD_HASH_METHOD="scrypt:1024:8:1", PYTHONPATH=str(REPO),
               **blog_environment(smtp_server.settings()))  # fmt: skip
    log = (folder / "serve.log").open("wb")
    # As in a terminal: a suite started in the background by a script inherits SIGINT
    # ignored, and so would `flask serve`, which then never hears the Ctrl+C below. A handled
    # signal is reset to its default in the child; an ignored one stays ignored.
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        serve = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "blog", "serve", "--port", str(port)],
            cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    finally:
        signal.signal(signal.SIGINT, inherited)
    try:
        browser = Browser(port, timeout=10)
        _wait(lambda: _answers(browser), what="flask serve to answer")
        browser.sign_in("ada@example.org", PASSWORD)
        browser.get("/admin/settings")
        answer = browser.request("POST", "/admin/settings/test-email", {})
        assert answer.status == 302
        [message] = smtp_server.wait_for(1, timeout=60)
        assert message["To"] == "ada@example.org"
        os.killpg(serve.pid, signal.SIGINT)  # Ctrl+C
        assert serve.wait(timeout=40) == 0
    finally:
        if serve.poll() is None:
            os.killpg(serve.pid, signal.SIGKILL)
            serve.wait()
        log.close()
    output = (folder / "serve.log").read_text()
    assert "Running background jobs here too (queue: SQLite file" in output
    assert "Stopping the job worker" in output


def _answers(browser) -> bool:
    import http.client

    try:
        return browser.get("/login").status == 200
    except (OSError, http.client.HTTPException):
        return False


def test_only_admins_see_jobs_and_a_retried_job_sends_its_email_once(mail_app, smtp_server, users):
    from tests.conftest import PASSWORD

    smtp_server.refuse_next(550)
    job_id = _queue_email(mail_app, "reader@example.org")
    from tests.conftest import run_jobs

    run_jobs(mail_app)
    assert _job(mail_app, job_id).status == JobStatus.FAILED
    client = mail_app.test_client()
    for who in ("editor", "author"):
        client.post("/login", data={"email": users[who]["email"], "password": PASSWORD})
        assert client.get("/admin/jobs").status_code == 403
        assert client.post(f"/admin/jobs/{job_id}/retry").status_code == 403
        client.post("/logout")
    client.post("/login", data={"email": users["admin"]["email"], "password": PASSWORD})
    page = client.get("/admin/jobs").get_data(as_text=True)
    assert "Failed (1)" in page and "550 No such user here" in page
    answer = client.post(f"/admin/jobs/{job_id}/retry", data={"status": "failed"})
    assert answer.status_code == 302
    assert f"Job {job_id} is queued again." in client.get("/admin/jobs").get_data(as_text=True)
    run_jobs(mail_app)

    assert len(smtp_server.wait_for(1)) == 1
    job = _job(mail_app, job_id)
    assert (job.status, job.attempts) == (JobStatus.DONE, 2)
    again = client.post(f"/admin/jobs/{job_id}/retry", follow_redirects=True)
    assert "only a failed job can be retried" in again.get_data(as_text=True)
    assert client.get("/admin/jobs?status=nonsense").status_code == 404


def test_the_worker_command_as_deployed_sends_and_never_loads_alembic(
    make_app, smtp_server, database_url, tmp_path
):
    """deploy/blog-worker.service runs `blog-worker` with its PYTHONOPTIMIZE: jobs run, and
    Flask's command line (which imports Flask-Migrate and Alembic, 9 MB) stays out."""
    settings = {**smtp_server.settings(), "SITE_URL": "http://blog.test", **FAST_RETRIES}
    app = make_app(**settings)
    job_id = _queue_email(app, "reader@example.org")
    worker = WorkerProcess(
        tmp_path / "instance", database_url, settings, python_options=("-X", "importtime")
    )
    try:
        assert len(smtp_server.wait_for(1)) == 1, worker.log_text()
        _wait(lambda: _job(app, job_id).status == JobStatus.DONE, what="the job to finish")
        assert worker.stop() == 0, worker.log_text()
    finally:
        worker.kill()
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in worker.log_text().splitlines()
        if line.startswith("import time:")
    }
    assert {"blog.worker", "blog.mail", "huey"} <= imported  # the listing is the worker's
    assert (
        sorted(name for name in imported if name.split(".")[0] in ("alembic", "flask_migrate"))
        == []
    )
    assert smtp_server.messages[0]["To"] == "reader@example.org"


def test_the_worker_command_on_a_site_not_set_up_says_what_to_run(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("BLOG_")}
    env.update(BLOG_INSTANCE_PATH=str(tmp_path), BLOG_SECRET_KEY="x", PYTHONPATH=str(REPO))
    done = subprocess.run(
        [str(BLOG_WORKER)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "Error: The database is not set up yet: run `flask --app blog db upgrade` "
        "(or `flask --app blog serve`, which applies it)."
    )

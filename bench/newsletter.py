"""A newsletter send to N subscribers against the bare SMTP cost of the same messages.

    .venv/bin/python bench/newsletter.py [--subscribers 5000] [--batch 50]

Both sides talk to the same local SMTP server (aiosmtpd on 127.0.0.1, in this process) in one
run, on SQLite:
- bare: one smtplib connection sends N messages of the newsletter's size, nothing recorded;
- blog: `flask --app blog worker` (one thread, a real process) sends the post to N confirmed
  subscribers through the job queue, recording every delivery before and after it goes out,
  with NEWSLETTER_PER_MINUTE out of the way.
Prints messages per second for each, their ratio, and the worker's peak memory (VmHWM).
"""

import argparse
import smtplib
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import insert  # noqa: E402

from blog import create_app  # noqa: E402
from blog.accounts import create_user  # noqa: E402
from blog.extensions import db  # noqa: E402
from blog.models import (  # noqa: E402
    NewsletterSend,
    Role,
    SendStatus,
    Subscriber,
    SubscriberStatus,
    User,
    utcnow,
)
from blog.newsletter import sending  # noqa: E402
from blog.posts import Action, PostInput, save_post  # noqa: E402
from tests.live_servers import WorkerProcess  # noqa: E402
from tests.smtp_server import SmtpServer  # noqa: E402

BODY = ("The harbour reopens on *Monday*, after three weeks of repairs. " * 40 + "\n\n") * 6


def prepare(folder: Path, smtp: SmtpServer, subscribers: int, batch: int) -> tuple[dict, int]:
    settings = {
        **smtp.settings(), "SITE_URL": "http://blog.test", "NEWSLETTER_PER_MINUTE": 10**9,
        "NEWSLETTER_BATCH_SIZE": batch, "PASSWORD_HASH_METHOD": "scrypt:1024:8:1",
    }  # fmt: skip
    app = create_app(
        {
            "INSTANCE_PATH": str(folder),
            "SECRET_KEY": "bench",
            "DATABASE_URL": f"sqlite:///{folder / 'blog.sqlite3'}",
            **settings,
        }
    )
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        author = create_user("ann@example.org", "Ann Author", Role.AUTHOR, "a long password")
        now = utcnow()
        db.session.execute(
            insert(Subscriber),
            [{"email": f"reader{n:06d}@example.org", "status": SubscriberStatus.CONFIRMED,
              "confirmed_at": now, "consent": "bench"} for n in range(subscribers)],
        )  # fmt: skip
        post = save_post(None, PostInput(title="Harbour reopens", body_md=BODY), author,
                         Action.PUBLISH)  # fmt: skip
        post.newsletter = "full"
        sending.after_save(post, author)
        db.session.commit()
        author_id = db.session.scalar(db.select(User.id))
    return settings, author_id


def message_size(app) -> int:
    with app.app_context():
        send = db.session.scalar(db.select(NewsletterSend))
        return len(send.html_body) + len(send.text_body)


def bare_rate(smtp: SmtpServer, count: int, size: int) -> float:
    message = EmailMessage()
    message["From"], message["Subject"] = "blog@example.org", "Harbour reopens"
    message.set_content("x" * (size // 2))
    message.add_alternative("<p>" + "x" * (size // 2) + "</p>", subtype="html")
    started = time.monotonic()
    with smtplib.SMTP("127.0.0.1", smtp.port) as connection:
        for n in range(count):
            del message["To"]
            message["To"] = f"bare{n:06d}@example.org"
            connection.send_message(message)
    return count / (time.monotonic() - started)


def peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary, SmtpServer() as smtp:
        folder = Path(temporary) / "instance"
        settings, _ = prepare(folder, smtp, args.subscribers, args.batch)
        url = f"sqlite:///{folder / 'blog.sqlite3'}"
        app = create_app({"INSTANCE_PATH": str(folder), "SECRET_KEY": "bench",
                          "DATABASE_URL": url, **settings})  # fmt: skip

        started = time.monotonic()
        worker = WorkerProcess(folder, url, settings, name="bench-worker")
        peak = 0
        try:
            while True:
                peak = max(peak, peak_kib(worker.pid))
                with app.app_context():
                    send = db.session.scalar(db.select(NewsletterSend))
                    done = send is not None and send.status == SendStatus.DONE
                    db.session.remove()
                if done:
                    break
                if time.monotonic() - started > 1800:
                    sys.exit("The send did not finish in 30 minutes:\n" + worker.log_text()[-2000:])
                time.sleep(0.2)
            elapsed = time.monotonic() - started
            peak = max(peak, peak_kib(worker.pid))
        finally:
            worker.stop()
        received = len(smtp.envelopes)
        size = message_size(app)
        blog = received / elapsed
        bare = bare_rate(smtp, min(args.subscribers, 2000), size)

    print(f"subscribers: {args.subscribers}, batch {args.batch}, message ~{size // 1024} KiB")
    print(f"received at the SMTP server: {received} (distinct recipients must equal subscribers)")
    print(f"blog worker: {blog:8.0f} messages/s  ({elapsed:.1f} s, worker started cold)")
    print(f"bare smtplib: {bare:8.0f} messages/s")
    print(f"ratio blog/bare: {blog / bare:.2f}")
    print(f"worker peak memory (VmHWM): {peak / 1024:.0f} MiB")


if __name__ == "__main__":
    main()

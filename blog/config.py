"""Configuration in layers: defaults, then instance/config.py, then BLOG_* environment variables."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # kept light: gunicorn's start-up check imports this module without Flask
    from flask import Flask

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE_PATH = REPO_ROOT / "instance"
SECRET_KEY_FILE = "secret_key"
DEFAULT_SITE_URL = "http://127.0.0.1:5000"


def instance_path() -> Path:
    """The instance folder: BLOG_INSTANCE_PATH if set, else the repository's instance/."""
    configured = os.environ.get("BLOG_INSTANCE_PATH")
    return Path(configured).resolve() if configured else DEFAULT_INSTANCE_PATH


def default_settings(instance: Path) -> dict:
    """Settings that hold when nothing else says otherwise."""
    return {
        "DATABASE_URL": f"sqlite:///{instance / 'blog.sqlite3'}",
        "SITE_URL": DEFAULT_SITE_URL,
        "UPLOAD_FOLDER": str(instance / "uploads"),
        "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        # Sign-in sessions (blog.user_sessions): they end this long after they were last used,
        # "remember me" ones later; last use is written at most this often.
        "SESSION_IDLE_DAYS": 14,
        "REMEMBERED_SESSION_IDLE_DAYS": 60,
        "SESSION_LAST_SEEN_SECONDS": 5 * 60,
        "WTF_CSRF_TIME_LIMIT": None,
        "LOGIN_THROTTLE_WINDOW_SECONDS": 15 * 60,
        "LOGIN_THROTTLE_PER_ACCOUNT": 5,
        "LOGIN_THROTTLE_PER_ADDRESS": 20,
        # Links sent by email (blog.password_reset, blog.invitations, blog.email_change).
        "PASSWORD_RESET_LINK_SECONDS": 60 * 60,
        "PASSWORD_RESET_THROTTLE_WINDOW_SECONDS": 60 * 60,
        "PASSWORD_RESET_PER_ACCOUNT": 3,  # reset emails per address asked for, per window
        "PASSWORD_RESET_PER_ADDRESS": 10,  # requests per client address, per window
        "PASSWORD_RESET_ANSWER_SECONDS": 0.3,  # every answer takes this long: no timing clue
        "INVITATION_DAYS": 7,
        "EMAIL_CHANGE_LINK_SECONDS": 24 * 60 * 60,
        "SQLITE_BUSY_TIMEOUT_MS": 5000,
        "SQLITE_CACHE_KIB": 512,  # SQLite's page cache per connection (its default: 2 MiB)
        "PASSWORD_HASH_METHOD": "scrypt",  # werkzeug's scrypt, n=2**15, r=8, p=1
        # Outgoing email (blog.mail): no MAIL_HOST, no email; the port follows the security.
        "MAIL_HOST": "",
        "MAIL_PORT": None,
        "MAIL_SECURITY": "starttls",  # none, starttls or ssl
        "MAIL_USERNAME": "",
        "MAIL_PASSWORD": "",
        "MAIL_FROM": "",  # default: no-reply@ the host of SITE_URL
        "MAIL_TIMEOUT": 30,
        "MAIL_CA_FILE": "",
        # Background jobs (blog.jobs, blog.queue, blog.worker): empty queue URL, a SQLite file
        # in the instance folder; redis://HOST:PORT/DB when several app servers share the work.
        "JOB_QUEUE_URL": "",
        "JOB_QUEUE_NAME": "blog",
        "JOB_WORKER_THREADS": 2,
        "JOB_LEASE_SECONDS": 60,  # a running job's claim; its worker renews it every third
        "JOB_SWEEP_SECONDS": 30,  # how often a worker looks for lost jobs
        "JOB_REQUEUE_AFTER_SECONDS": 300,  # a due job not started by then is queued again
        "JOB_RETRY_BASE_SECONDS": 30,  # first wait after a temporary failure, then doubling
        "JOB_RETRY_MAX_SECONDS": 3600,
        "JOB_POLL_MAX_SECONDS": 5,  # longest pause between looks at an empty SQLite queue
        "JOB_SHUTDOWN_SECONDS": 30,  # on stop, time given to running jobs to finish
        "EMBEDDED_WORKER": True,  # `flask serve` runs the worker in its own process
        # Comments: at most this many from one address, or one email, in the window.
        "COMMENT_RATE_PER_ADDRESS": 5,
        "COMMENT_RATE_PER_EMAIL": 5,
        "COMMENT_RATE_WINDOW_SECONDS": 10 * 60,
        # A commenter's address (IP) is erased this many days after the comment (at least 1).
        "COMMENT_ADDRESS_DAYS": 30,
        # How often the job worker runs the housekeeping chores (blog.housekeeping); 0: never.
        "HOUSEKEEPING_SECONDS": 60 * 60,
        # Newsletter (blog.newsletter.sending): the pace the SMTP server accepts, and how many
        # messages one job sends over one connection.
        "NEWSLETTER_PER_MINUTE": 600,
        "NEWSLETTER_BATCH_SIZE": 50,
        "NEWSLETTER_PARALLEL_BATCHES": 1,  # batches of one send running at once (more workers)
        # Subscribing: at most this many requests per client address and per email, per hour.
        "NEWSLETTER_RATE_PER_ADDRESS": 5,
        "NEWSLETTER_RATE_PER_EMAIL": 3,
        # Federation (blog.federation): None follows Settings → Fediverse, which can only turn
        # it on for an https:// SITE_URL; true turns it on whatever the address. Loopback lets
        # it talk to servers on 127.0.0.1 (tests, demonstrations), never for a public site.
        "FEDERATION": None,
        "FEDERATION_ALLOW_LOOPBACK": False,
        "FEDERATION_FETCH_TIMEOUT": 10,  # seconds for one remote request
        "FEDERATION_FETCH_MAX_BYTES": 1024 * 1024,  # a remote document larger than this is refused
        "FEDERATION_MAX_REDIRECTS": 3,
        "FEDERATION_SIGNATURE_MAX_AGE": 12 * 60 * 60,  # a signed request's Date, either way
        "FEDERATION_INBOX_PER_SERVER": 300,  # inbox requests per remote server, per window
        "FEDERATION_INBOX_WINDOW_SECONDS": 5 * 60,
        "FEDERATION_INBOX_MAX_BYTES": 256 * 1024,  # a larger activity is refused (413)
        "FEDERATION_RETRY_SECONDS": [60, 300, 1800, 7200, 21600],  # a failing inbox's waits
        "FEDERATION_SET_ASIDE_SECONDS": 24 * 60 * 60,  # a server that keeps failing waits this
        "FEDERATION_ANNOUNCE_DAYS": 2,  # older posts becoming public (imports) are not sent
    }


def load_config(app: Flask, test_config: dict | None) -> None:
    """Fill app.config from the layers, then derive what depends on the result."""
    app.config.from_mapping(default_settings(Path(app.instance_path)))
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env("BLOG", loads=_load_env_value)
    else:
        app.config.from_mapping(test_config)
    app.config["SQLALCHEMY_DATABASE_URI"] = app.config["DATABASE_URL"]
    app.config["SITE_URL"] = app.config["SITE_URL"].rstrip("/")
    if app.config["SITE_URL"].startswith("https://"):
        app.config["SESSION_COOKIE_SECURE"] = True
        app.config["REMEMBER_COOKIE_SECURE"] = True
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = load_or_create_secret_key(Path(app.instance_path))


def _load_env_value(value: str):
    """Environment values are strings, except plain integers and true/false."""
    if value.isdigit():
        return int(value)
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def load_or_create_secret_key(instance: Path) -> str:
    """Read the instance's secret key, generating it on first use."""
    return read_or_create(instance / SECRET_KEY_FILE, lambda: secrets.token_hex(32))


def read_or_create(path: Path, make_value) -> str:
    """Read a small secret file, creating it (owner-only) with `make_value()` if missing.

    The value is written to a temporary file and hard-linked into place, so a second worker
    starting at the same moment either wins the link or reads the complete winner's value.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(make_value() + "\n")
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return path.read_text().strip()

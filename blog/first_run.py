"""First run: a one-time token, printed to the log, that is needed to claim the site."""

import hmac
import secrets
from pathlib import Path

from flask import Flask, current_app, redirect, request, url_for

from .config import DEFAULT_SITE_URL, read_or_create
from .models import count_users

TOKEN_FILE = "setup_token"
# Endpoints that must answer before the site has its first account.
UNCLAIMED_SITE_ENDPOINTS = {"auth.setup_site", "static", "public.healthz"}


def _token_path(app: Flask) -> Path:
    return Path(app.instance_path) / TOKEN_FILE


def setup_token(app: Flask) -> str:
    """The current setup token, created on first use and shared by every worker process."""
    return read_or_create(_token_path(app), lambda: secrets.token_urlsafe(24))


def token_matches(app: Flask, candidate: str) -> bool:
    return hmac.compare_digest(setup_token(app).encode(), candidate.strip().encode())


def discard_token(app: Flask) -> None:
    _token_path(app).unlink(missing_ok=True)


def setup_url(app: Flask) -> str:
    """The full setup address, built from SITE_URL (which `serve` and gunicorn's start-up set
    to the address they listen on when it is not configured)."""
    return f"{app.config['SITE_URL']}/setup?token={setup_token(app)}"


def announce(app: Flask, *, site_url_checked: bool = False) -> None:
    """Log the setup URL, once per process, while the site has no user.

    `site_url_checked`: the caller set SITE_URL to the address it listens on (`serve`,
    gunicorn's start-up), so the default, if that is what it is, is right."""
    if app.extensions.get("blog.setup_announced") or count_users():
        return
    app.extensions["blog.setup_announced"] = True
    # Unconfigured, the default may not be where people reach the blog: say what fixes it.
    note = " (SITE_URL is not set: at another address, use that host with the same path)"
    app.logger.warning(
        "This blog has no account yet. Open this one-time address to create the first admin: %s%s",
        setup_url(app),
        note if app.config["SITE_URL"] == DEFAULT_SITE_URL and not site_url_checked else "",
    )


def site_is_claimed() -> bool:
    """True once a user exists; remembered per process, since it never becomes false again."""
    app = current_app._get_current_object()
    if app.extensions.get("blog.site_claimed"):
        return True
    claimed = count_users() > 0
    app.extensions["blog.site_claimed"] = claimed
    return claimed


def send_unclaimed_site_to_setup():
    """Before every request: until the first admin exists, every page leads to the setup page."""
    if request.endpoint in UNCLAIMED_SITE_ENDPOINTS or site_is_claimed():
        return None
    announce(current_app)
    return redirect(url_for("auth.setup_site"))

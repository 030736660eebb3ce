"""Pages for readers."""

from flask import current_app, redirect, render_template, request, url_for
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError

from .. import setup
from ..extensions import db
from ..models import Post, PostKind, PostStatus, utcnow
from . import bp

# Endpoints that must answer before the site has its first account.
UNCLAIMED_SITE_ENDPOINTS = {"auth.setup_site", "static", "public.healthz"}


@bp.before_app_request
def send_unclaimed_site_to_setup():
    """Until the first admin exists, every page leads to the setup page."""
    if request.endpoint in UNCLAIMED_SITE_ENDPOINTS or setup.site_is_claimed():
        return None
    setup.announce(current_app)
    return redirect(url_for("auth.setup_site"))


@bp.route("/")
def index():
    posts = db.session.scalars(
        select(Post)
        .where(
            Post.kind == PostKind.POST,
            Post.status == PostStatus.PUBLISHED,
            Post.published_at <= utcnow(),
            Post.deleted_at.is_(None),
        )
        .order_by(Post.published_at.desc())
        .limit(10)
    ).all()
    return render_template("public/index.html", posts=posts)


@bp.route("/healthz")
def healthz():
    """200 while the database answers; 503 otherwise (for load balancers and monitors)."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        current_app.logger.exception("Health check: the database does not answer")
        return {"status": "error", "database": "unreachable"}, 503
    return {"status": "ok"}

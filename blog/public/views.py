"""Pages for readers."""

from flask import abort, current_app, redirect, render_template, request, url_for
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import selectinload

from .. import setup
from ..extensions import db
from ..models import Post, PostKind, SlugRedirect
from ..posts import public_filter
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
        .where(Post.kind == PostKind.POST, public_filter())
        .options(selectinload(Post.author), selectinload(Post.category))
        .order_by(Post.published_at.desc())
        .limit(10)
    ).all()
    return render_template("public/index.html", posts=posts)


@bp.route("/<slug>/")
def post(slug: str):
    """An article or a static page; an old slug answers with a permanent redirect."""
    found = db.session.scalar(
        select(Post)
        .where(Post.slug == slug, public_filter())
        .options(
            selectinload(Post.author),
            selectinload(Post.category),
            selectinload(Post.tags),
            selectinload(Post.featured_media),
        )
    )
    if found is not None:
        return render_template("public/post.html", post=found)
    moved_to = db.session.scalar(
        select(Post.slug)
        .join(SlugRedirect, SlugRedirect.post_id == Post.id)
        .where(SlugRedirect.old_slug == slug, public_filter())
    )
    if moved_to is None:
        abort(404)
    return redirect(url_for("public.post", slug=moved_to), 301)


@bp.route("/healthz")
def healthz():
    """200 while the database answers; 503 otherwise (for load balancers and monitors)."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        current_app.logger.exception("Health check: the database does not answer")
        return {"status": "error", "database": "unreachable"}, 503
    return {"status": "ok"}

"""Pages for readers."""

from flask import abort, current_app, redirect, render_template, url_for
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError

from .. import http_caching
from ..extensions import db
from ..models import Post, PostKind, SlugRedirect
from ..pagination import listing_page, page_number
from ..settings import site_settings_for_templates
from ..visibility import public_clause
from . import bp, queries
from .sharing import share_links


def posts_per_page() -> int:
    value = site_settings_for_templates().posts_per_page
    return value if isinstance(value, int) and 1 <= value <= 100 else 10


@bp.after_request
def add_validators(response):
    return http_caching.conditional_page(response)


@bp.route("/")
def index():
    pinned, listing = queries.home_listing()
    page = listing_page(listing, page_number(), posts_per_page())
    return render_template(
        "public/index.html", page=page, pinned=pinned if page.number == 1 else []
    )


@bp.route("/<slug>/")
def post(slug: str):
    """An article or a static page; an old slug answers with a permanent redirect."""
    found = queries.article(slug)
    if found is not None:
        http_caching.last_modified(found.updated_at)
        if found.kind != PostKind.POST:
            return render_template("public/post.html", post=found)
        older, newer = queries.neighbours(found)
        return render_template(
            "public/post.html",
            post=found,
            older=older,
            newer=newer,
            related=queries.related(found),
            share=share_links(found),
        )
    moved_to = db.session.scalar(
        select(Post.slug)
        .join(SlugRedirect, SlugRedirect.post_id == Post.id)
        .where(SlugRedirect.old_slug == slug, public_clause())
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

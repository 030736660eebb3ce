"""Shareable preview links of a draft or scheduled post: make one, revoke one or all.

A link changes nothing in the post, so these routes need no `version`; they need the right to
edit the post, and a CSRF token like every form.
"""

from flask import abort, flash, redirect, url_for
from flask_login import current_user

from .. import preview_links as service
from ..extensions import db
from ..models import PreviewLink
from . import bp
from .forms import ActionForm
from .posts import post_for_editing


def _back(post_id: int):
    return redirect(url_for("admin.edit_post", post_id=post_id, _anchor="preview-links"), 303)


@bp.post("/posts/<int:post_id>/preview-links")
def create_preview_link(post_id: int):
    post = post_for_editing(post_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        link = service.create_link(post, current_user)
    except service.PreviewLinkError as error:
        flash(str(error), "error")
        return _back(post.id)
    db.session.commit()
    flash(
        f"Preview link made: anyone with it can read this {post.kind.value} as last saved, "
        f"without an account, until {link.expires_at:%-d %B %Y}. Copy it below.",
        "success",
    )
    return _back(post.id)


@bp.post("/posts/<int:post_id>/preview-links/<int:link_id>/revoke")
def revoke_preview_link(post_id: int, link_id: int):
    post = post_for_editing(post_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    link = db.session.get(PreviewLink, link_id)
    if link is None or link.post_id != post.id:
        flash("That preview link no longer exists.", "error")
        return _back(post.id)
    service.revoke(link)
    db.session.commit()
    flash("Preview link revoked: it no longer opens this post.", "success")
    return _back(post.id)

"""Admin → Comments: the moderation queue (editors: every post; authors: their own posts).

Pending comments come first; approved, spam and trash are a click away. Each comment can be
approved, marked as spam, trashed, edited or answered (a moderator's reply is shown at once);
the checkboxes apply one action to many. The moderation email links to one comment's page
(`review_comment`), where a single button does what the link said: a link alone changes
nothing, so a mail scanner that opens it approves nothing. What readers see changes on their
next request (blog.comments recounts, blog.invalidation moves the site generation).
"""

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from .. import comments
from ..extensions import db
from ..models import Comment, CommentStatus, Post, Role
from ..pagination import Page, page_number
from ..permissions import role_required
from . import bp

PER_PAGE = 30
ACTIONS = {
    "approve": (CommentStatus.APPROVED, "approved"),
    "spam": (CommentStatus.SPAM, "marked as spam"),
    "trash": (CommentStatus.TRASH, "moved to the trash"),
    "pending": (CommentStatus.PENDING, "sent back to the queue"),
}
moderator_required = role_required(Role.ADMIN, Role.EDITOR, Role.AUTHOR)


class TextForm(FlaskForm):
    text = TextAreaField(
        "Text",
        validators=[DataRequired("Write something first."), Length(max=comments.MAX_LENGTH)],
    )


def _visible_to_me(query):
    """Editors moderate every post's comments; authors their own posts' only."""
    if current_user.is_editor:
        return query
    return query.join(Post, Post.id == Comment.post_id).where(Post.author_id == current_user.id)


def _comment_or_404(comment_id: int) -> Comment:
    comment = db.session.get(Comment, comment_id)
    if comment is None:
        abort(404)
    if not current_user.is_editor and comment.post.author_id != current_user.id:
        abort(403)
    return comment


@bp.get("/comments")
@moderator_required
def comment_list():
    status = request.args.get("status", CommentStatus.PENDING.value)
    if status not in CommentStatus.__members__.values():
        abort(404)
    query = _visible_to_me(
        select(Comment)
        .where(Comment.status == status)
        .options(joinedload(Comment.post))
        .order_by(Comment.created_at.desc(), Comment.id.desc())
    )
    page = Page.of(query, page_number(), PER_PAGE)
    return render_template(
        "admin/comments.html", page=page, status=status, statuses=list(CommentStatus),
        actions=ACTIONS, reply_form=TextForm(formdata=None),
    )  # fmt: skip


@bp.post("/comments/bulk")
@moderator_required
def bulk_comments():
    action = request.form.get("action", "")
    if action not in ACTIONS:
        flash("Choose what to do with the selected comments.", "error")
        return _back()
    ids = [int(value) for value in request.form.getlist("ids") if value.isdigit()]
    if not ids:
        flash("Select at least one comment.", "error")
        return _back()
    chosen = db.session.scalars(_visible_to_me(select(Comment).where(Comment.id.in_(ids)))).all()
    status, done = ACTIONS[action]
    changed = sum(comments.set_status(comment, status) for comment in chosen)
    db.session.commit()
    current_app.logger.info("%s: %s comment(s) %s", current_user.email, changed, done)
    flash(f"{changed} comment{'s' if changed != 1 else ''} {done}.", "success")
    return _back()


@bp.post("/comments/<int:comment_id>/<action>")
@moderator_required
def moderate_comment(comment_id: int, action: str):
    if action not in ACTIONS:
        abort(404)
    comment = _comment_or_404(comment_id)
    status, done = ACTIONS[action]
    comments.set_status(comment, status)
    db.session.commit()
    current_app.logger.info("%s: comment %s %s", current_user.email, comment.id, done)
    flash(f"Comment by {comment.author_name} {done}.", "success")
    return _back()


@bp.get("/comments/<int:comment_id>")
@moderator_required
def review_comment(comment_id: int):
    comment = _comment_or_404(comment_id)
    suggested = request.args.get("do")
    return render_template(
        "admin/comment_review.html", comment=comment, actions=ACTIONS,
        suggested=suggested if suggested in ACTIONS else None,
    )  # fmt: skip


@bp.post("/comments/<int:comment_id>/reply")
@moderator_required
def reply_to_comment(comment_id: int):
    comment = _comment_or_404(comment_id)
    form = TextForm()
    if not form.validate_on_submit():
        flash("Your reply was not sent: " + " ".join(form.text.errors), "error")
        return _back()
    if comment.status != CommentStatus.APPROVED:
        comments.set_status(comment, CommentStatus.APPROVED)  # answering approves, as WordPress
    reply = comments.reply_as(current_user, comment, form.text.data.strip())
    db.session.commit()
    flash(f"Your reply to {comment.author_name} is published.", "success")
    return redirect(url_for("public.post", slug=comment.post.slug, _anchor=f"comment-{reply.id}"))


@bp.route("/comments/<int:comment_id>/edit", methods=["GET", "POST"])
@moderator_required
def edit_comment(comment_id: int):
    comment = _comment_or_404(comment_id)
    form = TextForm() if request.method == "POST" else TextForm(data={"text": comment.body_md})
    if form.validate_on_submit():
        comments.edit(comment, form.text.data.strip())
        db.session.commit()
        flash("Comment saved.", "success")
        return redirect(url_for("admin.comment_list", status=comment.status.value))
    return render_template("admin/comment_edit.html", comment=comment, form=form), (
        400 if form.is_submitted() else 200
    )


def _back():
    if (reviewed := request.form.get("review", "")).isdigit():
        return redirect(url_for("admin.review_comment", comment_id=int(reviewed)))
    status = request.form.get("status") or request.args.get("status")
    return redirect(url_for("admin.comment_list", status=status or None))

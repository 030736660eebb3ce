"""Writing: the post list, the editor, preview, autosave, lifecycle actions, history, trash."""

import difflib
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import defer, selectinload

from .. import posts as lifecycle
from .. import rendering
from ..extensions import db
from ..models import Media, Post, PostKind, PostStatus, Revision, RevisionKind, User
from ..pagination import Page, page_number
from ..permissions import editor_required
from ..posts import Action, PostConflict, PostError, PostInput
from ..settings import get_setting
from ..slugs import unique_slug
from ..taxonomy import categories_in_order
from ..text import slugify
from . import bp
from .forms import ActionForm, BulkPostsForm, PostForm, SelectChoice

POSTS_PER_ADMIN_PAGE = 25
EDITOR_ACTIONS = {
    "save": Action.SAVE,
    "publish": Action.PUBLISH,
    "schedule": Action.SCHEDULE,
    "unpublish": Action.UNPUBLISH,
}


@bp.before_request
def keep_scheduled_status_current():
    if lifecycle.promote_due_posts():
        db.session.commit()


def post_for_editing(post_id: int) -> Post:
    """The post, if this user may edit it: 404 if it does not exist, 403 if it is not theirs."""
    post = db.session.get(Post, post_id) or abort(404)
    if not current_user.can_edit(post):
        abort(403)
    return post


def site_timezone() -> ZoneInfo:
    try:
        return ZoneInfo(str(get_setting("timezone")))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def to_utc(local: datetime | None) -> datetime | None:
    """A naive time typed in the site's time zone, as the naive UTC the database keeps."""
    if local is None:
        return None
    aware = local.replace(tzinfo=site_timezone())
    return aware.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def to_local(utc: datetime | None) -> datetime | None:
    if utc is None:
        return None
    return utc.replace(tzinfo=ZoneInfo("UTC")).astimezone(site_timezone()).replace(tzinfo=None)


# The list ------------------------------------------------------------------------------------


@bp.route("/posts/")
def posts():
    """Posts this user may edit, filtered by status, author, category and title."""
    filters = {
        key: request.args.get(key, "").strip()
        for key in ("status", "author", "category", "q", "kind")
    }
    query = select(Post).where(Post.deleted_at.is_(None))
    if not current_user.is_editor:
        query = query.where(Post.author_id == current_user.id)
    if filters["status"] in {status.value for status in PostStatus}:
        query = query.where(Post.status == filters["status"])
    if filters["kind"] in {kind.value for kind in PostKind}:
        query = query.where(Post.kind == filters["kind"])
    if filters["author"].isdigit():
        query = query.where(Post.author_id == int(filters["author"]))
    if filters["category"].isdigit():
        query = query.where(Post.category_id == int(filters["category"]))
    if filters["q"]:
        query = query.where(Post.title.ilike(f"%{_escape_like(filters['q'])}%", escape="\\"))
    page = Page.of(
        query.options(
            selectinload(Post.author),
            selectinload(Post.category),
            defer(Post.body_md),  # a list shows none of the text: do not read it
            defer(Post.body_html),
            defer(Post.body_text),
        ).order_by(Post.updated_at.desc(), Post.id.desc()),
        page_number(),
        POSTS_PER_ADMIN_PAGE,
        # Kept until a post is saved, moved or trashed anywhere (drafts do not move the site
        # generation, so the newest edit time is part of the key).
        count_key=(
            "admin posts",
            lifecycle.latest_edit(),
            None if current_user.is_editor else current_user.id,
            *filters.items(),
        ),
    )
    authors = db.session.scalars(select(User).order_by(User.display_name)).all()
    return render_template(
        "admin/posts.html",
        page=page,
        filters=filters,
        authors=authors,
        categories=categories_in_order(),
        bulk_form=BulkPostsForm(),
        statuses=list(PostStatus),
    )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@bp.post("/posts/bulk")
@editor_required
def bulk_posts():
    form = BulkPostsForm()
    if not form.validate_on_submit():
        abort(400)
    ids = [int(value) for value in request.form.getlist("post_id") if value.isdigit()]
    if not ids:
        flash("Select at least one post first.", "error")
        return redirect(url_for("admin.posts"))
    selected = db.session.scalars(select(Post).where(Post.id.in_(ids))).all()
    for post in selected:
        if form.action.data == "trash":
            lifecycle.trash(post)
        else:
            lifecycle.change_status(post, current_user, form.action.data)
    db.session.commit()
    flash(f"{len(selected)} posts: {form.action.data} done.", "success")
    return redirect(url_for("admin.posts"))


# The editor ----------------------------------------------------------------------------------


def editor_form(post: Post | None) -> PostForm:
    form = PostForm(obj=post) if post and request.method == "GET" else PostForm()
    form.category_id.choices = [SelectChoice("", "No category")] + [
        SelectChoice(str(category.id), category.name) for category in categories_in_order()
    ]
    if post is not None and request.method == "GET":
        form.body.data = post.body_md
        form.tags.data = ", ".join(tag.name for tag in post.tags)
        form.publish_at.data = to_local(post.published_at)
        form.kind.data = post.kind.value
        form.category_id.data = post.category_id
    return form


def render_editor(form: PostForm, post: Post | None, status: int = 200, **extra):
    featured = None
    if form.featured_media_id.data:
        featured = db.session.get(Media, form.featured_media_id.data)
    return render_template(
        "admin/post_edit.html",
        form=form,
        post=post,
        featured=featured,
        timezone=str(site_timezone()),
        **extra,
    ), status


def input_from(form: PostForm) -> PostInput:
    return PostInput(
        title=form.title.data or "",
        body_md=form.body.data or "",
        slug=form.slug.data or "",
        excerpt=form.excerpt.data or "",
        kind=PostKind(form.kind.data),
        category_id=form.category_id.data,
        tags=form.tags.data or "",
        featured_media_id=form.featured_media_id.data,
        featured_alt=form.featured_alt.data or "",
        featured_caption=form.featured_caption.data or "",
    )


@bp.route("/posts/new", methods=["GET", "POST"])
def new_post():
    form = editor_form(None)
    if request.method == "GET":
        return render_editor(form, None)
    return save_from_editor(form, None)


@bp.route("/posts/<int:post_id>/edit", methods=["GET", "POST"])
def edit_post(post_id: int):
    post = post_for_editing(post_id)
    form = editor_form(post)
    if request.method == "GET":
        autosaved = lifecycle.latest_autosave(post, current_user)
        if autosaved is not None:
            form.title.data, form.body.data = autosaved.title, autosaved.body_md
            form.excerpt.data = autosaved.excerpt
        return render_editor(form, post, autosaved=autosaved)
    return save_from_editor(form, post)


def save_from_editor(form: PostForm, post: Post | None):
    """Save what the editor sent; on any refusal, show the editor again with the text kept."""
    action = EDITOR_ACTIONS.get(request.form.get("action", "save"))
    if action is None or not form.validate_on_submit():
        return render_editor(form, post, 400)
    try:
        post = lifecycle.save_post(
            post,
            input_from(form),
            current_user,
            action=action,
            publish_at=to_utc(form.publish_at.data),
            base_version=form.version.data if post is not None else None,
        )
    except PostConflict as conflict:
        db.session.rollback()
        current_app.logger.info("Edit conflict on post %s by %s", post.id, current_user.email)
        flash(
            f"Not saved: this post was changed elsewhere (it is now at version "
            f"{conflict.current_version}, your editor started from version {form.version.data}). "
            "Your text is still below. Copy what you need, then reload to see the other changes.",
            "error",
        )
        return render_editor(form, post, 409, conflict=True)
    except PostError as error:
        db.session.rollback()
        field = getattr(form, error.field, None) if error.field else None
        if field is not None:
            field.errors = [*field.errors, str(error)]
        else:
            flash(str(error), "error")
        return render_editor(form, post, 400)
    db.session.commit()
    flash(_saved_message(post), "success")
    return redirect(url_for("admin.edit_post", post_id=post.id))


def _saved_message(post: Post) -> str:
    if post.status == PostStatus.PUBLISHED:
        return f"Published. Readers see it at {url_for('public.post', slug=post.slug)}"
    if post.status == PostStatus.SCHEDULED:
        when = to_local(post.published_at).strftime("%d %B %Y at %H:%M")
        return f"Scheduled for {when} ({site_timezone()})."
    return "Draft saved."


@bp.post("/posts/<int:post_id>/unpublish")
def unpublish_post(post_id: int):
    post = post_for_editing(post_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    lifecycle.change_status(post, current_user, Action.UNPUBLISH)
    db.session.commit()
    flash("The post is a draft again; readers no longer see it.", "success")
    return redirect(url_for("admin.edit_post", post_id=post.id))


# Preview, autosave, slug suggestions (JSON for the editor's script) --------------------------


@bp.post("/posts/preview")
def preview():
    """Render Markdown through the same pipeline as a save, for the editor's live preview."""
    payload = request.get_json(silent=True)
    body = payload.get("body", "") if isinstance(payload, dict) else None
    if not isinstance(body, str) or len(body) > lifecycle.MAX_BODY:
        return jsonify(error="The text could not be previewed."), 400
    html = rendering.render_markdown(body)
    words, minutes = rendering.reading_stats(html)
    return jsonify(html=html, words=words, minutes=minutes)


@bp.post("/posts/autosave", defaults={"post_id": None})
@bp.post("/posts/<int:post_id>/autosave")
def autosave(post_id: int | None):
    post = post_for_editing(post_id) if post_id is not None else None
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        return jsonify(error="The autosave was not understood."), 400
    fields = {key: payload.get(key, "") for key in ("title", "body", "excerpt")}
    if not all(isinstance(value, str) for value in fields.values()):
        return jsonify(error="The autosave was not understood."), 400
    data = PostInput(title=fields["title"], body_md=fields["body"], excerpt=fields["excerpt"])
    post, revision = lifecycle.autosave(post, data, current_user)
    db.session.commit()
    return jsonify(
        id=post.id,
        version=post.version,
        saved_at=revision.created_at.isoformat() + "Z",
        edit_url=url_for("admin.edit_post", post_id=post.id),
        autosave_url=url_for("admin.autosave", post_id=post.id),
    )


@bp.get("/posts/slug.json")
def suggest_slug():
    """A readable, unused slug for a title (the editor fills the slug field with it)."""
    title = request.args.get("title", "")[: lifecycle.MAX_TITLE]
    post_id = request.args.get("id", "")
    exclude = int(post_id) if post_id.isdigit() else None
    slug = unique_slug(Post, title, exclude_id=exclude, max_length=lifecycle.MAX_SLUG)
    return jsonify(slug=slug if slugify(title) else "")


# Preview of an unpublished post --------------------------------------------------------------


@bp.get("/posts/<int:post_id>/preview")
def preview_post(post_id: int):
    """The post as readers will see it, for its author and editors, whatever its status."""
    post = post_for_editing(post_id)
    return render_template("public/post.html", post=post, preview=True)


# Trash ---------------------------------------------------------------------------------------


@bp.route("/posts/<int:post_id>/delete", methods=["GET", "POST"])
def delete_post(post_id: int):
    post = post_for_editing(post_id)
    form = ActionForm()
    if request.method == "POST" and form.validate_on_submit():
        lifecycle.trash(post)
        db.session.commit()
        flash(
            f"“{post.title}” is in the trash. An editor can restore it for "
            f"{lifecycle.TRASH_DAYS} days.",
            "success",
        )
        return redirect(url_for("admin.posts"))
    return render_template("admin/post_delete.html", post=post, form=form)


@bp.get("/posts/trash")
@editor_required
def trash():
    lifecycle.purge_expired_trash()
    db.session.commit()
    page = Page.of(
        select(Post)
        .where(Post.deleted_at.is_not(None))
        .options(selectinload(Post.author))
        .order_by(Post.deleted_at.desc()),
        page_number(),
        POSTS_PER_ADMIN_PAGE,
    )
    return render_template(
        "admin/trash.html", page=page, form=ActionForm(), days=lifecycle.TRASH_DAYS
    )


@bp.post("/posts/<int:post_id>/restore")
@editor_required
def restore_post(post_id: int):
    post = db.session.get(Post, post_id) or abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    lifecycle.restore_from_trash(post)
    db.session.commit()
    flash(f"“{post.title}” is restored.", "success")
    return redirect(url_for("admin.trash"))


# History -------------------------------------------------------------------------------------


@bp.get("/posts/<int:post_id>/history")
def history(post_id: int):
    """Every saved revision, and a line-by-line diff between two of them."""
    post = post_for_editing(post_id)
    revisions = db.session.scalars(
        select(Revision)
        .where(Revision.post_id == post.id, Revision.kind != RevisionKind.AUTOSAVE)
        .options(selectinload(Revision.saved_by))
        .order_by(Revision.id.desc())
    ).all()
    by_id = {revision.id: revision for revision in revisions}
    newer = by_id.get(request.args.get("b", type=int)) or (revisions[0] if revisions else None)
    older = by_id.get(request.args.get("a", type=int)) or (
        revisions[1] if len(revisions) > 1 else newer
    )
    return render_template(
        "admin/post_history.html",
        post=post,
        revisions=revisions,
        older=older,
        newer=newer,
        diff=_diff(older, newer) if older and newer else [],
        form=ActionForm(),
    )


def _diff(older: Revision, newer: Revision) -> list[tuple[str, str]]:
    """(kind, line) pairs: kind is 'add', 'remove', 'same' or 'skip' (a gap in the context)."""
    lines = difflib.unified_diff(
        f"# {older.title}\n\n{older.body_md}".splitlines(),
        f"# {newer.title}\n\n{newer.body_md}".splitlines(),
        lineterm="",
        n=3,
    )
    kinds = {"+": "add", "-": "remove", " ": "same", "@": "skip"}
    result = []
    for line in list(lines)[2:]:  # the two file-name lines say nothing here
        result.append((kinds.get(line[:1], "same"), line[1:] if line[:1] != "@" else "…"))
    return result


@bp.post("/posts/<int:post_id>/history/<int:revision_id>/restore")
def restore_revision(post_id: int, revision_id: int):
    post = post_for_editing(post_id)
    revision = db.session.get(Revision, revision_id)
    if revision is None or revision.post_id != post.id:
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    lifecycle.restore_revision(post, revision, current_user)
    db.session.commit()
    flash(f"Restored the text saved on {revision.created_at:%d %B %Y at %H:%M} UTC.", "success")
    return redirect(url_for("admin.edit_post", post_id=post.id))

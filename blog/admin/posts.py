"""Writing: the post list, the editor, preview, autosave, lifecycle actions, history, trash.

Decisions:
- Every request that changes a post says which version of it the page showed (`version`,
  or `version-<id>` per post in the list's bulk form, and `version` plus `autosave_id` in an
  autosave). Without a readable one nothing changes (400); from an older one nothing changes
  either (409). Either way the page comes back with the message, and the editor with the
  author's text. Pinning and the search fields are editor fields, saved with that version.
- Only editors pin (authors' forms carry no box, and what they send is ignored).
- Messages say what readers now see, so "Unpublish" never reads like "Draft saved".
"""

import difflib
import re
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import defer, selectinload

from .. import posts as lifecycle
from .. import preview_links, rendering
from ..errors import shows_unreadable_input, unreadable_input
from ..extensions import db
from ..federation import administration as federation_admin
from ..media import ALT_TEXT_MAX
from ..models import Media, Post, PostKind, PostStatus, Revision, RevisionKind, User
from ..newsletter import sending as newsletter_sending
from ..pagination import Page, page_number
from ..permissions import editor_required
from ..posts import Action, AutosaveConflict, PostConflict, PostError, PostInput
from ..settings import get_setting
from ..slugs import unique_slug
from ..taxonomy import categories_in_order, indented_choices
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


# Versions ------------------------------------------------------------------------------------

_VERSION = re.compile(r"[0-9]{1,9}")
NO_VERSION = (
    "Nothing was changed: this page did not say which version of the post it showed. "
    "Reload the page and try again."
)


def version_from(raw) -> int | None:
    """The version a page says it showed, if it says so readably (a whole number)."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw if raw >= 0 else None
    if isinstance(raw, str) and _VERSION.fullmatch(raw):
        return int(raw)
    return None


def conflict_message(conflict: PostConflict) -> str:
    if conflict.current_version is None:
        return "Nothing was changed: this post no longer exists."
    return (
        "Nothing was changed: this post was changed elsewhere since this page was loaded "
        f"(it is now at version {conflict.current_version}). Reload the page to see the "
        "changes, then try again."
    )


def refused(message: str, status: int, page):
    """Undo the attempt, say why, and show the page the request came from again."""
    db.session.rollback()
    flash(message, "error")
    return page(), status


def change_at_shown_version(change, page):
    """Run `change(base_version)` from the version the form showed, and commit.

    Returns None when done, else the refusal: `page` again with why (400 without a readable
    version, 409 when the post moved on meanwhile).
    """
    base_version = version_from(request.form.get("version"))
    if base_version is None:
        return refused(NO_VERSION, 400, page)
    try:
        change(base_version)
    except PostConflict as conflict:
        return refused(conflict_message(conflict), 409, page)
    db.session.commit()
    return None


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
        # Likes and boosts from the fediverse: one grouped query for the page's posts.
        reactions=federation_admin.reaction_counts([post.id for post in page.items]),
    )


BULK_DONE = {
    "publish": "published: readers see {them}",
    "unpublish": "unpublished: readers no longer see {them}",
    "trash": "moved to the trash: readers no longer see {them}; an editor can restore {them}",
}


def bulk_message(action: str, count: int) -> str:
    subject = "1 post" if count == 1 else f"{count} posts"
    them = "it" if count == 1 else "them"
    return f"{subject} {BULK_DONE[action].format(them=them)}."


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
    selected = db.session.scalars(select(Post).where(Post.id.in_(ids)).order_by(Post.id)).all()
    versions = {post.id: version_from(request.form.get(f"version-{post.id}")) for post in selected}
    if None in versions.values():
        message = "Nothing was changed: the list did not say which version of each post it showed."
        return refused(f"{message} Reload the list and try again.", 400, posts)
    done, moved = [], []
    for post in selected:  # each post's version is claimed before it changes: no savepoints
        try:
            if form.action.data == "trash":
                lifecycle.trash(post, versions[post.id])
            else:
                lifecycle.change_status(post, current_user, form.action.data, versions[post.id])
        except PostConflict:
            moved.append(post.title)
        else:
            done.append(post)
    db.session.commit()
    if done:
        flash(bulk_message(form.action.data, len(done)), "success")
    if not moved:
        return redirect(url_for("admin.posts"))
    names = ", ".join(f"“{title}”" for title in moved)
    flash(
        f"Not changed, because they were changed elsewhere since the list was loaded: {names}. "
        "Look at them again, then try again.",
        "error",
    )
    return posts(), 409


# The editor ----------------------------------------------------------------------------------


def editor_form(post: Post | None, stored: bool = False) -> PostForm:
    """The editor's form: what was sent, or (on GET, or with `stored`) the post as stored."""
    from_post = post is not None and (stored or request.method == "GET")
    form = PostForm(formdata=None, obj=post) if from_post else PostForm()
    choices = indented_choices()
    form.category_id.choices = [SelectChoice("", "No category")] + [
        SelectChoice(value, label) for value, label in choices
    ]
    form.secondary_category_ids.choices = choices
    if post is None and request.method == "GET":
        form.newsletter.data = str(get_setting("newsletter_default"))
    if from_post:
        form.body.data = post.body_md
        form.tags.data = ", ".join(tag.name for tag in post.tags)
        form.publish_at.data = to_local(post.published_at)
        form.kind.data = post.kind.value
        form.category_id.data = post.category_id
        form.secondary_category_ids.data = [c.id for c in post.secondary_categories]
    return form


def render_editor(form: PostForm, post: Post | None, status: int = 200, **extra):
    featured = chosen_media(form.featured_media_id.data)
    social = chosen_media(form.social_media_id.data)
    autosaved = lifecycle.autosave_of(post, current_user) if post is not None else None
    share_preview = post is not None and preview_links.needs_link(post)
    return render_template(
        "admin/post_edit.html",
        form=form,
        post=post,
        featured=featured,
        social=social,
        timezone=str(site_timezone()),
        autosave_id=autosaved.id if autosaved else 0,
        share_preview=share_preview,
        preview_links=preview_links.live_links(post) if share_preview else [],
        preview_address=preview_links.address_of,
        alt_max=ALT_TEXT_MAX,
        newsletter_send=newsletter_sending.send_of(post) if post is not None else None,
        newsletter_offered=newsletter_sending.offered(),
        reactions=federation_admin.reaction_counts([post.id]).get(post.id) if post else None,
        **extra,
    ), status


def chosen_media(media_id) -> Media | None:
    """The image a hidden field names, if it names one readably (not when what was sent is not)."""
    return db.session.get(Media, media_id) if isinstance(media_id, int) else None


def input_from(form: PostForm) -> PostInput:
    return PostInput(
        title=form.title.data or "",
        body_md=form.body.data or "",
        slug=form.slug.data or "",
        excerpt=form.excerpt.data or "",
        kind=PostKind(form.kind.data),
        category_id=form.category_id.data,
        secondary_category_ids=list(form.secondary_category_ids.data or []),
        tags=form.tags.data or "",
        featured_media_id=form.featured_media_id.data,
        featured_alt=form.featured_alt.data or "",
        featured_caption=form.featured_caption.data or "",
        pinned=bool(form.pinned.data) if current_user.is_editor else None,
        comments_mode=form.comments_mode.data if form.comments_mode.raw_data else None,
        newsletter=form.newsletter.data if form.newsletter.raw_data else None,
        meta_title=form.meta_title.data or "",
        meta_description=form.meta_description.data or "",
        social_media_id=form.social_media_id.data,
        canonical_url=form.canonical_url.data or "",
    )


@bp.route("/posts/new", methods=["GET", "POST"])
@shows_unreadable_input
def new_post():
    form = editor_form(None)
    if request.method == "GET":
        return render_editor(form, None)
    return save_from_editor(form, None)


@bp.route("/posts/<int:post_id>/edit", methods=["GET", "POST"])
@shows_unreadable_input
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
    if message := unreadable_input():
        flash(message, "error")
        return render_editor(form, post, 400, conflict=True)
    action = EDITOR_ACTIONS.get(request.form.get("action", "save"))
    if action is None or not form.validate_on_submit():
        return render_editor(form, post, 400)
    base_version = version_from(form.version.data) if post is not None else None
    if post is not None and base_version is None:
        flash(
            "Not saved: the editor did not say which version of the post it started from. "
            "Your text is still below. Copy it, then reload the page.",
            "error",
        )
        return render_editor(form, post, 400, conflict=True)
    before = (post.status, post.pinned) if post is not None else (None, False)
    try:
        post = lifecycle.save_post(
            post,
            input_from(form),
            current_user,
            action=action,
            publish_at=to_utc(form.publish_at.data),
            base_version=base_version,
        )
    except PostConflict as conflict:
        db.session.rollback()
        current_app.logger.info("Edit conflict on post %s by %s", post.id, current_user.email)
        flash(
            f"Not saved: this post was changed elsewhere (it is now at version "
            f"{conflict.current_version}, your editor started from version {base_version}). "
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
    newsletter_sending.after_save(post, current_user)
    db.session.commit()
    flash(saved_message(post, *before), "success")
    return redirect(url_for("admin.edit_post", post_id=post.id))


def saved_message(post: Post, status_before: PostStatus | None, pinned_before: bool) -> str:
    """What the save did, in the words a reader's point of view needs."""
    message = _status_message(post, status_before)
    if post.pinned != pinned_before:
        message += (
            " Pinned to the top of the home page."
            if post.pinned
            else " No longer pinned to the home page."
        )
    return message


def _status_message(post: Post, status_before: PostStatus | None) -> str:
    address = url_for("public.post", slug=post.slug)
    if post.status == PostStatus.PUBLISHED:
        if status_before == PostStatus.PUBLISHED:
            return f"Updated: readers see the changes at {address}"
        return f"Published: readers see it at {address}"
    if post.status == PostStatus.SCHEDULED:
        when = to_local(post.published_at).strftime("%d %B %Y at %H:%M")
        return f"Scheduled: readers see it from {when} ({site_timezone()})."
    if status_before in (PostStatus.PUBLISHED, PostStatus.SCHEDULED):
        return UNPUBLISHED
    return "Draft saved: only people who can edit it see it."


UNPUBLISHED = "Unpublished: readers no longer see it."


@bp.post("/posts/<int:post_id>/unpublish")
def unpublish_post(post_id: int):
    post = post_for_editing(post_id)
    if not ActionForm().validate_on_submit():
        abort(400)

    def editor_page():
        return render_editor(editor_form(post, stored=True), post)[0]

    refusal = change_at_shown_version(
        lambda base: lifecycle.change_status(post, current_user, Action.UNPUBLISH, base),
        editor_page,
    )
    if refusal is not None:
        return refusal
    flash(f"{UNPUBLISHED} It is a draft again.", "success")
    return redirect(url_for("admin.edit_post", post_id=post.id))


# Preview, autosave, slug suggestions (JSON for the editor's script) --------------------------


@bp.post("/posts/preview")
def preview():
    """Render Markdown through the same pipeline as a save, for the editor's live preview."""
    payload = request.get_json(silent=True)
    body = payload.get("body", "") if isinstance(payload, dict) else None
    if not isinstance(body, str) or len(body) > lifecycle.MAX_BODY:
        return jsonify(error="The text could not be previewed."), 400
    html = rendering.render_markdown(body, lifecycle.library_images(body))
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
    if post is None:
        post, revision = lifecycle.autosave(None, data, current_user)
    else:
        base_version = version_from(payload.get("version"))
        replaces = version_from(payload.get("autosave_id"))
        if base_version is None or replaces is None:
            message = "Not autosaved: the editor did not say which version and autosave it has."
            return jsonify(error=f"{message} Copy your text, then reload the page."), 400
        try:
            post, revision = lifecycle.autosave(post, data, current_user, base_version, replaces)
        except PostConflict as conflict:
            db.session.rollback()
            return jsonify(
                error="Not autosaved: this post was saved elsewhere since this editor opened "
                f"it (it is now at version {conflict.current_version}). Your text is still "
                "here; copy it before you reload the page.",
                version=conflict.current_version,
            ), 409
        except AutosaveConflict:
            db.session.rollback()
            return jsonify(
                error="Not autosaved: you autosaved this post from another window since. "
                "Your text here is not stored; save it, or copy it before you reload the page."
            ), 409
    db.session.commit()
    return jsonify(
        id=post.id,
        version=post.version,
        autosave_id=revision.id,
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
    when = to_local(post.published_at)
    return render_template(
        "public/post.html",
        post=post,
        preview=True,
        preview_when=when and f"{when.strftime('%-d %B %Y at %H:%M')} ({site_timezone()})",
    )


# Trash ---------------------------------------------------------------------------------------


@bp.route("/posts/<int:post_id>/delete", methods=["GET", "POST"])
def delete_post(post_id: int):
    post = post_for_editing(post_id)
    form = ActionForm()

    def confirmation():
        return render_template("admin/post_delete.html", post=post, form=form)

    if request.method == "POST" and form.validate_on_submit():
        refusal = change_at_shown_version(lambda base: lifecycle.trash(post, base), confirmation)
        if refusal is not None:
            return refusal
        flash(
            f"“{post.title}” is in the trash. An editor can restore it for "
            f"{lifecycle.TRASH_DAYS} days.",
            "success",
        )
        return redirect(url_for("admin.posts"))
    return confirmation()


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
    refusal = change_at_shown_version(lambda base: lifecycle.restore_from_trash(post, base), trash)
    if refusal is not None:
        return refusal
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
    refusal = change_at_shown_version(
        lambda base: lifecycle.restore_revision(post, revision, current_user, base),
        lambda: history(post.id),
    )
    if refusal is not None:
        return refusal
    flash(f"Restored the text saved on {revision.created_at:%d %B %Y at %H:%M} UTC.", "success")
    return redirect(url_for("admin.edit_post", post_id=post.id))

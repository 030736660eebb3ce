"""The media library: upload, browse, describe and delete images.

Everyone signed in may upload, browse and reuse every image; authors may change or delete
only the images they uploaded, editors and admins any.

Decisions:
- Alt text: each image's form carries a fingerprint of the alt text it showed; a save from a
  page loaded before someone else saved that image's alt text is refused, with the refused
  text quoted in the message, instead of replacing theirs unseen (blog.concurrent_edits).
  The editor's image dialog saves through `alt.json` with the same fingerprint: an image has
  one alt text, and posts that show it are rendered again with it (`media.set_alt_text`).
"""

import re

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from .. import media as service
from ..concurrent_edits import (
    EditConflict,
    MissingFingerprint,
    check_row_unchanged,
    fields_of,
    fingerprint,
)
from ..extensions import db
from ..models import Media
from ..uploads import UploadError
from . import bp

PER_PAGE = 24
ALT_FIELDS = ("alt_text",)
_PAGE_NUMBER = re.compile(r"[1-9][0-9]{0,8}")  # keeps OFFSET far from any integer limit


# --- helpers -----------------------------------------------------------------


def get_media_or_404(media_id: int) -> Media:
    return db.session.get(Media, media_id) or abort(404)


def get_manageable_media(media_id: int) -> Media:
    """The image, if the signed-in user may change or delete it; 404 or 403 otherwise."""
    media = get_media_or_404(media_id)
    if not service.can_manage(current_user, media):
        abort(403)
    return media


def requested_page() -> int:
    """?page=N as a positive number; anything else is a page that does not exist."""
    raw = request.args.get("page", "1")
    if not _PAGE_NUMBER.fullmatch(raw):
        abort(404)
    return int(raw)


def newest_media(page: int) -> Pagination:
    """One page of the library, newest first, uploaders loaded in the same query."""
    query = (
        select(Media)
        .options(joinedload(Media.uploader))
        .order_by(Media.created_at.desc(), Media.id.desc())
    )
    return db.paginate(query, page=page, per_page=PER_PAGE, max_per_page=PER_PAGE, error_out=True)


def upload_json(media: Media) -> dict:
    return {
        "id": media.id,
        "url": service.media_url(media.filename),
        "markdown": service.image_markdown(media),
        "width": media.width,
        "height": media.height,
        "alt": media.alt_text,
        "srcset": service.srcset(media),
        "alt_shown": fingerprint(fields_of(media, ALT_FIELDS)),
        "alt_url": url_for("admin.media_alt", media_id=media.id),
        "can_edit_alt": service.can_manage(current_user, media),
    }


def store_one(file_storage) -> Media:
    """Save an upload and commit it; on refusal log it and raise UploadError.

    If the commit fails, the files just written are removed before the error goes on.
    """
    try:
        media = service.save_upload(file_storage, current_user)
    except UploadError as error:
        name = file_storage.filename if file_storage else None
        current_app.logger.warning(
            "Upload refused for %s (file %r): %s", current_user.email, name, error
        )
        raise
    try:
        db.session.commit()
    except BaseException:
        db.session.rollback()
        service.discard_files(media)
        raise
    current_app.logger.info(
        "%s uploaded media %s (%s)", current_user.email, media.id, media.original_name
    )
    return media


def back_to_library(page: str | None = None, media_id: int | None = None):
    """Redirect to the library page a form came from, at the image it was about."""
    number = int(page) if page and _PAGE_NUMBER.fullmatch(page) else 1
    url = url_for(
        "admin.media_library",
        page=number if number > 1 else None,
        _anchor=f"media-{media_id}" if media_id else None,
    )
    return redirect(url, 303)


# --- views -------------------------------------------------------------------


@bp.post("/media/upload")
def upload_media():
    """The editor's drag and drop: one file in, JSON out."""
    try:
        media = store_one(request.files.get("file"))
    except UploadError as error:
        return {"error": str(error)}, 400
    return upload_json(media), 201


@bp.get("/media/")
def media_library():
    limits = service.upload_limits()
    return render_template(
        "admin/media.html",
        pagination=newest_media(requested_page()),
        can_manage=service.can_manage,
        max_mb=f"{limits.max_bytes / service.MB:g}",
        max_megapixels=f"{limits.max_pixels / 1_000_000:g}",
        alt_max=service.ALT_TEXT_MAX,
        alt_shown=lambda media: fingerprint(fields_of(media, ALT_FIELDS)),
    )


@bp.post("/media/")
def upload_media_form():
    """The library's own upload form, which works without JavaScript."""
    files = [f for f in request.files.getlist("file") if f.filename] or [None]
    for file_storage in files:
        try:
            media = store_one(file_storage)
        except UploadError as error:
            prefix = f"{file_storage.filename}: " if file_storage else ""
            flash(prefix + str(error), "error")
        else:
            flash(f"{media.original_name} is uploaded. Add its alt text below.", "success")
    return back_to_library()


@bp.post("/media/<int:media_id>")
def update_media(media_id: int):
    media = get_manageable_media(media_id)
    alt_text = service.clean_alt_text(request.form.get("alt_text"))
    page = request.form.get("page")
    if len(alt_text) > service.ALT_TEXT_MAX:
        flash(f"Alt text can be at most {service.ALT_TEXT_MAX} characters.", "error")
        return back_to_library(page, media.id)
    try:
        check_row_unchanged(media, ALT_FIELDS, request.form.get("shown"))
    except (MissingFingerprint, EditConflict) as refusal:
        db.session.rollback()
        why = (
            "the page did not say which alt text it showed"
            if isinstance(refusal, MissingFingerprint)
            else "someone else changed it since this page was loaded"
        )
        flash(
            f"The alt text of {media.original_name} was not saved: {why}. Yours was: “{alt_text}”.",
            "error",
        )
        return back_to_library(page, media.id)
    service.set_alt_text(media, alt_text)
    db.session.commit()
    flash(
        f"The alt text of {media.original_name} is saved, here and wherever posts show it.",
        "success",
    )
    return back_to_library(page, media.id)


@bp.post("/media/<int:media_id>/alt.json")
def media_alt(media_id: int):
    """The editor's image dialog saves the image's one alt text, the library's, here.

    Checked like the library's form: `shown` is the fingerprint of the alt text the dialog
    showed; if someone changed it since, nothing is saved (409) and theirs is sent back.
    """
    media = get_manageable_media(media_id)
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict) or not isinstance(payload.get("alt_text"), str):
        return {"error": "The alt text was not understood."}, 400
    alt_text = service.clean_alt_text(payload["alt_text"])
    if len(alt_text) > service.ALT_TEXT_MAX:
        return {"error": f"Alt text can be at most {service.ALT_TEXT_MAX} characters."}, 400
    shown = payload.get("shown") if isinstance(payload.get("shown"), str) else None
    try:
        check_row_unchanged(media, ALT_FIELDS, shown)
    except MissingFingerprint:
        db.session.rollback()
        return {"error": "Alt text not saved: the editor did not say which one it showed."}, 400
    except EditConflict:
        db.session.rollback()
        current = db.session.get(Media, media.id)
        return {
            "error": "Alt text not saved in the library: someone changed it since. "
            f"Theirs is “{current.alt_text}”.",
            "alt": current.alt_text,
            "alt_shown": fingerprint(fields_of(current, ALT_FIELDS)),
        }, 409
    service.set_alt_text(media, alt_text)
    db.session.commit()
    return {
        "alt": media.alt_text,
        "alt_shown": fingerprint(fields_of(media, ALT_FIELDS)),
        "message": "Alt text saved in the Media library too.",
    }


@bp.get("/media/<int:media_id>/delete")
def confirm_delete_media(media_id: int):
    media = get_manageable_media(media_id)
    return render_template("admin/media_delete.html", media=media, posts=service.posts_using(media))


@bp.post("/media/<int:media_id>/delete")
def delete_media(media_id: int):
    media = get_manageable_media(media_id)
    name = media.original_name
    service.delete_media(media)
    current_app.logger.info("%s deleted media %s (%s)", current_user.email, media_id, name)
    flash(f"{name} is deleted.", "success")
    return back_to_library()


@bp.get("/media/picker.json")
def media_picker():
    """Pages of images for the featured-image picker."""
    pagination = newest_media(requested_page())
    items = [
        {**upload_json(media), "thumb": service.thumbnail(media)["url"]}
        for media in pagination.items
    ]
    return {"items": items, "next_page": pagination.next_num if pagination.has_next else None}

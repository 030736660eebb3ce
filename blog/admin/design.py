"""Settings → Design and Settings → Menus, for admins: the site's identity.

Design: logo (and a dark-mode variant), site icon, accent colours, typefaces. Menus: the
header menu (two levels) that replaces the automatic list of categories and pages, and the
footer menu. The rules live in blog.design; this module reads the forms and saves.

Decisions:
- Like the general settings, each page carries a fingerprint of the settings it showed (its
  own keys only, so saving one settings page never refuses another) and a save from a stale
  page is refused with 409 (blog.concurrent_edits).
- Images go through the media pipeline (blog.media.save_upload) and appear in the Media
  library; they are stored only once the colours and the fingerprint have been accepted, and
  removed again if the save fails after all.
"""

from pathlib import Path

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from .. import media as media_service
from ..concurrent_edits import (
    EditConflict,
    MissingFingerprint,
    check_unchanged,
    fingerprint,
    lock_table,
)
from ..design import icons, menus, theme
from ..extensions import db
from ..models import Media, Setting
from ..permissions import admin_required
from ..settings import get_settings, set_settings
from ..uploads import UploadError
from . import bp
from .forms import MENU_ROWS_MAX, DesignForm, MenusForm

DESIGN_KEYS = (
    "logo_media_id",
    "logo_dark_media_id",
    "icon_media_id",
    "favicon_file",
    "touch_icon_file",
    "accent_light",
    "accent_dark",
    "heading_typeface",
    "body_typeface",
)
MENU_KEYS = ("header_menu", "footer_menu")
BLANK_ROWS = 5
LOGO_FIELDS = (("logo", "logo_media_id"), ("logo_dark", "logo_dark_media_id"))


def shown(keys: tuple[str, ...]) -> dict[str, object]:
    settings = get_settings()
    return {key: settings[key] for key in keys}


def save_checked(keys: tuple[str, ...], render) -> object | None:
    """Lock the settings and check the page's fingerprint; a refusal page, or None to go on."""
    try:
        lock_table(Setting.__table__)
        check_unchanged(shown(keys), request.form.get("shown"))
    except MissingFingerprint:
        db.session.rollback()
        flash(
            "Nothing was saved: the page did not say which settings it showed. Reload it.", "error"
        )
        return render(400)
    except EditConflict:
        db.session.rollback()
        flash(
            "Nothing was saved: another admin changed these settings since this page was "
            "loaded. Your entries are still below; reload the page to see theirs, then save "
            "again.",
            "error",
        )
        return render(409)
    return None


# --- Design -----------------------------------------------------------------------------------


def design_form() -> DesignForm:
    form = DesignForm(data=get_settings())
    choices = [SelectChoice(key, label) for key, (label, _) in theme.TYPEFACES.items()]
    form.heading_typeface.choices = choices
    form.body_typeface.choices = list(choices)
    return form


def design_page(form: DesignForm, status: int = 200):
    fingerprint_shown = (
        request.form.get("shown") if form.is_submitted() else fingerprint(shown(DESIGN_KEYS))
    )
    settings = get_settings()
    images = {
        key: db.session.get(Media, settings[key]) if settings[key] else None
        for key in ("logo_media_id", "logo_dark_media_id")
    }
    return (
        render_template(
            "admin/design.html",
            form=form,
            shown=fingerprint_shown,
            images=images,
            settings=settings,
            light_background=theme.LIGHT_BACKGROUND,
            dark_background=theme.DARK_BACKGROUND,
        ),
        status,
    )


def accent_errors(form: DesignForm) -> bool:
    """Put a message on each accent the theme cannot read; True if there was one."""
    found = False
    for field, theme_name in ((form.accent_light, "light"), (form.accent_dark, "dark")):
        problem = theme.accent_problem(field.data or "", theme.THEMES[theme_name])
        if problem:
            field.errors = [problem]
            found = True
    return found


@bp.route("/settings/design", methods=["GET", "POST"])
@admin_required
def design_settings():
    form = design_form()
    if not form.validate_on_submit():
        return design_page(form, 400 if form.is_submitted() else 200)
    if accent_errors(form):
        return design_page(form, 400)
    values: dict[str, object] = {
        "accent_light": theme.normalise_colour(form.accent_light.data),
        "accent_dark": theme.normalise_colour(form.accent_dark.data),
        "heading_typeface": form.heading_typeface.data,
        "body_typeface": form.body_typeface.data,
    }
    refusal = save_checked(DESIGN_KEYS, lambda status: design_page(form, status))
    if refusal is not None:
        return refusal
    before = get_settings()
    stored = StoredFiles()
    try:
        values.update(images_from(form, stored))
    except UploadError:
        db.session.rollback()
        stored.discard()
        return design_page(form, 400)
    set_settings(values)
    try:
        db.session.commit()
    except BaseException:
        db.session.rollback()
        stored.discard()
        raise
    icons.remove_icons(upload_folder(), icons_replaced(before, values))
    current_app.logger.info("%s changed the site design", current_user.email)
    flash("Design saved. Readers see it on their next page.", "success")
    return redirect(url_for("admin.design_settings"), 303)


def icons_replaced(before: dict[str, object], values: dict[str, object]) -> list[str]:
    """The icon files a save stopped using (a new icon, or none)."""
    keys = ("favicon_file", "touch_icon_file")
    return [str(before[key]) for key in keys if values.get(key, before[key]) != before[key]]


class StoredFiles:
    """Files this save wrote (uploads, icons), to remove if the save does not go through."""

    def __init__(self) -> None:
        self.media: list[Media] = []
        self.icon_names: list[str] = []

    def discard(self) -> None:
        for media in self.media:
            media_service.discard_files(media)
        icons.remove_icons(upload_folder(), self.icon_names)


def upload_folder() -> Path:
    return media_service.upload_folder()


def images_from(form: DesignForm, stored: StoredFiles) -> dict[str, object]:
    """Settings for the logos and icon the form removes or uploads.

    Raises UploadError, with the message on the field it concerns, for a refused image.
    """
    values: dict[str, object] = {}
    for name, key in LOGO_FIELDS:
        if getattr(form, f"remove_{name}").data:
            values[key] = None
        media = _upload(getattr(form, name), stored)
        if media is not None:
            values[key] = media.id
    if form.remove_icon.data:
        values.update(icon_media_id=None, favicon_file="", touch_icon_file="")
    media = _upload(form.icon, stored)
    if media is not None:
        try:
            if problem := icons.icon_problem(media.width, media.height):
                raise UploadError(problem)
            names = icons.make_icons(upload_folder() / media.filename, upload_folder())
        except UploadError as error:
            form.icon.errors = [str(error)]
            raise
        stored.icon_names.extend(names.values())
        values.update(
            icon_media_id=media.id,
            favicon_file=names["favicon"],
            touch_icon_file=names["touch_icon"],
        )
    return values


def _upload(field, stored: StoredFiles) -> Media | None:
    """Store the field's file through the media pipeline (None if no file was chosen)."""
    upload = field.data
    if upload is None or not getattr(upload, "filename", None):
        return None
    try:
        media = media_service.save_upload(upload, current_user)
    except UploadError as error:
        current_app.logger.warning("Design upload refused for %s: %s", current_user.email, error)
        field.errors = [str(error)]
        raise
    stored.media.append(media)
    db.session.flush()  # the id, for the setting
    return media


# --- Menus ------------------------------------------------------------------------------------


def menus_form() -> MenusForm:
    """The editor: the stored menus, then a few blank rows to add items."""
    settings = get_settings()
    form = MenusForm() if request.method == "POST" else MenusForm(data=_menu_data(settings))
    if request.method != "POST":
        for rows in (form.header, form.footer):
            for _ in range(BLANK_ROWS):
                if len(rows.entries) < MENU_ROWS_MAX - 1:
                    rows.append_entry({"position": len(rows.entries) + 1})
    return form


def _menu_data(settings: dict[str, object]) -> dict:
    return {
        name: [vars(row) for row in menus.rows_of(settings[f"{name}_menu"])]
        for name in ("header", "footer")
    }


def menus_page(form: MenusForm, status: int = 200):
    fingerprint_shown = (
        request.form.get("shown") if form.is_submitted() else fingerprint(shown(MENU_KEYS))
    )
    return render_template("admin/menus.html", form=form, shown=fingerprint_shown), status


def checked_menu(rows_field, levels: int) -> list[dict] | None:
    """The menu a FieldList describes, or None with messages put on its rows."""
    rows = [
        menus.Row(
            label=entry.form.label.data or "",
            url=entry.form.url.data or "",
            position=entry.form.position.data,
            sub=bool(entry.form.sub.data),
        )
        for entry in rows_field.entries
    ]
    result = menus.check_rows(rows, levels)
    for index, problems in result.errors.items():
        subform = rows_field.entries[index].form
        for name, message in problems.items():
            getattr(subform, name).errors = [message]
    return None if result.errors else result.items


@bp.route("/settings/menus", methods=["GET", "POST"])
@admin_required
def menu_settings():
    form = menus_form()
    if not form.validate_on_submit():
        return menus_page(form, 400 if form.is_submitted() else 200)
    header = checked_menu(form.header, levels=2)
    footer = checked_menu(form.footer, levels=1)
    if header is None or footer is None:
        flash("Nothing was saved: some menu items need a change (see below).", "error")
        return menus_page(form, 400)
    values = {"header_menu": header, "footer_menu": footer}
    refusal = save_checked(MENU_KEYS, lambda status: menus_page(form, status))
    if refusal is not None:
        return refusal
    set_settings(values)
    db.session.commit()
    current_app.logger.info("%s changed the site menus", current_user.email)
    flash("Menus saved.", "success")
    return redirect(url_for("admin.menu_settings"), 303)

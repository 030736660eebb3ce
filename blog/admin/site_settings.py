"""Site settings, for admins: title, tagline, banner, list size, footer, feeds, time zone.

Decisions:
- Two admins may have the page open at once. Saving sends every field, so a save from a page
  loaded before another admin's save would silently put the old values back. The page
  carries a fingerprint of the settings it showed; a save checks it under a lock on the
  settings (blog.concurrent_edits) and is refused with 409, the admin's input kept, if they
  changed meanwhile.
"""

from zoneinfo import available_timezones

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from .. import mail
from ..concurrent_edits import (
    EditConflict,
    MissingFingerprint,
    check_unchanged,
    fingerprint,
    lock_table,
)
from ..extensions import db
from ..models import Media, Setting
from ..permissions import admin_required
from ..rendering import is_safe_url
from ..settings import get_settings, set_settings
from . import bp
from .forms import SelectChoice, SettingsForm

EDITABLE = (
    "site_title",
    "tagline",
    "banner_media_id",
    "banner_link",
    "banner_alt",
    "posts_per_page",
    "footer_text",
    "feed_full_text",
    "require_admin_2fa",
    "timezone",
    "comment_moderation",
    "comments_close_days",
    "comment_max_links",
    "comment_blocklist",
)


def shown_settings() -> dict[str, object]:
    """The settings this page shows (Design and Menus have pages and fingerprints of their own)."""
    settings = get_settings()
    return {key: settings[key] for key in EDITABLE}


def settings_form() -> SettingsForm:
    form = SettingsForm(data=get_settings())
    recent = db.session.scalars(select(Media).order_by(Media.created_at.desc()).limit(50))
    form.banner_media_id.choices = [SelectChoice("", "No banner")] + [
        SelectChoice(str(media.id), f"{media.original_name} ({media.width}×{media.height})")
        for media in recent
    ]
    form.timezone.choices = [SelectChoice(name) for name in sorted(available_timezones())]
    return form


def settings_page(form: SettingsForm, status: int = 200):
    """The page; after a POST it keeps the fingerprint the admin's page started from."""
    shown = request.form.get("shown") if form.is_submitted() else fingerprint(shown_settings())
    return render_template(
        "admin/settings.html", form=form, shown=shown, email=mail.describe()
    ), status


@bp.route("/settings", methods=["GET", "POST"])
@admin_required
def site_settings():
    form = settings_form()
    if not form.validate_on_submit():
        return settings_page(form, 400 if form.is_submitted() else 200)
    link = form.banner_link.data.strip()
    if link and not is_safe_url(link):
        form.banner_link.errors = ["Use an http:// or https:// address, or a path on this site."]
        return settings_page(form, 400)
    if form.banner_media_id.data and db.session.get(Media, form.banner_media_id.data) is None:
        form.banner_media_id.errors = ["That image no longer exists."]
        return settings_page(form, 400)
    values = {key: getattr(form, key).data for key in EDITABLE}
    values.update({key: values[key].strip() for key in EDITABLE if isinstance(values[key], str)})
    try:
        lock_table(Setting.__table__)
        check_unchanged(shown_settings(), request.form.get("shown"))
    except MissingFingerprint:
        db.session.rollback()
        flash(
            "Nothing was saved: the page did not say which settings it showed. Reload it.", "error"
        )
        return settings_page(form, 400)
    except EditConflict:
        db.session.rollback()
        flash(
            "Nothing was saved: another admin changed the settings since this page was loaded. "
            "Your entries are still below; reload the page to see theirs, then save again.",
            "error",
        )
        return settings_page(form, 409)
    set_settings(values)
    db.session.commit()
    current_app.logger.info("%s changed the site settings", current_user.email)
    flash("Settings saved.", "success")
    return redirect(url_for("admin.site_settings"))

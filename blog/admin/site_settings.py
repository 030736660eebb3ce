"""Site settings, for admins: title, tagline, banner, list size, footer, feeds, time zone."""

from zoneinfo import available_timezones

from flask import current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from ..extensions import db
from ..models import Media
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
)


def settings_form() -> SettingsForm:
    form = SettingsForm(data=get_settings())
    recent = db.session.scalars(select(Media).order_by(Media.created_at.desc()).limit(50))
    form.banner_media_id.choices = [SelectChoice("", "No banner")] + [
        SelectChoice(str(media.id), f"{media.original_name} ({media.width}×{media.height})")
        for media in recent
    ]
    form.timezone.choices = [SelectChoice(name) for name in sorted(available_timezones())]
    return form


@bp.route("/settings", methods=["GET", "POST"])
@admin_required
def site_settings():
    form = settings_form()
    if not form.validate_on_submit():
        return render_template(
            "admin/settings.html", form=form
        ), 400 if form.is_submitted() else 200
    link = form.banner_link.data.strip()
    if link and not is_safe_url(link):
        form.banner_link.errors = ["Use an http:// or https:// address, or a path on this site."]
        return render_template("admin/settings.html", form=form), 400
    if form.banner_media_id.data and db.session.get(Media, form.banner_media_id.data) is None:
        form.banner_media_id.errors = ["That image no longer exists."]
        return render_template("admin/settings.html", form=form), 400
    values = {key: getattr(form, key).data for key in EDITABLE}
    values.update({key: values[key].strip() for key in EDITABLE if isinstance(values[key], str)})
    set_settings(values)
    db.session.commit()
    current_app.logger.info("%s changed the site settings", current_user.email)
    flash("Settings saved.", "success")
    return redirect(url_for("admin.site_settings"))

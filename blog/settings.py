"""Site settings kept in the database, with typed defaults for every key."""

from types import SimpleNamespace

from flask import current_app, g
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db
from .models import Setting

DEFAULTS: dict[str, object] = {
    "site_title": "My Blog",
    "tagline": "",
    "banner_media_id": None,
    "banner_link": "",
    "banner_alt": "",
    "posts_per_page": 10,
    "footer_text": "",
    "feed_full_text": True,
    "require_admin_2fa": False,
    "timezone": "UTC",
    # Settings → Design and Menus (blog.design)
    "logo_media_id": None,
    "logo_dark_media_id": None,
    "icon_media_id": None,
    "favicon_file": "",
    "touch_icon_file": "",
    "accent_light": "#9b1c1c",
    "accent_dark": "#f08080",
    "heading_typeface": "charter",
    "body_typeface": "charter",
    "header_menu": [],
    "footer_menu": [],
    # Comments (blog.comments): open, first_time, all or closed.
    "comment_moderation": "first_time",
    "comments_close_days": 60,
    "comment_max_links": 2,
    "comment_blocklist": "",
    # Newsletter (blog.newsletter): what new posts send by default (off, full or excerpt), and
    # the note the subscribe forms show.
    "newsletter_default": "full",
    "newsletter_privacy_note": (
        "We keep your email address (and your name, if you give it) only to send you new "
        "posts. Every email has a link to unsubscribe at once."
    ),
    # Fediverse (blog.federation): on only with an https:// site address (or FEDERATION set).
    "federation_enabled": False,
    "federation_actor_name": "blog",  # followed as @blog@your.domain
    "federation_actor_summary": "",  # default: the tagline
    "federation_replies_as_comments": True,
    "federation_author_actors": False,  # each author followable as @author-slug@your.domain
}


def get_settings() -> dict[str, object]:
    """Every setting, stored values over defaults, in one query."""
    values = dict(DEFAULTS)
    for setting in db.session.scalars(db.select(Setting)):
        if setting.key in DEFAULTS:
            values[setting.key] = setting.value
    return values


def get_setting(key: str) -> object:
    setting = db.session.get(Setting, key)
    return DEFAULTS[key] if setting is None else setting.value


def set_settings(values: dict[str, object]) -> None:
    """Store the given settings (the caller commits). Unknown keys are a programming error."""
    for key, value in values.items():
        if key not in DEFAULTS:
            raise KeyError(f"unknown setting {key!r}")
        setting = db.session.get(Setting, key)
        if setting is None:
            db.session.add(Setting(key=key, value=value))
        else:
            setting.value = value


def site_settings_for_templates() -> SimpleNamespace:
    """Settings as attributes for templates, read once per request; defaults if the database fails.

    Error pages use this too, so a broken database must not break the page that reports it.
    """
    if "site_settings" not in g:
        try:
            values = get_settings()
        except SQLAlchemyError:
            db.session.rollback()
            current_app.logger.warning("Settings unreadable; using defaults for this page")
            values = dict(DEFAULTS)
        g.site_settings = SimpleNamespace(**values)
    return g.site_settings

"""The site's identity, set by admins in Settings → Design and Settings → Menus: logos, icons,
accent colours, typefaces (`theme`), header and footer menus (`menus`), icons (`icons`).

Public pages read all of it through `for_templates`, once per request.
"""

from types import SimpleNamespace

from flask import g
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from ..extensions import db
from ..models import Media
from ..settings import site_settings_for_templates
from . import menus, theme


def for_templates() -> SimpleNamespace:
    """Logos, icons, menus and the design stylesheet's digest for the page being rendered."""
    if "design" not in g:
        site = vars(site_settings_for_templates())
        css = theme.stylesheet(site)
        g.design = SimpleNamespace(
            logo=None,
            logo_dark=None,
            favicon=site.get("favicon_file") or "",
            touch_icon=site.get("touch_icon_file") or "",
            header_menu=menus.readable(site.get("header_menu")),
            footer_menu=menus.readable(site.get("footer_menu")),
            stylesheet_digest=theme.digest(css) if theme.is_customised(site) else None,
        )
        _load_logos(g.design, site.get("logo_media_id"), site.get("logo_dark_media_id"))
    return g.design


def _load_logos(design: SimpleNamespace, light_id: object, dark_id: object) -> None:
    """Both logos in one query, only when a logo is set; a missing image means no logo."""
    wanted = {value for value in (light_id, dark_id) if isinstance(value, int)}
    if not wanted:
        return
    try:
        found = {m.id: m for m in db.session.scalars(select(Media).where(Media.id.in_(wanted)))}
    except SQLAlchemyError:  # an error page must render even when the database cannot
        db.session.rollback()
        return
    design.logo = found.get(light_id)
    design.logo_dark = found.get(dark_id) if design.logo else None

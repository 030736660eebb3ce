"""The site's own settings a WordPress export carries, and which of them reach this site.

WXR carries little of a site's configuration: the channel's title (Settings → General → Site
Title) and description (the tagline), each post's sticky flag, and the image attachments
cropped as the site icon or the custom logo (`_wp_attachment_context`). WordPress's time zone,
date format and posts per page live in its options table, which the export leaves out; they
are named in the summary as not brought over.

Decisions:
- A setting is taken from the export only while this site still has its default for it (a
  fresh site), or when the person importing asks for it (`replace`). A site configured
  before keeps its value, and a warning names the export's, so nothing is overwritten in
  silence.
- WordPress's stock tagline ("Just another WordPress site", the default of every install)
  is no tagline anyone chose: it is not brought over.
"""

from __future__ import annotations

from .. import media as media_service
from ..design import icons
from ..models import Media
from ..settings import DEFAULTS, get_setting, set_settings
from .report import Summary
from .wxr import WxrExport

MAX_TITLE = 120  # the Settings form's limits
MAX_TAGLINE = 200
STOCK_TAGLINES = {"just another wordpress site", "just another wordpress weblog"}
LEFT_IN_WORDPRESS = ("time zone", "date format", "posts per page")
LABELS = {"site_title": "Site title", "tagline": "Tagline"}


def exported_settings(export: WxrExport) -> dict[str, str]:
    """The settings the export carries, by this site's setting key (pure)."""
    values: dict[str, str] = {}
    title = " ".join(export.title.split())[:MAX_TITLE]
    if title:
        values["site_title"] = title
    tagline = " ".join(export.description.split())[:MAX_TAGLINE]
    if tagline and tagline.lower() not in STOCK_TAGLINES:
        values["tagline"] = tagline
    return values


def apply_settings(export: WxrExport, replace: bool, summary: Summary) -> None:
    """Take the export's title and tagline where this site has none of its own (the caller
    commits); count what WXR cannot carry."""
    wanted: dict[str, object] = {}
    for key, value in exported_settings(export).items():
        current = get_setting(key)
        if current == value:
            continue
        if replace or current == DEFAULTS[key]:
            wanted[key] = value
            summary.settings_applied.append(LABELS[key])
        else:
            summary.warn(
                LABELS[key],
                f"kept “{current}”; the export's is “{value}” (import with the option to "
                "use the export's site settings to take it).",
            )
    set_settings(wanted)
    for name in LEFT_IN_WORDPRESS:
        summary.left_behind(f"the {name} setting (WordPress exports do not carry it)")


# `_wp_attachment_context` of the attachments WordPress cropped for these -> this site's key.
SITE_IMAGES = {
    "site-icon": ("Site icon", "icon_media_id"),
    "custom-logo": ("Logo", "logo_media_id"),
}


def apply_site_images(
    marked: dict[str, Media], replace: bool, dry_run: bool, summary: Summary
) -> None:
    """Use the imported images marked as site icon or logo, on the same terms as the title
    (the caller commits). The icon's favicon and touch icon are made as Settings → Design
    makes them (not in a dry run, which writes no files it could not remove)."""
    for context, (label, key) in SITE_IMAGES.items():
        media = marked.get(context)
        if media is None or get_setting(key) == media.id:
            continue
        if get_setting(key) is not None and not replace:
            summary.warn(label, "kept this site's; the export's was not used.")
            continue
        values: dict[str, object] = {key: media.id}
        if context == "site-icon":
            if problem := icons.icon_problem(media.width, media.height):
                summary.warn(label, f"not used: {problem}")
                continue
            if dry_run:
                values = {}
            else:
                folder = media_service.upload_folder()
                names = icons.make_icons(folder / media.filename, folder)
                values.update(favicon_file=names["favicon"], touch_icon_file=names["touch_icon"])
        set_settings(values)
        summary.settings_applied.append(label)

"""The favicon and the touch icon, made from one square image uploaded in Settings → Design.

The image first goes through the media pipeline (`blog.media.save_upload`: checked, re-encoded,
stripped of metadata); the icons are then drawn from that clean copy with Pillow and stored
beside it in the upload folder, under new random names, so `/media/…` serves them as PNG with a
year's caching (a new icon gets new names).

Decisions:
- Square and at least 180 pixels a side: the touch icon is 180 × 180 and a bigger source is
  only scaled down; anything else is refused with its size in the message.
- The favicon (32 × 32) keeps transparency; the touch icon is put on white, because iOS fills
  transparent pixels with black.
"""

import os
import secrets
from pathlib import Path

from ..uploads import UploadError, delete_image_files, safe_media_path

FAVICON_SIZE = 32
TOUCH_ICON_SIZE = 180


def icon_problem(width: int, height: int) -> str | None:
    if width != height:
        return f"The icon must be square; this image is {width} × {height} pixels."
    if width < TOUCH_ICON_SIZE:
        return (
            f"The icon must be at least {TOUCH_ICON_SIZE} × {TOUCH_ICON_SIZE} pixels; "
            f"this image is {width} × {height}."
        )
    return None


def make_icons(source: Path, folder: Path) -> dict[str, str]:
    """Write the favicon and touch icon drawn from `source`; their file names by purpose."""
    # heavy; only needed when the icon changes
    from PIL import Image

    with Image.open(source) as image:
        if problem := icon_problem(*image.size):
            raise UploadError(problem)
        picture = image.convert("RGBA")
    token = secrets.token_hex(16)
    favicon = picture.resize((FAVICON_SIZE, FAVICON_SIZE), Image.Resampling.LANCZOS)
    touch = Image.new("RGB", picture.size, "white")
    touch.paste(picture, mask=picture.getchannel("A"))
    touch = touch.resize((TOUCH_ICON_SIZE, TOUCH_ICON_SIZE), Image.Resampling.LANCZOS)
    names = {
        "favicon": f"{token}-{FAVICON_SIZE}.png",
        "touch_icon": f"{token}-{TOUCH_ICON_SIZE}.png",
    }
    written: list[Path] = []
    try:
        for purpose, image in (("favicon", favicon), ("touch_icon", touch)):
            written.append(_save_png(image, safe_media_path(folder, names[purpose])))
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return names


def remove_icons(folder: Path, names: list[str]) -> None:
    """Remove icon files that are no longer used (never raises for a missing file)."""
    for name in names:
        if name:
            try:
                delete_image_files(folder, name)
            except (OSError, UploadError):
                pass


def _save_png(image, path: Path) -> Path:
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "xb") as fh:
        image.save(fh, format="PNG", optimize=True)
    os.replace(temporary, path)
    return path

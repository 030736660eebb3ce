"""Checking and storing uploaded images.

Pure functions: a view hands over the upload stream, a model keeps the returned
:class:`StoredImage`. Nothing here trusts the file name or the client's content
type; the bytes are identified by Pillow and always re-encoded.

Decisions:

* Accepted formats are JPEG (including the MPO flavour phones write), PNG, WebP
  and GIF. The main file keeps its format; variants use the same format, except
  that GIF variants are PNG (resizing creates colours a GIF palette would lose).
* Animated GIF, PNG and WebP stay animated in the main file; variants are
  stills made from the first frame.
* Re-encoding drops EXIF (including GPS), XMP, comments and PNG text chunks.
  The ICC colour profile is kept when it still matches the pixels (RGB or grey),
  because dropping it shifts the colours of wide-gamut photos and it says
  nothing about the author. CMYK images are converted to RGB and lose theirs.
"""

from __future__ import annotations

import io
import os
import pathlib
import re
import secrets
import struct
import unicodedata
import warnings
from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from PIL import Image

MB = 1024 * 1024

CONTENT_TYPES: Mapping[str, str] = {
    ".jpg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".gif": "image/gif",
}

_EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif"}
_PILLOW_FORMATS = tuple(_EXTENSIONS)
_VARIANT_FORMAT = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WEBP", "GIF": "PNG"}
# Modes each encoder takes as they are; anything else is converted first.
_SAVE_MODES = {
    "JPEG": {"L", "RGB"},
    "PNG": {"1", "L", "LA", "P", "RGB", "RGBA", "I;16"},
    "WEBP": {"RGB", "RGBA"},
    "GIF": {"L", "P"},
}
_ICC_SPACES = {b"RGB ": {"RGB", "RGBA", "P"}, b"GRAY": {"1", "L", "LA", "I;16"}}
# Pillow reports broken files with any of these.
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, IndexError)

STORED_NAME = re.compile(r"[0-9a-f]{32}(?:-[0-9]{1,5})?\.(?:jpg|png|webp|gif)")
_READ_CHUNK = 64 * 1024

NOT_AN_IMAGE = "This file is not an image we can use (JPEG, PNG, WebP or GIF)."
DAMAGED = "This image file is damaged or incomplete. Try exporting it again."
SVG_REFUSED = "SVG images are not accepted because they can carry scripts."
EMPTY = "The file is empty."
BAD_NAME = "This is not a valid media file name."


class UploadError(ValueError):
    """An upload was refused; str() is a message meant for the author."""


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int = 10 * MB
    max_pixels: int = 40_000_000
    widths: tuple[int, ...] = (480, 960, 1600)


@dataclass
class StoredImage:
    filename: str
    content_type: str
    width: int
    height: int
    size_bytes: int
    variants: list[dict] = field(default_factory=list)
    original_name: str = ""


@dataclass
class _Decoded:
    format: str
    frames: list[Image.Image]
    durations: list[int]
    loop: int | None
    icc: bytes | None


def store_image(
    stream: BinaryIO,
    original_name: str,
    folder: pathlib.Path,
    limits: UploadLimits = UploadLimits(),  # noqa: B008 - frozen, so sharing is safe
) -> StoredImage:
    """Check an upload and write the cleaned image and its smaller variants.

    Raises UploadError (with a message for the author) for anything we refuse.
    On any failure, no file written by this call is left in ``folder``.
    """
    data = _read_limited(stream, limits.max_bytes)
    if _looks_like_svg(original_name, data):
        raise UploadError(SVG_REFUSED)
    decoded = _decode(data, limits)
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = _FileSet(folder)
    try:
        return _write_all(decoded, files, limits, _display_name(original_name))
    except BaseException:
        files.discard()
        raise


def delete_image_files(
    folder: pathlib.Path, filename: str, variants: Iterable[Mapping | str] = ()
) -> int:
    """Remove a stored image and its variants; returns how many files were removed.

    Every name is checked before anything is deleted, so a bad name removes nothing.
    """
    names = [filename] + [v["filename"] if isinstance(v, Mapping) else v for v in variants]
    paths = [safe_media_path(folder, name) for name in names]
    removed = 0
    for path in paths:
        with suppress(FileNotFoundError):
            path.unlink()
            removed += 1
    return removed


def safe_media_path(folder: pathlib.Path, filename: str) -> pathlib.Path:
    """Return the path of a stored file inside ``folder``, refusing anything else."""
    if not isinstance(filename, str) or not STORED_NAME.fullmatch(filename):
        raise UploadError(BAD_NAME)
    root = pathlib.Path(folder).resolve()
    path = root / filename
    # The pattern already rules out separators and "..": this is a second lock.
    if path.parent != root:
        raise UploadError(BAD_NAME)
    return path


# --- reading and identifying -------------------------------------------------


def _read_limited(stream: BinaryIO, max_bytes: int) -> bytes:
    """Read the upload, never more than max_bytes + 1 bytes."""
    declared = _remaining_size(stream)
    if declared is not None and declared > max_bytes:
        raise UploadError(
            f"The image is too large: {_mb(declared)} MB (limit {_mb(max_bytes)} MB)."
        )
    chunks: list[bytes] = []
    total = 0
    while total <= max_bytes:
        chunk = stream.read(min(_READ_CHUNK, max_bytes + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > max_bytes:
        raise UploadError(f"The image is larger than the {_mb(max_bytes)} MB limit.")
    if total == 0:
        raise UploadError(EMPTY)
    return b"".join(chunks)


def _remaining_size(stream: BinaryIO) -> int | None:
    """Size left in a seekable stream, without reading it; None if unknown."""
    try:
        if not stream.seekable():
            return None
        position = stream.tell()
        end = stream.seek(0, os.SEEK_END)
        stream.seek(position)
    except (AttributeError, OSError, ValueError):
        return None
    return end - position


def _looks_like_svg(name: str, data: bytes) -> bool:
    if name.strip().lower().endswith((".svg", ".svgz")):
        return True
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<?xml", b"<!doctype svg")) or (
        head.startswith(b"<") and b"<svg" in head
    )


def _decode(data: bytes, limits: UploadLimits) -> _Decoded:
    """Identify, size-check, verify and fully decode the image."""
    # heavy; only needed for uploads
    from PIL import Image

    # Pillow warns about big images before it raises; our own limit decides
    # instead, so the warning is silenced here (and can't reach the log or a
    # test run with warnings as errors). catch_warnings is process-wide, which
    # at worst briefly silences this one warning in another thread.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=_PILLOW_FORMATS) as probe:
                _check_pixels(probe.size, limits)
                probe.verify()
            with Image.open(io.BytesIO(data), formats=_PILLOW_FORMATS) as image:
                return _load(image, limits)
        except UploadError:
            raise
        except Image.DecompressionBombError as exc:
            raise UploadError(_too_many_pixels(limits)) from exc
        except Image.UnidentifiedImageError as exc:
            raise UploadError(NOT_AN_IMAGE) from exc
        except _DECODE_ERRORS as exc:
            raise UploadError(DAMAGED) from exc


def _check_pixels(size: tuple[int, int], limits: UploadLimits) -> None:
    width, height = size
    if width * height > limits.max_pixels:
        raise UploadError(
            f"The image is {width} × {height} pixels; "
            f"the limit is {_megapixels(limits.max_pixels)} megapixels."
        )


def _load(image: Image.Image, limits: UploadLimits) -> _Decoded:
    """Decode every frame, upright and without metadata."""
    # heavy; only needed for uploads
    from PIL import ImageOps

    fmt = "JPEG" if image.format == "MPO" else image.format
    # MPO's extra frames are depth maps and previews, not an animation.
    count = 1 if fmt == "JPEG" else getattr(image, "n_frames", 1)
    width, height = image.size
    if count * width * height > limits.max_pixels:
        raise UploadError(
            f"The animation is too long: {count} frames of {width} × {height} pixels; "
            f"the limit is {_megapixels(limits.max_pixels)} megapixels in total."
        )
    icc = image.info.get("icc_profile")
    loop = image.info.get("loop")
    frames, durations = [], []
    for index in range(count):
        image.seek(index)
        _check_pixels(image.size, limits)  # a GIF frame may grow the canvas
        frame = _strip(ImageOps.exif_transpose(image))  # a decoded, upright copy
        frames.append(frame if count == 1 else frame.convert("RGBA"))
        durations.append(int(image.info.get("duration") or 0))
    return _Decoded(fmt, frames, durations, loop, icc)


def _strip(image: Image.Image) -> Image.Image:
    """Forget all metadata; encoders would otherwise copy some of it from info."""
    keep = {"transparency": image.info["transparency"]} if "transparency" in image.info else {}
    image.info = keep
    return image


# --- converting and writing --------------------------------------------------


def _write_all(
    decoded: _Decoded, files: _FileSet, limits: UploadLimits, display_name: str
) -> StoredImage:
    # heavy; only needed for uploads
    from PIL import Image

    token = secrets.token_hex(16)
    fmt = decoded.format
    main = _for_format(decoded.frames[0], fmt)
    filename = token + _EXTENSIONS[fmt]
    if len(decoded.frames) > 1:
        size = files.save(filename, main, fmt, _animation_params(decoded, fmt))
    else:
        size = files.save(filename, main, fmt, _params(fmt, main, decoded.icc))
    variants = []
    variant_fmt = _VARIANT_FORMAT[fmt]
    base = _for_format(_working(decoded.frames[0]), variant_fmt)
    for width in sorted(set(limits.widths)):
        if width >= main.width:
            continue
        height = max(1, round(main.height * width / main.width))
        small = base.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
        name = f"{token}-{width}{_EXTENSIONS[variant_fmt]}"
        n = files.save(name, small, variant_fmt, _params(variant_fmt, small, decoded.icc))
        variants.append({"width": width, "height": height, "filename": name, "size_bytes": n})
    return StoredImage(
        filename=filename,
        content_type=CONTENT_TYPES[_EXTENSIONS[fmt]],
        width=main.width,
        height=main.height,
        size_bytes=size,
        variants=variants,
        original_name=display_name,
    )


def _working(image: Image.Image) -> Image.Image:
    """Convert to L, LA, RGB or RGBA, the modes that resize and convert well."""
    if image.mode in ("L", "LA", "RGB", "RGBA"):
        return image
    if image.mode.startswith("I") or image.mode == "F":
        # 16-bit grey: scale down rather than clip at 255.
        return _strip(image.convert("I").point(lambda v: v * (1 / 256)).convert("L"))
    if image.mode == "1":
        return _strip(image.convert("L"))
    mode = "RGBA" if image.has_transparency_data else "RGB"
    return _strip(image.convert(mode))


def _for_format(image: Image.Image, fmt: str) -> Image.Image:
    if image.mode in _SAVE_MODES[fmt]:
        return image
    image = _working(image)
    if fmt == "JPEG" and image.mode in ("LA", "RGBA"):
        return _flatten(image)
    if fmt == "WEBP" and image.mode in ("L", "LA"):
        return _strip(image.convert("RGBA" if image.mode == "LA" else "RGB"))
    return image


def _flatten(image: Image.Image) -> Image.Image:
    """Put a transparent image on white, for JPEG."""
    # heavy; only needed for uploads
    from PIL import Image

    mode = image.mode[:-1]  # LA -> L, RGBA -> RGB
    background = Image.new(mode, image.size, "white")
    background.paste(image.convert(mode), mask=image.getchannel("A"))
    return background


def _params(fmt: str, image: Image.Image, icc: bytes | None) -> dict:
    params: dict = {
        "JPEG": {"quality": 85, "progressive": True, "optimize": True},
        "PNG": {"optimize": True},
        "WEBP": {"quality": 82, "method": 4},
        "GIF": {"optimize": True},
    }[fmt]
    if fmt != "GIF" and _icc_fits(icc, image.mode):
        params["icc_profile"] = icc
    return params


def _animation_params(decoded: _Decoded, fmt: str) -> dict:
    params = _params(fmt, decoded.frames[0], decoded.icc)
    params.pop("optimize", None)  # PNG's optimize is slow on many frames
    params.update(save_all=True, append_images=decoded.frames[1:], duration=decoded.durations)
    if fmt == "GIF":
        params["disposal"] = 2  # frames are whole pictures; clear before each
    if decoded.loop is not None:
        params["loop"] = decoded.loop
    return params


def _icc_fits(icc: bytes | None, mode: str) -> bool:
    """True if the profile describes this colour space (its header says which)."""
    return bool(icc) and len(icc) >= 128 and mode in _ICC_SPACES.get(icc[16:20], ())


class _FileSet:
    """Writes files via temporary names and can remove everything it wrote."""

    def __init__(self, folder: pathlib.Path) -> None:
        self.folder = folder
        self.paths: list[pathlib.Path] = []

    def save(self, name: str, image: Image.Image, fmt: str, params: dict) -> int:
        final = self.folder / name
        temporary = self.folder / f".{name}.tmp"
        self.paths.append(temporary)
        with open(temporary, "xb") as fh:
            image.save(fh, format=fmt, **params)
        os.replace(temporary, final)
        self.paths[-1] = final
        return final.stat().st_size

    def discard(self) -> None:
        for path in self.paths:
            with suppress(OSError):
                path.unlink()


# --- small helpers -----------------------------------------------------------


def _display_name(name: str) -> str:
    """The client's file name, reduced to something safe to show (never a path)."""
    name = unicodedata.normalize("NFC", str(name or ""))
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(c for c in name if not unicodedata.category(c).startswith("C"))
    name = " ".join(name.split())[:200]
    return name.strip(". ") or "image"


def _mb(n: int) -> str:
    return f"{n / MB:.1f}".removesuffix(".0")


def _megapixels(n: int) -> str:
    return f"{n / 1_000_000:g}"


def _too_many_pixels(limits: UploadLimits) -> str:
    limit = _megapixels(limits.max_pixels)
    return f"The image has far too many pixels; the limit is {limit} megapixels."

"""The old site's uploads, from a folder or a zip, looked up by their path under uploads/.

WordPress names a file by its path after ``wp-content/uploads/`` (``2020/01/photo.jpg``).
The folder given may be that uploads folder itself, the site root holding ``wp-content``, or
anything above ``uploads``; a zip may hold the files under any prefix ending in ``uploads/``.
Nothing is extracted: files are read one at a time, never more than the upload limit.

Ghost names a file by its path after ``content/images/`` the same way; `open_uploads(path,
GHOST_IMAGES)` looks under ``content/images`` (or ``images``) instead.
"""

from __future__ import annotations

import posixpath
import zipfile
from pathlib import Path

WORDPRESS_UPLOADS = ("wp-content/uploads", "uploads")
GHOST_IMAGES = ("content/images", "images")


class UploadsError(ValueError):
    """The folder or zip cannot be used; str() says why."""


def normalise(path: str) -> str | None:
    """A clean relative path ('2020/01/a.jpg'), or None for anything that climbs out."""
    path = path.replace("\\", "/").strip().lstrip("/")
    clean = posixpath.normpath(path) if path else ""
    if not clean or clean == "." or clean.startswith("../") or clean == "..":
        return None
    return clean


class UploadsSource:
    def read(self, relative: str, limit: int) -> bytes | None:
        """The file's bytes (at most limit + 1 of them), or None when it is not there."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class FolderUploads(UploadsSource):
    def __init__(self, root: Path, under: tuple[str, ...] = WORDPRESS_UPLOADS):
        self.root = root.resolve()
        self.bases = [self.root, *(self.root / folder for folder in under)]

    def read(self, relative: str, limit: int) -> bytes | None:
        clean = normalise(relative)
        if clean is None:
            return None
        for base in self.bases:
            path = (base / clean).resolve()
            if not path.is_relative_to(self.root) or not path.is_file():
                continue
            with path.open("rb") as handle:
                return handle.read(limit + 1)
        return None


class ZipUploads(UploadsSource):
    def __init__(self, path: Path, under: tuple[str, ...] = WORDPRESS_UPLOADS):
        marker = under[-1].rsplit("/", 1)[-1] + "/"  # "uploads/", "images/"
        try:
            self.archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as error:
            raise UploadsError(f"The uploads file is not a readable zip: {error}") from None
        self.index: dict[str, zipfile.ZipInfo] = {}
        for info in self.archive.infolist():
            if info.is_dir():
                continue
            name = normalise(info.filename)
            if name is None:
                continue
            self.index.setdefault(name, info)
            if marker in name:
                self.index.setdefault(name.rsplit(marker, 1)[1], info)

    def read(self, relative: str, limit: int) -> bytes | None:
        clean = normalise(relative)
        info = self.index.get(clean) if clean else None
        if info is None:
            return None
        try:
            with self.archive.open(info) as handle:
                return handle.read(limit + 1)
        except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError):
            return None  # damaged or encrypted member: reported as not found

    def close(self) -> None:
        self.archive.close()


def open_uploads(path: str | Path, under: tuple[str, ...] = WORDPRESS_UPLOADS) -> UploadsSource:
    path = Path(path)
    if path.is_dir():
        return FolderUploads(path, under)
    if path.is_file():
        return ZipUploads(path, under)
    raise UploadsError(f"No uploads folder or zip at {path}.")

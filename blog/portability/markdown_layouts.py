"""Which files of a Markdown folder or zip are posts, and what a post's fields are, for the
layouts people move from: this blog's own export, Jekyll, Hugo, Eleventy, a folder of notes.

Pure functions: no database, no app. `markdown_files` reads the files and stores the posts.

Decisions:
- A post is any Markdown file (`.md`, `.markdown`, `.mdown`, `.mkd`, `.mkdn`) anywhere in the
  tree. Every other file that is not read is either clearly not a post, and left without a word
  (images, styles, scripts, configuration, templates, `.comments.yml` files), or could have been
  one in a format this blog does not read (`.txt`, `.org`, `.adoc`, `.rst`, `.textile`, and any
  file in a Jekyll post folder): that one is named in the summary with the reason.
- Folders of tools and generated output (hidden folders, `__MACOSX/`, `node_modules/`, `_site/`,
  `public/`, `resources/`) and of site machinery (`themes/`, `layouts/`, `archetypes/`,
  `_layouts/`, `_includes/`, `_data/`, `_sass/`) are not read. Markdown files in them are
  counted, one warning per folder, never imported: Hugo's archetypes are templates, not posts.
- Front matter: YAML between `---` lines, TOML between `+++` lines or a JSON object (Hugo).
  Jekyll reads a file in `_posts/`, `_drafts/` or `_pages/` only when it has front matter, so
  this does too. Elsewhere a file without front matter is a note. A post without a `title` (a
  note, or front matter without one) takes its first line when that is a `# heading` (the
  heading then leaves the text), otherwise the file name, as Jekyll and note apps do ("Trip to
  Rome.md" is "Trip to Rome", "2024-01-09-cold-morning.md" is "cold morning"). A README, LICENSE
  or CHANGELOG without front matter is not a post, and is named. Hugo's `_index.md` (a section's
  list page) is named too.
- The slug: `slug`; else the last part of `permalink` or `url` (Eleventy, Hugo); else the
  folder's name for a page bundle (`posts/my-post/index.md` is `my-post`); else the file name
  without Jekyll's date (`2021-03-04-spring.md` is `spring`).
- The date: `date` (or Hugo's `publishDate`); else the file name's `YYYY-MM-DD-`; else the
  file's modification time. A date or time without a zone is in the site's time zone
  (Settings), as the static-site generators read it; one with a zone is exact.
  `lastmod` or `updated` is the last change.
- Status: `status` (this blog's export); else a draft when `draft: true` (Hugo, Eleventy),
  `published: false` (Jekyll) or the file is in `_drafts/`; else published, or scheduled
  when its date is still to come. Eleventy's `permalink: false` (never written out) is a draft.
- Kind: `kind`; else a page in `_pages/` or with `layout: page` or `type: page`; else a post.
- Tags: `tags` (a list, or text split at commas, or at spaces when it has no comma, as Jekyll
  does), without Eleventy's collection tags `post`, `posts` and `all`, which only say "this is a
  post". Category: `category`, else the first of `categories` (Hugo, Jekyll); the further
  categories become tags, with a warning.
- The excerpt: `excerpt`, else `summary` (Hugo), else `description`.
- The author: `author` (or the first of `authors`) as an email finds or makes that account;
  as a name (most generators' way) it makes a deactivated account under a stand-in address
  `<name>@markdown-import.invalid`, found again by the same name next time.
- Images: an image the text shows (`![alt](cover.png)`) or the front matter features
  (`featured_image`, `image`, `images`, `cover.image`) is imported from the source when it is
  there: beside the post's file (a page bundle), or from the site's root or Hugo's `static/`
  for an address starting with `/`. It goes through the usual upload checks and the text
  points to its new address; one that is not in the source keeps its address, and a
  relative one gets a warning.
- Old addresses: `permalink`, `url` and `aliases` (Hugo) that differ from the new address
  become redirects once the post is public.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import yaml

from ..models import PostKind, PostStatus
from ..text import slugify

MARKDOWN_SUFFIXES = {".md", ".markdown", ".mdown", ".mkd", ".mkdn"}
OTHER_TEXT_SUFFIXES = {".txt", ".org", ".adoc", ".asciidoc", ".rst", ".textile"}
JEKYLL_FOLDERS = {"_posts", "_drafts", "_pages"}
NOT_READ_FOLDERS = {
    "node_modules", "_site", "public", "resources", "__MACOSX",  # tools, generated output
    "themes", "layouts", "archetypes", "_layouts", "_includes", "_data", "_sass",  # machinery
}  # fmt: skip
REPOSITORY_FILES = {"readme", "license", "licence", "changelog", "contributing", "code_of_conduct"}
COLLECTION_TAGS = {"post", "posts", "all"}
PLACEHOLDER_DOMAIN = "markdown-import.invalid"
_YAML_FRONT = re.compile(r"\A---[ \t]*\r?\n(.*?\r?\n)?(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_TOML_FRONT = re.compile(r"\A\+\+\+[ \t]*\r?\n(.*?\r?\n)?\+\+\+[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_HEADING = re.compile(r"\A\s*#[ \t]+(.+?)[ \t#]*(?:\r?\n|\Z)")
_DATED_NAME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})-(.*)$")


class Unusable(ValueError):
    """A file that is not imported: str() is the reason, `kind` the summary's count."""

    def __init__(self, reason: str, kind: str):
        super().__init__(reason)
        self.kind = kind


# --- which files ------------------------------------------------------------------------------


@dataclass
class Sorted:
    posts: list[str] = field(default_factory=list)  # Markdown files to read, in order
    skipped: list[Unusable] = field(default_factory=list)
    skipped_names: list[str] = field(default_factory=list)
    unread_folders: dict[str, int] = field(default_factory=dict)  # folder -> Markdown files

    def skip(self, name: str, reason: str) -> None:
        self.skipped_names.append(name)
        self.skipped.append(Unusable(reason, "not Markdown"))


def sort_files(names: list[str]) -> Sorted:
    """Sort the files of a source into posts to read, files named as skipped, and the rest."""
    result = Sorted()
    for name in sorted(names):
        path = PurePosixPath(name)
        suffix = path.suffix.lower()
        folder = _unread_folder(path)
        if folder is not None:
            if suffix in MARKDOWN_SUFFIXES:
                result.unread_folders[folder] = result.unread_folders.get(folder, 0) + 1
        elif suffix in MARKDOWN_SUFFIXES:
            result.posts.append(name)
        elif suffix in OTHER_TEXT_SUFFIXES:
            result.skip(name, f"it is not Markdown ({suffix}); only Markdown is read")
        elif JEKYLL_FOLDERS & set(path.parts[:-1]) and not _beside_a_post(name):
            result.skip(name, "it is not a Markdown file")
    return result


def _unread_folder(path: PurePosixPath) -> str | None:
    for index, part in enumerate(path.parts[:-1]):
        if part.startswith(".") or part in NOT_READ_FOLDERS:
            return "/".join(path.parts[: index + 1]) + "/"
    return None


def _beside_a_post(name: str) -> bool:
    """Files that travel with posts: comments files and images."""
    lower = name.lower()
    return lower.endswith((".comments.yml", ".jpg", ".jpeg", ".png", ".gif", ".webp", ".svg"))


# --- one file ---------------------------------------------------------------------------------


@dataclass
class Document:
    path: str
    meta: dict
    body: str
    has_front_matter: bool
    file_time: datetime | None = None  # naive UTC: the file's modification time


def read_document(path: str, data: bytes, file_time: datetime | None = None) -> Document:
    """The file's front matter and body (kept exactly); Unusable with the reason if it has none
    it can use."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        why = "it is not UTF-8 text (save it as UTF-8 and import again)"
        raise Unusable(why, "not UTF-8") from None
    meta, body, has_front = parse_front_matter(text)
    parts = PurePosixPath(path)
    if not has_front and JEKYLL_FOLDERS & set(parts.parts[:-1]):
        why = "it does not start with a front matter block between --- lines"
        raise Unusable(why, "without front matter")
    if parts.name == "_index.md":
        raise Unusable("it is a Hugo section page (_index.md), not a post", "Hugo section page")
    if not has_front and parts.stem.lower() in REPOSITORY_FILES:
        why = f"{parts.name} without front matter is a repository file, not a post"
        raise Unusable(why, "repository file")
    return Document(path, meta, body, has_front, file_time)


def parse_front_matter(text: str) -> tuple[dict, str, bool]:
    """(fields, body, whether there was a front matter block); ValueError-s are Unusable."""
    if text.startswith("{"):  # Hugo's JSON front matter: an object, then the text
        try:
            meta, end = json.JSONDecoder().raw_decode(text)
        except ValueError:
            meta, end = None, 0
        if isinstance(meta, dict):
            return meta, text[end:].lstrip("\r\n"), True
    readers = ((_YAML_FRONT, yaml.safe_load, "YAML"), (_TOML_FRONT, tomllib.loads, "TOML"))
    for pattern, load, kind in readers:
        match = pattern.match(text)
        if match is None:
            continue
        try:
            meta = load(match.group(1) or "") or {}
        except (yaml.YAMLError, tomllib.TOMLDecodeError) as error:
            why = _first_line(error)
            why = f"its {kind} front matter cannot be read: {why}"
            raise Unusable(why, "unreadable front matter") from None
        if not isinstance(meta, dict):
            raise Unusable("its front matter is not a set of fields", "unreadable front matter")
        return meta, text[match.end() :], True
    return {}, text, False


# --- a post's fields --------------------------------------------------------------------------


@dataclass
class PostFields:
    title: str
    body: str
    slug: str
    key_slug: str  # the slug that names the post in its import key (`markdown:<slug>`)
    kind: PostKind
    status: PostStatus
    published: datetime | None  # naive UTC
    created: datetime
    updated: datetime
    tags: list[str]
    category: str
    further_categories: list[str]
    excerpt: str
    old_paths: list[str]


def post_fields(document: Document, zone: tzinfo, now: datetime) -> PostFields:
    """What `document` says about its post (see Decisions); Unusable when it cannot be one."""
    meta, path = document.meta, PurePosixPath(document.path)
    title, body = _title_and_body(document)
    if not title:
        raise Unusable("it has no title", "without a title")
    stem_match = _DATED_NAME.match(path.stem)
    stem = stem_match.group(4) if stem_match else path.stem
    if path.stem.lower() == "index" and len(path.parts) > 1:
        stem = path.parts[-2]  # a page bundle: posts/my-post/index.md
    wanted = text(meta.get("slug")) or _last_segment(meta.get("permalink"))
    wanted = wanted or _last_segment(meta.get("url")) or stem
    folders = set(path.parts[:-1])
    kind = PostKind.PAGE if "_pages" in folders or _is_page(meta) else PostKind.POST
    kind = _choice(PostKind, meta.get("kind"), kind)
    published = to_utc(meta.get("date") or meta.get("publishDate"), zone)
    if published is None and stem_match:
        published = to_utc(_name_date(stem_match), zone)
    if published is None:  # a file's time is never in the future (a zip's is local time)
        published = min(document.file_time, now) if document.file_time else now
    status = _status(meta, folders, published, now)
    created = to_utc(meta.get("created"), zone) or published
    updated = to_utc(meta.get("updated") or meta.get("lastmod"), zone) or created
    categories = [c for c in (clean(v) for v in _term_list(meta.get("categories"))) if c]
    category = clean(meta.get("category")) or (categories[0] if categories else "")
    further = [c for c in categories if c.lower() != category.lower()]
    tags = [t for t in (clean(v) for v in _term_list(meta.get("tags"))) if t]
    tags = [t for t in tags if t.lower() not in COLLECTION_TAGS]
    excerpt = text(meta.get("excerpt") or meta.get("summary") or meta.get("description"))
    return PostFields(
        title=title,
        body=body,
        slug=wanted,
        key_slug=slugify(wanted, max_length=120),
        kind=kind,
        status=status,
        published=published if status != PostStatus.DRAFT else None,
        created=created,
        updated=updated,
        tags=list(dict.fromkeys(tags + further)),
        category=category,
        further_categories=further,
        excerpt=excerpt,
        old_paths=_old_paths(meta),
    )


def featured_reference(meta: dict) -> str:
    """Where the featured image is: `featured_image` (this blog's export), else `image`,
    the first of `images` (Hugo) or `cover.image` (Hugo themes)."""
    cover = meta.get("cover")
    for value in (
        meta.get("featured_image"),
        meta.get("image"),
        (_list(meta.get("images")) or [None])[0],
        cover.get("image") if isinstance(cover, dict) else None,
    ):
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def author_of(meta: dict) -> tuple[str, str]:
    """The author's email and name: `author` (an email, a name, or Hugo's `{name, email}`) or
    the first of `authors`, with `author_name`. A name without an email gets a stand-in
    address, so the same name finds the same account again."""
    value = meta.get("author") or (_list(meta.get("authors")) or [None])[0]
    name = clean(meta.get("author_name"))
    if isinstance(value, dict):
        name = name or clean(value.get("name"))
        value = value.get("email") or value.get("name")
    value = clean(value)
    if "@" in value:
        return value.lower(), name
    if value:
        local = slugify(value, max_length=60, fallback="author")
        return f"{local}@{PLACEHOLDER_DOMAIN}", name or value
    return f"unknown@{PLACEHOLDER_DOMAIN}", name


def _title_and_body(document: Document) -> tuple[str, str]:
    if clean(document.meta.get("title")):
        return clean(document.meta.get("title")), document.body
    heading = _HEADING.match(document.body)
    if heading is not None:
        return clean(heading.group(1)), document.body[heading.end() :].lstrip("\r\n")
    path = PurePosixPath(document.path)
    stem = path.parts[-2] if path.stem.lower() == "index" and len(path.parts) > 1 else path.stem
    dated = _DATED_NAME.match(stem)
    stem = dated.group(4) if dated else stem
    if " " not in stem:  # "cold-morning" reads as "cold morning"
        stem = stem.replace("-", " ").replace("_", " ")
    return clean(stem), document.body


def _status(meta: dict, folders: set[str], published: datetime, now: datetime) -> PostStatus:
    draft = (
        "_drafts" in folders
        or meta.get("draft") is True
        or meta.get("published") is False
        or meta.get("permalink") is False
    )
    default = PostStatus.DRAFT if draft else PostStatus.PUBLISHED
    if default == PostStatus.PUBLISHED and published > now:
        default = PostStatus.SCHEDULED
    return _choice(PostStatus, meta.get("status"), default)


def _is_page(meta: dict) -> bool:
    return text(meta.get("layout")).lower() == "page" or text(meta.get("type")).lower() == "page"


def _last_segment(value) -> str:
    """`/blog/my-post/` or `/my-post/index.html` -> `my-post`; "" for templates or nothing."""
    path = _path_of(value)
    if not path:
        return ""
    parts = [p for p in path.split("/") if p]
    if parts and re.fullmatch(r"index\.html?", parts[-1]):
        parts.pop()
    if parts and parts[-1].endswith((".html", ".htm")):
        parts[-1] = parts[-1].rsplit(".", 1)[0]
    return parts[-1] if parts else ""


def _old_paths(meta: dict) -> list[str]:
    paths = [meta.get("permalink"), meta.get("url"), *_list(meta.get("aliases"))]
    found = [path for path in (_path_of(value) for value in paths) if path]
    return list(dict.fromkeys(path if path.startswith("/") else "/" + path for path in found))


def _path_of(value) -> str:
    """The path of a permalink, url or alias ("" for a pattern such as `/:title/` or
    `{{ slug }}`, which names no one address)."""
    if not isinstance(value, str) or "{" in value:
        return ""
    path = urlsplit(value.strip()).path
    if ":" in path:
        return ""
    return path


# --- values -----------------------------------------------------------------------------------


def text(value) -> str:
    if value is None or value is False:
        return ""
    return str(value)


def clean(value) -> str:
    """A one-line name or title."""
    return " ".join(text(value).split())


def _list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _term_list(value) -> list:
    """Tags or categories: a list, or text split at commas, or at spaces when it has none
    (Jekyll's `tags: garden peas`)."""
    if isinstance(value, str):
        return value.split(",") if "," in value else value.split()
    return _list(value)


def _choice(enum_cls, value, default):
    try:
        return enum_cls(text(value).strip().lower()) if value else default
    except ValueError:
        return default


def to_utc(value, zone: tzinfo) -> datetime | None:
    """A front matter time (YAML/TOML date or time, or ISO text) as naive UTC; a time
    without a zone is read in `zone`."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if not isinstance(value, datetime):
        return None  # a TOML local time of day, or anything else
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC).replace(tzinfo=None)


def _name_date(match: re.Match) -> date | None:
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__

"""Categories and tags: the rules the admin pages and the post editor share.

Every function adds to or changes the session; the caller commits. A broken rule raises
`TaxonomyError` with a message meant for the person who asked.

Names are unique regardless of case. The database cannot enforce that (its unique constraint is
case-sensitive on PostgreSQL, and SQLite's lower() folds only ASCII), so it is checked here.

Categories form a tree (blog.category_tree): a parent is checked against the tree as stored now,
so a category never becomes its own ancestor and no branch grows past MAX_DEPTH levels.
Deleting a category moves its children up to its own parent (nothing is orphaned), and its
posts to the category chosen, as their primary or further category as they had it.
"""

import unicodedata
from itertools import islice

from sqlalchemy import delete, func, insert, literal, or_, select, update

from . import category_tree
from .extensions import db
from .models import Category, Post, Tag, post_category, post_tag
from .slugs import refusal as slug_refusal
from .slugs import unique_slug
from .text import slugify

MAX_NAME_LENGTH = 120  # categories; also the size of the name and slug columns
MAX_TAG_NAME_LENGTH = 60
MAX_TAGS_PER_POST = 20
SLUG_LENGTH = 80
MAX_SUGGESTIONS = 50


class TaxonomyError(ValueError):
    """A rule was broken; `field` names the form field the message belongs next to, if any."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


# Names ------------------------------------------------------------------------------------


def clean_text(value: str) -> str:
    """NFC, control characters removed, runs of whitespace collapsed to one space."""
    value = unicodedata.normalize("NFC", value or "")
    kept = "".join(ch for ch in value if ch.isspace() or unicodedata.category(ch) != "Cc")
    return " ".join(kept.split())


def clean_name(value: str, *, max_length: int = MAX_NAME_LENGTH, what: str = "category") -> str:
    name = clean_text(value)
    if not name:
        raise TaxonomyError(f"A {what} name is required.", "name")
    if len(name) > max_length:
        raise TaxonomyError(f"A {what} name can be at most {max_length} characters long.", "name")
    return name


def name_key(name: str) -> str:
    """What two names must share to count as the same name."""
    return clean_text(name).lower()


def _like_escape(text: str) -> str:
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


def _name_pattern(name: str) -> str:
    """A LIKE pattern for lower(name) that matches every case variant of `name` on both
    databases: non-ASCII letters become wildcards, and Python makes the exact comparison."""
    return "".join(_like_escape(ch.lower()) if ch.isascii() else "_" for ch in name)


def _same_name_condition(model, names: list[str]):
    patterns = [func.lower(model.name).like(_name_pattern(name), escape="/") for name in names]
    return or_(*patterns)


def find_by_name(model, name: str, *, exclude_id: int | None = None):
    """The row of `model` (Category or Tag) whose name equals `name` ignoring case, if any."""
    query = select(model).where(_same_name_condition(model, [name]))
    if exclude_id is not None:
        query = query.where(model.id != exclude_id)
    key = name_key(name)
    return next((row for row in db.session.scalars(query) if name_key(row.name) == key), None)


def _ensure_name_free(model, name: str, exclude_id: int | None, what: str) -> None:
    other = find_by_name(model, name, exclude_id=exclude_id)
    if other is not None:
        raise TaxonomyError(f"There is already a {what} named “{other.name}”.", "name")


def _slug_for(model, slug: str, name: str, exclude_id: int | None, what: str) -> str:
    """The slug the person typed, cleaned and checked; derived from the name when left blank."""
    if not clean_text(slug):
        return unique_slug(
            model, name, exclude_id=exclude_id, max_length=SLUG_LENGTH, fallback=what
        )
    cleaned = slugify(slug, max_length=SLUG_LENGTH, fallback="")
    if not cleaned:
        raise TaxonomyError("The slug needs at least one letter or digit.", "slug")
    query = select(model.id).where(model.slug == cleaned)
    if exclude_id is not None:
        query = query.where(model.id != exclude_id)
    if db.session.scalar(query.limit(1)) is not None:
        raise TaxonomyError(f"Another {what} already uses the slug “{cleaned}”.", "slug")
    if shadowed := slug_refusal(model.__tablename__, cleaned):
        raise TaxonomyError(shadowed, "slug")
    return cleaned


def _expire_loaded(model, *attributes: str) -> None:
    """Bulk statements bypass the session; drop what it holds so nothing stale is written."""
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, model):
            db.session.expire(obj, list(attributes))


# Tags ---------------------------------------------------------------------------------------


def parse_tag_names(raw: str) -> list[str]:
    """Tag names from a comma-separated entry, cleaned, without blanks or repeats.

    Repeats are found ignoring case; the first spelling wins. Too many tags or an overlong name
    raise `TaxonomyError` rather than silently dropping what the person typed.
    """
    return _unique_tag_names((raw or "").split(","))


def _unique_tag_names(entries) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    for entry in entries:
        name = clean_text(entry)
        if not name or name.lower() in seen:
            continue
        if len(name) > MAX_TAG_NAME_LENGTH:
            raise TaxonomyError(
                f"A tag name can be at most {MAX_TAG_NAME_LENGTH} characters long: “{name[:30]}…”.",
                "tags",
            )
        seen.add(name.lower())
        names.append(name)
    if len(names) > MAX_TAGS_PER_POST:
        raise TaxonomyError(f"A post can have at most {MAX_TAGS_PER_POST} tags.", "tags")
    return names


def get_or_create_tags(names: list[str]) -> list[Tag]:
    """The tags for `names`, in order and once each.

    An existing tag is reused when its name matches ignoring case, or when the entry is typed
    exactly as its slug ("machine-learning"); other names become new tags with unique slugs.
    """
    names = _unique_tag_names(names)
    if not names:
        return []
    known = _existing_tags(names)
    tags: list[Tag] = []
    for name in names:
        tag = _match_tag(known, name)
        if tag is None:
            tag = _new_tag(name)
            known.append(tag)
        if tag not in tags:
            tags.append(tag)
    return tags


def _existing_tags(names: list[str]) -> list[Tag]:
    slugs = [name.lower() for name in names]
    query = select(Tag).where(or_(_same_name_condition(Tag, names), Tag.slug.in_(slugs)))
    return list(db.session.scalars(query))


def _match_tag(candidates: list[Tag], name: str) -> Tag | None:
    key = name_key(name)
    by_name = next((tag for tag in candidates if name_key(tag.name) == key), None)
    return by_name or next((tag for tag in candidates if tag.slug == name.lower()), None)


def _new_tag(name: str) -> Tag:
    tag = Tag(name=name, slug=unique_slug(Tag, name, max_length=SLUG_LENGTH, fallback="tag"))
    db.session.add(tag)
    return tag


def tag_suggestions(prefix: str = "", limit: int = 20) -> list[str]:
    """Tag names starting with `prefix` (ignoring case), most used first, for the editor."""
    prefix = clean_text(prefix)[:MAX_TAG_NAME_LENGTH]
    limit = max(1, min(limit, MAX_SUGGESTIONS))
    uses = func.count(post_tag.c.post_id)
    query = (
        select(Tag.name)
        .outerjoin(post_tag, post_tag.c.tag_id == Tag.id)
        .group_by(Tag.id, Tag.name)
        .order_by(uses.desc(), Tag.name)
    )
    if prefix:
        query = query.where(func.lower(Tag.name).like(_name_pattern(prefix) + "%", escape="/"))
    if prefix.isascii():  # the pattern is then exact, so the database can stop early
        query = query.limit(limit)
    key = prefix.lower()
    matches = (name for name in db.session.scalars(query) if name.lower().startswith(key))
    return list(islice(matches, limit))


def rename_tag(tag: Tag, name: str, slug: str) -> None:
    """Change a tag's name and slug; a blank slug is derived from the name."""
    name = clean_name(name, max_length=MAX_TAG_NAME_LENGTH, what="tag")
    _ensure_name_free(Tag, name, tag.id, "tag")
    tag.slug = _slug_for(Tag, slug, name, tag.id, "tag")
    tag.name = name


def merge_tags(source: Tag, target: Tag) -> None:
    """Give every post tagged `source` the tag `target` (once), then delete `source`."""
    if source.id == target.id:
        raise TaxonomyError("A tag cannot be merged into itself.", "target")
    db.session.flush()
    has_target = select(post_tag.c.post_id).where(post_tag.c.tag_id == target.id)
    missing = select(post_tag.c.post_id, literal(target.id)).where(
        post_tag.c.tag_id == source.id, post_tag.c.post_id.not_in(has_target)
    )
    db.session.execute(insert(post_tag).from_select(["post_id", "tag_id"], missing))
    delete_tag(source)


def delete_tag(tag: Tag) -> None:
    """Delete a tag; its posts simply lose it (merging ends here too)."""
    db.session.flush()
    db.session.execute(delete(post_tag).where(post_tag.c.tag_id == tag.id))
    _expire_loaded(Tag, "posts")
    _expire_loaded(Post, "tags")
    db.session.delete(tag)
    db.session.flush()


# Categories ---------------------------------------------------------------------------------


def categories_in_order() -> list[Category]:
    """Every category, depth first: each parent followed by its children."""
    by_id = {c.id: c for c in db.session.scalars(select(Category))}
    return [by_id[node.id] for node, _ in category_tree.of(by_id.values()).in_order()]


def indented_choices(
    exclude_below: Category | None = None, tree: category_tree.CategoryTree | None = None
) -> list[tuple[str, str]]:
    """(id, name indented by depth) for a select, leaving out `exclude_below` and its subtree."""
    tree = tree or category_tree.load()
    hidden = set(tree.descendant_ids(exclude_below.id)) if exclude_below is not None else set()
    return [
        (str(node.id), "\u2003" * depth + node.name)
        for node, depth in tree.in_order()
        if node.id not in hidden
    ]


def _check_parent(category_id: int | None, parent_id: int | None) -> int | None:
    """The parent id if it is allowed: it exists, is not the category or below it, and the
    branch stays within MAX_DEPTH levels."""
    if parent_id is None:
        return None
    tree = category_tree.load()
    if parent_id not in tree.nodes:
        raise TaxonomyError("That parent category no longer exists.", "parent_id")
    if category_id is not None and parent_id in tree.descendant_ids(category_id):
        if parent_id == category_id:
            raise TaxonomyError("A category cannot be its own parent.", "parent_id")
        raise TaxonomyError(
            f"“{tree.nodes[parent_id].name}” is inside this category; "
            "a category cannot be placed below itself.",
            "parent_id",
        )
    below = tree.depth_below(category_id) if category_id is not None else 1
    if len(tree.lineage(parent_id)) + below > category_tree.MAX_DEPTH:
        raise TaxonomyError(
            f"Categories can be at most {category_tree.MAX_DEPTH} levels deep; "
            "choose a parent higher up.",
            "parent_id",
        )
    return parent_id


def create_category(
    name: str, description: str = "", position: int | None = None, parent_id: int | None = None
) -> Category:
    """A new category; without a position it goes after the last one."""
    name = clean_name(name)
    _ensure_name_free(Category, name, None, "category")
    parent_id = _check_parent(None, parent_id)
    if position is None:
        position = (db.session.scalar(select(func.max(Category.position))) or 0) + 1
    category = Category(
        name=name,
        slug=unique_slug(Category, name, max_length=SLUG_LENGTH, fallback="category"),
        description=(description or "").strip(),
        position=position,
        parent_id=parent_id,
    )
    db.session.add(category)
    db.session.flush()  # callers (the editor, importers) use the new id at once
    return category


KEEP = object()  # update_category: leave the parent as it is


def update_category(
    category: Category,
    name: str,
    slug: str,
    description: str,
    position: int | None,
    parent_id=KEEP,
) -> None:
    """Change every field at once, after checking all of them; a blank slug follows the name."""
    name = clean_name(name)
    _ensure_name_free(Category, name, category.id, "category")
    slug = _slug_for(Category, slug, name, category.id, "category")
    if parent_id is not KEEP:
        category.parent_id = _check_parent(category.id, parent_id)
    category.name, category.slug = name, slug
    category.description = (description or "").strip()
    if position is not None:
        category.position = position


def set_parent(category: Category, parent: Category | None) -> None:
    """Move a category (and everything below it) under `parent`, or to the top."""
    db.session.flush()
    category.parent_id = _check_parent(category.id, parent.id if parent else None)


def delete_category(category: Category, move_to: Category | None) -> int:
    """Delete a category; its posts move to `move_to`, or get no category; its children move
    up to its parent. Returns how many posts had it as their primary category."""
    if move_to is not None and move_to.id == category.id:
        raise TaxonomyError("Choose another category to move the posts to.", "move_to")
    db.session.flush()
    db.session.execute(
        update(Category)
        .where(Category.parent_id == category.id)
        .values(parent_id=category.parent_id)
        .execution_options(synchronize_session=False)
    )
    moved = db.session.execute(
        update(Post)
        .where(Post.category_id == category.id)
        .values(category_id=move_to.id if move_to else None)
        .execution_options(synchronize_session=False)
    ).rowcount
    if move_to is not None:
        _move_further_categories(category.id, move_to.id)
    db.session.execute(delete(post_category).where(post_category.c.category_id == category.id))
    _expire_loaded(Category, "posts", "parent_id")
    _expire_loaded(Post, "category_id", "category", "secondary_categories")
    db.session.delete(category)
    db.session.flush()
    return moved


def _move_further_categories(source_id: int, target_id: int) -> None:
    """Posts that had `source` as a further category get `target` instead, unless they have it
    already, as their primary category or a further one."""
    has_target = select(post_category.c.post_id).where(post_category.c.category_id == target_id)
    primary = select(Post.id).where(Post.category_id == target_id)
    missing = select(post_category.c.post_id, literal(target_id)).where(
        post_category.c.category_id == source_id,
        post_category.c.post_id.not_in(has_target),
        post_category.c.post_id.not_in(primary),
    )
    db.session.execute(insert(post_category).from_select(["post_id", "category_id"], missing))
    # A post whose primary category became `target` no longer lists it among its further ones.
    db.session.execute(
        delete(post_category).where(
            post_category.c.category_id == target_id, post_category.c.post_id.in_(primary)
        )
    )


def merge_categories(source: Category, target: Category) -> int:
    """Move every post of `source` to `target`, then delete `source`."""
    return delete_category(source, target)

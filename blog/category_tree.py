"""The category tree as pages read it: every category's place, read in one query.

Categories form a tree through `Category.parent_id` (WordPress's model: any parent, any depth
up to MAX_DEPTH). A post has one primary category (`Post.category_id`: its byline, its
breadcrumb, the kicker on cards) and may have further ones (`post_category`).

Decisions:
- No stored path. The tree (id, parent, slug, name, position of every category) is read in one
  query and remembered until the site changes (`blog.generation`), so a category page, a feed
  or a breadcrumb costs the same few statements at any depth, and a move or a rename has no
  copies to update, nor any that could go stale. A site has tens or hundreds of categories;
  the site menu already read all of them on every page.
- Addresses are `/category/<ancestors' slugs>/<slug>/`. Slugs are unique across all
  categories, so the last segment alone names the category; any other path to it (the flat
  `/category/europe/` of before, the old path after a move) answers 301 to the current one.
- A category's page and feeds hold the posts whose primary or further category is that
  category or one below it: the ids come from the tree, so the list is one condition,
  `category_id IN (…) OR id IN (SELECT post_id FROM post_category WHERE category_id IN (…))`.
- Related posts under an article still come from its primary category alone (one indexed
  scan); the menu shows the top of the tree and marks the branch the page is in.
- Writers (the admin, importers) check cycles and depth against `load()`, a fresh read inside
  their transaction, never the remembered copy.
"""

from dataclasses import dataclass, field

from sqlalchemy import or_, select

from . import generation
from .extensions import db
from .models import Category, Post, post_category

MAX_DEPTH = 10  # levels, the top one included: the address stays readable, and so do menus


@dataclass(frozen=True)
class Node:
    id: int
    parent_id: int | None
    slug: str
    name: str
    position: int


@dataclass
class CategoryTree:
    """Every category with its parent and children; lookups by id and by slug."""

    nodes: dict[int, Node]
    by_slug: dict[str, Node] = field(default_factory=dict)
    children: dict[int | None, list[Node]] = field(default_factory=dict)

    @classmethod
    def build(cls, rows) -> "CategoryTree":
        nodes = {node.id: node for node in (Node(*row) for row in rows)}
        tree = cls(nodes, {node.slug: node for node in nodes.values()})
        for node in sorted(nodes.values(), key=lambda n: (n.position, n.name.lower(), n.id)):
            parent = node.parent_id if node.parent_id in nodes else None
            tree.children.setdefault(parent, []).append(node)
        return tree

    def lineage(self, category_id: int) -> list[Node]:
        """The category's ancestors from the top down, then the category itself."""
        chain: list[Node] = []
        node = self.nodes.get(category_id)
        while node is not None and node not in chain:  # a cycle cannot loop forever here
            chain.append(node)
            node = self.nodes.get(node.parent_id) if node.parent_id is not None else None
        return chain[::-1]

    def path(self, category_id: int) -> str:
        """ "world/europe": the slugs from the top down, as the address shows them."""
        return "/".join(node.slug for node in self.lineage(category_id))

    def descendant_ids(self, category_id: int) -> list[int]:
        """The category's id and those of every category below it, at any depth."""
        found, waiting = [], [category_id]
        while waiting:
            current = waiting.pop()
            if current in found:
                continue
            found.append(current)
            waiting += [child.id for child in self.children.get(current, [])]
        return found

    def depth_below(self, category_id: int) -> int:
        """How many levels the category's subtree has, itself included (a leaf: 1)."""
        depth, level, seen = 0, [category_id], set()
        while level:
            depth += 1
            seen.update(level)
            level = [k.id for i in level for k in self.children.get(i, []) if k.id not in seen]
        return depth

    def in_order(self) -> list[tuple[Node, int]]:
        """Every category depth first, each with its depth (0 at the top), for menus and forms."""
        ordered: list[tuple[Node, int]] = []
        seen: set[int] = set()

        def visit(parent_id, depth):
            for node in self.children.get(parent_id, []):
                if node.id not in seen:
                    seen.add(node.id)
                    ordered.append((node, depth))
                    visit(node.id, depth + 1)

        visit(None, 0)
        return ordered


def load() -> CategoryTree:
    """The tree as the database holds it now (in the caller's transaction)."""
    rows = db.session.execute(
        select(Category.id, Category.parent_id, Category.slug, Category.name, Category.position)
    )
    return CategoryTree.build(rows)


def of(categories) -> CategoryTree:
    """The tree of Category rows already loaded (the admin's list reads them anyway)."""
    return CategoryTree.build((c.id, c.parent_id, c.slug, c.name, c.position) for c in categories)


def current() -> CategoryTree:
    """The tree for readers: read once per site version in this process."""
    return generation.remembered(("category-tree",), load)


def path_of(category) -> str:
    """The address path of a Category (or its id): "world/europe"."""
    category_id = category if isinstance(category, int) else category.id
    return current().path(category_id) or getattr(category, "slug", "")


def lineage_of(category) -> list[Node]:
    return current().lineage(category.id)


def posts_in_condition(category_id: int, tree: CategoryTree | None = None):
    """Posts whose primary or further category is this one or one below it."""
    ids = (tree or current()).descendant_ids(category_id)
    further = select(post_category.c.post_id).where(post_category.c.category_id.in_(ids))
    return or_(Post.category_id.in_(ids), Post.id.in_(further))

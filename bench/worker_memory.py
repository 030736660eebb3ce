"""Where a web worker's memory goes: one process built as gunicorn builds a worker, after load.

    .venv/bin/python bench/worker_memory.py --instance /tmp/box        # an existing instance
    .venv/bin/python bench/worker_memory.py --instance /tmp/box --tracemalloc

It builds the app the way gunicorn.conf.py asks for (`create_app(cli=False)`), asks for the
reader pages (home, the newest articles, categories, the feed, a search) and a few admin pages
through the app's WSGI stack (no server), then prints:
- /proc/self/smaps_rollup (RSS, PSS, anonymous memory) and where the resident memory lies:
  the Python heap and anonymous maps, the interpreter, and each shared library;
- the modules loaded, counted and grouped by top-level package, with the packages readers
  never need marked, so a lazy import can be judged;
- with --tracemalloc: the Python allocations still alive, grouped by package (tracemalloc
  starts before the first import, and slows everything down; its own overhead is left out).
Use --admin to include the admin pages (a worker that has served an author's editor).
"""

import argparse
import collections
import os
import sys
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

READER_ONLY_SUSPECTS = (
    "markdown", "bleach", "pygments", "html5lib", "tinycss2", "PIL", "cryptography",
    "requests", "urllib3", "charset_normalizer", "idna", "certifi", "alembic", "mako",
    "markdownify", "bs4", "yaml", "defusedxml", "segno", "pyotp", "huey", "redis",
    "email_validator", "dns", "flask_mailman", "psycopg", "blog.admin", "blog.portability",
    "blog.federation", "blog.newsletter", "blog.cli",
)  # fmt: skip


def rollup() -> dict[str, int]:
    values = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        values[name] = int(value.split()[0])
    return values


def mapped_regions() -> collections.Counter:
    """Resident KiB by what is mapped: a file (shared library), or the heap and anonymous maps."""
    sizes: collections.Counter = collections.Counter()
    current = "?"
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and len(head) >= 5 and ":" not in head[0]:
            path = head[5] if len(head) > 5 else "[anonymous]"
            current = path.split("/site-packages/", 1)[-1].split("/")[0] if path else path
            if "python3" in path and "site-packages" not in path:
                current = "[python and its standard library]"
        elif line.startswith("Rss:"):
            sizes[current] += int(head[1])
    return sizes


def top_package(filename: str) -> str:
    if "/site-packages/" in filename:
        parts = filename.split("/site-packages/", 1)[1].split("/")
        return parts[0].removesuffix(".py")
    if str(REPO / "blog") in filename:
        relative = Path(filename).relative_to(REPO).with_suffix("")
        parts = relative.parts
        return ".".join(parts[:2]) if len(parts) > 2 else ".".join(parts)
    if "<frozen" in filename or "/lib/python3" in filename:
        return "[standard library]"
    return filename


def exercise(app, admin: bool) -> None:
    from blog.extensions import db
    from blog.models import Category, Post, PostKind, User
    from blog.visibility import public_clause

    with app.app_context():
        slugs = db.session.scalars(
            db.select(Post.slug)
            .where(Post.kind == PostKind.POST, public_clause())
            .order_by(Post.published_at.desc())
            .limit(20)
        ).all()
        categories = db.session.scalars(db.select(Category.slug)).all()
        admin_email = db.session.scalar(db.select(User.email).order_by(User.id))
        db.session.remove()
    paths = ["/", "/?page=2", "/feed.xml", "/search?q=harbour", "/archive/"]
    paths += [f"/{slug}/" for slug in slugs] + [f"/category/{slug}/" for slug in categories]
    client = app.test_client()
    for _ in range(3):
        for path in paths:
            client.get(path)
    if admin:
        app.config["WTF_CSRF_ENABLED"] = False
        client.post("/login", data={"email": admin_email, "password": "bench password 2026"})
        for path in ("/admin/", "/admin/posts/", "/admin/posts/new", "/admin/comments/"):
            client.get(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instance", type=Path, required=True)
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--admin", action="store_true", help="also an admin's pages")
    args = parser.parse_args()
    if args.tracemalloc:
        tracemalloc.start(1)
    os.environ["BLOG_INSTANCE_PATH"] = str(args.instance)
    os.environ.setdefault("BLOG_SECRET_KEY", "worker memory bench")
    sys.path.insert(0, str(REPO))
    from blog import create_app

    app = create_app(cli=False)
    exercise(app, args.admin)

    memory = rollup()
    print(f"after load: RSS {memory['Rss'] / 1024:.1f} MiB, PSS {memory['Pss'] / 1024:.1f} MiB, "
          f"anonymous {memory['Anonymous'] / 1024:.1f} MiB")  # fmt: skip
    print("\nresident memory by mapping (MiB):")
    for name, kib in mapped_regions().most_common(12):
        print(f"  {kib / 1024:7.1f}  {name}")

    packages = collections.Counter()
    for name in list(sys.modules):
        parts = name.split(".")
        packages[".".join(parts[:2]) if parts[0] == "blog" else parts[0]] += 1
    print(f"\nmodules loaded: {len(sys.modules)}")
    loaded = [s for s in READER_ONLY_SUSPECTS if s in sys.modules]
    print(f"  loaded though readers may not need them: {', '.join(loaded) or 'none'}")
    print("  by package: " + ", ".join(f"{n} {c}" for n, c in packages.most_common(30)))

    if args.tracemalloc:
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        by_package: collections.Counter = collections.Counter()
        for stat in snapshot.statistics("filename"):
            by_package[top_package(stat.traceback[0].filename)] += stat.size
        total = sum(by_package.values())
        print(f"\nPython allocations alive (tracemalloc): {total / 2**20:.1f} MiB, by package:")
        for name, size in by_package.most_common(25):
            print(f"  {size / 2**20:7.2f} MiB  {name}")


if __name__ == "__main__":
    main()

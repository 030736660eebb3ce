"""An article with 500 approved comments against one with none: cached and uncached.

    .venv/bin/python bench/comments.py [--comments 500] [--rounds 200]

Prints, for each article, the median time to serve it from the page cache and to render it
with the cache off (both through the app's WSGI stack, in this process, on SQLite), and the
ratios side by side. Goal (issue 14): cached as fast as the empty article; uncached under
100 ms.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from blog import create_app
from blog.comments import recount
from blog.extensions import db
from blog.models import Comment, CommentStatus, Post, PostStatus, User, utcnow
from blog.rendering import render_comment


def build(folder: Path, comments: int) -> None:
    app = make(folder, cache=True)
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        author = User(email="a@example.org", display_name="Ann", slug="ann")
        db.session.add(author)
        for slug in ("quiet", "busy"):
            db.session.add(Post(title=slug.title(), slug=slug, body_md="Text.",
                                body_html="<p>" + "Some text. " * 300 + "</p>",
                                status=PostStatus.PUBLISHED, published_at=utcnow(),
                                author=author))  # fmt: skip
        db.session.flush()
        busy = db.session.scalar(db.select(Post).where(Post.slug == "busy"))
        threads = []
        for n in range(comments):
            text = f"Comment {n}: I *agree*, see [this](https://example.org/{n}).\n\n> quoted"
            thread = threads[n % len(threads)] if n % 3 and threads else None  # a third: replies
            comment = Comment(post=busy, author_name=f"Reader {n}", body_md=text,
                              author_email=f"r{n}@example.org", body_html=render_comment(text),
                              status=CommentStatus.APPROVED, thread_id=thread)  # fmt: skip
            db.session.add(comment)
            db.session.flush()
            if comment.thread_id is None:
                threads.append(comment.id)
        recount(busy.id)
        db.session.commit()


def make(folder: Path, cache: bool):
    return create_app({"INSTANCE_PATH": str(folder), "SECRET_KEY": "bench",
                       "DATABASE_URL": f"sqlite:///{folder / 'blog.sqlite3'}",
                       "PAGE_CACHE_BYTES": 32 * 1024 * 1024 if cache else 0})  # fmt: skip


def median_ms(client, path: str, rounds: int) -> float:
    client.get(path)  # warm: templates compiled, page stored
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        response = client.get(path)
        times.append(time.perf_counter() - start)
        assert response.status_code == 200
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--comments", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=200)
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-comments-"))
    build(folder, options.comments)
    cached, uncached = make(folder, True).test_client(), make(folder, False).test_client()
    rows = {}
    for slug in ("quiet", "busy"):
        rows[slug] = (median_ms(cached, f"/{slug}/", options.rounds),
                      median_ms(uncached, f"/{slug}/", max(options.rounds // 10, 10)))  # fmt: skip
    size = len(cached.get("/busy/").data)
    print(
        f"article with 0 comments:   cached {rows['quiet'][0]:.3f} ms, "
        f"uncached {rows['quiet'][1]:.1f} ms"
    )
    print(
        f"article with {options.comments} comments: cached {rows['busy'][0]:.3f} ms, "
        f"uncached {rows['busy'][1]:.1f} ms ({size // 1024} KiB)"
    )
    print(f"ratio busy/quiet: cached {rows['busy'][0] / rows['quiet'][0]:.2f}, "
          f"uncached {rows['busy'][1] / rows['quiet'][1]:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()

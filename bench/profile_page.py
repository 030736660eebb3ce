"""Profile one page of an instance seeded by bench/bench.py (kept with --data) in-process.

    .venv/bin/python bench/bench.py --posts 10000 --data /tmp/bench-data --only article
    .venv/bin/python bench/profile_page.py /tmp/bench-data/sqlite-10000 /some-slug/ -n 200

Builds the app as gunicorn would (the instance folder, its database), asks for the page through
Flask's test client `-n` times under pyinstrument (`.venv/bin/pip install -e '.[bench]'`) and
prints the call tree. `--editor` signs in as the seeded editor first (for /admin/ pages);
`--post JSON` sends a JSON POST instead (e.g. the preview endpoint).
"""

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The script's own folder would make bench/bench.py the module `bench`; the repository's
# root makes `bench` the folder, as everywhere else.
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("instance", type=Path)
    parser.add_argument("path")
    parser.add_argument("-n", type=int, default=100, help="requests to profile")
    parser.add_argument("--editor", action="store_true", help="sign in as the seeded editor")
    parser.add_argument("--post", help="JSON body to POST (CSRF token added)")
    parser.add_argument("--database-url", help="defaults to the instance's SQLite file")
    parser.add_argument("--html", type=Path, help="also write pyinstrument's HTML report here")
    parser.add_argument(
        "--uncached", action="store_true", help="bypass the page cache, as a miss would"
    )
    args = parser.parse_args(argv)

    from pyinstrument import Profiler

    os.environ["BLOG_INSTANCE_PATH"] = str(args.instance.resolve())
    os.environ["BLOG_DATABASE_URL"] = args.database_url or (
        f"sqlite:///{args.instance.resolve() / 'blog.sqlite3'}"
    )
    from bench.bench import EDITOR_EMAIL, PASSWORD
    from blog import create_app

    app = create_app(cli=False)  # as gunicorn.conf.py builds it
    client = app.test_client()
    if args.uncached:
        client.set_cookie("remember_token", "bench")  # signs in nobody; the cache steps aside
    headers = {}
    if args.editor or args.post:
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        answer = client.post(
            "/login", data={"csrf_token": token, "email": EDITOR_EMAIL, "password": PASSWORD}
        )
        if answer.status_code != 302:
            raise SystemExit(f"sign-in failed: {answer.status_code}")
        page = client.get("/admin/posts/").get_data(as_text=True)
        headers["X-CSRFToken"] = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)[1]

    def ask():
        if args.post:
            response = client.post(args.path, json=json.loads(args.post), headers=headers)
        else:
            response = client.get(args.path, headers=headers)
        if response.status_code != 200:
            raise SystemExit(f"{args.path} answered {response.status_code}")
        return response

    ask()  # warm up: templates compiled, caches filled
    profiler = Profiler(interval=0.0005)
    started = time.perf_counter()
    profiler.start()
    for _ in range(args.n):
        ask()
    profiler.stop()
    elapsed = time.perf_counter() - started
    print(f"{args.n} requests of {args.path}: {elapsed / args.n * 1000:.2f} ms each (profiled)")
    print(profiler.output_text(unicode=True, color=False, show_all=False))
    if args.html:
        args.html.write_text(profiler.output_html())
    return 0


if __name__ == "__main__":
    sys.exit(main())

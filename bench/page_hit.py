"""Time a page-cache hit in-process, as the WSGI server calls it, for a plain and a gzip client.

    .venv/bin/python bench/bench.py --posts 100 --data /tmp/bench-data --only article
    .venv/bin/python bench/page_hit.py /tmp/bench-data/sqlite-100 [-n 20000]

Builds the app as gunicorn would on an instance kept by bench/bench.py, takes the newest
article from the home page, stores it, then calls the app's WSGI callable directly (the fast
path, `blog.page_cache.FastPath`), alternating batches for a client without Accept-Encoding
and one sending a browser's, and prints microseconds a hit (median of the batches) and bytes
of headers and body each client receives. No sockets: what is left is the app's own cost, so a
change to it shows, where wrk on a shared machine would drown it.
"""

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]

CLIENTS = {"plain": {}, "gzip": {"Accept-Encoding": "gzip, deflate, br, zstd"}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("instance", type=Path)
    parser.add_argument("-n", type=int, default=20_000, help="hits per client")
    parser.add_argument("--batches", type=int, default=10)
    args = parser.parse_args(argv)

    os.environ["BLOG_INSTANCE_PATH"] = str(args.instance.resolve())
    os.environ.setdefault(
        "BLOG_DATABASE_URL", f"sqlite:///{args.instance.resolve() / 'blog.sqlite3'}"
    )
    from werkzeug.test import EnvironBuilder

    from blog import create_app

    app = create_app(cli=False)  # as gunicorn.conf.py builds it
    home = app.test_client().get("/").get_data(as_text=True)
    path = re.search(r'<h2[^>]*>\s*<a href="(/[^"]+/)"', home)[1]
    environs = {}
    for name, headers in CLIENTS.items():
        environs[name] = EnvironBuilder(path=path, headers=headers).get_environ()
        app.test_client().get(path, headers=headers)  # stored (one representation or two)

    def hit(environ) -> tuple[int, int]:
        sent = []
        body = b"".join(app.wsgi_app(dict(environ), lambda s, h, e=None: sent.append(h)))
        header_bytes = sum(len(name) + len(value) + 4 for name, value in sent[0])
        return header_bytes, len(body)

    def start_response(status, headers, exc_info=None):
        return None

    sizes = {name: hit(environ) for name, environ in environs.items()}
    per_batch = max(1, args.n // args.batches)
    timings: dict[str, list[float]] = {name: [] for name in CLIENTS}
    for _ in range(args.batches):
        for name, environ in environs.items():
            clock = time.perf_counter()
            for _ in range(per_batch):
                for _chunk in app.wsgi_app(dict(environ), start_response):
                    pass
            timings[name].append((time.perf_counter() - clock) / per_batch * 1e6)
    print(f"{path}: {per_batch * args.batches:,} hits per client in {args.batches} batches")
    for name, values in timings.items():
        header_bytes, body_bytes = sizes[name]
        print(
            f"  {name:<6} {statistics.median(values):7.1f} us a hit (best batch "
            f"{min(values):.1f}); headers {header_bytes:,} B, body {body_bytes:,} B"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

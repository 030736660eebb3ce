"""A bare Flask app for bench/bench.py: one constant HTML page, no database, no templates.

It is the ceiling a page of the blog is compared with: the same server, worker settings and
response size, with none of the blog's work. BENCH_PAGE_BYTES sets the page size.
"""

import os

from flask import Flask, Response

PAGE_BYTES = int(os.environ.get("BENCH_PAGE_BYTES", "20000"))


def constant_page(size: int) -> bytes:
    """An HTML document of exactly `size` bytes (at least the bare markup)."""
    head = b"<!doctype html><html lang=en><title>Baseline</title><main><p>"
    tail = b"</p></main></html>\n"
    filler = (b"lorem ipsum dolor sit amet " * (size // 27 + 1))[: max(0, size - len(head + tail))]
    return head + filler + tail


PAGE = constant_page(PAGE_BYTES)
app = Flask(__name__)


@app.get("/")
def page() -> Response:
    return Response(PAGE, content_type="text/html; charset=utf-8")


@app.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}

"""Screenshots of the reader pages and the article's page weight, from a throwaway instance.

    .venv/bin/python scripts/screenshots.py            # writes docs/screenshots/*.png

Needs Debian's Chromium and Playwright (the test extra). It starts the blog with sample content
on a free port on 127.0.0.1, takes the home, article, category and editor pages at 375 px and
1280 px in light and dark (the editor signed in as the sample author), and prints the article's
weight for a reader: HTML + CSS + fonts + scripts, uncompressed, without the article's own
images.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
FLASK = [sys.executable, "-m", "flask", "--app", "blog"]
ARTICLE = "/fishermen-report-the-best-catch-in-a-decade/"
EMAIL, PASSWORD = "ann@example.com", "a long sample password"
READER_PAGES = (("home", "/"), ("article", ARTICLE), ("category", "/category/harbour/"))
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_blog(instance: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "BLOG_INSTANCE_PATH": str(instance)}
    run = lambda *args: subprocess.run([*FLASK, *args], env=env, check=True, cwd=ROOT)  # noqa: E731
    run("db", "upgrade")
    run("users", "create", "--email", EMAIL, "--name", "Ann Author",
        "--role", "admin", "--password", PASSWORD)  # fmt: skip
    run("demo", "--email", EMAIL)
    server = subprocess.Popen([*FLASK, "serve", "--port", str(port)], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("the blog did not start")


def page_weight(browser, url: str) -> dict[str, int]:
    """Bytes per resource type for one fresh load (no cache), images excluded."""
    sizes: dict[str, int] = {}

    def record(response) -> None:
        kind = response.request.resource_type
        if kind != "image":
            sizes[kind] = sizes.get(kind, 0) + len(response.body() or b"")

    context = browser.new_context()
    page = context.new_page()
    page.on("response", record)
    page.goto(url, wait_until="networkidle")
    context.close()
    return sizes


def sign_in(context, base: str) -> None:
    page = context.new_page()
    page.goto(base + "/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Dashboard").wait_for()
    page.close()


def open_editor(page, base: str) -> None:
    """The editor on the sample article, with its text and the live preview loaded."""
    page.goto(base + "/admin/posts/")
    page.get_by_role("link", name="Fishermen report the best catch in a decade").first.click()
    page.wait_for_load_state("networkidle")


def shoot(page, name: str, width: int, scheme: str) -> None:
    target = OUT / f"{name}-{width}-{scheme}.png"
    page.screenshot(path=str(target), full_page=True)
    print(f"wrote {target.relative_to(ROOT)}")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as instance:
        server = start_blog(Path(instance), port)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for scheme in ("light", "dark"):
                    for width in (375, 1280):
                        context = browser.new_context(
                            viewport={"width": width, "height": 900}, color_scheme=scheme
                        )
                        page = context.new_page()
                        for name, path in READER_PAGES:
                            page.goto(base + path, wait_until="networkidle")
                            shoot(page, name, width, scheme)
                        sign_in(context, base)
                        open_editor(page, base)
                        shoot(page, "editor", width, scheme)
                        context.close()
                weight = page_weight(browser, base + ARTICLE)
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=10)
    total = sum(weight.values())
    parts = ", ".join(f"{kind} {size / 1024:.1f} KB" for kind, size in sorted(weight.items()))
    print(f"Article page weight (uncompressed, without images): {total / 1024:.1f} KB ({parts})")


if __name__ == "__main__":
    main()

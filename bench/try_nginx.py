"""Try deploy/nginx.conf for real: nginx on 127.0.0.1 in front of the production gunicorn.

    .venv/bin/python bench/try_nginx.py [--port 8080]

Seeds a small throwaway blog (with real uploaded images), starts gunicorn with
gunicorn.conf.py (BLOG_PROXY_COUNT=1, as behind nginx) and nginx with the deploy site (its
paths and listen line swapped for the test's), then prints the response headers curl sees for
pages, static files, media, refused names and an oversized body, and where the app believed a
request with a forged X-Forwarded-For came from. Everything is stopped and removed at the end.
"""

import argparse
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]

from bench.bench import GUNICORN_CONF, Server, seed, server_env  # noqa: E402
from bench.nginx_site import Nginx, render_site  # noqa: E402


def port_or_free(preferred: int) -> int:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def curl(*args: str) -> str:
    """Response headers only (the body is dropped), as curl prints them."""
    command = ["curl", "-sS", "--max-time", "20", "-o", "/dev/null", "-D", "-", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=30).stdout.strip()


def show(title: str, *args: str) -> str:
    headers = curl(*args)
    print(f"$ curl -sSD - -o /dev/null {' '.join(args)}    # {title}")
    print(headers.replace("\r", ""))
    print()
    return headers


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8080, help="nginx's port (another if taken)")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="blog-nginx-"))
    instance = folder / "instance"
    app = nginx = None
    try:
        database_url = f"sqlite:///{instance / 'blog.sqlite3'}"
        scenario = seed(database_url, instance, 20, "sqlite", pool_size=10)
        port = port_or_free(args.port)
        env = server_env(instance, database_url, 2, 4)
        env.update(BLOG_PROXY_COUNT="1", BLOG_SITE_URL=f"http://127.0.0.1:{port}")
        app = Server("gunicorn", ["-c", str(GUNICORN_CONF)], env, folder).start()
        site = render_site(port=port, checkout=REPO, instance=instance, app_ports=[app.port])
        nginx = Nginx(folder / "nginx", site, port)
        print(nginx.check())
        nginx.start()
        base = f"http://127.0.0.1:{port}"
        print(f"nginx on {base} -> gunicorn on 127.0.0.1:{app.port}\n")

        home = subprocess.run(
            ["curl", "-sS", "--max-time", "20", base + "/"], capture_output=True, text=True
        ).stdout
        stylesheet = re.search(r'href="(/static/[^"]+\?v=[^"]+)"', home)[1]
        image = next((instance / "uploads").glob("*[0-9a-f].jpg")).name

        show("a page, through gunicorn", base + "/")
        show(
            "an article, gzip asked for",
            "-H",
            "Accept-Encoding: gzip",
            f"{base}/{scenario.article}/",
        )
        show("a fingerprinted static file, from nginx", base + stylesheet)
        show("a static file without fingerprint", base + stylesheet.split("?")[0])
        show("an uploaded image, from nginx", f"{base}/media/{image}")
        show("not an upload name", f"{base}/media/secret_key")
        show("a body over 16 MiB", "-X", "POST", "-H", "Content-Length: 17000000", base + "/login")
        show("health check", base + "/healthz")

        # A forged X-Forwarded-For: nginx appends the real peer, the app trusts only that one.
        subprocess.run(
            ["curl", "-sS", "-o", "/dev/null", "--max-time", "20", "-c", str(folder / "jar"),
             "-b", str(folder / "jar"), base + "/login"],
            check=True, timeout=30,
        )  # fmt: skip
        token = re.search(
            r"csrf_token\S*\s.*?value=\"([^\"]+)\"",
            subprocess.run(
                ["curl", "-sS", "--max-time", "20", "-b", str(folder / "jar"), base + "/login"],
                capture_output=True, text=True, timeout=30,
            ).stdout,
        )[1]  # fmt: skip
        show(
            "a failed sign-in claiming to come from 203.0.113.9",
            "-b", str(folder / "jar"), "-H", "X-Forwarded-For: 203.0.113.9",
            "--data-urlencode", f"csrf_token={token}",
            "--data-urlencode", "email=nobody@example.org",
            "--data-urlencode", "password=wrong password", base + "/login",
        )  # fmt: skip
        import sqlite3

        with sqlite3.connect(instance / "blog.sqlite3") as connection:
            rows = connection.execute("SELECT email, address FROM login_attempt").fetchall()
        print(f"login_attempt rows recorded by the app: {rows}")
        return 0
    finally:
        for process in (nginx, app):
            if process is not None:
                process.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

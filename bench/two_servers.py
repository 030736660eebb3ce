"""Two app servers behind nginx, sharing one PostgreSQL database and one upload folder.

    .venv/bin/python bench/two_servers.py

On 127.0.0.1: a throwaway PostgreSQL (tests/pg_server.py), two gunicorn servers started
together from gunicorn.conf.py (each with an instance folder of its own, as on two machines,
but the same SECRET_KEY, database and upload folder), and nginx from deploy/nginx.conf balancing
between them round robin. Then it checks, printing PASS or FAIL for each, that what one server
does is seen by the other at once: sign-in through nginx, a post published on one, the session
cookie, login throttling, a scheduled post going live, the page cache and uploads. Exits 1 if
any check fails; everything started is stopped in the end. Needs Debian's nginx and postgresql.
"""

import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]

from bench.bench import GUNICORN_CONF, VENV_BIN, Browser, Server, free_port  # noqa: E402
from bench.nginx_site import Nginx, render_site  # noqa: E402
from tests.pg_server import ThrowawayPostgres, find_bin_dir  # noqa: E402

PASSWORD = "two servers password"
EDITOR = "editor@two-servers.example.org"
SCHEDULE_AHEAD = 5  # seconds
RESULTS: list[tuple[str, bool, str]] = []


def check(name: str, ok: bool, detail: str = "") -> bool:
    RESULTS.append((name, ok, detail))
    print(f"{'PASS' if ok else 'FAIL'}  {name}" + (f"  ({detail})" if detail else ""), flush=True)
    return ok


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_PLAIN = urllib.request.build_opener(_NoRedirect)


def fetch(url: str, cookie: str = "", data: bytes | None = None, headers: dict | None = None):
    """(status, headers, body) of one request, redirects not followed."""
    request = urllib.request.Request(url, data=data, headers=dict(headers or {}))
    if cookie:
        request.add_header("Cookie", cookie)
    try:
        with _PLAIN.open(request, timeout=30) as response:
            return response.status, response.headers, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode("utf-8", "replace")


def signed_in(base: str) -> Browser:
    browser = Browser(base)
    status = browser.login(EDITOR, PASSWORD)
    if status != 200:
        raise RuntimeError(f"sign-in at {base} answered {status}")
    return browser


def editor_post(browser: Browser, title: str, slug: str, action: str, publish_at: str = ""):
    """Save a post through the editor form, as the browser would."""
    browser.request("/admin/posts/new")
    form = {
        "csrf_token": browser.csrf,
        "title": title,
        "slug": slug,
        "body": f"Written on one server, read on the other: *{title}*.",
        "kind": "post",
        "category_id": "",
        "action": action,
        "publish_at": publish_at,
    }
    return browser.request("/admin/posts/new", urllib.parse.urlencode(form).encode())


def failed_login(base: str, email: str) -> int:
    browser = Browser(base)
    browser.request("/login")
    form = {"csrf_token": browser.csrf, "email": email, "password": "not the password"}
    status, _ = browser.request("/login", urllib.parse.urlencode(form).encode())
    return status


def upload(browser: Browser) -> tuple[int, dict]:
    """Send a small PNG to the editor's upload endpoint (multipart, CSRF header)."""
    from PIL import Image

    picture = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 80, 40)).save(picture, "PNG")
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="red.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + picture.getvalue()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    browser.request("/admin/posts/new")
    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "X-CSRFToken": browser.csrf,
        "Accept": "application/json",
    }
    status, answer = browser.request("/admin/media/upload", body, headers)
    return status, json.loads(answer or b"{}") if status == 201 else {}


def served_by(logs: list[Path]) -> list[int]:
    return [len(path.read_text().splitlines()) if path.exists() else 0 for path in logs]


def run(folder: Path, database_url: str) -> None:
    uploads = folder / "uploads"  # shared, and where render_site() points nginx's /media/
    uploads.mkdir()
    secret = secrets.token_hex(32)
    nginx_port = free_port()
    site_url = f"http://127.0.0.1:{nginx_port}"
    servers, access_logs = [], []
    for name in ("a", "b"):
        instance = folder / f"instance-{name}"
        access_logs.append(folder / f"{name}-access.log")
        env = {
            **os.environ,
            "BLOG_INSTANCE_PATH": str(instance),
            "BLOG_DATABASE_URL": database_url,
            "BLOG_SECRET_KEY": secret,
            "BLOG_UPLOAD_FOLDER": str(uploads),
            "BLOG_SITE_URL": site_url,
            "BLOG_PROXY_COUNT": "1",
            "BLOG_ACCESS_LOG": str(access_logs[-1]),
            "BLOG_WORKERS": "2",
            "BLOG_THREADS": "4",
        }
        servers.append(Server(f"app-{name}", ["-c", str(GUNICORN_CONF)], env, folder))
    try:
        for server in servers:  # started together: the migrations take turns (advisory lock)
            server.launch()
        for server in servers:
            server.wait()
        a, b = servers
        print(f"app server A on {a.base}, B on {b.base} ({a.startup_seconds:.1f} s, "
              f"{b.startup_seconds:.1f} s to the first answer)")  # fmt: skip
        subprocess.run(
            [str(VENV_BIN / "flask"), "--app", "blog", "users", "create", "--email", EDITOR,
             "--name", "Two Servers", "--role", "editor", "--password", PASSWORD],
            cwd=REPO, env=a.env, check=True, capture_output=True, timeout=120,
        )  # fmt: skip

        site = render_site(
            port=nginx_port, checkout=REPO, instance=folder, app_ports=[a.port, b.port]
        )
        nginx = Nginx(folder / "nginx", site, nginx_port)
        nginx.check()
        nginx.start()
        print(f"nginx on {site_url}, round robin over A and B\n")
        try:
            checks(a, b, site_url, access_logs)
        finally:
            nginx.stop()
    finally:
        for server in servers:
            server.stop()


def checks(a: Server, b: Server, site_url: str, access_logs: list[Path]) -> None:
    # 1. Sign in through nginx; the requests reach both app servers.
    before = served_by(access_logs)
    through_nginx = Browser(site_url)
    status = through_nginx.login(EDITOR, PASSWORD)
    for _ in range(6):
        through_nginx.request("/admin/posts/")
    after = served_by(access_logs)
    spread = [n - m for n, m in zip(after, before, strict=True)]
    check("sign in through nginx", status == 200, f"final status {status}")
    check("nginx sends requests to both app servers", all(spread), f"A {spread[0]}, B {spread[1]}")

    # 2. A session cookie made by A is good on B.
    on_a = signed_in(a.base)
    cookie = on_a.cookie_header()
    status, headers, _ = fetch(b.base + "/admin/posts/", cookie)
    check(
        "a session cookie from A works on B",
        status == 200,
        f"B answered {status} {headers.get('Location', '')}".strip(),
    )

    # 3. Published on A, visible on B at the very next request; B's cached home page follows.
    #    B has two worker processes, each with its own cache: ask until both answer from it.
    statuses: list[str] = []
    for _ in range(30):
        statuses.append(fetch(b.base + "/")[1].get("X-Cache", ""))
        if statuses[-4:] == ["HIT"] * 4:
            break
    cache_landed = any(statuses)
    b_cached = statuses[-4:] == ["HIT"] * 4
    title = f"Published on A {secrets.token_hex(3)}"
    slug = title.lower().replace(" ", "-")
    editor_post(on_a, title, slug, "publish")
    status, headers, body = fetch(f"{b.base}/{slug}/")
    check("a post published on A is on B at once", status == 200 and title in body, f"{status}")
    after = [fetch(b.base + "/") for _ in range(4)]
    shown = all(title in body for _, _, body in after)
    labels = [headers.get("X-Cache", "-") for _, headers, _ in after]
    if cache_landed:
        check(
            "B's cached home page shows it at once, on every worker (cache invalidated)",
            b_cached and shown,
            f"before: {' '.join(statuses[-4:])}; after: {' '.join(labels)}, "
            f"title {'in every answer' if shown else 'missing'}",
        )
    else:
        check("B's home page shows it at once (no page cache yet)", shown, str(labels))

    # 4. Five failed sign-ins, split across the servers, block the account on both.
    victim = f"victim-{secrets.token_hex(3)}@two-servers.example.org"
    statuses = [failed_login(server.base, victim) for server in (a, b, a, b, a)]
    sixth = {"A": failed_login(a.base, victim), "B": failed_login(b.base, victim)}
    check(
        "5 failed sign-ins split over A and B refuse the 6th on both",
        statuses == [401] * 5 and sixth == {"A": 429, "B": 429},
        f"attempts {statuses}, then A {sixth['A']}, B {sixth['B']}",
    )

    # 5. A post scheduled on A goes live on both when its time comes, with no write.
    for server in (a, b):
        fetch(server.base + "/")  # both have a cached home page
    title = f"Scheduled on A {secrets.token_hex(3)}"
    slug = title.lower().replace(" ", "-")
    due = datetime.now(UTC).replace(tzinfo=None, microsecond=0) + timedelta(seconds=SCHEDULE_AHEAD)
    editor_post(on_a, title, slug, "schedule", due.strftime("%Y-%m-%dT%H:%M:%S"))
    early = [fetch(f"{server.base}/{slug}/")[0] for server in (a, b)]
    seen: dict[str, float] = {}
    deadline = time.monotonic() + SCHEDULE_AHEAD + 20
    while len(seen) < 4 and time.monotonic() < deadline:
        for name, server in (("A", a), ("B", b)):
            if f"{name} article" not in seen and fetch(f"{server.base}/{slug}/")[0] == 200:
                seen[f"{name} article"] = _after(due)
            if f"{name} home" not in seen and title in fetch(server.base + "/")[2]:
                seen[f"{name} home"] = _after(due)
        time.sleep(0.2)
    check(
        f"a post scheduled {SCHEDULE_AHEAD} s ahead appears on A and B (article and home page)",
        early == [404, 404] and len(seen) == 4,
        f"before: {early}; seen "
        + ", ".join(f"{key} {value:+.1f} s" for key, value in sorted(seen.items())),
    )

    # 6. An image uploaded on A is served by B and by nginx from the shared folder.
    status, media = upload(on_a)
    if check("an image uploaded on A", status == 201, f"status {status}"):
        url = media["url"]
        from_b = fetch(b.base + url)[0]
        from_nginx, headers, _ = fetch(site_url + url)
        check(
            "B and nginx serve it from the shared upload folder",
            from_b == 200 and from_nginx == 200,
            f"B {from_b}, nginx {from_nginx} ({headers.get('Content-Type')})",
        )


def _after(due: datetime) -> float:
    return (datetime.now(UTC).replace(tzinfo=None) - due).total_seconds()


def main() -> int:
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        raise SystemExit("nginx not found (apt-get install nginx)")
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise SystemExit("PostgreSQL binaries not found (apt-get install postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="blog-two-servers-"))
    postgres = ThrowawayPostgres(bin_dir)
    try:
        run(folder, postgres.start())
    except Exception as error:  # a crash is a failed check too, with its reason
        check("the demonstration ran to the end", False, f"{type(error).__name__}: {error}")
        logs = sorted(folder.glob("app-*.log"))
        for log in logs:
            print(f"--- {log.name} (last lines)\n" + "\n".join(log.read_text().splitlines()[-15:]))
    finally:
        postgres.stop()
        shutil.rmtree(folder, ignore_errors=True)
    failed = [name for name, ok, _ in RESULTS if not ok]
    print(f"\n{len(RESULTS) - len(failed)} of {len(RESULTS)} checks passed.")
    return 1 if failed or not RESULTS else 0


if __name__ == "__main__":
    sys.exit(main())

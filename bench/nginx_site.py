"""deploy/nginx.conf, made runnable on 127.0.0.1 for try_nginx.py and two_servers.py.

The production file is the template: its host name, paths, listen lines and app servers are
replaced with the test's (each replacement must find its text, so an edit of the production
file that breaks one fails loudly instead of testing something else). nginx runs in the
foreground as a child process, with its pid file, logs and temporary files in a folder of ours.
"""

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SITE_TEMPLATE = REPO / "deploy" / "nginx.conf"
NGINX = "/usr/sbin/nginx"
MIME_TYPES = "/etc/nginx/mime.types"

_UPSTREAM = re.compile(r"(upstream blog_app \{\n)(.*?)(    keepalive)", re.S)


def _replace(text: str, old: str, new: str) -> str:
    if old not in text:
        raise ValueError(f"deploy/nginx.conf no longer contains {old!r}")
    return text.replace(old, new)


def render_site(
    *, port: int, checkout: Path, instance: Path, app_ports: list[int], balance: str = ""
) -> str:
    """The production site with the test's address, folders and app servers."""
    text = SITE_TEMPLATE.read_text()
    text = _replace(
        text, "    listen 80;\n    listen [::]:80;\n", f"    listen 127.0.0.1:{port};\n"
    )
    text = _replace(text, "server_name blog.example.org;", "server_name 127.0.0.1 localhost;")
    text = _replace(text, "alias /srv/blog/static/;", f"alias {checkout / 'static'}/;")
    text = _replace(text, "alias /var/lib/blog/uploads/", f"alias {instance / 'uploads'}/")
    # The test listens on a port of its own: the Host header must keep it for redirects.
    text = _replace(text, "proxy_set_header Host $host;", "proxy_set_header Host $http_host;")
    text = _replace(
        text,
        "proxy_set_header X-Forwarded-Host $host;",
        "proxy_set_header X-Forwarded-Host $http_host;",
    )
    servers = "".join(
        f"    server 127.0.0.1:{app_port} max_fails=2 fail_timeout=5s;\n" for app_port in app_ports
    )
    if not _UPSTREAM.search(text):
        raise ValueError("deploy/nginx.conf no longer has the upstream block")
    return _UPSTREAM.sub(lambda m: m[1] + balance + servers + m[3], text)


def main_config(folder: Path, site: Path) -> str:
    """A whole nginx.conf around the site: foreground, everything under `folder`."""
    temp = {name: folder / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir(exist_ok=True)
    # Started as root, nginx's workers would become `nobody`, who cannot read our temp folders.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""{user}daemon off;
worker_processes 1;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} info;
events {{ worker_connections 256; }}
http {{
    include {MIME_TYPES};
    default_type application/octet-stream;
    sendfile on;
    access_log {folder / "access.log"};
    client_body_temp_path {temp["client_body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    include {site};
}}
"""


class Nginx:
    """nginx in the foreground, serving `site_text`; stop() ends it."""

    def __init__(self, folder: Path, site_text: str, port: int):
        self.folder, self.port = folder, port
        folder.mkdir(parents=True, exist_ok=True)
        self.site = folder / "site.conf"
        self.site.write_text(site_text)
        self.conf = folder / "nginx.conf"
        self.conf.write_text(main_config(folder, self.site))
        self.process: subprocess.Popen | None = None

    def command(self, *extra: str) -> list[str]:
        return [
            NGINX,
            "-p",
            str(self.folder),
            "-c",
            str(self.conf),
            "-e",
            str(self.folder / "error.log"),
            *extra,
        ]

    def check(self) -> str:
        """`nginx -t` on the generated configuration; raises with nginx's words on failure."""
        result = subprocess.run(self.command("-t"), capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            raise RuntimeError(result.stderr)
        return result.stderr.strip()

    def start(self, deadline: float = 15) -> "Nginx":
        with open(self.folder / "stderr.log", "ab") as log:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=log)
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise RuntimeError((self.folder / "error.log").read_text()[-2000:])
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise RuntimeError(f"nginx did not listen on 127.0.0.1:{self.port} within {deadline} s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGQUIT)  # graceful: finish requests, then exit
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

"""Gunicorn settings for bench/baseline_app.py: the blog's own worker settings, without hooks.

The blog's gunicorn.conf.py is read and only its server settings are kept, so the baseline
always runs exactly as the blog does (same worker class, workers, threads, keep-alive, ...).
"""

import runpy
from pathlib import Path

_BLOG = runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py"))
_KEPT = (
    "worker_class",
    "workers",
    "threads",
    "preload_app",
    "max_requests",
    "max_requests_jitter",
    "timeout",
    "graceful_timeout",
    "keepalive",
    "worker_tmp_dir",
    "accesslog",
    "errorlog",
    "loglevel",
    "control_socket_disable",
)
globals().update({name: _BLOG[name] for name in _KEPT if name in _BLOG})
wsgi_app = "bench.baseline_app:app"
proc_name = "blog-baseline"

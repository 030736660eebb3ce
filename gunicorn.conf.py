"""Gunicorn settings for the blog; gunicorn reads this file when started from the checkout.

    cd /srv/blog && .venv/bin/gunicorn

Sizing comes from the environment. The defaults suit a 1 CPU / 512 MB server: 2 worker
processes × 4 threads. On a 4 CPU / 2 GB server use BLOG_WORKERS=4 BLOG_THREADS=4 (one process
per core; threads cover the time spent waiting on the database). Each worker holds a full copy
of the app, about 60 MiB PSS after load with deploy/blog.service's PYTHONOPTIMIZE=2 and
MALLOC_ARENA_MAX=2 (about 68 without), plus the pages it caches (PAGE_CACHE_BYTES, at most
32 MiB): mind the memory.

Why 2 × 4 on 1 CPU / 512 MB (bench/small_box.py runs exactly that box; bench/README.md): the
whole stack (master 13 MiB, two workers about 60 MiB each, the job worker about 63 MiB during
a send) takes about 195 MiB, and at most about 260 MiB with both page caches full, which
leaves the rest to nginx, the operating system and its cache of the database file. A second
process costs about 60 MiB but keeps the site answering while the other one restarts (max_requests,
a reload) and lets the kernel, rather than one process's interpreter lock, share the CPU
between cached answers and a slow page. More processes would not add CPU on one core, and
more threads per process only add waiting on the interpreter lock.

Before any worker starts, and again on every reload (SIGHUP, `systemctl reload blog`), a
short-lived child of the master applies pending database migrations and, while the site has no
account, logs the one-time setup address. It first asks the database, with the driver alone
(blog/preflight.py), whether there is anything to do; on a usual start there is not, and it is
done in a tenth of a second instead of loading the whole app and Alembic. The master itself
never imports the blog, so a reload after `git pull` gives the new workers the new code (see
preload_app below).
"""

import contextlib
import os
import signal
import sys
import traceback

MIGRATION_LOCK = 4_207_261_128  # any number, the same in every app server of one site

wsgi_app = "blog:create_app(cli=False)"  # workers need no commands and no Alembic
bind = [os.environ.get("BLOG_BIND", "127.0.0.1:8000")]  # behind nginx; never a public address

worker_class = "gthread"
workers = int(os.environ.get("BLOG_WORKERS", "2"))
threads = int(os.environ.get("BLOG_THREADS", "4"))

# Preloading (the master imports the app once and forks the workers from it) was measured with
# bench/bench.py at 100 posts, 2 workers x 4 threads, PSS of master and workers after load:
# no preload 137-145 MB, preload 159 MB, preload plus gc.freeze() 125-143 MB (with the templates
# and Markdown warmed in the master too: 139-143 MB). The workers soon copy most of the pages
# they share (reference counts, caches), so the saving is small, and with preload a reload
# (SIGHUP) cannot load new code, as the master holds the old modules. So: no preload.
preload_app = False

# Recycle a worker now and then, staggered so they do not restart together. Not often: a new
# worker imports the app again (about 1 s of CPU on a small server) and starts with an empty
# page cache; the caches are bounded, so this only guards against leaks. A cached page takes
# well under a millisecond, so under a traffic spike a worker can answer a million requests in
# a quarter of an hour.
max_requests = 1_000_000
max_requests_jitter = 100_000

timeout = 30  # a worker silent for this long is killed and replaced
graceful_timeout = 30  # on stop or reload, time given to finish the requests in flight
keepalive = 5  # seconds an idle keep-alive connection stays open; nginx lets go at 4 (deploy/)

# The heartbeat file every worker touches; memory-backed where available.
worker_tmp_dir = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None

# nginx keeps the access log; set BLOG_ACCESS_LOG=- to log requests to stderr as well.
accesslog = os.environ.get("BLOG_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("BLOG_LOG_LEVEL", "info")
proc_name = "blog"
# gunicorn 25.1+ opens a control socket in $HOME or $XDG_RUNTIME_DIR by default; the blog is
# managed through systemd, and two instances on one host would fight over the same path.
control_socket_disable = True


def on_starting(server) -> None:
    """Before the first worker: apply pending migrations, announce the setup address."""
    _prepare_site(server)


def on_reload(server) -> None:
    """On SIGHUP, before the new workers start: the new code may bring new migrations."""
    _prepare_site(server)


def _prepare_site(server) -> None:
    """Run `flask_migrate.upgrade()` once, in a forked child, and stop if it fails.

    A child, not the master, so the master stays free of the blog's modules (and their stale
    copies after an upgrade). SIGCHLD is blocked meanwhile: on reload the master's handler
    would otherwise reap the child before we can read its exit status.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    try:
        pid = os.fork()
        if pid == 0:
            os._exit(_migrate_in_child(server))
        _, status = os.waitpid(pid, 0)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
    if os.waitstatus_to_exitcode(status) != 0:
        server.log.error("Database migrations failed; not starting the blog (see above).")
        raise SystemExit(1)


@contextlib.contextmanager
def _one_at_a_time(engine):
    """On PostgreSQL, app servers starting together migrate one after the other.

    A session-level advisory lock, held on a connection of its own while Alembic works on
    another; the second server then finds nothing left to do. (SQLite serialises by itself.)
    """
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as connection:
        connection.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK})")
        connection.commit()
        try:
            yield
        finally:
            connection.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK})")
            connection.commit()


def _migrate_in_child(server) -> int:
    for number in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGCHLD):
        signal.signal(number, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
    try:
        from blog import preflight

        if preflight.nothing_to_do():  # the usual start: schema current, site claimed
            return 0
        from flask_migrate import upgrade

        from blog import create_app, first_run
        from blog.config import DEFAULT_SITE_URL
        from blog.extensions import db

        app = create_app()
        listening_on_tcp = isinstance(server.cfg.address[0], tuple)
        if app.config["SITE_URL"] == DEFAULT_SITE_URL and listening_on_tcp:
            host, port = server.cfg.address[0][:2]  # not configured: say where we really are
            app.config["SITE_URL"] = f"http://{host}:{port}"
        with app.app_context():
            with _one_at_a_time(db.engine):
                upgrade()
            first_run.announce(app, site_url_checked=listening_on_tcp)
            db.session.remove()
            db.engine.dispose()
        return 0
    except BaseException:  # whatever it was, the master must hear "failed"
        traceback.print_exc()
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()

"""The command-line tools: `flask --app blog COMMAND`, one module per command group.

    serve                  serve.py        try the blog with a small built-in server
    worker                 worker.py       run background jobs (emails, imports)
    users ...              users.py        accounts
    posts rerender, demo   posts.py        stored posts
    search rebuild         search.py       the full-text index
    comments ...           comments.py     a commenter's comments by email: find, export, erase
    newsletter ...         newsletter.py   sends' progress; a subscriber by email: find, delete
    fediverse ...          fediverse.py    federation's state; block or unblock a server
    housekeeping           worker.py       the worker's periodic chores, once
    backup, restore        backup.py       one archive of the database and the uploads
    import ..., export ... portability.py  WordPress, Markdown files, JSON
    db ...                 (Flask-Migrate) migrations, registered by `blog.database`

Every command that opens the database first checks its schema (`schema.py`).
"""

from flask import Flask

from .backup import backup, restore
from .comments import comments
from .fediverse import fediverse
from .newsletter import newsletter
from .portability import export_group, import_group
from .posts import demo, posts
from .search import search
from .serve import serve
from .users import users
from .worker import housekeeping_command, worker

COMMANDS = (
    users, posts, demo, search, backup, restore, import_group, export_group, serve, worker,
    comments, newsletter, housekeeping_command, fediverse,
)  # fmt: skip


def init_app(app: Flask) -> None:
    for command in COMMANDS:
        app.cli.add_command(command)

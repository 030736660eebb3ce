"""Every `flask --app blog` command on a fresh checkout: its --help, and one harmless run.

Each command runs on an instance folder of its own that holds no database, as after `git clone`.
The commands are found by walking the CLI's groups (the blog's, Flask-Migrate's `db`, Flask's
own), so a new command is covered without a change here: its --help must work without creating
the database, and a run must end without a traceback. The blog's own commands must also say what
to run (or set the database up themselves); one that needs arguments to get that far gets them in
`ARGUMENTS`.

The runs are real `python -m flask --app blog ...` processes, several at a time. The --help
checks go through the same `flask` command group in this process (`--app blog`, a new app each
time): a process costs 1.5 s of CPU, and there are twice as many of them with --help.
"""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click
import psycopg
from click.testing import CliRunner
from flask.cli import ScriptInfo
from flask.cli import cli as flask_cli

from blog import create_app, preflight
from blog.cli import COMMANDS

NOT_SET_UP = "The database is not set up yet: run `flask --app blog db upgrade`"
ANN = ["ann@example.com"]
PASSWORD = ["--password", "a long enough password"]

# Arguments that get a command past click's checks to the point where it opens the database; a
# command that writes into the checkout (new migration files) or starts a server gets arguments
# that click refuses instead.
ARGUMENTS = {
    ("serve",): ["--port", "not-a-port"],
    ("run",): ["--port", "not-a-port"],
    ("users", "create"): ["--email", *ANN, "--name", "Ann", *PASSWORD],
    ("users", "set-role"): [*ANN, "editor"],
    ("users", "deactivate"): ANN,
    ("users", "activate"): ANN,
    ("users", "reset-password"): [*ANN, *PASSWORD],
    ("users", "reset-link"): ANN,
    ("users", "invite"): [*ANN, "--role", "editor"],
    ("demo",): ["--email", *ANN],
    ("import", "wordpress"): ["{work}/export.xml"],
    ("import", "ghost"): ["{work}/export.xml"],
    ("import", "markdown"): ["{work}"],
    ("export", "markdown"): ["{work}/site.zip"],
    ("export", "json"): ["{work}/everything.json"],
    ("export", "wordpress"): ["{work}/wordpress.xml"],
    ("restore",): ["{work}/export.xml"],
    ("comments", "find"): ANN,
    ("comments", "export"): [*ANN, "--output", "{work}/comments.json"],
    ("comments", "erase"): ANN,
    ("newsletter", "find"): ANN,
    ("newsletter", "delete"): ANN,
    ("fediverse", "block"): ["spam.example", "--yes"],
    ("fediverse", "unblock"): ["spam.example"],
    **{("db", name): ["--directory"] for name in ("init", "revision", "migrate", "merge", "edit")},
}
# The blog's commands that do not stop at the schema check, and what they show instead.
OUTCOMES = {
    ("serve",): (2, "'not-a-port' is not a valid integer"),
    ("users", "create"): (0, "Created author ann@example.com"),
    ("restore",): (1, "The archive is damaged"),  # after setting the database up
}


def cli_commands(tmp_path: Path) -> dict[tuple[str, ...], bool]:
    """The path of every command and subcommand `flask --app blog` offers: is it a group?"""
    app = create_app({"INSTANCE_PATH": str(tmp_path / "listing"), "SECRET_KEY": "listing"})
    found = {}

    def walk(context: click.Context, group: click.Group, path: tuple[str, ...]) -> None:
        for name in group.list_commands(context):
            command = group.get_command(context, name)
            found[(*path, name)] = isinstance(command, click.Group)
            if found[(*path, name)]:
                walk(click.Context(command, parent=context, info_name=name), command, (*path, name))

    with click.Context(flask_cli, obj=ScriptInfo(create_app=lambda: app)) as context:
        walk(context, flask_cli, ())
    return found


def run_flask(args: list[str], instance: Path, **environment) -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items() if not name.startswith("BLOG_")}
    env.update(BLOG_INSTANCE_PATH=str(instance), **environment)
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "blog", *args],
        cwd=instance.parent,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def fresh_instance(tmp_path: Path, name: str) -> Path:
    """An empty work folder (for files the arguments name) beside a not yet created instance."""
    work = tmp_path / name
    work.mkdir(parents=True)
    (work / "export.xml").write_text("not an export\n")
    return work / "instance"


def test_every_command_has_help_that_leaves_the_database_alone(tmp_path, monkeypatch):
    for name in [name for name in os.environ if name.startswith("BLOG_")]:
        monkeypatch.delenv(name)
    problems = []
    for number, path in enumerate(cli_commands(tmp_path)):
        instance = tmp_path / f"help-{number}" / "instance"
        monkeypatch.setenv("BLOG_INSTANCE_PATH", str(instance))
        shown = CliRunner().invoke(flask_cli, ["--app", "blog", *path, "--help"])
        if shown.exit_code != 0 or "Usage:" not in shown.output:
            problems.append(f"flask {' '.join(path)} --help: {shown.output}{shown.exception!r}")
        if (instance / "blog.sqlite3").exists():
            problems.append(f"flask {' '.join(path)} --help created the database")
    assert not problems, "\n\n".join(problems)


def test_every_command_runs_on_a_fresh_checkout_without_a_traceback(tmp_path):
    commands = [path for path, is_group in cli_commands(tmp_path).items() if not is_group]
    assert {("users", "create"), ("db", "upgrade"), ("serve",), ("import", "wordpress")} <= set(
        commands
    )
    ours = {command.name for command in COMMANDS}

    def check(number_and_path):
        number, path = number_and_path
        problems = []
        instance = fresh_instance(tmp_path, f"run-{number}")
        work = str(instance.parent)
        arguments = [value.format(work=work) for value in ARGUMENTS.get(path, [])]
        done = run_flask([*path, *arguments], instance)
        output = done.stdout + done.stderr
        if "Traceback" in output:
            problems.append(f"a traceback:\n{output}")
        elif done.returncode != 0 and "Error" not in output:
            problems.append(f"ended {done.returncode} without saying why:\n{output}")
        elif path[0] in ours:
            status, message = OUTCOMES.get(path, (1, NOT_SET_UP))
            if done.returncode != status or message not in output:
                problems.append(f"ended {done.returncode}, expected {status} and {message!r}:\n"
                                f"{output}")  # fmt: skip
        return [f"flask {' '.join(path)} {' '.join(arguments)}: {problem}" for problem in problems]

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        problems = [line for lines in pool.map(check, enumerate(commands)) for line in lines]
    assert not problems, "\n\n".join(problems)


def test_a_database_at_an_older_migration_is_not_upgraded_behind_the_operators_back(tmp_path):
    instance = fresh_instance(tmp_path, "old")
    assert run_flask(["db", "upgrade", "0001"], instance).returncode == 0

    for args in (["users", "list"], ["users", "create", "--email", *ANN, "--name", "A", *PASSWORD]):
        done = run_flask(args, instance)
        assert done.returncode == 1
        assert done.stderr.strip().splitlines() == [
            f"Error: The database is at migration 0001, this version of the blog needs "
            f"{preflight.head_revision()}: run `flask --app blog db upgrade` first."
        ]
    url = f"sqlite:///{instance / 'blog.sqlite3'}"
    assert preflight.schema_state(url) == (preflight.Schema.BEHIND, "0001")


def test_a_new_postgresql_database_is_set_up_by_users_create(postgres_url, tmp_path):
    server, _, _ = postgres_url.rpartition("/")
    url = f"{server}/blog_fresh_cli"
    admin = f"{server.replace('+psycopg', '')}/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute("DROP DATABASE IF EXISTS blog_fresh_cli")
        connection.execute("CREATE DATABASE blog_fresh_cli")
    try:
        instance = fresh_instance(tmp_path, "pg")
        listed = run_flask(["users", "list"], instance, BLOG_DATABASE_URL=url)
        assert listed.returncode == 1 and NOT_SET_UP in listed.stderr, listed.stderr
        assert "Traceback" not in listed.stderr

        args = ["users", "create", "--email", *ANN, "--name", "Ann", *PASSWORD]
        created = run_flask(args, instance, BLOG_DATABASE_URL=url)
        assert created.returncode == 0, created.stderr
        listed = run_flask(["users", "list"], instance, BLOG_DATABASE_URL=url)
        assert listed.returncode == 0 and "ann@example.com" in listed.stdout
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute("DROP DATABASE IF EXISTS blog_fresh_cli WITH (FORCE)")

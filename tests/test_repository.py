"""Promises the repository makes to a newcomer and to CI."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    return re.findall(r"```sh\n(.+?)\n```", (ROOT / "README.md").read_text())


def test_readme_starts_with_the_run_and_test_commands():
    run, test = readme_commands()[:2]
    assert run.endswith("flask --app blog serve")
    assert test.endswith("python -m pytest")


def test_ci_runs_the_readme_test_command_word_for_word():
    test_command = readme_commands()[1]
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_instance_contents_are_not_tracked():
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "/instance/*" in ignored

"""(being written) `flask --app blog import ...` and `export ...`."""

import click

commands: list[click.Command] = []

"""(being written) `flask --app blog backup` and `restore`."""

import click

commands: list[click.Command] = []

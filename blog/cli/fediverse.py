"""`flask --app blog fediverse status|block|unblock`: federation from a shell."""

import click
from flask.cli import AppGroup

from ..extensions import db
from ..federation import administration as fedi
from .schema import needs_current_schema

fediverse = AppGroup("fediverse", help="The fediverse: whether the blog federates, servers.")


@fediverse.command("status")
@needs_current_schema
def status() -> None:
    """Whether the blog federates and why, its handle, followers and deliveries."""
    _, why = fedi.state()
    totals = fedi.overview()
    click.echo(why)
    click.echo(f"Handle: {fedi.handle()}")
    click.echo(f"Followers: {totals['followers']}")
    click.echo(f"Deliveries: {totals['pending']} waiting, {totals['failed']} failed")
    for server in totals["set_aside"]:
        click.echo(
            f"Set aside until {server.set_aside_until:%Y-%m-%d %H:%M} UTC: {server.host} "
            f"({server.failures} failures in a row: {server.last_error or 'no error kept'})"
        )
    if not totals["set_aside"]:
        click.echo("No server is set aside.")
    if totals["blocked"]:
        click.echo("Blocked: " + ", ".join(totals["blocked"]))


def _host(text: str) -> str:
    host = fedi.normalise_host(text)
    if host is None:
        raise click.BadParameter(f"{text!r} is not a server's address (such as mastodon.example).")
    return host


@fediverse.command("block")
@click.argument("host")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@needs_current_schema
def block(host: str, yes: bool) -> None:
    """Block HOST and its subdomains: its followers, likes, boosts and waiting replies go."""
    host = _host(host)
    if host == fedi.site_host():
        raise click.ClickException("That is the blog's own address: it cannot block itself.")
    if not yes:
        click.confirm(
            f"Block {host} and delete its followers, likes, boosts and waiting replies?",
            abort=True,
        )
    removed = fedi.block_server(host)
    db.session.commit()
    click.echo(
        f"Blocked {host}: removed {removed['followers']} followers, {removed['reactions']} likes "
        f"and boosts, {removed['comments']} waiting replies; gave up {removed['deliveries']} "
        "deliveries."
    )


@fediverse.command("unblock")
@click.argument("host")
@needs_current_schema
def unblock(host: str) -> None:
    """Lift the block on HOST (what was removed does not come back)."""
    host = _host(host)
    if not fedi.unblock_server(host):
        click.echo(f"{host} was not blocked.")
        return
    db.session.commit()
    click.echo(f"Unblocked {host}.")

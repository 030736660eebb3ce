"""`flask --app blog comments find|export|erase EMAIL`: a data-subject request from a shell."""

import json
import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from .. import comment_privacy
from ..extensions import db
from .schema import needs_current_schema

comments = AppGroup("comments", help="A commenter's comments, found by email: list, export, erase.")


@comments.command("find")
@click.argument("email")
@needs_current_schema
def find(email: str) -> None:
    """List every comment written with EMAIL (any status)."""
    found = comment_privacy.find(email)
    if not found:
        click.echo(f"No comments by {comment_privacy.normalise(email)}.")
        return
    for comment in found:
        text = " ".join(comment.body_md.split())[:60]
        click.echo(
            f"{comment.id:>7}  {comment.created_at:%Y-%m-%d %H:%M}  {comment.status.value:<8}  "
            f"{comment.post.title}: {text}"
        )
    click.echo(f"{len(found)} comment{'s' if len(found) != 1 else ''}.")


@comments.command("export")
@click.argument("email")
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
    help="Write the JSON to this file (default: standard output).",
)  # fmt: skip
@needs_current_schema
def export(email: str, output: Path | None) -> None:
    """Write everything stored about EMAIL's comments as JSON."""
    document = comment_privacy.export(email)
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    click.echo(f"Wrote {len(document['comments'])} comments to {output}.")


@comments.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@needs_current_schema
def erase(email: str, yes: bool) -> None:
    """Delete every comment written with EMAIL; other people's replies are kept."""
    count = len(comment_privacy.find(email))
    who = comment_privacy.normalise(email)
    if not count:
        click.echo(f"No comments by {who}.")
        return
    if not yes:
        click.confirm(
            f"Erase {count} comment{'s' if count != 1 else ''} by {who} for good?", abort=True
        )
    erasure = comment_privacy.erase(email)
    db.session.commit()
    click.echo(
        f"Erased {erasure.comments} comments by {who} on {erasure.posts} posts; "
        f"replies by others kept in {erasure.threads_kept} threads."
    )

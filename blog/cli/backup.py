"""`flask --app blog backup [PATH]` and `flask --app blog restore PATH [--force]`."""

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from .schema import creates_missing_schema, needs_current_schema


def _progress(label: str, length: int):
    return click.progressbar(length=max(length, 1), label=label, show_pos=False, width=30)


@click.command("backup")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@with_appcontext
@needs_current_schema
def backup(path: Path | None) -> None:
    """Write one archive of the database and the uploaded files (safe while the site runs).

    PATH is a new .tar.gz file or a folder; the default is
    instance/backups/blog-YYYYmmdd-HHMMSS.tar.gz (UTC). The archive holds password hashes:
    keep it as private as the instance folder.
    """
    # heavy (Alembic's script loader, tarfile); only needed here
    from ..backup import BackupError, create_backup, describe

    try:
        result = create_backup(path, progress=_progress)
    except BackupError as error:
        current_app.logger.error("Backup failed: %s", error)
        raise click.ClickException(str(error)) from None
    size = result.path.stat().st_size
    click.echo(f"Backed up {describe(result.manifest)} to {result.path} ({size:,} bytes).")
    if result.manifest["missing_files"]:
        click.echo(
            f"Warning: {len(result.manifest['missing_files'])} files of media rows were deleted "
            "while the backup ran and are not in it: "
            + ", ".join(result.manifest["missing_files"][:5]),
            err=True,
        )
    if result.skipped:
        click.echo(
            f"Skipped {len(result.skipped)} files in the upload folder that are not uploads: "
            + ", ".join(result.skipped[:5]),
            err=True,
        )


@click.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace everything in a blog that has users or posts.")
@with_appcontext
@creates_missing_schema
def restore(path: Path, force: bool) -> None:
    """Restore a backup archive into this (empty) blog.

    The whole archive is checked against its manifest before anything changes; the rows go in
    one transaction, then the search index is rebuilt. A blog with users or posts is refused
    unless --force, which replaces all its content and uploads with the backup's. (An empty
    blog's settings and categories, if it has any, are replaced by the backup's.)
    """
    # heavy (Alembic's script loader, tarfile); only needed here
    from ..backup import BackupError, describe, restore_backup

    try:
        result = restore_backup(path, force=force, progress=_progress, echo=click.echo)
    except BackupError as error:
        current_app.logger.error("Restore of %s refused: %s", path, error)
        raise click.ClickException(str(error)) from None
    click.echo(f"Restored {describe(result.manifest)} from {path}.")
    if result.removed_files:
        click.echo(f"Removed {result.removed_files} uploads of the replaced site.")

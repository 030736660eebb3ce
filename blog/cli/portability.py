"""`flask --app blog import ...` and `flask --app blog export ...`."""

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from ..portability.json_export import export_json
from ..portability.report import ImportFailed, Summary
from .schema import needs_current_schema

import_group = AppGroup(
    "import", help="Bring content in: a WordPress export, a Ghost export, Markdown files."
)
export_group = AppGroup(
    "export", help="Take content out: Markdown files, a JSON document, a WordPress export."
)


def _show(summary: Summary, what: str) -> None:
    for line in summary.lines():
        click.echo(line)
    current_app.logger.info("%s import: %s", what, summary.headline())


@import_group.command("wordpress")
@click.argument("export_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--uploads",
    type=click.Path(exists=True, path_type=Path),
    help="The old site's wp-content/uploads folder, or a zip of it.",
)
@click.option(
    "--author-map",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file of login=email lines: put that WordPress author's posts on that account.",
)
@click.option("--dry-run", is_flag=True, help="Do everything, then roll it all back.")
@click.option(
    "--site-settings",
    is_flag=True,
    help="Take the export's site title and tagline even where this site has its own.",
)
@needs_current_schema
def import_wordpress(
    export_file: Path,
    uploads: Path | None,
    author_map: Path | None,
    dry_run: bool,
    site_settings: bool,
) -> None:
    """Import posts, pages, images, categories, tags and authors from a WordPress export.

    EXPORT_FILE is the XML file from WordPress's Tools → Export. Running it again updates
    what changed and adds nothing twice. The site title and tagline are taken from the export
    only while this site still has the default ones, unless --site-settings is given.
    """
    # heavy (BeautifulSoup, markdownify, defusedxml, Pillow); only needed here
    from ..portability.wordpress import (
        ImportOptions,
        parse_author_map,
        planned_steps,
        run_wordpress_import,
    )
    from ..portability.wxr import WxrError, parse_wxr

    try:
        mapping = parse_author_map(author_map.read_text("utf-8")) if author_map else {}
        with export_file.open("rb") as handle:
            export = parse_wxr(handle)
    except (WxrError, ImportFailed, UnicodeDecodeError) as error:
        current_app.logger.warning("WordPress import refused %s: %s", export_file, error)
        raise click.ClickException(str(error)) from None
    options = ImportOptions(
        uploads=uploads, author_map=mapping, dry_run=dry_run, site_settings=site_settings
    )
    label = "Dry run" if dry_run else "Importing"
    with click.progressbar(length=planned_steps(export), label=label) as bar:
        try:
            summary = run_wordpress_import(export, options, lambda *_: bar.update(1))
        except ImportFailed as error:
            raise click.ClickException(str(error)) from None
    _show(summary, "WordPress")


@import_group.command("ghost")
@click.argument("export_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--images",
    type=click.Path(exists=True, path_type=Path),
    help="The Ghost site's content/images folder (or content/, or the site), or a zip of it.",
)
@click.option(
    "--members",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The members CSV from Ghost's Members → Export: subscribers become newsletter ones.",
)
@click.option("--dry-run", is_flag=True, help="Do everything, then roll it all back.")
@needs_current_schema
def import_ghost(
    export_file: Path, images: Path | None, members: Path | None, dry_run: bool
) -> None:
    """Import posts, pages, tags, authors, images and settings from a Ghost export.

    EXPORT_FILE is the JSON file from Ghost's Settings → Advanced → Import/Export. Running it
    again updates what changed and adds nothing twice.
    """
    # heavy (BeautifulSoup, markdownify, Pillow); only needed here
    from ..portability.ghost import GhostOptions, parse_ghost, planned_steps, run_ghost_import

    try:
        export = parse_ghost(export_file.read_bytes())
    except ImportFailed as error:
        current_app.logger.warning("Ghost import refused %s: %s", export_file, error)
        raise click.ClickException(str(error)) from None
    options = GhostOptions(images=images, members=members, dry_run=dry_run)
    label = "Dry run" if dry_run else "Importing"
    with click.progressbar(length=planned_steps(export), label=label) as bar:
        try:
            summary = run_ghost_import(export, options, lambda *_: bar.update(1))
        except ImportFailed as error:
            raise click.ClickException(str(error)) from None
    _show(summary, "Ghost")


@import_group.command("markdown")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Do everything, then roll it all back.")
@needs_current_schema
def import_markdown_command(source: Path, dry_run: bool) -> None:
    """Import posts from Markdown files: a zip or folder made by `export markdown`, or a
    Jekyll, Hugo or Eleventy site, or a folder of notes."""
    # heavy (yaml, Pillow); only needed here
    from ..portability.markdown_files import import_markdown

    try:
        summary = import_markdown(source, dry_run=dry_run)
    except ImportFailed as error:
        raise click.ClickException(str(error)) from None
    _show(summary, "Markdown")


@export_group.command("markdown")
@click.argument("out", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@needs_current_schema
def export_markdown_command(out: Path) -> None:
    """Write every post and page as a Markdown file, with its images, into a zip (OUT.zip)."""
    # heavy (yaml, Pillow); only needed here
    from ..portability.markdown_export import export_markdown

    report = export_markdown(out)
    click.echo(
        f"Wrote {out}: {report.posts} posts, {report.drafts} drafts, {report.pages} pages, "
        f"{report.images} images, {report.comments} comments."
    )
    for name in report.missing_images:
        click.echo(f"Warning: the image file {name} is missing from the upload folder.")


@export_group.command("json")
@click.argument("out", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@needs_current_schema
def export_json_command(out: Path) -> None:
    """Write everything (no passwords or secrets) as one JSON document (see FORMAT.md)."""
    counts = export_json(out)
    described = ", ".join(f"{count} {name.replace('_', ' ')}" for name, count in counts.items())
    click.echo(f"Wrote {out}: {described}.")


@export_group.command("wordpress")
@click.argument("out", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option(
    "--uploads",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Where to write the images as a zip (default: OUT's name ending in -uploads.zip).",
)
@needs_current_schema
def export_wordpress_command(out: Path, uploads: Path | None) -> None:
    """Write a WordPress export (WXR, OUT.xml) and the images as a zip, for WordPress's importer.

    In WordPress: Tools → Import → WordPress, choose OUT. See FORMAT.md for what goes where.
    """
    from ..portability.wxr_export import export_wordpress, uploads_zip_path

    uploads = uploads or uploads_zip_path(out)
    if uploads.resolve() == out.resolve():
        raise click.ClickException("The export file and the uploads zip must be two files.")
    for path in (out, uploads):
        if not path.parent.is_dir():
            raise click.ClickException(f"The folder {path.parent} does not exist.")
    try:
        report = export_wordpress(out, uploads)
    except OSError as error:
        raise click.ClickException(f"The export could not be written: {error}") from None
    click.echo(f"Wrote {out}: {report.headline()}.")
    click.echo(f"Wrote {uploads}: {report.files} image files (originals and smaller sizes).")
    for name in report.missing_files:
        click.echo(f"Warning: the image file {name} is missing from the upload folder.")
    current_app.logger.info("WordPress export to %s: %s", out, report.headline())

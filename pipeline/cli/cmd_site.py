"""`powerx site`: the console's read views as a static site (GitHub Pages)."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli.options import format_option, output_option, repo_option
from pipeline.cli.vocabulary import emit


@click.group("site")
def site() -> None:
    """The console's read views as a static site."""


@site.command("build")
@output_option(
    "The folder the site is written to (replaced once the new site is complete).",
    required=True,
    dir_okay=True,
)
@repo_option()
@format_option()
def build(output: Path, repo_dir: Path, output_format: str) -> int:
    """Render the console's read views to static pages in a folder (GitHub Pages).

    Every link is relative, so the folder works from file:// and from GitHub Pages under
    a sub-path. The folder must be new, empty, or a previous site build.
    """
    from pipeline.web.sitebuild import build_site

    report = build_site(repo_dir, output, say=lambda line: click.echo(line, err=True))
    data = {
        "output": str(report.output),
        "head": report.head,
        "pages": report.pages,
        "files": report.files,
        "seconds": round(report.seconds, 3),
    }
    text = (
        f"wrote {report.pages} pages ({report.files} files) of {report.head[:12]} "
        f"to {report.output} in {report.seconds:.1f} s\n"
    )
    emit(output_format, data, text)
    return 0

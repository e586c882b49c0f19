"""`powerx init` and `powerx schema`: a new release repo, and the JSON Schemas of its files."""

from __future__ import annotations

import json
from pathlib import Path

import click

from pipeline.cli.options import format_option, output_option
from pipeline.cli.vocabulary import Command, emit
from pipeline.fsutil import atomic_write
from pipeline.models.schemas import all_schemas
from pipeline.scaffold import CHECK_WORKFLOW, RunnerPin, init_repo


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--runner-source", metavar="URL", help="Git URL the CI workflow installs from.")
@click.option("--runner-ref", metavar="SHA", help="The 40-hex commit of it to install (a pin).")
@format_option()
def init(
    directory: Path, runner_source: str | None, runner_ref: str | None, output_format: str
) -> int:
    """Scaffold a release repo in DIRECTORY: policies, environments and CI, as one commit."""
    result = init_repo(directory, runner=RunnerPin.parse(runner_source, runner_ref))
    verb = "created" if result.created_repo else "extended"
    lines = [
        f"{verb} release repo {result.path} "
        f"({len(result.files)} files, commit {result.commit[:12]})",
        *(f"  {path}" for path in result.files),
    ]
    data = {
        "path": str(result.path),
        "created": result.created_repo,
        "commit": result.commit,
        "files": [str(path) for path in result.files],
    }
    emit(output_format, data, "".join(f"{line}\n" for line in lines))
    if result.runner.ref is None:
        click.echo(
            f"warning: {CHECK_WORKFLOW} fails until its RUNNER_REF pins a commit: set it to the "
            f"40-hex commit of {result.runner.source} to install (next time: --runner-ref SHA)",
            err=True,
        )
    return 0


@click.command(cls=Command, renamed={"--out": "--output"})
@output_option("Folder to write the *.schema.json files into.", required=True, dir_okay=True)
@format_option()
def schema(output: Path, output_format: str) -> int:
    """Write the JSON Schema of every file kind, for editors and other tools."""
    written = []
    for name, document in all_schemas().items():
        atomic_write(output / name, (json.dumps(document, indent=2) + "\n").encode())
        written.append(str(output / name))
    emit(output_format, {"files": written}, "".join(f"{path}\n" for path in written))
    return 0

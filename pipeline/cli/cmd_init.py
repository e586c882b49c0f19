"""`powerx init` and `powerx schema`: a new release repo, and the JSON Schemas of its files."""

from __future__ import annotations

import json
from pathlib import Path

import click

from pipeline.fsutil import atomic_write
from pipeline.models.schemas import all_schemas
from pipeline.scaffold import init_repo


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
def init(directory: Path) -> int:
    """Scaffold a release repo in DIRECTORY: policies, environments and CI, as one commit."""
    result = init_repo(directory)
    verb = "created" if result.created_repo else "extended"
    click.echo(
        f"{verb} release repo {result.path} "
        f"({len(result.files)} files, commit {result.commit[:12]})"
    )
    for path in result.files:
        click.echo(f"  {path}")
    return 0


@click.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write the *.schema.json files into.",
)
def schema(out_dir: Path) -> int:
    """Write the JSON Schema of every file kind, for editors and other tools."""
    for name, document in all_schemas().items():
        atomic_write(out_dir / name, (json.dumps(document, indent=2) + "\n").encode())
        click.echo(str(out_dir / name))
    return 0

"""`px-plugin build` and `px-plugin pack`: a plugin's build output and its reproducible .pxp."""

from __future__ import annotations

import os
from pathlib import Path

import click

from pipeline.errors import InputError
from pipeline.packaging import build_plugin, pack_plugin

PluginDir = click.Path(exists=True, file_okay=False, path_type=Path)


@click.command()
@click.argument("directory", type=PluginDir, default=".")
@click.option(
    "--timeout", type=float, default=900, show_default=True, help="Seconds the build may take."
)
def build(directory: Path, timeout: float) -> int:
    """Run the plugin's declared build and collect its output in DIRECTORY/dist/.

    A failing build stops with its own output (exit 1) and leaves the previous dist/.
    """
    result = build_plugin(directory, timeout=timeout)
    click.echo(
        f"built {result.manifest.ref}: {result.files} file(s) in {result.dist} "
        f"({result.seconds:.1f} s)"
    )
    return 0


@click.command()
@click.argument("directory", type=PluginDir, default=".")
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write <name>-<version>.pxp into [default: DIRECTORY].",
)
def pack(directory: Path, out_dir: Path | None) -> int:
    """Write a reproducible <name>-<version>.pxp of plugin.yaml, dist/, notes, checksums, SBOM.

    Every time stamp is $SOURCE_DATE_EPOCH (default 0).
    """
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "0")
    if not epoch.isdigit():
        raise InputError(f"SOURCE_DATE_EPOCH must be a number of seconds, not {epoch!r}")
    result = pack_plugin(directory, out_dir, source_date_epoch=int(epoch))
    click.echo(f"packed {result.path} ({result.size:,} bytes, {len(result.files)} files)")
    click.echo(f"sha256:{result.sha256}")
    return 0

"""`px-plugin build` and `px-plugin pack`: a plugin's build output and its reproducible .pxp."""

from __future__ import annotations

import os
from pathlib import Path

import click

from pipeline.cli.options import format_option, output_option
from pipeline.cli.vocabulary import Command, Duration, emit
from pipeline.errors import InputError
from pipeline.packaging import build_plugin, pack_plugin

PluginDir = click.Path(exists=True, file_okay=False, path_type=Path)


@click.command()
@click.argument("directory", type=PluginDir, default=".")
@click.option(
    "--timeout",
    type=Duration(),
    default="900",
    show_default=True,
    help="How long the build may take: a duration, e.g. 900, 15m.",
)
@format_option()
def build(directory: Path, timeout: float, output_format: str) -> int:
    """Run the plugin's declared build and collect its output in DIRECTORY/dist/.

    A failing build stops with its own output (exit 1) and leaves the previous dist/.
    """
    result = build_plugin(directory, timeout=timeout)
    data = {
        "release": result.manifest.ref,
        "files": result.files,
        "dist": str(result.dist),
        "seconds": round(result.seconds, 3),
    }
    text = (
        f"built {result.manifest.ref}: {result.files} file(s) in {result.dist} "
        f"({result.seconds:.1f} s)\n"
    )
    emit(output_format, data, text)
    return 0


@click.command(cls=Command, renamed={"--out": "--output"})
@click.argument("directory", type=PluginDir, default=".")
@output_option("Folder to write <name>-<version>.pxp into [default: DIRECTORY].", dir_okay=True)
@format_option()
def pack(directory: Path, output: Path | None, output_format: str) -> int:
    """Write a reproducible <name>-<version>.pxp of plugin.yaml, dist/, notes, checksums, SBOM.

    Every time stamp is $SOURCE_DATE_EPOCH (default 0).
    """
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "0")
    if not epoch.isdigit():
        raise InputError(f"SOURCE_DATE_EPOCH must be a number of seconds, not {epoch!r}")
    result = pack_plugin(directory, output, source_date_epoch=int(epoch))
    data = {
        "path": str(result.path),
        "size": result.size,
        "files": len(result.files),
        "sha256": f"sha256:{result.sha256}",
    }
    text = (
        f"packed {result.path} ({result.size:,} bytes, {len(result.files)} files)\n"
        f"sha256:{result.sha256}\n"
    )
    emit(output_format, data, text)
    return 0

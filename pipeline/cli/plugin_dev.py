"""`px-plugin dev` and `px-plugin permissions template`: the developer's local loop."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from pipeline.cli.options import format_option, listen_options, local_store_option, output_option
from pipeline.cli.vocabulary import Command, emit

__all__ = ["dev", "permissions"]

RENAMED = {"--store": "--plugin-store"}


@click.command("dev", cls=Command, renamed=RENAMED)
@click.argument("directory", default=".", type=click.Path(path_type=Path))
@local_store_option()
@click.option("--tenant", default="dev", show_default=True, help="The local tenant to serve.")
@listen_options("The port of the local host (0: any free port).")
@click.option(
    "--grant-declared/--no-grant-declared",
    default=True,
    show_default=True,
    help="Grant the local tenant what plugin.yaml declares.",
)
def dev(
    directory: Path, store_dir: Path, tenant: str, port: int, listen: str, grant_declared: bool
) -> int:
    """Serve the plugin in DIRECTORY on a local host; rebuild and swap it on every change."""
    from pipeline.agent.store import PluginStore
    from pipeline.host.dev import DevLoop, DevRequest
    from pipeline.host.server import stop_event

    request = DevRequest(
        directory,
        PluginStore(store_dir),
        tenant,
        listen=listen,
        port=port,
        grant_declared=grant_declared,
    )
    loop = DevLoop(request, lambda line: click.echo(line))

    async def run() -> None:
        await loop.run(stop_event())

    asyncio.run(run())
    return 0


@click.group("permissions")
def permissions() -> None:
    """What a plugin's permissions should be, from what its calls used."""


@permissions.command("template", cls=Command, renamed=RENAMED)
@click.argument("directory", default=".", type=click.Path(path_type=Path))
@local_store_option()
@output_option("Write the template to this file [default: standard output].")
@format_option()
def template(directory: Path, store_dir: Path, output: Path | None, output_format: str) -> int:
    """The minimum-privilege permissions of the plugin in DIRECTORY, from its observed calls.

    Exit 1 when plugin.yaml declares something unused or misses something used.
    """
    from pipeline.fsutil import atomic_write
    from pipeline.host.install import locate
    from pipeline.host.permissions import UsageRecorder, permission_template
    from pipeline.packaging.manifest import read_manifest

    manifest = read_manifest(locate(directory)[0]).manifest
    usage = UsageRecorder(store_dir).load(manifest.name)
    result = permission_template(usage, list(manifest.permissions))
    if output is not None:
        atomic_write(output, result.to_yaml().encode())
    emit(
        output_format, result.to_json(), result.to_yaml() if output is None else f"wrote {output}\n"
    )
    for permission in result.unused:
        click.echo(f"over-privileged: {permission} is declared but no call used it", err=True)
    for permission in result.undeclared:
        click.echo(f"undeclared: {permission} is used but not declared (refused)", err=True)
    return 0 if result.ok else 1

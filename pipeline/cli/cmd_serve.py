"""`powerx serve`: the web console of a release repo."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli.options import listen_options, local_store_option, repo_option
from pipeline.cli.vocabulary import Command

RENAMED = {"--host": "--listen"}
"""The issue's spelling `--host` is understood (the vocabulary's is --listen)."""


@click.command("serve", cls=Command, renamed=RENAMED)
@repo_option()
@local_store_option()
@listen_options(
    default_port=7400,
    listen_help="The address to listen on: loopback only, until the console has logins.",
)
def serve(repo_dir: Path, store_dir: Path, port: int, listen: str) -> int:
    """Serve the web console of a release repo: its views as pages and as JSON (read-only)."""
    from pipeline.web.serve import serve as run

    run(repo_dir, listen, port, lambda line: click.echo(line), store_dir)
    return 0

"""`px-plugin`: the plugin developer's tools: build, pack, sign and verify plugin packages."""

from __future__ import annotations

import click

from pipeline import __version__
from pipeline.cli.errors import exit_with


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="px-plugin")
def cli() -> None:
    """PowerX the plugin developer's tools: build, pack, sign and verify plugin packages.

    Its commands arrive with the issues that build them; see docs/cli.md.
    """


def main() -> None:
    """Entry point of the `px-plugin` console script."""
    exit_with(cli)

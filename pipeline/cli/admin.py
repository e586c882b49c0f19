"""`px-admin`: tenant administration: tenants, groups and what each one runs."""

from __future__ import annotations

import click

from pipeline import __version__
from pipeline.cli import admin_inspect
from pipeline.cli.errors import exit_with


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="px-admin")
def cli() -> None:
    """PowerX tenant administration: tenants, groups and what each one runs.

    Its commands arrive with the issues that build them; see docs/cli.md.
    """


admin_inspect.register(cli)  # diff, drift (issue 15)


def main() -> None:
    """Entry point of the `px-admin` console script."""
    exit_with(cli)

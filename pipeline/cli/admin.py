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

    Every change prints its plan (a diff), then lands as one commit (or a pull
    request with --propose); --dry-run stops at the plan. See docs/cli.md.
    """


def _register() -> None:
    """The change commands (pipeline/cli/admin_tenants.py, admin_access.py)."""
    from pipeline.cli import admin_access, admin_tenants

    for command in (
        admin_tenants.tenant,
        admin_tenants.group,
        admin_access.grant,
        admin_access.revoke,
        admin_access.entitlement,
        admin_access.env,
    ):
        cli.add_command(command)


_register()
admin_inspect.register(cli)  # diff, drift (issue 15)


def main() -> None:
    """Entry point of the `px-admin` console script."""
    exit_with(cli)

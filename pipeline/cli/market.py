"""`px-market`: Marketplace review and listing of released plugins."""

from __future__ import annotations

import click

from pipeline import __version__
from pipeline.cli import market_catalog, market_trials
from pipeline.cli.errors import exit_with


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="px-market")
def cli() -> None:
    """PowerX Marketplace review and listing of released plugins.

    Validate, submit and review listings, sync and search the catalog, start trials and
    purchases, notify subscribers and report; see docs/cli.md for every command.
    """


for _command in market_catalog.COMMANDS:  # catalog sync, search
    cli.add_command(_command)
market_trials.register(cli)
cli.add_command(__import__("pipeline.cli.market_validate", fromlist=["validate"]).validate)


def main() -> None:
    """Entry point of the `px-market` console script."""
    exit_with(cli)


from pipeline.cli.market_review import register as register_review  # noqa: E402

register_review(cli)

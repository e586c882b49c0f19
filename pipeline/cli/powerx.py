"""`powerx`: the release-repo runner (the group; each command lives in its own module)."""

from __future__ import annotations

import click

from pipeline import __version__
from pipeline.cli import (
    agent,
    cmd_approve,
    cmd_audit,
    cmd_check,
    cmd_init,
    cmd_plan,
    cmd_promote,
    cmd_publish,
    cmd_remind,
    cmd_rollback,
    offline,
)
from pipeline.cli.errors import exit_with
from pipeline.cli.plugin_group import plugin as plugin_group
from pipeline.cli.rollout import rollout as rollout_group


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="powerx")
def cli() -> None:
    """PowerX Release: the release-repo runner.

    Checks every change to a release repo against the gates of its trusted base, with
    git as the single source of truth.
    """


for _command in (
    cmd_check.check,
    cmd_init.init,
    cmd_init.schema,
    cmd_rollback.rollback,
    cmd_publish.publish,
    cmd_promote.promote,
    cmd_plan.plan,
    cmd_remind.remind,
    cmd_approve.approve,
    cmd_audit.audit,
    rollout_group,
    agent.agent,
    plugin_group,
    offline.export,
):
    cli.add_command(_command)
for _command in (offline.import_offline, agent.enable, agent.disable, agent.status):
    plugin_group.add_command(_command)


def main() -> None:
    """Entry point of the `powerx` console script."""
    exit_with(cli)

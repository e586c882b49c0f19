"""`powerx promote`: move releases one environment further, starting canaries where asked."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import click

from pipeline.cli.options import (
    branch_option,
    format_option,
    github_repo_option,
    operator_option,
    push_option,
    repo_option,
)
from pipeline.cli.usage import usage_errors
from pipeline.cli.vocabulary import Command, emit
from pipeline.workflows.promote import PromoteCommand, render_json, render_text
from pipeline.workflows.promote import promote as promote_releases


@click.command(cls=Command, renamed={"--to": "--env"})
@click.argument("target", required=False)
@click.option("--env", "to_env", help="Promote into this environment [default: the next one].")
@repo_option()
@branch_option()
@push_option()
@operator_option
@click.option(
    "--emergency",
    metavar="REASON",
    help="Go live despite a freeze or outside the windows; the reason is recorded.",
)
@click.option(
    "--no-pr",
    is_flag=True,
    help="For environments that land by pull request: push the branch, open no pull request.",
)
@github_repo_option
@format_option()
def promote(
    target: str | None,
    to_env: str | None,
    repo_dir: Path,
    branch: str,
    remote: str | None,
    operator: str | None,
    emergency: str | None,
    no_pr: bool,
    github_repo: str | None,
    output_format: str,
) -> int:
    """Move PLUGIN[@VERSION] (or every plugin) one environment further along the order.

    A release moves only when it passes its gates, has soaked long enough in the previous
    environment and has the approvals the target asks for. Each promotion is one commit;
    into an environment that lands by pull request (`via` in policies/promotion.yaml) the
    commit goes on promote/<env>/<plugin>-<version> and a pull request is opened, whose
    reviews are the approvals; into one that takes versions by canary, a canary rollout
    starts at its first step (see `powerx rollout`). Exit 0 when everything asked for
    moved, was proposed or started, 1 when something asked for was held back.
    """
    command = PromoteCommand(
        repo=repo_dir,
        target=target,
        to=to_env,
        branch=branch,
        remote=remote,
        operator=operator,
        emergency=emergency,
        no_pr=no_pr,
        github_repo=github_repo,
        now=datetime.now(UTC),
        environ=os.environ,
    )
    with usage_errors():
        outcome = promote_releases(command)
    emit(output_format, render_json(outcome), render_text(outcome))
    return outcome.exit_code

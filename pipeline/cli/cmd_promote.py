"""`powerx promote`: move releases one environment further, starting canaries where asked."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
from pipeline.workflows.promote import PromoteCommand, PromoteOutcome
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


def render_text(outcome: PromoteOutcome) -> str:
    """What moved, was proposed, started or held, one line each."""
    result = outcome.result
    lines = [
        f"promoted {p.plugin}@{p.version}: "
        f"{p.source or 'release'} -> {p.target} (commit {commit[:12]})"
        for p, commit in result.landed
    ]
    for proposal in result.proposed:
        p = proposal.promotion
        where = proposal.pull_request or f"branch {proposal.branch}"
        lines.append(
            f"proposed {p.plugin}@{p.version}: {p.source or 'release'} -> {p.target} "
            f"({where}, commit {proposal.commit[:12]}; {proposal.note})"
        )
    for p, started in outcome.started:
        lines.append(
            f"started a canary of {p.plugin}@{p.version} in {p.target}: {started.weight}% of "
            f"tenants beside {started.stable} (commit {(started.commit or '')[:12]})"
        )
    lines += [f"held {plugin}: {reason}" for plugin, reason in outcome.held]
    if outcome.nothing:
        lines.append("nothing to promote")
    return "".join(f"{line}\n" for line in lines)


def render_json(outcome: PromoteOutcome) -> dict[str, Any]:
    """The outcome as JSON data (schema: docs/formats.md, "Command results")."""
    result = outcome.result
    return {
        "ok": outcome.exit_code == 0,
        "landed": [
            {
                "plugin": p.plugin,
                "version": p.version,
                "from": p.source,
                "to": p.target,
                "commit": commit,
            }
            for p, commit in result.landed
        ],
        "proposed": [
            {
                "plugin": x.promotion.plugin,
                "version": x.promotion.version,
                "from": x.promotion.source,
                "to": x.promotion.target,
                "branch": x.branch,
                "pullRequest": x.pull_request,
                "commit": x.commit,
                "note": x.note,
            }
            for x in result.proposed
        ],
        "canaries": [
            {
                "plugin": p.plugin,
                "version": p.version,
                "environment": p.target,
                "weight": started.weight,
                "stable": started.stable,
                "commit": started.commit,
            }
            for p, started in outcome.started
        ],
        "held": [{"plugin": plugin, "reason": reason} for plugin, reason in outcome.held],
    }

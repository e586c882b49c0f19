"""`powerx rollback`: restore a plugin's previous desired state as a revert commit."""

from __future__ import annotations

import os
from pathlib import Path

import click

from pipeline import ci
from pipeline.cli.options import (
    branch_option,
    format_option,
    operator_option,
    push_option,
    repo_option,
)
from pipeline.cli.vocabulary import Command, emit
from pipeline.gitrepo import GitRepo
from pipeline.promotion.rollback import RollbackRequest
from pipeline.promotion.rollback import rollback as rollback_plugin


@click.command(cls=Command, renamed={"--to": "--version"})
@click.argument("plugin")
@click.option("--env", "environment", required=True, help="The environment to roll back in.")
@click.option("--version", "to_version", help="The version to restore [default: the previous one].")
@click.option("--reason", required=True, help="Why: recorded in the commit.")
@repo_option()
@branch_option()
@push_option()
@operator_option
@format_option()
def rollback(
    plugin: str,
    environment: str,
    to_version: str | None,
    reason: str,
    repo_dir: Path,
    branch: str,
    remote: str | None,
    operator: str | None,
    output_format: str,
) -> int:
    """Restore the previous desired state of PLUGIN in an environment, as a revert commit.

    Only that plugin's file changes, even when other commits came after; the commit's
    trailers name the reverted commit and the reason.
    """
    request = RollbackRequest(
        plugin=plugin,
        environment=environment,
        reason=reason,
        to_version=to_version,
        operator=operator,
        ci_run=ci.run_url(os.environ),
    )
    result = rollback_plugin(GitRepo(repo_dir), request, branch=branch, remote=remote)
    plan = result.plan
    data = {
        "plugin": plugin,
        "environment": environment,
        "from": plan.from_version,
        "to": plan.to_version,
        "commit": result.commit,
        "reverts": plan.reverts,
    }
    text = (
        f"rolled back {plugin} in {environment}: {plan.from_version} -> {plan.to_version} "
        f"(commit {result.commit[:12]}, reverts {plan.reverts[:12]})\n"
    )
    emit(output_format, data, text)
    return 0

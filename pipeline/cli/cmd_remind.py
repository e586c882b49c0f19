"""`powerx remind`: requests waiting for approvals; exit 1 when any is past its SLA."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import click

from pipeline.cli.options import github_repo_option, repo_option
from pipeline.cli.usage import usage_errors
from pipeline.workflows.remind import RemindCommand
from pipeline.workflows.remind import remind as remind_requests


@click.command()
@repo_option()
@click.option("--base", default="main", show_default=True, help="The branch requests target.")
@click.option(
    "--remote",
    help="Read request branches (release/*, promote/*) of this remote [default: local ones].",
)
@click.option(
    "--webhook", envvar="POWERX_WEBHOOK", help="POST overdue requests here [$POWERX_WEBHOOK]."
)
@click.option(
    "--comment",
    is_flag=True,
    help="Also comment on each overdue request's pull request (GitHub, $GITHUB_TOKEN), "
    "at most once a day.",
)
@github_repo_option
def remind(
    repo_dir: Path,
    base: str,
    remote: str | None,
    webhook: str | None,
    comment: bool,
    github_repo: str | None,
) -> int:
    """List requests waiting for approvals; exit 1 when any is past its SLA.

    Requests are release/* and promote/* branches not merged into BASE. With
    --github-repo (or $GITHUB_REPOSITORY), the reviews of their pull requests count too.

    Meant for a scheduled workflow: a non-zero exit alerts.
    """
    command = RemindCommand(
        repo_dir, base, remote, webhook, comment, github_repo, datetime.now(UTC), os.environ
    )
    with usage_errors():
        outcome = remind_requests(command)
    for reminder in outcome.reminders:
        mark = "OVERDUE" if reminder.overdue else "waiting"
        click.echo(
            f"{mark:8} {reminder.release} ({reminder.branch}) {reminder.waiting_hours} h: "
            f"{reminder.status}"
        )
    if not outcome.reminders:
        click.echo("no release request is waiting for approvals")
    if outcome.webhook_problem is not None:
        click.echo(f"warning: {outcome.webhook_problem}", err=True)
    for url in outcome.comments:
        click.echo(f"reminded: {url}")
    return outcome.exit_code

"""`powerx remind`: requests waiting for approvals; exit 1 when any is past its SLA."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from pipeline.cli.options import format_option, github_repo_option, repo_option
from pipeline.cli.usage import usage_errors
from pipeline.cli.vocabulary import WEBHOOKS_ENV, emit, webhooks_from_env
from pipeline.notify import SLACK_WEBHOOKS_ENV
from pipeline.workflows.remind import RemindCommand, RemindOutcome
from pipeline.workflows.remind import remind as remind_requests


@click.command()
@repo_option()
@click.option("--base", default="main", show_default=True, help="The branch requests target.")
@click.option(
    "--remote",
    help="Read request branches (release/*, promote/*) of this remote [default: local ones].",
)
@click.option(
    "--webhook",
    "webhooks",
    multiple=True,
    metavar="URL",
    help=f"POST overdue requests as a CloudEvents event (repeatable; also ${WEBHOOKS_ENV}).",
)
@click.option(
    "--slack-webhook",
    "slack_webhooks",
    multiple=True,
    metavar="URL",
    help=f"POST them as a Slack-compatible text message (repeatable; also ${SLACK_WEBHOOKS_ENV}).",
)
@click.option(
    "--comment",
    is_flag=True,
    help="Also comment on each overdue request's pull request (GitHub, $GITHUB_TOKEN), "
    "at most once a day.",
)
@github_repo_option
@format_option()
def remind(
    repo_dir: Path,
    base: str,
    remote: str | None,
    webhooks: tuple[str, ...],
    slack_webhooks: tuple[str, ...],
    comment: bool,
    github_repo: str | None,
    output_format: str,
) -> int:
    """List requests waiting for approvals; exit 1 when any is past its SLA.

    Requests are release/* and promote/* branches not merged into BASE. With
    --github-repo (or $GITHUB_REPOSITORY), the reviews of their pull requests count too.

    Meant for a scheduled workflow: a non-zero exit alerts.
    """
    from pipeline.notify import urls_from_env

    urls = [*webhooks, *webhooks_from_env(os.environ)]
    slack = [*slack_webhooks, *urls_from_env(os.environ, SLACK_WEBHOOKS_ENV)]
    command = RemindCommand(
        repo_dir,
        base,
        remote,
        urls,
        comment,
        github_repo,
        datetime.now(UTC),
        os.environ,
        slack_webhooks=slack,
    )
    with usage_errors():
        outcome = remind_requests(command)
    for problem in outcome.webhook_problems:
        click.echo(f"warning: {problem}", err=True)
    emit(output_format, render_json(outcome), render_text(outcome))
    return outcome.exit_code


def render_text(outcome: RemindOutcome) -> str:
    """One line per waiting request, then the comments posted."""
    lines = []
    for reminder in outcome.reminders:
        mark = "OVERDUE" if reminder.overdue else "waiting"
        lines.append(
            f"{mark:8} {reminder.release} ({reminder.branch}) {reminder.waiting_hours} h: "
            f"{reminder.status}"
        )
    if not outcome.reminders:
        lines.append("no release request is waiting for approvals")
    lines += [f"reminded: {url}" for url in outcome.comments]
    return "".join(f"{line}\n" for line in lines)


def render_json(outcome: RemindOutcome) -> dict[str, Any]:
    """The waiting requests as JSON data."""
    return {
        "overdue": outcome.overdue,
        "requests": [
            {
                "release": r.release,
                "branch": r.branch,
                "environment": r.environment,
                "waitingHours": r.waiting_hours,
                "status": r.status,
                "overdue": r.overdue,
            }
            for r in outcome.reminders
        ],
        "comments": list(outcome.comments),
    }

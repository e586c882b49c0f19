"""`powerx remind`: requests waiting for approvals, a webhook alert and pull request comments."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path

from pipeline.gitrepo import GitRepo
from pipeline.notify import Notifier
from pipeline.promotion.remind import (
    Reminder,
    comment_on_requests,
    overdue_event,
    pending_requests,
)
from pipeline.workflows.common import FlagError, branch_reviews, forge_factory


@dataclass(frozen=True)
class RemindCommand:
    """Where the requests are, and how overdue ones are announced."""

    repo: Path
    base: str
    remote: str | None
    webhooks: list[str]
    """Where overdue requests are POSTed as a CloudEvents event."""
    comment: bool
    github_repo: str | None
    now: datetime
    environ: Mapping[str, str]
    slack_webhooks: list[str] = field(default_factory=list)
    """Where they are POSTed as a Slack-compatible text message."""


@dataclass
class RemindOutcome:
    """The waiting requests, the webhooks' failures and the comments posted."""

    reminders: list[Reminder]
    webhook_problems: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)

    @property
    def overdue(self) -> bool:
        """Some request is past its SLA."""
        return any(r.overdue for r in self.reminders)

    @property
    def exit_code(self) -> int:
        """1 when a request is overdue (a scheduled run alerts), else 0."""
        return 1 if self.overdue else 0


def remind(command: RemindCommand) -> RemindOutcome:
    """List waiting requests; when some are overdue, POST the webhook and comment if asked.

    A webhook that cannot be reached is reported, not raised: the exit code still alerts.
    """
    if command.comment and not command.github_repo:
        raise FlagError("--comment needs --github-repo (or $GITHUB_REPOSITORY)")
    from pipeline.policy.github_reviews import with_github_members

    notifier = Notifier(command.webhooks, command.slack_webhooks)  # a bad URL fails now

    git = GitRepo(command.repo)
    if command.remote:
        git.fetch_all(command.remote)
    client = None
    if command.github_repo:
        client = forge_factory(command.github_repo, "to read reviews", command.environ)()
    base, remote = command.base, command.remote
    outcome = RemindOutcome(
        pending_requests(
            git,
            f"refs/remotes/{remote}/{base}" if remote else base,
            remote=remote,
            now=command.now,
            reviews_of=partial(branch_reviews, client, base) if client else None,
            teams=partial(with_github_members, client=client) if client else None,
        )
    )
    if outcome.overdue:
        for delivery in notifier.send(overdue_event(outcome.reminders)):
            if not delivery.ok:
                outcome.webhook_problems.append(f"webhook {delivery.target}: {delivery.detail}")
    if outcome.overdue and command.comment and client is not None:
        outcome.comments = comment_on_requests(
            client, outcome.reminders, base=base, now=command.now
        )
    return outcome

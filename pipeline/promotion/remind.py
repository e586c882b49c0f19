"""`powerx remind`: release requests that wait past their approval SLA.

A release request is a `release/*` branch not yet merged into the base branch. For every
release it adds, the approval rules of the environment it asks for (the environment
whose state it changes, else the first of the order) are applied to the signed approval
records on the branch; a request that is not approved within `slaHours` of its first
commit is overdue.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pygit2

from pipeline import layout
from pipeline.errors import InputError
from pipeline.forge import GitHubClient
from pipeline.gitrepo import GitRepo
from pipeline.policy.release_approvals import release_approvals
from pipeline.snapshot import Snapshot

RELEASE_BRANCHES = "release/"
REMINDER_MARK = "<!-- powerx-remind -->"
"""Marks our reminder comments, so a pull request gets at most one a day."""


@dataclass(frozen=True)
class Reminder:
    """One release request that waits for approvals."""

    branch: str
    release: str
    environment: str
    waiting_hours: float
    status: str
    overdue: bool


def pending_requests(
    git: GitRepo, base: str, *, remote: str | None, now: datetime
) -> list[Reminder]:
    """Every open release request with its approval state, oldest first."""
    base_commit = git.resolve(base)
    prefix = f"refs/remotes/{remote}/" if remote else "refs/heads/"
    reminders = []
    for name in sorted(git.repo.references):
        if not name.startswith(prefix + RELEASE_BRANCHES):
            continue
        tip = git.repo.references[name].peel(pygit2.Commit)
        if git.repo.descendant_of(base_commit.id, tip.id) or base_commit.id == tip.id:
            continue  # merged
        reminders.extend(_requests_on(git, base_commit, tip, name.removeprefix(prefix), now))
    return sorted(reminders, key=lambda r: -r.waiting_hours)


def _requests_on(
    git: GitRepo, base: pygit2.Commit, tip: pygit2.Commit, branch: str, now: datetime
) -> list[Reminder]:
    fork = git.merge_base(base, tip)
    roles = [layout.classify(c.path) for c in git.changed_paths(fork, tip)]
    snapshot = Snapshot(git, tip)
    policies = Snapshot(git, base).policies()
    envs = sorted({r.environment for r in roles if r.kind == "plugin-state" and r.environment})
    target = envs[0] if envs else policies.promotion.order[0]
    reminders = []
    for role in roles:
        if role.kind != "release" or not role.plugin or not role.version:
            continue
        path = layout.release_path(role.plugin, role.version)
        raw = snapshot.read(path)
        if raw is None:
            continue
        judged = release_approvals(snapshot, policies, role.plugin, role.version, target, now=now)
        verdict, requested_at = judged.verdict, judged.requested_at
        if verdict.satisfied:
            continue
        waited = (now - requested_at).total_seconds() / 3600
        reminders.append(
            Reminder(
                branch,
                f"{role.plugin}@{role.version}",
                target,
                round(waited, 1),
                verdict.describe(),
                verdict.overdue,
            )
        )
    return reminders


def notify_webhook(
    url: str, reminders: list[Reminder], *, transport: httpx.BaseTransport | None = None
) -> None:
    """POST the overdue requests as JSON to a webhook (Slack-compatible `text` included)."""
    overdue = [r for r in reminders if r.overdue]
    text = "\n".join(
        f"{r.release} ({r.branch}) waits {r.waiting_hours} h: {r.status}" for r in overdue
    )
    payload = {
        "type": "powerx.approvals.overdue",
        "time": datetime.now(UTC).isoformat(),
        "overdue": [asdict(r) for r in overdue],
        "text": f"{len(overdue)} release request(s) past their approval SLA\n{text}",
    }
    try:
        with httpx.Client(transport=transport, timeout=10) as client:
            response = client.post(url, json=payload)
    except httpx.HTTPError as error:
        raise InputError(f"webhook unreachable: {type(error).__name__}") from None
    if response.status_code >= 300:
        raise InputError(f"webhook answered {response.status_code}")


def comment_on_requests(
    client: GitHubClient,
    reminders: list[Reminder],
    *,
    base: str,
    now: datetime,
    every: timedelta = timedelta(hours=24),
) -> list[str]:
    """Comment on the pull request of each overdue request; returns the comments' URLs.

    A request without a pull request (other forges) is skipped; one that got a reminder
    less than `every` ago is not reminded again, so an hourly schedule does not spam.
    """
    posted = []
    for reminder in (r for r in reminders if r.overdue):
        pull = client.find_pull_request(reminder.branch, base)
        if pull is None or _reminded_since(client, pull.number, now - every):
            continue
        body = (
            f"{REMINDER_MARK}\n**{reminder.release}** has waited {reminder.waiting_hours} h "
            f"for its approvals to {reminder.environment}, past the SLA.\n\n{reminder.status}"
        )
        posted.append(client.create_comment(pull.number, body).html_url)
    return posted


def _reminded_since(client: GitHubClient, number: int, since: datetime) -> bool:
    return any(
        REMINDER_MARK in c.body and c.created_at is not None and c.created_at >= since
        for c in client.list_comments(number)
    )

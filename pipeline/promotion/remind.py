"""`powerx remind`: requests that wait past their approval SLA.

A request is a `release/*` branch (publish) or a `promote/*` branch (a promotion that
lands by pull request) not yet merged into the base branch. Each version it asks for
(the environment whose state it changes, else the first of the order) is judged by the
approval rules, with the signed records on the branch and, when given, the reviews of
its pull request; a request not approved within `slaHours` of the release is overdue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pipeline import layout
from pipeline.gitrepo import Commit, GitRepo
from pipeline.models.policy import PolicySet
from pipeline.notify import Event
from pipeline.policy.release_approvals import (
    PullRequestReviews,
    TeamResolver,
    release_approvals,
    resolve_teams,
)
from pipeline.snapshot import Snapshot

if TYPE_CHECKING:  # the forge loads only when a pull request is opened
    from pipeline.forge import GitHubClient

REQUEST_BRANCHES = ("release/", "promote/")
"""Branches that are requests: publish opens release/*, promote opens promote/<env>/*."""
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


ReviewsOf = Callable[[str], PullRequestReviews | None]
"""The reviews of the pull request opened from a branch (None: no pull request)."""


def pending_requests(
    git: GitRepo,
    base: str,
    *,
    remote: str | None,
    now: datetime,
    reviews_of: ReviewsOf | None = None,
    teams: TeamResolver | None = None,
) -> list[Reminder]:
    """Every open request (release/* and promote/* branches) with its approvals, oldest first."""
    base_commit = git.resolve(base)
    policies = resolve_teams(Snapshot(git, base_commit).policies(), teams)
    prefix = f"refs/remotes/{remote}/" if remote else "refs/heads/"
    reminders = []
    for name in sorted(git.repo.references):
        if not name.startswith(tuple(prefix + p for p in REQUEST_BRANCHES)):
            continue
        tip = git.ref_commit(name)
        if git.repo.descendant_of(base_commit.id, tip.id) or base_commit.id == tip.id:
            continue  # merged
        branch = name.removeprefix(prefix)
        reviews = reviews_of(branch) if reviews_of is not None else None
        reminders.extend(_requests_on(git, base_commit, tip, branch, policies, now, reviews))
    return sorted(reminders, key=lambda r: -r.waiting_hours)


def _asked(
    snapshot: Snapshot, roles: list[layout.RepoPath], first: str
) -> dict[tuple[str, str], str]:
    """(plugin, version) -> the environment a request asks for.

    A new version in an environment's state asks for that environment; a release added
    without one asks for the first environment of the order.
    """
    asked: dict[tuple[str, str], str] = {}
    for role in roles:
        if role.kind == "plugin-state" and role.environment and role.plugin:
            state = snapshot.plugin_state(role.environment, role.plugin)
            if state is not None:
                asked.setdefault((role.plugin, state.model.version), role.environment)
    for role in roles:
        if role.kind == "release" and role.plugin and role.version:
            asked.setdefault((role.plugin, role.version), first)
    return asked


def _requests_on(
    git: GitRepo,
    base: Commit,
    tip: Commit,
    branch: str,
    policies: PolicySet,
    now: datetime,
    reviews: PullRequestReviews | None,
) -> list[Reminder]:
    fork = git.merge_base(base, tip)
    roles = [layout.classify(c.path) for c in git.changed_paths(fork, tip)]
    snapshot = Snapshot(git, tip)
    reminders = []
    for (plugin, version), target in sorted(
        _asked(snapshot, roles, policies.promotion.order[0]).items()
    ):
        if snapshot.release(plugin, version) is None:
            continue
        judged = release_approvals(
            snapshot, policies, plugin, version, target, now=now, reviews=reviews
        )
        verdict = judged.verdict
        if verdict.satisfied:
            continue
        waited = (now - judged.requested_at).total_seconds() / 3600
        reminders.append(
            Reminder(
                branch,
                f"{plugin}@{version}",
                target,
                round(waited, 1),
                verdict.describe(),
                verdict.overdue,
            )
        )
    return reminders


def overdue_event(reminders: list[Reminder]) -> Event:
    """The `io.powerx.approvals.overdue` event of the requests past their SLA."""
    overdue = [r for r in reminders if r.overdue]
    lines = "\n".join(
        f"{r.release} ({r.branch}) waits {r.waiting_hours} h: {r.status}" for r in overdue
    )
    return Event(
        kind="overdue",
        family="approvals",
        subject=", ".join(r.release for r in overdue),
        text=f"{len(overdue)} release request(s) past their approval SLA\n{lines}",
        data={"overdue": [asdict(r) for r in overdue]},
        severity="warning",
    )


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

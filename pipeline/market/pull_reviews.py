"""Review steps from a pull request's reviews: APPROVED approves, CHANGES_REQUESTED asks.

Each reviewer's latest decision counts (a dismissal withdraws it, as on GitHub); only
Marketplace reviewers who did not submit the version count, judged on the base branch's
policies with GitHub-mirrored teams resolved. A standing request for changes wins over
approvals. A submitted review is started first by the same reviewer (its own commit).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from pipeline.errors import GateError, InputError
from pipeline.market.records import load_review
from pipeline.market.review import (
    Action,
    Transitioned,
    TransitionRequest,
    transition,
)
from pipeline.market.review_gates import check_reviewer
from pipeline.market.submit import Target
from pipeline.policy.release_approvals import TeamResolver, resolve_teams

if TYPE_CHECKING:
    from pipeline.forge import GitHubClient
    from pipeline.forge.models import Review as PullReview
    from pipeline.models.market import Review
    from pipeline.models.policy import PolicySet


@dataclass(frozen=True)
class PullRequestSync:
    """What a pull request's reviews led to."""

    decision: Action | None
    reviewer: str | None
    steps: list[Transitioned]
    note: str


def _standing(reviews: list[PullReview]) -> list[PullReview]:
    """Each reviewer's latest decision still standing, in the order they were given."""
    latest: dict[str, tuple[int, PullReview]] = {}
    for index, review in enumerate(reviews):  # GitHub lists reviews oldest first
        if review.state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            latest[review.user_login] = (index, review)
    return [r for _, r in sorted(latest.values(), key=lambda x: x[0]) if r.state != "DISMISSED"]


def _may_review(policies: PolicySet, login: str, review: Review) -> bool:
    """Whether `login`'s decision counts (others' reviews are ignored, not refused)."""
    try:
        check_reviewer(policies, login, review)
    except GateError:
        return False
    return True


def sync_from_pull_request(
    target: Target,
    plugin: str,
    version: str,
    *,
    client: GitHubClient,
    number: int,
    now: datetime,
) -> PullRequestSync:
    """Map pull request `number`'s reviews to review steps and commit them."""
    from pipeline.policy.github_reviews import with_github_members

    teams: TeamResolver = partial(with_github_members, client=client)
    snapshot = target.snapshot()
    loaded = load_review(snapshot, plugin, version)
    if loaded is None:
        raise InputError(f"{plugin}@{version} was never submitted", hint="px-market submit it")
    policies: PolicySet = resolve_teams(snapshot.policies(), teams)
    pull = client.get_pull_request(number)
    counted = [
        review
        for review in _standing(client.list_reviews(number))
        if _may_review(policies, review.user_login, loaded.model)
    ]
    asking = [r for r in counted if r.state == "CHANGES_REQUESTED"]
    chosen = (asking or counted)[-1] if counted else None
    if chosen is None:
        return PullRequestSync(None, None, [], "no Marketplace reviewer has decided yet")
    action: Action = "request-changes" if chosen.state == "CHANGES_REQUESTED" else "approve"
    wanted = "changes-requested" if action == "request-changes" else "approved"
    state = loaded.model.state
    if state == wanted:
        return PullRequestSync(action, chosen.user_login, [], f"already {wanted}")
    steps = []
    by = chosen.user_login
    if state == "submitted":
        steps.append(_step(target, "start", plugin, version, by, now, pull.html_url, teams))
    reason = (
        f"changes requested in pull request #{number} by {by}: see its review comments"
        if action == "request-changes"
        else f"approved in pull request #{number} by {by}"
    )
    steps.append(
        _step(target, action, plugin, version, by, now, pull.html_url, teams, reason=reason)
    )
    return PullRequestSync(action, by, steps, f"{len(steps)} step(s) from #{number}")


def _step(
    target: Target,
    action: Action,
    plugin: str,
    version: str,
    by: str,
    now: datetime,
    source: str,
    teams: TeamResolver,
    *,
    reason: str | None = None,
) -> Transitioned:
    request = TransitionRequest(
        action,
        plugin,
        version,
        by,
        now,
        reason=reason,
        category="other" if action == "request-changes" else None,
        ci_run=target.ci_run,
        source=source,
    )
    return transition(
        target.git,
        request,
        branch=target.branch,
        remote=target.remote,
        teams=teams,
    )

"""Approvals: one rule engine for pull-request reviews and signed approval records.

A promotion into an environment needs as many distinct approvers as
`policies/approvals.yaml` asks, each a member of one of the environment's teams
(`policies/teams.yaml`), never the author of the release, and each approval given on
the current state of the request (an approval goes stale when the request changes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from pipeline.models.policy import PolicySet

Source = Literal["github", "signed"]


@dataclass(frozen=True)
class Approval:
    """One approval, from either source, with what it was given on."""

    approver: str
    at: datetime
    source: Source
    given_on: str
    """What was approved: a pull request head sha, or a release manifest digest."""


@dataclass(frozen=True)
class Refusal:
    """An approval that does not count, and why."""

    approval: Approval
    reason: str


@dataclass(frozen=True)
class ApprovalVerdict:
    """Whether an environment's approval rules are met, with every reason spelled out."""

    environment: str
    required: int
    counted: tuple[Approval, ...]
    refused: tuple[Refusal, ...] = field(default=())
    overdue: bool = False

    @property
    def satisfied(self) -> bool:
        """Enough distinct, valid approvers."""
        return len(self.counted) >= self.required

    def describe(self) -> str:
        """One line for people."""
        who = ", ".join(a.approver for a in self.counted) or "nobody"
        text = f"{len(self.counted)}/{self.required} approval(s) for {self.environment} ({who})"
        if self.refused:
            text += "; not counted: " + "; ".join(
                f"{r.approval.approver}: {r.reason}" for r in self.refused
            )
        return text + ("; past its SLA" if self.overdue else "")


@dataclass(frozen=True)
class ApprovalRequest:
    """A request to promote a release into an environment, as the rules see it."""

    environment: str
    author: str
    current: str
    """The release manifest's digest: what a signed approval must have been given on."""
    requested_at: datetime
    pull_request_head: str | None = None
    """The pull request's head sha: what a review must have been given on."""


def evaluate_approvals(
    policies: PolicySet, request: ApprovalRequest, approvals: list[Approval], *, now: datetime
) -> ApprovalVerdict:
    """Apply the approval rules of `request.environment` to `approvals` (newest wins)."""
    rules = policies.approvals.for_environment(request.environment)
    allowed_teams = set(rules.teams)
    counted: dict[str, Approval] = {}
    refused: list[Refusal] = []
    for approval in sorted(approvals, key=lambda a: a.at, reverse=True):
        reason = _refusal(policies, request, approval, allowed_teams)
        if reason is not None:
            refused.append(Refusal(approval, reason))
        elif approval.approver not in counted:
            counted[approval.approver] = approval
    refused = [r for r in refused if r.approval.approver not in counted]
    verdict = ApprovalVerdict(
        request.environment, rules.required, tuple(counted.values()), tuple(refused)
    )
    deadline = request.requested_at + timedelta(hours=policies.approvals.sla_hours)
    if not verdict.satisfied and now > deadline:
        return ApprovalVerdict(
            verdict.environment, verdict.required, verdict.counted, verdict.refused, overdue=True
        )
    return verdict


def _refusal(
    policies: PolicySet, request: ApprovalRequest, approval: Approval, allowed_teams: set[str]
) -> str | None:
    if approval.approver == request.author:
        return "an author never approves their own release"
    teams = policies.teams.teams_of(approval.approver)
    if not teams:
        return "not a member of any team in policies/teams.yaml"
    if allowed_teams and not teams & allowed_teams:
        return f"not in {', '.join(sorted(allowed_teams))}"
    if approval.source == "github" and request.pull_request_head is None:
        return "a review counts only on the pull request it was given on"
    expected = request.pull_request_head if approval.source == "github" else request.current
    if policies.approvals.stale_on_new_commits and approval.given_on != expected:
        return "stale: given before the last change of the request"
    return None

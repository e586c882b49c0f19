"""The review workflow: each step of a submission's review is ONE commit of its record.

    market/reviews/<plugin>/<version>.yaml      the `Review`: channel, digests, history

States and the actions that move between them (`MOVES`, the one table):

    (none) | submitted | changes-requested | errored --submit-->  submitted   (or errored)
    errored                                    --retry--->  submitted   (or errored)
    submitted                                  --start--->  in-review
    in-review                          --request-changes->  changes-requested
    in-review                                  --approve->  approved    (final)
    submitted | in-review | changes-requested  --reject-->  rejected    (final)

A submission (or retry) whose validator run could not complete goes to *errored*, with
the rules that could not run as its reason: never final, never a rejection. A step that
the table does not allow is refused with exit 2 (`TransitionNotAllowedError`); a step the
gates refuse (not a reviewer, the vendor reviewing their own submission, an enforced rule
failing, a signature that no longer verifies: `review_gates`) with exit 1. Who may review,
and the signing trust, come from the policies of the base branch's tip: the trusted revision.

An approval whose signature no longer verifies (it expired, its key was revoked) sends
the review back to changes-requested (category `signature`): the vendor resubmits with a
new signature.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, get_args

from pipeline.errors import GateError, InputError
from pipeline.gitrepo import ChangeSet, Commit, GitRepo, Trailers, compose_message
from pipeline.market import review_path
from pipeline.market.findings import ValidationReport
from pipeline.market.records import load_review
from pipeline.market.review_gates import (
    approval_refused,
    check_reviewer,
    latest_validation,
)
from pipeline.models.base import API_VERSION
from pipeline.models.market import (
    FINAL_STATES,
    ReasonCategory,
    Review,
    ReviewState,
    Transition,
    ValidationSummary,
)
from pipeline.models.policy import PolicySet
from pipeline.policy.release_approvals import TeamResolver, resolve_teams
from pipeline.snapshot import Snapshot
from pipeline.yamlio import dump_yaml

Action = Literal["submit", "retry", "start", "request-changes", "approve", "reject"]
ACTIONS: tuple[Action, ...] = get_args(Action)
REVIEWER_ACTIONS: frozenset[Action] = frozenset({"start", "request-changes", "approve", "reject"})
NEEDS_REASON: frozenset[Action] = frozenset({"request-changes", "reject"})
CATEGORIES: tuple[str, ...] = get_args(ReasonCategory)


@dataclass(frozen=True)
class Move:
    """Where an action may start from, and where it leads."""

    sources: frozenset[ReviewState | None]
    target: ReviewState


MOVES: Mapping[Action, Move] = {
    "submit": Move(frozenset({None, "submitted", "changes-requested", "errored"}), "submitted"),
    "retry": Move(frozenset({"errored"}), "submitted"),
    "start": Move(frozenset({"submitted"}), "in-review"),
    "request-changes": Move(frozenset({"in-review"}), "changes-requested"),
    "approve": Move(frozenset({"in-review"}), "approved"),
    "reject": Move(frozenset({"submitted", "in-review", "changes-requested"}), "rejected"),
}
"""The one table of allowed transitions (submit and retry lead to errored when the
validator could not run every rule)."""


class TransitionNotAllowedError(InputError):
    """The review is in a state the action cannot start from (exit 2)."""


@dataclass(frozen=True)
class Submission:
    """What a submission records besides its history, and files committed with it."""

    channel: Literal["online", "offline"]
    artifact_sha256: str
    listing_sha256: str | None = None
    permissions_widened: tuple[str, ...] = ()
    files: Mapping[str, bytes] = field(default_factory=dict)
    """Other files of the same commit (an offline upload's release record and signature)."""


@dataclass(frozen=True)
class TransitionRequest:
    """One step asked for: who, why, and the validator run it is based on."""

    action: Action
    plugin: str
    version: str
    by: str
    now: datetime
    reason: str | None = None
    category: ReasonCategory | None = None
    validation: ValidationReport | None = None
    """The validator's report: needed by submit and retry; approve uses it when given
    (else the validation of the latest submission)."""
    submission: Submission | None = None
    """Needed by submit."""
    ci_run: str | None = None
    source: str | None = None
    """Where the decision was made, e.g. a pull request URL (recorded as a trailer)."""


@dataclass(frozen=True)
class Transitioned:
    """The review as committed, and the commit."""

    review: Review
    commit: str

    @property
    def state(self) -> ReviewState:
        """The review's state after the step."""
        return self.review.state


def check_request(request: TransitionRequest) -> None:
    """Refuse, before anything is read or written, a request that misses what it needs."""
    if request.action not in MOVES:
        raise InputError(
            f"unknown review action {request.action!r}", hint=f"use one of {', '.join(ACTIONS)}"
        )
    if not request.by.strip():
        raise InputError("a review step needs a named person", hint="pass --as LOGIN")
    if request.action in NEEDS_REASON:
        if not (request.reason and request.reason.strip()):
            raise InputError(
                f"{request.action} needs a reason: the vendor must be told what to fix",
                hint="pass --reason TEXT (what is wrong and what to do) and --category",
            )
        if request.category is None:
            raise InputError(
                f"{request.action} needs a reason category",
                hint=f"pass --category, one of {', '.join(CATEGORIES)}",
            )
    if request.category is not None and request.category not in CATEGORIES:
        raise InputError(
            f"unknown reason category {request.category!r}",
            hint=f"use one of {', '.join(CATEGORIES)}",
        )
    if request.action in ("submit", "retry") and request.validation is None:
        raise InputError(f"{request.action} needs the validator's report")
    if request.action == "submit" and request.submission is None:
        raise InputError("submit needs the submission (artifact digest, channel)")
    report = request.validation
    if report is not None and (report.plugin, report.version) != (request.plugin, request.version):
        raise InputError(
            f"the validation report is for {report.plugin}@{report.version}, "
            f"not {request.plugin}@{request.version}"
        )


def summary_of(report: ValidationReport) -> ValidationSummary:
    """What a transition records of a validator run."""
    return ValidationSummary(
        ruleset=report.ruleset,
        failed=report.failed,
        advisory=report.advisory,
        errored=report.errored,
    )


@dataclass
class _Decision:
    """What one attempt decided: the new review, and an approval refused on the way."""

    review: Review
    refused: str | None = None


def allowed_review(snapshot: Snapshot, action: Action, plugin: str, version: str) -> Review | None:
    """The review `action` would move at `snapshot` (None: not submitted yet);
    TransitionNotAllowedError when the table does not allow it from its state."""
    loaded = load_review(snapshot, plugin, version)
    current = loaded.model if loaded is not None else None
    state = current.state if current is not None else None
    if state not in MOVES[action].sources:
        raise TransitionNotAllowedError(
            f"cannot {action} {plugin}@{version}: its review is "
            + (f"{state}" if state else "not submitted")
            + (" (final)" if state in FINAL_STATES else ""),
            hint=_next_steps(state),
        )
    return current


def decide(snapshot: Snapshot, request: TransitionRequest, policies: PolicySet) -> _Decision:
    """The review after `request` at `snapshot`; raises when the step is not allowed."""
    current = allowed_review(snapshot, request.action, request.plugin, request.version)
    move = MOVES[request.action]
    if request.action in REVIEWER_ACTIONS:
        assert current is not None
        check_reviewer(policies, request.by, current)
    validation = request.validation
    summary = summary_of(validation) if validation is not None else None
    target: ReviewState = move.target
    reason, category = request.reason, request.category
    refused = None
    if request.action in ("submit", "retry") and validation and validation.verdict == "errored":
        target = "errored"
        reason = "rules that could not run: " + "; ".join(
            f"{r.rule} ({r.error or 'no reason given'})"
            for r in validation.results
            if r.outcome == "errored"
        )
    if request.action == "approve":
        assert current is not None
        summary = summary or latest_validation(current)
        refused = approval_refused(snapshot, policies, current, summary, request.now)
        if refused is not None:
            target, category = "changes-requested", "signature"
            reason = f"{refused}; resubmit the package with a new signature"
    step = Transition(
        state=target,
        at=request.now,
        by=request.by,
        reason=reason.strip() if reason else None,
        category=category,
        validation=summary if request.action in ("submit", "retry", "approve") else None,
    )
    if current is None or request.action == "submit":
        assert request.submission is not None
        sub = request.submission
        history = [*(current.history if current else []), step]
        review = Review.model_validate(
            {
                "apiVersion": API_VERSION,
                "kind": "Review",
                "plugin": request.plugin,
                "version": request.version,
                "channel": sub.channel,
                "artifactSha256": sub.artifact_sha256,
                "listingSha256": sub.listing_sha256,
                "permissionsWidened": list(sub.permissions_widened),
                "history": history,
            }
        )
    else:
        review = current.model_copy(update={"history": [*current.history, step]})
    return _Decision(review, refused)


def _next_steps(state: ReviewState | None) -> str:
    allowed = [action for action, move in MOVES.items() if state in move.sources]
    if not allowed:
        return "the review is final: submit a new version"
    return f"from {state or 'no review'}, allowed: {', '.join(allowed)}"


def render_yaml(review: Review) -> bytes:
    """The review record as committed."""
    return dump_yaml(review.model_dump(mode="json", by_alias=True, exclude_none=True)).encode()


def message_for(request: TransitionRequest, review: Review) -> str:
    """Subject, what happened and why, and the trailers."""
    step = review.history[-1]
    lines = [f"state: {step.state}"]
    if step.category:
        lines.append(f"category: {step.category}")
    if step.reason:
        lines.append(f"reason: {step.reason}")
    if step.validation is not None:
        v = step.validation
        lines.append(
            f"validation: ruleset {v.ruleset}; failed {', '.join(v.failed) or 'none'}; "
            f"advisory {', '.join(v.advisory) or 'none'}; errored {', '.join(v.errored) or 'none'}"
        )
    extra: dict[str, str] = {"Review-State": step.state}
    if step.category:
        extra["Reason-Category"] = step.category
    if request.source:
        extra["Review-Source"] = request.source
    trailers = Trailers(
        action=f"market-{request.action}",
        plugin=request.plugin,
        version=request.version,
        operator=request.by,
        ci_run=request.ci_run,
        extra=extra,
    )
    subject = f"Marketplace review of {request.plugin} {request.version}: {step.state}"
    return compose_message(subject, "\n".join(lines), trailers)


def transition(
    git: GitRepo,
    request: TransitionRequest,
    *,
    branch: str = "main",
    remote: str | None = None,
    teams: TeamResolver | None = None,
    when: float | None = None,
) -> Transitioned:
    """Decide the step at the branch tip and commit it (pushed to `remote` when given).

    With a remote, a concurrent push makes the step be decided again on the new tip
    (a second reviewer then finds the review moved on). GateError when an approval was
    turned into a request for changes (a signature that no longer holds), after that
    step is committed.
    """
    check_request(request)
    decided: list[_Decision] = []

    def change(tip: Commit | None) -> tuple[ChangeSet, str]:
        if tip is None:
            raise InputError(f"branch {branch!r} does not exist")
        snapshot = Snapshot(git, tip)
        policies = resolve_teams(snapshot.policies(), teams)
        decision = decide(snapshot, request, policies)
        decided[:] = [decision]
        changes: dict[str, bytes | None] = {}
        if request.action == "submit" and request.submission is not None:
            changes.update(request.submission.files)
        changes[review_path(request.plugin, request.version)] = render_yaml(decision.review)
        return changes, message_for(request, decision.review)

    commit = commit_change(git, branch, remote, change, when=when)
    decision = decided[0]
    if decision.refused is not None:
        raise GateError(
            f"cannot approve {request.plugin}@{request.version}: {decision.refused}",
            hint=f"the review went back to changes-requested (commit {commit.id[:12]}): "
            "the vendor resubmits with a new signature",
        )
    return Transitioned(decision.review, commit.id)


def commit_change(
    git: GitRepo,
    branch: str,
    remote: str | None,
    change: Callable[[Commit | None], tuple[ChangeSet, str]],
    *,
    when: float | None = None,
) -> Commit:
    """One commit of `change` on `branch`: pushed (rebased and retried) or local only."""
    if remote is not None:
        return git.commit_and_push(remote, branch, change, when=when)
    ref = f"refs/heads/{branch}"
    tip = git.resolve(ref) if ref in git.repo.references else None
    changes, message = change(tip)
    return git.commit(branch, changes, message, parent=tip, when=when)

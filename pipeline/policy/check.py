"""`powerx check`: evaluate what changed between two revisions against the base's policies.

Policies are always read from the base revision: a pull request cannot weaken the
gates it is judged by. Work is proportional to the diff: only changed files, and the
few files they refer to, are ever read.

This module picks the revisions and the changed paths; `checker` runs the gates per subject,
`move_gates` those on moving a version into an environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pipeline import layout
from pipeline.errors import InputError
from pipeline.gitrepo import Commit, GitRepo
from pipeline.policy.checker import Checker
from pipeline.policy.declared import DeclaredPermissions
from pipeline.policy.release_approvals import PullRequestReviews, TeamResolver, resolve_teams
from pipeline.policy.results import CheckReport
from pipeline.snapshot import ParseCache, Snapshot

if TYPE_CHECKING:
    from pipeline.store import ArtifactSource


@dataclass(frozen=True)
class CheckRequest:
    """Which revisions to compare; `base=None` means the merge base with the default branch."""

    head: str = "HEAD"
    base: str | None = None
    audit: bool = False
    """Check every file at `head` against `head`'s own policies (`powerx check --all`)."""
    now: datetime | None = None
    """The clock for validity windows (default: now, UTC)."""
    reviews: PullRequestReviews | None = None
    """The reviews of the pull request under check: approvals besides signed records."""
    resolve_teams: TeamResolver | None = None
    """Adds members of teams mirrored from a forge (GitHub teams) to the base's teams."""
    base_ref: str | None = None
    """The branch the pull request targets, as CI names it (`pipeline.ci.base_ref`): the
    default base when `base` is None."""
    store: ArtifactSource | None = None
    """The artifact store: grants are compared with what the packages declare."""


def run_check(git: GitRepo, request: CheckRequest) -> CheckReport:
    """Evaluate every change between base and head; InputError for bad revisions or policies."""
    head_commit = git.resolve(request.head)
    base_commit = head_commit if request.audit else _base_commit(git, request, head_commit)
    cache: ParseCache = {}
    base, head = Snapshot(git, base_commit, cache), Snapshot(git, head_commit, cache)
    policies = base.policies()
    policies = resolve_teams(policies, request.resolve_teams)
    if request.audit:
        paths = [p for top in _ROOTS for p in git.files(head_commit, top)]
    else:
        paths = [change.path for change in git.changed_paths(base_commit, head_commit)]
    now = request.now or datetime.now(UTC)
    declared = DeclaredPermissions(request.store) if request.store is not None else None
    checker = Checker(
        policies, base, head, now=now, audit=request.audit, reviews=request.reviews,
        declared=declared,
    )  # fmt: skip
    for path in paths:
        checker.visit(layout.classify(path))
    checker.evaluate()
    if request.audit:
        checker.hold_back_unpromoted()
    return CheckReport(
        base=str(base_commit.id),
        head=str(head_commit.id),
        changed_files=len(paths),
        audit=request.audit,
        results=checker.results,
    )


_ROOTS = (layout.POLICIES, layout.ENVIRONMENTS, layout.RELEASES, layout.ENTITLEMENTS)

UNCOMMITTED_SHOWN = 3
"""How many uncommitted paths the work-tree warning names."""


def uncommitted_warning(git: GitRepo, request: CheckRequest) -> str | None:
    """A warning when HEAD is checked while the work tree has uncommitted release files.

    `powerx check` reads commits only, so such changes are not what it judged.
    """
    if request.head != "HEAD":
        return None
    paths = git.uncommitted(_ROOTS)
    if not paths:
        return None
    shown = ", ".join(paths[:UNCOMMITTED_SHOWN])
    more = len(paths) - UNCOMMITTED_SHOWN
    return (
        "warning: powerx check reads commits, not the work tree: uncommitted changes to "
        f"{shown}{f' and {more} more' if more > 0 else ''} are not checked "
        "(commit them to check them)"
    )


def _base_commit(git: GitRepo, request: CheckRequest, head: Commit) -> Commit:
    """Where the change starts: the merge base of head with `base` or the default branch.

    Like a pull request, a branch that is behind `base` is not charged with undoing
    what `base` gained since the branch forked.
    """
    if request.base is not None:
        return git.merge_base(git.resolve(request.base), head)
    branch = git.default_branch(request.base_ref)
    if branch is None:
        raise InputError(
            "cannot tell the default branch to compare against",
            hint="pass --base REV (e.g. --base origin/main), or --all to check everything",
        )
    return git.merge_base(git.resolve(branch), head)

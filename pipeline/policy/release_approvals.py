"""The approval verdict of one release for one environment, from every approval source.

Signed approval records are read from the repo at the snapshot; pull-request reviews come
in as `PullRequestReviews` (read by `pipeline.policy.github_reviews`). `powerx check`,
`promote`, `plan` and `remind` all ask this one function.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pipeline import layout
from pipeline.errors import InputError
from pipeline.gitrepo import Commit, GitRepo, read_trailers
from pipeline.gitrepo.added import AddedFiles
from pipeline.models.approvals import Teams
from pipeline.models.policy import PolicySet
from pipeline.policy.approvals import (
    Approval,
    ApprovalRequest,
    ApprovalVerdict,
    evaluate_approvals,
)
from pipeline.policy.signed_approvals import manifest_digest, signed_approvals
from pipeline.snapshot import Snapshot


@dataclass(frozen=True)
class PullRequestReviews:
    """Approvals given as reviews of a pull request, and the head they must be given on."""

    number: int
    head_sha: str
    approvals: tuple[Approval, ...] = field(default=())


TeamResolver = Callable[[Teams], Teams]
"""Adds the members of teams mirrored from a forge (GitHub teams) to `policies/teams.yaml`."""


def resolve_teams(policies: PolicySet, resolver: TeamResolver | None) -> PolicySet:
    """`policies` with forge team members added (unchanged without a resolver)."""
    if resolver is None:
        return policies
    return policies.model_copy(update={"teams": resolver(policies.teams)})


@dataclass(frozen=True)
class ReleaseApprovals:
    """The verdict, the signed records that were refused, and who asked when."""

    verdict: ApprovalVerdict
    problems: tuple[str, ...]
    author: str
    requested_at: datetime
    origin: Commit
    """The commit that added the release manifest."""

    def describe(self) -> str:
        """The verdict in one line, with every refused record."""
        return self.verdict.describe() + "".join(f"; refused record: {p}" for p in self.problems)


def release_approvals(
    snapshot: Snapshot,
    policies: PolicySet,
    plugin: str,
    version: str,
    environment: str,
    *,
    now: datetime,
    reviews: PullRequestReviews | None = None,
) -> ReleaseApprovals:
    """Judge every approval of `plugin@version` for `environment` under `policies`."""
    path = layout.release_path(plugin, version)
    raw = snapshot.read(path)
    if raw is None:
        raise InputError(f"{plugin}@{version} has no release manifest at {path}")
    author, requested_at, origin = request_origin(snapshot.git, snapshot.commit, path)
    approvals, problems = signed_approvals(snapshot, policies.teams, plugin, version, environment)
    if reviews is not None:
        approvals = [*approvals, *reviews.approvals]
    request = ApprovalRequest(
        environment,
        author,
        manifest_digest(raw),
        requested_at,
        pull_request_head=reviews.head_sha if reviews is not None else None,
    )
    verdict = evaluate_approvals(policies, request, approvals, now=now)
    return ReleaseApprovals(verdict, tuple(problems), author, requested_at, origin)


def request_origin(git: GitRepo, tip: Commit, path: str) -> tuple[str, datetime, Commit]:
    """Who published a release (the operator, else the commit author), when, and the commit:
    the newest commit on `tip`'s first-parent line that added `path` (`tip` when none did).

    A release manifest's commit comes from the repo's `release_origins` index; any other
    path is found by `walk_origin`, which gives the same answer by walking the history."""
    index = release_origins(git)
    key = index.key(path)
    origin = walk_origin(git, tip, path) if key is None else index.added(tip, key) or tip
    trailers = read_trailers(origin.message)
    author = trailers.get("Operator") or origin.author.name
    return author, datetime.fromtimestamp(origin.commit_time, UTC), origin


def walk_origin(git: GitRepo, tip: Commit, path: str) -> Commit:
    """The commit that added `path` (`tip` when none did), found by walking `path_history`:
    it reads every commit that changed the path's folder (seconds for a large `releases/`)."""
    origin = tip
    for change in git.path_history(tip, path):
        origin = change.commit
        if change.before is None:
            break
    return origin


ORIGINS_FILE = Path("powerx") / "release-origins"
"""Where the release origin index is kept, under the repo's git directory."""

_origins: weakref.WeakKeyDictionary[GitRepo, AddedFiles] = weakref.WeakKeyDictionary()
_origins_lock = threading.Lock()


def release_origins(git: GitRepo) -> AddedFiles:
    """The repo's index of the commit that added each release manifest (one per GitRepo,
    kept in `ORIGINS_FILE`; see `pipeline.gitrepo.added`)."""
    with _origins_lock:
        index = _origins.get(git)
        if index is None:
            store = Path(git.repo.path) / ORIGINS_FILE
            index = AddedFiles(git, layout.RELEASES, layout.RELEASE_FILE, store)
            _origins[git] = index
        return index

"""Edit one policy file as one commit: round-trip YAML, validated as a policy set first.

The file is read at the branch tip (the remote's tip with `--push`), edited in its
round-trip tree (comments, key order and quoting kept), and the result is validated
exactly as `powerx check` validates a policy change (`Snapshot.load_policy` for the file,
`Snapshot.policies` for the set) on a candidate commit that no branch points at. Only a
valid set is committed: one commit, or nothing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from pipeline import layout
from pipeline.errors import InputError
from pipeline.gitrepo import Commit, GitRepo
from pipeline.models.base import API_VERSION
from pipeline.models.policy import PolicySet
from pipeline.snapshot import Snapshot
from pipeline.yamlio import dump_yaml, parse_yaml

T = TypeVar("T")

YAML_WIDTH = 4096
"""Long values (PEM lines, identity patterns) are written back on one line, as people write."""

_SCRATCH_REF = "refs/powerx/validate/policy-edit"
"""Where the candidate commit waits while it is validated (deleted right after)."""

DEFAULT_FILES = {"SigningPolicy": "signing.yaml", "Teams": "teams.yaml"}
"""The file a policy kind is written to when the repo has none yet."""


@dataclass(frozen=True)
class Actor:
    """Who asks, for the commit's trailers."""

    operator: str | None = None
    ci_run: str | None = None


NOBODY = Actor()


@dataclass(frozen=True)
class PolicyView:
    """What an edit sees: the repo at the tip, its policies, and the file's round-trip tree."""

    snapshot: Snapshot
    policies: PolicySet
    path: str
    tree: CommentedMap
    created: bool
    """True when the repo has no file of this kind yet (the tree is a fresh header)."""

    def environments(self) -> list[str]:
        """The environments the repo defines (see `known_environments`)."""
        return known_environments(self.snapshot, self.policies)


@dataclass(frozen=True)
class Change(Generic[T]):
    """What an edit did (`outcome`) and the commit message that records it."""

    outcome: T
    message: str


@dataclass(frozen=True)
class Committed(Generic[T]):
    """The commit that landed the edit, and what the edit did."""

    commit: str
    path: str
    outcome: T
    created: bool


Edit = Callable[[PolicyView], Change[T]]
"""Mutates `view.tree` in place; raises InputError to refuse (nothing is committed)."""


def edit_policy(
    git: GitRepo,
    kind: str,
    edit: Edit[T],
    *,
    branch: str = "main",
    remote: str | None = None,
    when: float | None = None,
) -> Committed[T]:
    """Apply `edit` to the policy file of `kind` and commit it on `branch` (pushed if `remote`).

    With a remote the edit is made on the remote's tip, and made again on the new tip
    when others pushed first.
    """
    if remote is None:
        planned = _plan(git, _local_tip(git, branch), kind, edit, when)
        commit = git.commit(branch, planned.changes, planned.change.message, when=when)
        return planned.committed(str(commit.id))
    latest: list[_Planned[T]] = []

    def make_change(tip: Commit | None) -> tuple[dict[str, bytes | None], str]:
        latest[:] = [_plan(git, _require_tip(tip, f"{remote}/{branch}"), kind, edit, when)]
        return latest[0].changes, latest[0].change.message

    commit = git.commit_and_push(remote, branch, make_change, when=when)
    return latest[0].committed(str(commit.id))


def known_environments(snapshot: Snapshot, policies: PolicySet) -> list[str]:
    """The environments a repo defines: its promotion order, then other environments/ folders."""
    folders = snapshot.git.list_dir(snapshot.commit, layout.ENVIRONMENTS)
    names = dict.fromkeys(policies.promotion.order)
    names.update(dict.fromkeys(name for name, is_dir in folders if is_dir))
    return list(names)


def read_policies(git: GitRepo, branch: str) -> Snapshot:
    """The repo at the tip of `branch`, for listing what the policies say."""
    return Snapshot(git, _local_tip(git, branch))


def block_map(tree: CommentedMap, key: str) -> CommentedMap:
    """The mapping at `key` of `tree` (created if absent), written in block style."""
    value = tree.get(key)
    if not isinstance(value, CommentedMap):
        value = tree[key] = CommentedMap(value or {})
    value.fa.set_block_style()
    return value


def block_seq(tree: CommentedMap, key: str) -> CommentedSeq:
    """The list at `key` of `tree` (created if absent), written in block style."""
    value = tree.get(key)
    if not isinstance(value, CommentedSeq):
        value = tree[key] = CommentedSeq(value or [])
    value.fa.set_block_style()
    return value


@dataclass(frozen=True)
class _Planned(Generic[T]):
    path: str
    content: bytes
    change: Change[T]
    created: bool

    @property
    def changes(self) -> dict[str, bytes | None]:
        return {self.path: self.content}

    def committed(self, commit: str) -> Committed[T]:
        return Committed(commit, self.path, self.change.outcome, self.created)


def _local_tip(git: GitRepo, branch: str) -> Commit:
    ref = branch if branch.startswith("refs/") else f"refs/heads/{branch}"
    if ref not in git.repo.references:
        raise InputError(
            f"{git.root} has no branch {branch!r}",
            hint="pass --branch NAME (the branch that holds policies/), or run powerx init",
        )
    return git.resolve(ref)


def _require_tip(tip: Commit | None, where: str) -> Commit:
    if tip is None:
        raise InputError(f"{where} does not exist", hint="push the release repo there first")
    return tip


def _plan(git: GitRepo, tip: Commit, kind: str, edit: Edit[T], when: float | None) -> _Planned[T]:
    """The edit on top of `tip`, validated on a candidate commit; InputError if refused."""
    snapshot = Snapshot(git, tip)
    policies = snapshot.policies()
    path = policies.sources.get(kind, f"{layout.POLICIES}/{DEFAULT_FILES[kind]}")
    raw = snapshot.read(path)
    if raw is None:
        tree = CommentedMap([("apiVersion", API_VERSION), ("kind", kind)])
    else:
        tree = parse_yaml(raw, path).tree
    change = edit(PolicyView(snapshot, policies, path, tree, created=raw is None))
    content = dump_yaml(tree, width=YAML_WIDTH).encode()
    _validate(git, tip, path, content, when)
    return _Planned(path, content, change, created=raw is None)


def _validate(git: GitRepo, tip: Commit, path: str, content: bytes, when: float | None) -> None:
    """Validate the edited file and the policy set as `powerx check` does, before any commit."""
    scratch = f"{_SCRATCH_REF}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    candidate = git.commit(scratch, {path: content}, "candidate policy edit", parent=tip, when=when)
    try:
        snapshot = Snapshot(git, candidate)
        snapshot.load_policy(path)
        snapshot.policies()
    except InputError as error:
        raise InputError(
            f"the edited {path} would not be a valid policy:\n  "
            + error.diagnostics().replace("\n", "\n  "),
            hint="nothing was committed; fix the repo's policies or the command's arguments",
        ) from None
    finally:
        git.repo.references.delete(scratch)

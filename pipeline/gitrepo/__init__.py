"""The git layer: read, diff, commit and push with pygit2, never through a `git` process.

Everything reads objects straight from the object database at a revision, so a check
or a promotion never needs (or disturbs) a checkout. Writes build trees in memory
from a set of file changes and produce exactly one commit.

pygit2 stays inside this package: other modules name `Commit`, our own commit type.
"""

from __future__ import annotations

from pipeline.gitrepo.base import in_repository, init_repository, worktree_state
from pipeline.gitrepo.commit import Commit, Person, entry_id
from pipeline.gitrepo.history import PathChange
from pipeline.gitrepo.push import PushConflictError, PushRejectedError
from pipeline.gitrepo.read import ChangedPath
from pipeline.gitrepo.repo import GitRepo
from pipeline.gitrepo.trailers import Trailers, compose_message, read_trailers
from pipeline.gitrepo.write import ChangeSet

__all__ = [
    "ChangeSet",
    "ChangedPath",
    "Commit",
    "GitRepo",
    "PathChange",
    "Person",
    "PushConflictError",
    "PushRejectedError",
    "Trailers",
    "compose_message",
    "entry_id",
    "in_repository",
    "init_repository",
    "read_trailers",
    "worktree_state",
]

"""Request branches (release/..., promote/...): pushed so that running again is harmless."""

from __future__ import annotations

from pipeline.errors import InputError
from pipeline.gitrepo import Commit, GitRepo


def push_request_branch(
    git: GitRepo, remote: str, commit: Commit, branch: str
) -> tuple[Commit, str]:
    """Push `commit` as `branch`; returns the commit that is there now, and a note.

    The same content pushed again changes nothing (the remote commit is kept); other
    content replaces the branch, unless the branch moves while we push.
    """
    if git.push(remote, commit, branch, expected=None):
        return commit, ""
    tip = git.fetch(remote, branch)
    if tip is not None and tip.tree_id == commit.tree_id:
        return tip, "branch already up to date"
    if tip is None or not git.push(remote, commit, branch, expected=tip.id):
        raise InputError(
            f"could not push {branch} to {remote}: it changed while we pushed",
            hint="run the command again",
        )
    return commit, "branch replaced"

"""Writing: trees built in memory from a change set, and exactly one commit."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pygit2
from pygit2.enums import FileMode

from pipeline.errors import InputError
from pipeline.gitrepo.commit import Commit, raw
from pipeline.gitrepo.commit import tree_of as _tree
from pipeline.gitrepo.history import History
from pipeline.gitrepo.read import normalise

ChangeSet = Mapping[str, bytes | None]
"""Repo-relative path -> new content, or None to delete the file."""


class Writer(History):
    """Commits of change sets; a checked-out branch's work tree follows."""

    def build_tree(self, base: pygit2.Tree | None, changes: ChangeSet) -> pygit2.Oid:
        """A new tree: `base` with `changes` applied; folders left empty disappear."""
        oid = self._build_tree(base, changes)
        return oid if oid is not None else self.repo.TreeBuilder().write()

    def _build_tree(self, base: pygit2.Tree | None, changes: ChangeSet) -> pygit2.Oid | None:
        """`build_tree`, but None (and nothing written) when the tree would be empty."""
        nested: dict[str, dict[str, bytes | None]] = {}
        files: dict[str, bytes | None] = {}
        for path, content in changes.items():
            head, _, rest = normalise(path).partition("/")
            if rest:
                nested.setdefault(head, {})[rest] = content
            else:
                files[head] = content
        builder = self.repo.TreeBuilder(base) if base is not None else self.repo.TreeBuilder()
        for name, content in files.items():
            if content is None:
                if builder.get(name) is not None:
                    builder.remove(name)
            else:
                builder.insert(name, self.repo.create_blob(content), FileMode.BLOB)
        for name, sub_changes in nested.items():
            existing = builder.get(name)
            subtree = self.repo[existing.id] if existing is not None else None
            oid = self._build_tree(
                subtree if isinstance(subtree, pygit2.Tree) else None, sub_changes
            )
            if oid is None:
                if existing is not None:
                    builder.remove(name)
            else:
                builder.insert(name, oid, FileMode.TREE)
        return builder.write() if len(builder) else None

    def commit(
        self,
        branch: str,
        changes: ChangeSet,
        message: str,
        *,
        parent: Commit | None = None,
        when: float | None = None,
    ) -> Commit:
        """Write one commit of `changes` on `branch` (on top of `parent`, default its tip).

        When `branch` is checked out in a work tree, the changed files are updated there
        too (refusing, before anything is written, if they hold uncommitted edits).
        """
        ref_name = branch if branch.startswith("refs/") else f"refs/heads/{branch}"
        if parent is None and ref_name in self.repo.references:
            parent = Commit(self.repo.references[ref_name].peel(pygit2.Commit))
        signature = self.signature(when)
        parents = [raw(parent).id] if parent else []
        try:
            tree_id = self.build_tree(_tree(parent) if parent else None, changes)
            oid = self.repo.create_commit(None, signature, signature, message, tree_id, parents)
        except OSError as error:  # libgit2 could not write an object: names the file, no errno
            raise InputError(
                f"cannot write to the git repository {self.root}: {error}",
                hint="check that you may write its .git folder (permissions, free space)",
            ) from None
        commit = Commit(self.repo[oid].peel(pygit2.Commit))
        if self._is_checked_out(ref_name):
            self._update_work_tree(commit, list(changes))
        self.repo.references.create(ref_name, oid, force=True)
        return commit

    def _is_checked_out(self, ref_name: str) -> bool:
        if self.repo.is_bare or self.repo.head_is_detached:
            return False
        try:
            return self.repo.references["HEAD"].resolve().name == ref_name
        except (KeyError, pygit2.GitError):
            return self.repo.references["HEAD"].target == ref_name

    def _update_work_tree(self, commit: Commit, paths: list[str]) -> None:
        try:
            self.repo.checkout_tree(  # type: ignore[no-untyped-call]
                _tree(commit), paths=paths, strategy=pygit2.enums.CheckoutStrategy.SAFE
            )
        except pygit2.GitError as error:
            raise InputError(
                f"uncommitted changes in the work tree would be overwritten: {error}",
                hint="commit or stash your changes to these files, then run again",
            ) from None
        self.repo.index.read()
        for path in paths:
            if (Path(self.root) / path).exists():
                self.repo.index.add(path)
            elif path in self.repo.index:
                self.repo.index.remove(path)
        self.repo.index.write()

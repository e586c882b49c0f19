"""History along first parents: which commits changed a path, walked lazily and shared."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.gitrepo.commit import Commit, first_parent
from pipeline.gitrepo.read import Reader

FOLDER_WALK_LIMIT = 4096
"""Folder walks a GitRepo remembers (see `_folder_changes`) before it forgets them all."""


@dataclass(frozen=True)
class PathChange:
    """A commit that changed one path: the blob before and after (None: absent)."""

    commit: Commit
    before: str | None
    after: str | None


@dataclass
class _FolderWalk:
    """A first-parent walk from one commit, recording the commits that changed `folder`."""

    folder: str
    next: Commit | None
    """The next commit to look at (None: the walk reached the root, or handed over)."""
    tree: str | None
    """The folder's tree id at `next`."""
    changes: list[tuple[Commit, Commit | None]] = field(default_factory=list)
    """(commit, first parent) of every change found so far, newest first."""
    tail: _FolderWalk | None = None
    """The walk that started where this one stopped, and goes on from there."""


class History(Reader):
    """Path histories; folder walks are remembered per (start, folder) and shared."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self._walks: dict[tuple[str, str], _FolderWalk] = {}

    def path_history(self, start: Commit, path: str) -> Iterator[PathChange]:
        """The commits that changed `path`, newest first, following first parents.

        First parents are the mainline: a merged pull request shows as its merge commit.
        Only the commits that changed the file's folder are opened (see `_folder_changes`),
        so the history of many files of one folder costs about one walk of the mainline.
        """
        after = self._blob_id(start, path)
        for commit, parent in self._folder_changes(start, posixpath.dirname(path)):
            before = self._blob_id(parent, path) if parent is not None else None
            if before != after:
                yield PathChange(commit, before, after)
            after = before  # the folder, so the file, is the same down to the next change

    def _folder_changes(self, start: Commit, folder: str) -> Iterator[tuple[Commit, Commit | None]]:
        """(commit, first parent) for each commit that changed `folder`, newest first.

        The walk is lazy and shared: it is remembered by (start, folder) and goes only as
        far as a caller reads; a walk that reaches a commit where another walk of the
        folder started continues with that one, so a run that commits on top of the tip
        it read re-reads only its own new commits.
        """
        walk = self._folder_walk(start, folder)
        index = 0
        while True:
            if index < len(walk.changes):
                yield walk.changes[index]
                index += 1
            elif walk.tail is not None:
                walk, index = walk.tail, 0
            elif walk.next is None:
                return
            else:
                self._advance(walk)

    def _folder_walk(self, start: Commit, folder: str) -> _FolderWalk:
        key = (start.id, folder)
        walk = self._walks.get(key)
        if walk is None:
            if len(self._walks) >= FOLDER_WALK_LIMIT:
                self._walks.clear()
            walk = _FolderWalk(folder, start, self._tree_id(start, folder))
            self._walks[key] = walk
        return walk

    def _advance(self, walk: _FolderWalk) -> None:
        """Look at one more commit of `walk`, or hand over to a walk that started there."""
        commit = walk.next
        assert commit is not None
        other = self._walks.get((commit.id, walk.folder))
        if other is not None and other is not walk:
            walk.tail, walk.next = other, None
            return
        parent = first_parent(commit)
        before = self._tree_id(parent, walk.folder) if parent is not None else None
        if before != walk.tree:
            walk.changes.append((commit, parent))
        walk.next, walk.tree = parent, before

    def _tree_id(self, commit: Commit, folder: str) -> str | None:
        if not folder:
            return commit.tree_id
        entry = self._entry(commit, folder)
        return str(entry.id) if entry is not None else None

    def _blob_id(self, commit: Commit, path: str) -> str | None:
        entry = self._entry(commit, path)
        return str(entry.id) if entry is not None else None

    def first_parent_walk(self, start: Commit) -> Iterator[Commit]:
        """The mainline from `start` back to the root, newest first."""
        commit: Commit | None = start
        while commit is not None:
            yield commit
            commit = first_parent(commit)

"""Reading at a revision: trees, files (following links inside the tree) and diffs."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pygit2
from pygit2.enums import FileMode, FileStatus, ObjectType

from pipeline.errors import InputError, Location
from pipeline.gitrepo.base import RepoBase
from pipeline.gitrepo.commit import Commit
from pipeline.gitrepo.commit import tree_of as _tree

MAX_SYMLINK_HOPS = 8


@dataclass(frozen=True)
class ChangedPath:
    """A path that differs between two revisions."""

    path: str
    status: str  # "added" | "modified" | "deleted" | "typechange"
    old_path: str | None = None


class Reader(RepoBase):
    """Reads name the revision they read; folder trees are cached per (commit, path)."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self._trees: dict[tuple[str, str], pygit2.Tree | None] = {}

    def tree(self, commit: Commit, path: str = "") -> pygit2.Tree | None:
        """The tree at `path` in `commit`, or None when there is no folder there.

        Inside the git layer only: other layers ask `folder_id`, `file_id` or `list_dir`.
        """
        key = (commit.id, path)
        if key not in self._trees:
            self._trees[key] = self._lookup_tree(commit, path)
        return self._trees[key]

    def _lookup_tree(self, commit: Commit, path: str) -> pygit2.Tree | None:
        if not path:
            return _tree(commit)
        try:
            entry = _tree(commit)[path]
        except KeyError:
            return None
        return entry if isinstance(entry, pygit2.Tree) else None

    def folder_id(self, commit: Commit, path: str) -> str | None:
        """The tree id of the folder at `path` (equal ids: equal contents), else None."""
        tree = self.tree(commit, path)
        return None if tree is None else str(tree.id)

    def file_id(self, commit: Commit, path: str) -> str | None:
        """The blob id of a regular file at `path` (not a link or folder), else None.

        Read from the folder's (cached) tree: no file is opened.
        """
        folder, name = posixpath.split(path)
        tree = self.tree(commit, folder)
        if tree is None or name not in tree:
            return None
        entry = tree[name]
        if entry.filemode not in (FileMode.BLOB, FileMode.BLOB_EXECUTABLE):
            return None
        return str(entry.id)

    def list_dir(self, commit: Commit, path: str) -> list[tuple[str, bool]]:
        """(name, is_folder) of the entries of a folder, or [] when it does not exist."""
        tree = self.tree(commit, path)
        if tree is None:
            return []
        return [(entry.name or "", entry.type == ObjectType.TREE) for entry in tree]

    def read(self, commit: Commit, path: str, *, max_bytes: int) -> bytes | None:
        """A regular file's bytes at `commit`, or None when absent (see `read_blob`)."""
        found = self.read_blob(commit, path, max_bytes=max_bytes)
        return found[1] if found is not None else None

    def read_blob(self, commit: Commit, path: str, *, max_bytes: int) -> tuple[str, bytes] | None:
        """(object id, bytes) of a regular file at `commit`, or None when absent.

        Symbolic links are followed inside the tree; one that points outside the
        repository, or loops, is refused. A file over `max_bytes` is refused unread.
        """
        current = normalise(path)
        for _hop in range(MAX_SYMLINK_HOPS):
            entry = self._entry(commit, current)
            if entry is None:
                return None
            if entry.filemode == FileMode.LINK:
                target = self.repo[entry.id].read_raw().decode("utf-8", "replace")
                current = _follow_link(path, current, target)
                continue
            if entry.type != ObjectType.BLOB:
                return None
            blob = self.repo[entry.id]
            assert isinstance(blob, pygit2.Blob)
            if blob.size > max_bytes:
                raise InputError(
                    f"file is {blob.size:,} bytes, over the limit of {max_bytes:,}",
                    location=Location(path),
                )
            return str(blob.id), bytes(blob.read_raw())
        raise InputError(
            f"too many symbolic links (more than {MAX_SYMLINK_HOPS})", location=Location(path)
        )

    def _entry(self, commit: Commit, path: str) -> pygit2.Object | None:
        try:
            return _tree(commit)[path]
        except KeyError:
            return None

    def changed_paths(self, base: Commit, head: Commit) -> list[ChangedPath]:
        """Files that differ between two revisions, sorted by path.

        Entries with the same object id are skipped without being opened, so the cost
        follows the folders the change touches, not the size of the repository.
        """
        result: list[ChangedPath] = []
        _diff_trees(_tree(base), _tree(head), "", result)
        return sorted(result, key=lambda change: change.path)

    def blob(self, blob_id: str) -> bytes:
        """The bytes of a blob by id."""
        obj = self.repo[blob_id]
        assert isinstance(obj, pygit2.Blob)
        return bytes(obj.read_raw())

    def files(self, commit: Commit, folder: str) -> Iterator[str]:
        """Every file path below `folder` at `commit` (nothing if the folder is absent)."""
        tree = self.tree(commit, folder)
        if tree is None:
            return
        stack = [(folder, tree)]
        while stack:
            prefix, current = stack.pop()
            for entry in current:
                path = f"{prefix}/{entry.name}"
                if isinstance(entry, pygit2.Tree):
                    stack.append((path, entry))
                else:
                    yield path

    def uncommitted(self, folders: tuple[str, ...]) -> list[str]:
        """Work-tree paths under `folders` that differ from HEAD (staged, changed, new), sorted.

        An untracked folder is one entry ending in '/'; ignored files are left out.
        """
        if self.repo.is_bare:
            return []
        prefixes = tuple(f"{folder.rstrip('/')}/" for folder in folders)
        status = self.repo.status(untracked_files="normal")
        return sorted(
            path
            for path, flags in status.items()
            if path.startswith(prefixes) and flags != FileStatus.CURRENT
        )


def _diff_trees(
    old: pygit2.Tree | None, new: pygit2.Tree | None, prefix: str, out: list[ChangedPath]
) -> None:
    old_entries = {entry.name: entry for entry in old} if old is not None else {}
    new_entries = {entry.name: entry for entry in new} if new is not None else {}
    for name in old_entries.keys() | new_entries.keys():
        before, after = old_entries.get(name), new_entries.get(name)
        unchanged = before is not None and after is not None and before.id == after.id
        if unchanged and before.filemode == after.filemode:  # type: ignore[union-attr]
            continue
        path = f"{prefix}{name}"
        before_tree = before if isinstance(before, pygit2.Tree) else None
        after_tree = after if isinstance(after, pygit2.Tree) else None
        if before_tree is not None or after_tree is not None:
            _diff_trees(before_tree, after_tree, f"{path}/", out)
        before_file = before is not None and before_tree is None
        after_file = after is not None and after_tree is None
        if before_file and after_file:
            assert before is not None and after is not None
            kind = (
                "modified"
                if (before.filemode == FileMode.LINK) == (after.filemode == FileMode.LINK)
                else "typechange"
            )
            out.append(ChangedPath(path, kind))
        elif before_file:
            out.append(ChangedPath(path, "deleted"))
        elif after_file:
            out.append(ChangedPath(path, "added"))


def normalise(path: str) -> str:
    """A repo-relative POSIX path with no '.', '..' escapes or leading '/'."""
    if path.startswith("/") or "\\" in path:
        raise InputError(f"path must be relative to the repository: {path!r}")
    normal = posixpath.normpath(path)
    if normal == ".." or normal.startswith("../"):
        raise InputError(f"path escapes the repository: {path!r}")
    return normal


def _follow_link(original: str, link_path: str, target: str) -> str:
    """Resolve a symlink's target relative to the link, refusing escapes."""
    if target.startswith("/"):
        raise InputError(
            f"symbolic link points outside the repository (to {target!r})",
            location=Location(original),
            hint="commit the file itself instead of a link to it",
        )
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(link_path), target))
    if joined == ".." or joined.startswith("../"):
        raise InputError(
            f"symbolic link points outside the repository (to {target!r})",
            location=Location(original),
            hint="commit the file itself instead of a link to it",
        )
    return joined

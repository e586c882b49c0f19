"""Reading at a revision: trees, files (following links inside the tree) and diffs."""

from __future__ import annotations

import posixpath
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pygit2
from pygit2.enums import FileMode, FileStatus, ObjectType

from pipeline.errors import InputError, Location
from pipeline.gitrepo.base import RepoBase
from pipeline.gitrepo.commit import Commit, raw
from pipeline.gitrepo.commit import tree_of as _tree
from pipeline.gitrepo.treediff import TreeCache, TreeFormatError, diff_trees

MAX_SYMLINK_HOPS = 8
TREES_KEPT = 128
"""Folder trees a reader keeps (a wide one, 5,000 entries, holds about 400 KB)."""


@dataclass(frozen=True)
class ChangedPath:
    """A path that differs between two revisions."""

    path: str
    status: str  # "added" | "modified" | "deleted" | "typechange"
    old_path: str | None = None


class Reader(RepoBase):
    """Reads name the revision they read; the folder trees read last are kept per
    (commit, path), `TREES_KEPT` of them, the least recently used dropped first."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self._trees: dict[tuple[str, str], pygit2.Tree | None] = {}
        self._trees_lock = threading.Lock()
        self._raw_trees = TreeCache(self._read_tree)

    def tree(self, commit: Commit, path: str = "") -> pygit2.Tree | None:
        """The tree at `path` in `commit`, or None when there is no folder there.

        Inside the git layer only: other layers ask `folder_id`, `file_id` or `list_dir`.
        """
        return self._kept_tree(commit, path)

    def _kept_tree(self, commit: Commit, path: str) -> pygit2.Tree | None:
        """`tree`, from the kept trees when it is there (file reads use it too)."""
        key = (commit.id, path)
        with self._trees_lock:
            if key in self._trees:
                found = self._trees[key] = self._trees.pop(key)  # now the most recent
                return found
        found = self._lookup_tree(commit, path)
        with self._trees_lock:
            self._trees[key] = found
            while len(self._trees) > TREES_KEPT:
                del self._trees[next(iter(self._trees))]
        return found

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
        tree = self._kept_tree(commit, folder)
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
            if not isinstance(entry, pygit2.Blob):
                return None
            blob = entry
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
        """The entry at a normalised `path`, found in its folder's kept tree (a wide folder
        is not read again for each of its files)."""
        folder, name = posixpath.split(path)
        tree = self._kept_tree(commit, folder)
        if tree is None:
            return None
        try:
            return tree[name]
        except KeyError:
            return None

    def changed_paths(self, base: Commit, head: Commit) -> list[ChangedPath]:
        """Files that differ between two revisions, sorted by path.

        Entries with the same object id are skipped without being opened, so the cost
        follows the folders the change touches, not the size of the repository; in a wide
        folder only the bytes where the two trees differ are parsed (`treediff`).
        """
        result: list[ChangedPath] = []
        diff_trees(
            self._raw_trees,
            raw(base).tree_id.raw,
            raw(head).tree_id.raw,
            "",
            lambda path, status: result.append(ChangedPath(path, status)),
        )
        return sorted(result, key=lambda change: change.path)

    def _read_tree(self, oid: bytes) -> bytes:
        """The raw bytes of the tree `oid` (a raw id)."""
        kind, data = self.repo.odb.read(pygit2.Oid(raw=oid))
        if kind != ObjectType.TREE:
            raise TreeFormatError(f"object {oid.hex()} is not a tree")
        return bytes(data)

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

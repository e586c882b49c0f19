"""The commit that added each file `<folder>/<name>/<sub>/<file>`, kept by commit id.

`path_history` answers "which commit added this file" by walking the first parents back
and reading the folder's tree at every commit where it changed: for a folder like
`releases/` with 5,000 entries and thousands of changes, seconds per file. `AddedFiles`
reads each first-parent commit once for every file of the pattern: it compares the folder's
tree with its parent's (`rawtree.changed_folders`: byte ranges of the raw trees, so only
the entries that may have changed are looked up) and remembers the commits that added a file, by
position on the mainline.

The mainline is the first-parent line of the newest commit asked from (ids, oldest first).
Reading is lazy and shared: a question reads commits from the top down only until it finds
its answer, and what it read serves every other file. A commit above the indexed one is
added on top; one that is not a descendant of the indexed top (a reset, a force-push) is
walked back to the last commit both lines share and the index is cut there.

The answer for `tip`: the newest commit at or below `tip` on its first-parent line whose
tree has the file and whose first parent's tree has not (a root commit that has it added
it); None when there is none. That is exactly where `path_history(tip, path)` stops at its
first change with nothing before (`request_origin`).

Names covered: `name` made of [a-z0-9-] (at most 63, the plugin names of `layout`); the
caller walks the history for any other path. With a `store`, the index is kept in a stamped,
checksummed file (`pipeline.stampfile`): one that is unreadable, of another version, or
whose checksum or shape is wrong is rebuilt, never trusted; every answer is checked
against the commit it names before it is given. Safe to share between threads.
"""

from __future__ import annotations

import bisect
import json
import logging
import re
import threading
from collections.abc import Callable
from pathlib import Path

import pygit2
from pygit2.enums import ObjectType

from pipeline import stampfile
from pipeline.gitrepo.base import RepoBase
from pipeline.gitrepo.commit import Commit, raw
from pipeline.gitrepo.rawtree import changed_folders

FORMAT = "powerx-added-files"
INDEX_VERSION = 1
"""Bump when what the index holds, or how a commit is read into it, changes."""
SAVE_AFTER = 32
"""A question that read this many commits (or cut the index) saves it when it is done."""
SAVE_EVERY = 2048
"""A long read saves on the way, so that a killed process keeps most of its work."""
BACKGROUND_STEP = 256
"""Commits the background reader reads per hold of the lock (questions go in between)."""

NAME = re.compile(r"[a-z0-9-]{1,63}\Z")
"""The names covered (those `rawtree.changed_folders` finds; the plugin names of `layout`)."""

log = logging.getLogger(__name__)

Key = tuple[str, str]
"""(name, sub): the file `<folder>/<name>/<sub>/<file>`."""


class AddedFiles:
    """Which first-parent commit added each `<folder>/<name>/<sub>/<file>` (see the module)."""

    def __init__(self, git: RepoBase, folder: str, file: str, store: Path | None = None) -> None:
        self.repo = git.repo
        self.folder, self.file, self.store = folder, file, store
        self._stamp = {**stampfile.stamp(FORMAT, INDEX_VERSION), "pattern": self._pattern()}
        self._lock = threading.Lock()
        self._loaded = store is None
        self._clear()
        self._checked: set[tuple[Key, int]] = set()
        self._background: threading.Thread | None = None
        self._raw: dict[pygit2.Oid, bytes] = {}

    def _pattern(self) -> str:
        return f"{self.folder}/*/*/{self.file}"

    def _clear(self) -> None:
        self._ids: list[str] = []
        """The mainline, oldest first."""
        self._position: dict[str, int] | None = {}
        """Commit id -> position (made on first use after a load)."""
        self._read_from = 0
        """Commits at positions >= this were read (the top of the mainline)."""
        self._adds: dict[Key, list[int]] = {}
        """The positions of the commits that added each file, ascending."""
        self._stored: dict[Key, str] = {}
        """Rows of the loaded index not used yet (`_positions` reads them)."""
        self._unsaved = 0
        self._cut = False

    # -- questions ---------------------------------------------------------------------

    def key(self, path: str) -> Key | None:
        """(name, sub) of a path the index covers, else None."""
        parts = path.split("/")
        if len(parts) != 4 or parts[0] != self.folder or parts[3] != self.file:
            return None
        if not NAME.match(parts[1]) or not parts[2] or parts[2] in (".", ".."):
            return None
        return parts[1], parts[2]

    def added(self, tip: Commit, key: Key) -> Commit | None:
        """The newest commit at or below `tip` (first parents) that added the file of `key`;
        None when none did."""
        with self._lock:
            if not self._loaded:
                self._load()
            try:
                found = self._find(tip, key)
                if found is not None and not self._holds(key, found):
                    raise ValueError(f"{self._ids[found]} did not add {key}")
            except ValueError as error:  # a stored row that is not one, or a wrong answer
                log.warning("added-files index %s: %s; rebuilding", self.store, error)
                self._clear()
                self._cut = True
                found = self._find(tip, key)
            if self._cut or self._unsaved >= SAVE_AFTER:
                self._save()
            return Commit(self._commit(self._ids[found])) if found is not None else None

    def read_all(self, tip: Commit, *, stop: Callable[[], bool] = lambda: False) -> None:
        """Read the whole mainline of `tip` (a few hundred commits per hold of the lock)."""
        while not stop():
            with self._lock:
                if not self._loaded:
                    self._load()
                self._place(tip)
                if self._read_from == 0:
                    if self._unsaved or self._cut:
                        self._save()
                    return
                self._read_down(self._read_from - BACKGROUND_STEP)

    def read_all_in_background(self, tip: Commit) -> None:
        """`read_all` in a daemon thread (once; a later call while it runs does nothing)."""
        with self._lock:
            done = self._loaded and self._read_from == 0 and self._ids[-1:] == [tip.id]
            if done or (self._background is not None and self._background.is_alive()):
                return
            self._background = threading.Thread(
                target=self._read_all_logged, args=(tip,), name="added-files", daemon=True
            )
            self._background.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the background reader; True when none runs (any more)."""
        background = self._background
        if background is not None:
            background.join(timeout)
        return background is None or not background.is_alive()

    def _read_all_logged(self, tip: Commit) -> None:
        try:
            self.read_all(tip)
        except Exception:  # questions go on reading what they need; the log says why
            log.exception("added-files index: reading the history of %s failed", tip.id)

    # -- the mainline --------------------------------------------------------------------

    def _find(self, tip: Commit, key: Key) -> int | None:
        top = self._place(tip)
        while True:
            positions = self._positions(key)
            below = bisect.bisect_right(positions, top)
            if below:
                return positions[below - 1]
            if self._read_from == 0:
                return None
            try:
                self._read_down(self._read_from - 1)
            except KeyError:  # a commit above `tip` is gone (a rewritten history, collected)
                if self._read_from <= top + 1:
                    raise
                self._cut_at(top + 1)

    def _place(self, tip: Commit) -> int:
        """`tip`'s position, putting it on the mainline first when it is not there."""
        known = self._position_of(tip.id)
        if known is not None:
            return known
        new: list[str] = []
        commit: pygit2.Commit | None = raw(tip)
        base = -1
        while commit is not None:
            found = self._position_of(str(commit.id))
            if found is not None:
                base = found
                break
            new.append(str(commit.id))
            commit = self._commit(commit.parent_ids[0]) if commit.parent_ids else None
        keep = base + 1
        if keep < len(self._ids):
            log.info("added-files index: %s is not above the indexed top; cut at %d", tip.id, keep)
            self._cut_at(keep)
        read_before = self._read_from < keep
        new.reverse()
        for commit_id in new:
            if self._position is not None:
                self._position[commit_id] = len(self._ids)
            self._ids.append(commit_id)
        if not read_before:
            self._read_from = len(self._ids)  # nothing read: questions read from the top
        else:
            for position in range(keep, len(self._ids)):
                self._read(position)
        return len(self._ids) - 1

    def _position_of(self, commit_id: str) -> int | None:
        """The position of a commit on the mainline, None when it is not there."""
        if self._ids and self._ids[-1] == commit_id:
            return len(self._ids) - 1
        if self._position is None:
            self._position = {commit: at for at, commit in enumerate(self._ids)}
            if len(self._position) != len(self._ids):
                raise ValueError("a commit is on the mainline twice")
        return self._position.get(commit_id)

    def _cut_at(self, keep: int) -> None:
        """Forget the commits from position `keep` up (no longer on the mainline)."""
        del self._ids[keep:]
        self._position = None
        for key in list(self._stored):
            self._positions(key)
        for key in list(self._adds):
            positions = self._adds[key]
            del positions[bisect.bisect_left(positions, keep) :]
            if not positions:
                del self._adds[key]
        self._read_from = min(self._read_from, keep)
        self._checked = {(key, at) for key, at in self._checked if at < keep}
        self._cut = True

    def _read_down(self, lowest: int) -> None:
        """Read the commits below the read part, down to position `lowest` (at least one)."""
        lowest = max(0, min(lowest, self._read_from - 1))
        for position in range(self._read_from - 1, lowest - 1, -1):
            self._read(position)
            self._read_from = position
            if self._unsaved >= SAVE_EVERY:
                self._save()

    def _read(self, position: int) -> None:
        """Record the files the commit at `position` added."""
        commit = self._commit(self._ids[position])
        parent = self._commit(self._ids[position - 1]) if position else None
        for key in self._added_by(commit, parent):
            self._adds[key] = self._positions(key)
            bisect.insort(self._adds[key], position)
        self._unsaved += 1

    def _commit(self, commit_id: str | pygit2.Oid) -> pygit2.Commit:
        found = self.repo[commit_id]
        assert isinstance(found, pygit2.Commit)
        return found

    # -- one commit ----------------------------------------------------------------------

    def _added_by(self, commit: pygit2.Commit, parent: pygit2.Commit | None) -> list[Key]:
        """The covered files `commit` has and `parent` has not."""
        after = _subtree(commit.tree, self.folder)
        before = _subtree(parent.tree, self.folder) if parent is not None else None
        if after is None or after == before:
            return []
        new, old = self._raw_tree(after), self._raw_tree(before) if before is not None else b""
        added = []
        new_tree, old_tree = self._tree(after), self._tree(before)
        assert new_tree is not None
        for name in sorted(changed_folders(old, new)):  # candidates: the trees decide
            now = _subtree(new_tree, name)
            was = _subtree(old_tree, name) if old_tree is not None else None
            if now is not None and now != was:
                added += [(name, sub) for sub in self._added_below(was, now)]
        return added

    def _added_below(self, before: pygit2.Oid | None, after: pygit2.Oid) -> list[str]:
        """The subs of one name whose `file` is in `after`'s tree and not in `before`'s."""
        new, old = self._tree(after), self._tree(before)
        if new is None:
            return []
        old_subs = {entry.name: entry for entry in old} if old is not None else {}
        subs = []
        for entry in new:
            name = entry.name or ""
            was = old_subs.get(name)
            if not isinstance(entry, pygit2.Tree) or (was is not None and was.id == entry.id):
                continue
            had = isinstance(was, pygit2.Tree) and self.file in was
            if self.file in entry and not had:
                subs.append(name)
        return subs

    def _raw_tree(self, oid: pygit2.Oid) -> bytes:
        """A folder tree's bytes; the last two are kept (reading down the mainline, a
        commit's parent tree is the next commit's tree)."""
        found = self._raw.get(oid)
        if found is None:
            found = self.repo.odb.read(oid)[1]
            if len(self._raw) >= 2:
                self._raw.pop(next(iter(self._raw)))
            self._raw[oid] = found
        return found

    def _tree(self, oid: pygit2.Oid | None) -> pygit2.Tree | None:
        found = self.repo.get(oid) if oid is not None else None
        return found if isinstance(found, pygit2.Tree) else None

    def _holds(self, key: Key, position: int) -> bool:
        """Whether the commit at `position` did add the file (an answer is checked once)."""
        if (key, position) in self._checked:
            return True
        path = f"{self.folder}/{key[0]}/{key[1]}/{self.file}"
        commit = self._commit(self._ids[position])
        parents = commit.parent_ids
        if position and (not parents or str(parents[0]) != self._ids[position - 1]):
            return False
        if not position and parents:
            return False
        parent = self._commit(parents[0]) if parents else None
        holds = _has(commit.tree, path) and (parent is None or not _has(parent.tree, path))
        if holds:
            self._checked.add((key, position))
        return holds

    # -- the stored index ----------------------------------------------------------------

    def _load(self) -> None:
        self._loaded = True
        assert self.store is not None
        body = stampfile.read(self.store, self._stamp)
        if body is None:
            return
        try:
            self._decode(body)
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            log.warning("added-files index %s is not usable (%s); rebuilding", self.store, error)
            self._clear()

    def _save(self) -> None:
        """Write the index (a repo we may not write to keeps it in memory: the next attempt
        comes after as many commits were read again)."""
        if self.store is not None:
            stampfile.write(self.store, self._stamp, self._encode())
        self._cut, self._unsaved = False, 0

    def _encode(self) -> bytes:
        flat: list[str] = []
        for (name, sub), positions in self._adds.items():
            flat += [name, sub, ",".join(map(str, positions))]
        for (name, sub), row in self._stored.items():
            flat += [name, sub, row]
        body = {"ids": "".join(self._ids), "read_from": self._read_from, "adds": flat}
        return json.dumps(body, separators=(",", ":")).encode()

    def _decode(self, body: bytes) -> None:
        """The stored index (its rows are checked when they are first used: `_positions`)."""
        data = json.loads(body)
        joined, read_from, flat = data["ids"], data["read_from"], data["adds"]
        if not isinstance(joined, str) or len(joined) % 40 or not _HEX.fullmatch(joined):
            raise ValueError("the mainline is not a list of commit ids")
        ids = [joined[at : at + 40] for at in range(0, len(joined), 40)]
        if type(read_from) is not int or not 0 <= read_from <= len(ids):
            raise ValueError(f"read_from {read_from!r} is not a position")
        if not isinstance(flat, list) or len(flat) % 3:
            raise ValueError("the added files are not rows")
        keys = list(zip(flat[0::3], flat[1::3], strict=True))
        stored = dict(zip(keys, flat[2::3], strict=True))
        if len(stored) != len(keys):
            raise ValueError("a file has two rows")
        self._ids, self._position, self._read_from = ids, None, read_from
        self._adds, self._stored = {}, stored

    def _positions(self, key: Key) -> list[int]:
        """The positions of the commits that added `key`'s file (a stored row is read and
        checked on its first use; ValueError when it is not one)."""
        found = self._adds.get(key)
        if found is None and key in self._stored:
            row = self._stored.pop(key)
            ok = isinstance(row, str) and _ROW.fullmatch(row)
            found = [int(at) for at in row.split(",")] if ok else []
            if found != sorted(set(found)) or not found:
                raise ValueError(f"{key}: {str(row)[:100]!r} is not a list of positions")
            if not self._read_from <= found[0] <= found[-1] < len(self._ids):
                raise ValueError(f"{key}: a position out of the read part")
            self._adds[key] = found
        return found or []


_ROW = re.compile(r"[0-9]+(,[0-9]+)*")
_HEX = re.compile(r"[0-9a-f]*")


def _subtree(tree: pygit2.Tree, name: str) -> pygit2.Oid | None:
    try:
        entry = tree[name]
    except KeyError:
        return None
    return entry.id if entry.type == ObjectType.TREE else None


def _has(tree: pygit2.Tree, path: str) -> bool:
    try:
        tree[path]
    except KeyError:
        return False
    return True

"""The files that differ between two trees, read from the trees' raw bytes.

A git tree is a sorted run of entries, each `<octal mode> <name>\\0<20-byte id>`. Two
versions of a wide folder (releases/ with 5,000 plugins) differ in a few entries, so their
bytes differ only in a window: `changed_entries` skips the common prefix and suffix with
byte comparisons (memcmp, not a Python loop over entries) and parses only the window.
To cut exactly at entry boundaries it needs the old tree's entry offsets; a `TreeCache`
keeps them per tree id, and works out the new tree's from the old one's, so walking a
history parses each wide tree at most once, and mostly only its changed window.

Semantics are those of comparing the trees entry by entry: an entry is unchanged when its
id and (normalised, as libgit2 reports it) mode are; folders whose id changed are compared
in turn; no rename detection (a rename is a deletion and an addition).
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate

TREE = 0o040000
LINK = 0o120000
COMMIT = 0o160000
BLOB = 0o100644
BLOB_EXECUTABLE = 0o100755

_ENTRY = re.compile(rb"([0-7]+) ([^\0]+)\0(.{20})", re.S)
_WHOLE_ENTRY = re.compile(rb"[0-7]+ [^\0]+\0.{20}", re.S)
CACHED_SIZE = 4096
"""Trees of at least this many bytes keep their entry offsets (smaller ones parse fast)."""
CACHED_TREES = 64
"""How many wide trees a cache holds (about 200 KB each for 5,000 entries)."""

Entry = tuple[int, bytes]
"""A tree entry's normalised mode and raw 20-byte object id."""


class TreeFormatError(ValueError):
    """Bytes that are not a git tree."""


@dataclass(frozen=True)
class ParsedTree:
    """A tree's raw bytes and where each entry starts (plus the length, last)."""

    raw: bytes
    offsets: list[int]


def normalise_mode(mode: int) -> int:
    """A tree entry's mode as libgit2 reports it (git_tree_entry_filemode)."""
    if mode & 0o170000 == TREE:
        return TREE
    if mode & 0o111:
        return BLOB_EXECUTABLE
    if mode & 0o170000 in (COMMIT, LINK):
        return mode & 0o170000
    return BLOB


def parse(raw: bytes) -> ParsedTree:
    """Every entry's offset in a whole tree (TreeFormatError if `raw` is not one)."""
    offsets = [0, *accumulate(map(len, _WHOLE_ENTRY.findall(raw)))]
    if offsets[-1] != len(raw):  # the matches are in order: no gap when they add up
        raise TreeFormatError(f"not a git tree ({len(raw)} bytes)")
    return ParsedTree(raw, offsets)


def entry_at(raw: bytes, offset: int) -> tuple[str, Entry, int]:
    """(name, entry, end) of the entry starting at `offset`."""
    match = _ENTRY.match(raw, offset)
    if match is None:
        raise TreeFormatError(f"not a git tree: cannot read an entry at byte {offset}")
    mode, name, oid = match.groups()
    return name.decode("utf-8", "surrogateescape"), (normalise_mode(int(mode, 8)), oid), match.end()


def common_prefix(a: bytes, b: bytes) -> int:
    """How many leading bytes `a` and `b` share (binary search over slices: C speed)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[low:middle] == b[low:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def common_suffix(a: bytes, b: bytes, limit: int) -> int:
    """How many trailing bytes `a` and `b` share, at most `limit`."""
    low, high = 0, limit
    end_a, end_b = len(a), len(b)
    while low < high:
        middle = (low + high + 1) // 2
        if a[end_a - middle : end_a - low] == b[end_b - middle : end_b - low]:
            low = middle
        else:
            high = middle - 1
    return low


def changed_entries(
    old: ParsedTree, new_raw: bytes
) -> tuple[dict[str, Entry], dict[str, Entry], ParsedTree]:
    """The entries of `old` and of the tree `new_raw` inside the window where they differ
    (name -> entry; names in both may still be equal entries), and the new tree parsed."""
    raw, offsets = old.raw, old.offsets
    prefix = common_prefix(raw, new_raw)
    suffix = common_suffix(raw, new_raw, min(len(raw), len(new_raw)) - prefix)
    first = bisect_right(offsets, prefix) - 1  # the last entry starting in the prefix
    start = offsets[first]  # a boundary in both trees: the bytes before it are the same
    shift = len(raw) - len(new_raw)
    new_entries: dict[str, Entry] = {}
    new_offsets = offsets[: first + 1]
    position = start
    while True:  # parse the new tree until the rest of it is the old tree's tail
        if position >= len(new_raw) - suffix:  # same bytes to the end: same entries if
            last = bisect_left(offsets, position + shift)  # the old tree has one here
            if last < len(offsets) and offsets[last] == position + shift:
                break
        name, entry, position = entry_at(new_raw, position)
        new_entries[name] = entry
        new_offsets.append(position)
    old_entries: dict[str, Entry] = {}
    for index in range(first, last):
        name, entry, _ = entry_at(raw, offsets[index])
        old_entries[name] = entry
    new_offsets.extend(map((-shift).__add__, offsets[last + 1 :]))
    return old_entries, new_entries, ParsedTree(new_raw, new_offsets)


class TreeCache:
    """Parsed wide trees by id, a bounded number, safe to share between threads."""

    def __init__(self, read: Callable[[bytes], bytes], size: int = CACHED_TREES) -> None:
        self._read = read
        self._size = size
        self._trees: dict[bytes, ParsedTree] = {}
        self._lock = threading.Lock()

    def get(self, oid: bytes) -> ParsedTree | None:
        """The parsed tree `oid` if it is kept."""
        return self._trees.get(oid)

    def keep(self, oid: bytes, tree: ParsedTree) -> None:
        """Keep a wide tree (a small one is cheaper to parse again than to keep)."""
        if len(tree.raw) < CACHED_SIZE:
            return
        with self._lock:
            self._trees[oid] = tree
            while len(self._trees) > self._size:
                del self._trees[next(iter(self._trees))]

    def parsed(self, oid: bytes) -> ParsedTree:
        """The tree `oid`, parsed (kept when wide)."""
        found = self._trees.get(oid)
        if found is None:
            found = parse(self._read(oid))
            self.keep(oid, found)
        return found

    def entries(self, oid: bytes | None) -> dict[str, Entry]:
        """Every entry of the tree `oid` (none for None)."""
        if oid is None:
            return {}
        tree = self.parsed(oid)
        found = {}
        for index in range(len(tree.offsets) - 1):
            name, entry, _ = entry_at(tree.raw, tree.offsets[index])
            found[name] = entry
        return found

    def diff(
        self, old: bytes | None, new: bytes | None
    ) -> tuple[dict[str, Entry], dict[str, Entry]]:
        """The entries of two trees (None: no tree) that may differ, by name."""
        if old is None or new is None:
            return self.entries(old), self.entries(new)
        before, after = self._trees.get(old), self._trees.get(new)
        if before is None and after is not None:  # walking back in history: the new is kept
            new_entries, old_entries, before = changed_entries(after, self._read(old))
            self.keep(old, before)
            return old_entries, new_entries
        before = before if before is not None else self.parsed(old)
        new_raw = after.raw if after is not None else self._read(new)
        old_entries, new_entries, parsed_new = changed_entries(before, new_raw)
        if after is None:
            self.keep(new, parsed_new)
        return old_entries, new_entries


ChangeSink = Callable[[str, str], None]
"""Called with (path, status) for each changed file."""


def diff_trees(
    cache: TreeCache, old: bytes | None, new: bytes | None, prefix: str, out: ChangeSink
) -> None:
    """Report every file that differs between the trees `old` and `new` (raw ids; None:
    no tree) below `prefix`: status added, deleted, modified or typechange."""
    old_entries, new_entries = cache.diff(old, new)
    for name in old_entries.keys() | new_entries.keys():
        before, after = old_entries.get(name), new_entries.get(name)
        if before == after:
            continue
        path = f"{prefix}{name}"
        before_tree = before is not None and before[0] == TREE
        after_tree = after is not None and after[0] == TREE
        if before_tree or after_tree:
            diff_trees(
                cache,
                before[1] if before is not None and before_tree else None,
                after[1] if after is not None and after_tree else None,
                f"{path}/",
                out,
            )
        before_file = before is not None and not before_tree
        after_file = after is not None and not after_tree
        if before_file and after_file:
            assert before is not None and after is not None
            same_kind = (before[0] == LINK) == (after[0] == LINK)
            out(path, "modified" if same_kind else "typechange")
        elif before_file:
            out(path, "deleted")
        elif after_file:
            out(path, "added")

"""Which folder entries differ between two versions of a wide git tree, read from raw bytes.

A tree object is its entries sorted by name, each `<mode> <name>\\0<20-byte id>`. Two
versions of a folder with thousands of entries (`releases/`) differ in a few: what differs
lies between their common prefix and their common suffix, found by comparing bytes (a
binary search over slices, done in C), and only that window is parsed. Iterating the
entries instead costs about as much as reading the tree; libgit2's tree diff descends into
every sub-folder.

Only folder entries (mode 40000) whose names are made of [a-z0-9-] (at most 63) are seen:
such a header cannot start inside another entry's header, so a match inside an id (a
chance of about 2^-60 per id) can neither hide nor replace a true entry. An entry the same
in both trees is inside both windows or outside both (prefix bytes sit at the same offsets,
suffix bytes at the same distance from the end), so it never shows as changed.
"""

from __future__ import annotations

import re

import pygit2

from pipeline.gitrepo.treediff import common_prefix, common_suffix

_HEADER = re.compile(rb"40000 ([a-z0-9-]{1,63})\0")
"""A folder entry with a covered name; its 20-byte id follows."""
_MARGIN = 100
"""More than the longest covered entry (`40000 `, 63 bytes of name, NUL, 20-byte id)."""


def changed_folders(old: bytes, new: bytes) -> dict[str, tuple[pygit2.Oid | None, pygit2.Oid]]:
    """Covered folder entries of raw tree `new` that `old` lacks or holds with another id:
    name -> (id in old or None, id in new).

    Both trees are sorted lists of entries, so what differs lies between their common
    prefix and common suffix (found by comparing bytes); only that window, widened by one
    entry on each side, is parsed. An entry header is `40000 <name>\\0` and the covered
    names hold no space, so a match inside an id can neither hide nor replace a true entry.
    """
    prefix = common_prefix(old, new)
    suffix = common_suffix(old, new, min(len(old), len(new)) - prefix)
    start = max(0, prefix - _MARGIN)
    before = _entries(old, start, len(old) - suffix + _MARGIN)
    after = _entries(new, start, len(new) - suffix + _MARGIN)
    return {name: (before.get(name), oid) for name, oid in after.items() if before.get(name) != oid}


def _entries(tree: bytes, start: int, end: int) -> dict[str, pygit2.Oid]:
    """Covered folder entries whose header starts in tree[start:end]: name -> id."""
    found = {}
    for match in _HEADER.finditer(tree, start, min(end, len(tree))):
        at = match.end()
        if at + 20 <= len(tree):
            found[match.group(1).decode()] = pygit2.Oid(raw=tree[at : at + 20])
    return found

"""Which folder entries may differ between two versions of a wide git tree, from raw bytes.

A tree object is its entries sorted by name, each `<mode> <name>\\0<20-byte id>`. Two
versions of a folder with thousands of entries (`releases/`) differ in a few: what differs
lies between their common prefix and their common suffix, found by comparing bytes (a
binary search over slices, done in C), and only that window is searched. Iterating the
entries instead costs about as much as reading the tree; libgit2's tree diff descends into
every sub-folder.

Only folder entries (mode 40000) whose names are made of [a-z0-9-] (at most 63) are
looked for. The window's bytes are searched for their headers without knowing where
entries start, so what is found are candidates: every covered folder entry that differs
has its header in the new window (an entry the same in both trees is inside both windows
or outside both), but the same bytes may also sit inside another entry (inside an id, or
a name such as `p0010 40000 p001`). The caller looks each candidate up in the real trees.
"""

from __future__ import annotations

import re

from pipeline.gitrepo.treediff import common_prefix, common_suffix

_HEADER = re.compile(rb"40000 ([a-z0-9-]{1,63})\0")
"""A folder entry's header with a covered name (or the same bytes inside another entry)."""
_MARGIN = 100
"""More than the longest covered entry (`40000 `, 63 bytes of name, NUL, 20-byte id)."""


def changed_folders(old: bytes, new: bytes) -> set[str]:
    """Names that may be covered folder entries of raw tree `new` that `old` lacks or holds
    with another id: a superset of them (see the module), to be looked up in the trees.

    Both trees are sorted lists of entries, so what differs lies between their common
    prefix and common suffix (found by comparing bytes); only the new tree's window,
    widened by one entry on each side, is searched for folder headers.
    """
    prefix = common_prefix(old, new)
    suffix = common_suffix(old, new, min(len(old), len(new)) - prefix)
    start = max(0, prefix - _MARGIN)
    end = min(len(new) - suffix + _MARGIN, len(new))
    return {match.group(1).decode() for match in _HEADER.finditer(new, start, end)}

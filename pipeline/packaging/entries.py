"""The one archive-entry validator, for `.pxp` packages and offline bundles alike.

Every tar entry is judged before its bytes go anywhere:

* its name is relative, without `..`, `\\`, a drive letter or control characters;
* it is a regular file or a folder: links of any kind, devices and FIFOs are refused;
* it appears once, is not inside something that is a file, and no file stands where
  other entries need a folder;
* there are at most `max_entries` entries.

The validator raises `UnsafeEntry` with a plain sentence; each reader turns it into its
own error (an InputError for a package, a GateError for a bundle).
"""

from __future__ import annotations

import re
import tarfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath

MAX_ENTRIES = 100_000
"""Default limit on the number of entries in an archive."""

_DRIVE = re.compile(r"^[A-Za-z]:")
_KINDS = {
    tarfile.CHRTYPE: "character device",
    tarfile.BLKTYPE: "block device",
    tarfile.FIFOTYPE: "FIFO",
}


class UnsafeEntry(ValueError):  # noqa: N818 (a reason, turned into each reader's error)
    """An archive entry that must not be read or written."""


def entry_name(raw: str) -> str:
    """The normalised name of an entry (`a/./b` -> `a/b`), or UnsafeEntry."""
    parts = PurePosixPath(raw).parts
    if raw.startswith("/") or _DRIVE.match(raw):
        reason = "is an absolute path"
    elif ".." in parts:
        reason = "climbs out with '..'"
    elif "\\" in raw or any(ord(char) < 32 or ord(char) == 127 for char in raw):
        reason = "contains a backslash or a control character"
    elif not parts:
        reason = "is empty"
    else:
        return "/".join(parts)
    raise UnsafeEntry(f"unsafe entry {raw!r}: its name {reason}")


def check_entry_type(member: tarfile.TarInfo, name: str) -> None:
    """UnsafeEntry unless the entry is a regular file or a folder."""
    if member.issym() or member.islnk():
        kind = "symbolic" if member.issym() else "hard"
        raise UnsafeEntry(
            f"entry {name!r} is a {kind} link to {member.linkname!r}: archives may not"
            " contain links"
        )
    if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE):
        kind = _KINDS.get(member.type, f"entry of type {member.type!r}")
        raise UnsafeEntry(f"entry {name!r} is a {kind}: archives hold only files and folders")


@dataclass
class EntryValidator:
    """Judges the entries of one archive in stream order (it remembers what it saw)."""

    max_entries: int = MAX_ENTRIES
    count: int = 0
    files: set[str] = field(default_factory=set)
    folders: set[str] = field(default_factory=set)
    parents: set[str] = field(default_factory=set)

    def check(self, member: tarfile.TarInfo) -> str:
        """The entry's normalised name, or UnsafeEntry naming what is wrong with it."""
        self.count += 1
        if self.count > self.max_entries:
            raise UnsafeEntry(f"the archive has more than {self.max_entries:,} entries")
        name = entry_name(member.name)
        check_entry_type(member, name)
        if name in self.files or name in self.folders:
            raise UnsafeEntry(f"entry {name!r} appears twice in the archive")
        parents = {parent.as_posix() for parent in PurePosixPath(name).parents} - {"."}
        clash = parents & self.files
        if clash:
            raise UnsafeEntry(f"entry {name!r} is inside {min(clash)!r}, which is a file")
        if member.isdir():
            self.folders.add(name)
        else:
            if name in self.parents:
                raise UnsafeEntry(f"entry {name!r} is a file, but other entries are inside it")
            self.files.add(name)
        self.parents |= parents
        return name

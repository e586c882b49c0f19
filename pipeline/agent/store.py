"""A host's plugin store: artifacts by digest, extracted versions, one active link per plugin.

```
<root>/objects/sha256/<aa>/<hex>              .pxp artifacts, content-addressed (read-only)
<root>/plugins/<name>/<version>-<digest12>/   extracted, verified versions (complete or absent)
<root>/active/<name> -> ../plugins/<name>/... the version the host runs (a symlink)
<root>/status.json                            what the last sync observed (AgentStatus)
<root>/staging/                               extractions in progress (removed on the next sync)
<root>/.lock                                  held (flock) by the sync that owns the store
```

Every change is atomic: a version folder appears by one `rename` of a fully extracted and
fsynced folder, the active link switches by `os.replace` of a new symlink over the old one,
and the status file is written to a temporary file and renamed. A reader (the host) resolves
`active/<name>` once and sees one whole version, old or new, never half of one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.fsutil import atomic_write, file_lock, fs_errors, fsync_directory, make_dirs
from pipeline.jsonio import read_json_model
from pipeline.models.agent import AgentStatus
from pipeline.store.cas import ContentAddressedDirectory

STATUS_FILE = "status.json"
LOCK_FILE = ".lock"
MAX_STATUS_BYTES = 16 * 1024 * 1024
"""Largest status file read (a host with thousands of plugins writes well under this)."""
DIGEST_PREFIX = 12


class PluginStore:
    """The store rooted at `root` (created on first use)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.artifacts = ContentAddressedDirectory(self.root / "objects")

    def __repr__(self) -> str:
        return f"PluginStore({str(self.root)!r})"

    @property
    def plugins_dir(self) -> Path:
        return self.root / "plugins"

    @property
    def active_dir(self) -> Path:
        return self.root / "active"

    @property
    def staging_dir(self) -> Path:
        return self.root / "staging"

    @property
    def status_path(self) -> Path:
        return self.root / STATUS_FILE

    # -- versions ----------------------------------------------------------------------

    def version_dir(self, name: str, version: str, digest: str) -> Path:
        """Where the extracted version with this artifact digest lives (if installed)."""
        return self.plugins_dir / name / f"{version}-{digest[:DIGEST_PREFIX]}"

    def is_installed(self, name: str, version: str, digest: str) -> bool:
        """Whether that version is extracted (a version folder is always complete)."""
        return self.version_dir(name, version, digest).is_dir()

    def identify(self, name: str, folder: Path) -> tuple[str, str] | None:
        """(version, digest) of an installed version folder, found by its digest prefix."""
        version, sep, prefix = folder.name.rpartition("-")
        if not sep or len(prefix) != DIGEST_PREFIX or folder.parent != self.plugins_dir / name:
            return None
        shard = self.artifacts.root / "sha256" / prefix[:2]
        matches = sorted(p.name for p in shard.glob(f"{prefix}*")) if shard.is_dir() else []
        full = [m for m in matches if len(m) == 64]
        return (version, full[0]) if len(full) == 1 else None

    def install(self, staged: Path, name: str, version: str, digest: str) -> Path:
        """Move a fully extracted folder into place with one rename; its final path."""
        target = self.version_dir(name, version, digest)
        make_dirs(target.parent)
        with fs_errors("install", target):
            _fsync_tree(staged)
            staged.replace(target)
            fsync_directory(target.parent)
        return target

    @contextmanager
    def staging(self) -> Iterator[Path]:
        """A fresh, empty folder to extract into; removed afterwards."""
        make_dirs(self.staging_dir)
        with fs_errors("create a temporary directory in", self.staging_dir):
            work = Path(tempfile.mkdtemp(prefix="sync-", dir=self.staging_dir))
        try:
            yield work
        finally:
            shutil.rmtree(work, ignore_errors=True)

    # -- active links ------------------------------------------------------------------

    def active_link(self, name: str) -> Path:
        return self.active_dir / name

    def active_target(self, name: str) -> Path | None:
        """The version folder `active/<name>` points at, or None when inactive."""
        link = self.active_link(name)
        if not link.is_symlink():
            return None
        return (link.parent / link.readlink()).resolve()

    def active_names(self) -> list[str]:
        """Every plugin with an active link, sorted."""
        if not self.active_dir.is_dir():
            return []
        return sorted(
            p.name for p in self.active_dir.iterdir() if p.is_symlink() and not _hidden(p)
        )

    def activate(self, name: str, version_dir: Path) -> None:
        """Point `active/<name>` at `version_dir` in one atomic rename."""
        make_dirs(self.active_dir)
        relative = os.path.relpath(version_dir, self.active_dir)
        temp = self.active_dir / f".{name}.{os.getpid()}.tmp"
        with fs_errors("activate", self.active_link(name)):
            temp.unlink(missing_ok=True)
            temp.symlink_to(relative, target_is_directory=True)
            try:
                temp.replace(self.active_link(name))
            except BaseException:
                temp.unlink(missing_ok=True)
                raise
            fsync_directory(self.active_dir)

    def deactivate(self, name: str) -> bool:
        """Remove `active/<name>` (the version stays installed); whether it was active."""
        link = self.active_link(name)
        if not link.is_symlink():
            return False
        with fs_errors("deactivate", link):
            link.unlink()
            fsync_directory(self.active_dir)
        return True

    # -- status ------------------------------------------------------------------------

    def read_status(self) -> AgentStatus | None:
        """The last sync's report, or None before the first sync."""
        return read_json_model(
            self.status_path,
            AgentStatus,
            max_bytes=MAX_STATUS_BYTES,
            what="the store's status file",
            hint="run 'powerx agent sync' again: it rewrites the file",
        )

    def write_status(self, status: AgentStatus) -> None:
        """Replace the status file atomically."""
        text = status.model_dump_json(by_alias=True, indent=2, exclude_none=False) + "\n"
        atomic_write(self.status_path, text.encode())

    # -- housekeeping ------------------------------------------------------------------

    @contextmanager
    def locked(self, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
        """Hold the store's lock: one sync at a time, across processes.

        When another process holds it, `on_wait` is called once, then this one waits.
        """
        make_dirs(self.root)
        with file_lock(self.root / LOCK_FILE, on_wait=on_wait):
            yield

    def clean_leftovers(self) -> list[Path]:
        """Remove what an interrupted sync left behind (call with the lock held)."""
        removed: list[Path] = []
        if self.staging_dir.is_dir():
            for entry in self.staging_dir.iterdir():
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
        if self.active_dir.is_dir():
            for entry in self.active_dir.iterdir():
                if _hidden(entry) and entry.name.endswith(".tmp"):
                    entry.unlink(missing_ok=True)
                    removed.append(entry)
        if self.plugins_dir.is_dir():
            for entry in self.plugins_dir.glob("*/.*.tmp"):
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
        return removed


def _hidden(path: Path) -> bool:
    return path.name.startswith(".")


def _fsync_tree(root: Path) -> None:
    """Make every file and folder below `root` durable before it is renamed into place."""
    for folder, _dirs, files in os.walk(root):
        for name in files:
            fd = os.open(Path(folder) / name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_directory(Path(folder))

"""`powerx agent prune`: remove installed versions a host no longer needs.

A version folder is kept when it is active, when the last sync wanted or saw it (desired
or observed), or when it is one of the `keep` most recently installed others of its plugin
(rollback targets, a fast re-enable). A removed folder is first renamed into `staging/`,
so `plugins/` never shows half a version, then deleted. Artifacts in `objects/` stay:
a pruned version is re-installed from them by the next sync that asks for it.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pipeline.agent.store import PluginStore
from pipeline.errors import InputError
from pipeline.fsutil import fs_errors, make_dirs


@dataclass(frozen=True)
class PruneResult:
    """The version folders removed, and those kept."""

    removed: tuple[Path, ...]
    kept: tuple[Path, ...]


def prune(store: PluginStore, *, keep: int = 2) -> PruneResult:
    """Remove unneeded version folders (holding the store's lock); see the module docstring."""
    if keep < 0:
        raise InputError(f"--keep must be 0 or more, not {keep}")
    removed: list[Path] = []
    kept: list[Path] = []
    with store.locked():
        protected = _protected(store)
        plugins = store.plugins_dir
        for plugin_dir in sorted(plugins.iterdir()) if plugins.is_dir() else []:
            if not plugin_dir.is_dir() or plugin_dir.name.startswith("."):
                continue
            versions = [
                d for d in plugin_dir.iterdir() if d.is_dir() and not d.name.startswith(".")
            ]
            needed = [d for d in versions if d in protected]
            others = sorted(
                (d for d in versions if d not in protected),
                key=lambda d: d.stat().st_mtime_ns,
                reverse=True,
            )
            kept += needed + others[:keep]
            for folder in others[keep:]:
                _remove(store, folder)
                removed.append(folder)
    return PruneResult(tuple(removed), tuple(sorted(kept)))


def _protected(store: PluginStore) -> set[Path]:
    status = store.read_status()  # an unreadable status stops the prune (InputError)
    protected = {target for name in store.active_names() if (target := store.active_target(name))}
    for name, entry in (status.plugins if status is not None else {}).items():
        protected.add(store.version_dir(name, entry.desired_version, entry.desired_digest))
        if entry.observed_version and entry.observed_digest:
            protected.add(store.version_dir(name, entry.observed_version, entry.observed_digest))
    return protected


def _remove(store: PluginStore, folder: Path) -> None:
    make_dirs(store.staging_dir)
    with fs_errors("remove", folder):
        trash = Path(tempfile.mkdtemp(prefix="prune-", dir=store.staging_dir))
        folder.replace(trash / folder.name)
    shutil.rmtree(trash, ignore_errors=True)

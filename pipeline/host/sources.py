"""What an installed version was built from: source digests, git state, revisions.

A plugin folder's sources are every file below it except what builds produce or tools keep
(`dist/`, the build output, `.git`, caches, hidden folders). Their digest (names and
contents) and the folder's git commit are recorded per installed package digest in
`<store>/host/sources/<plugin>.json`, so the revision the host serves always leads back to
the sources that were built.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from pipeline.agent.install import read_installed_manifest
from pipeline.agent.store import PluginStore
from pipeline.errors import FileSystemError, InputError
from pipeline.fsutil import atomic_write
from pipeline.gitrepo import worktree_state
from pipeline.host.instance import Version
from pipeline.jsonio import read_json_model
from pipeline.models.base import API_VERSION
from pipeline.models.host import SourceRecord, SourceRecords
from pipeline.models.plugin import DIST_DIR, PluginManifest

SOURCES_DIR = Path("host") / "sources"
SKIPPED_DIRS = frozenset({DIST_DIR, "__pycache__", "node_modules", ".git", ".powerx"})
SKIPPED_SUFFIXES = (".pyc", ".pyo", ".swp", "~")
MAX_SOURCE_FILES = 20_000
MAX_RECORDS_BYTES = 4 * 1024 * 1024
KEPT_RECORDS = 50


def is_source(relative: str, build_output: str) -> bool:
    """Whether a path (relative to the plugin folder, '/'-separated) is a source file."""
    parts = relative.split("/")
    if relative == build_output or relative.startswith(build_output.rstrip("/") + "/"):
        return False
    if any(part in SKIPPED_DIRS or part.startswith(".") for part in parts):
        return False
    return not parts[-1].endswith(SKIPPED_SUFFIXES)


def source_files(plugin_dir: Path, build_output: str) -> Iterator[tuple[str, Path]]:
    """(relative name, path) of every source file, sorted; bounded in count."""
    found: list[tuple[str, Path]] = []
    for folder, dirs, files in os.walk(plugin_dir):
        base = Path(folder)
        rel_base = base.relative_to(plugin_dir).as_posix()
        dirs[:] = [
            d for d in dirs if is_source(d if rel_base == "." else f"{rel_base}/{d}", build_output)
        ]
        for name in files:
            relative = name if rel_base == "." else f"{rel_base}/{name}"
            if is_source(relative, build_output):
                found.append((relative, base / name))
                if len(found) > MAX_SOURCE_FILES:
                    raise InputError(
                        f"{plugin_dir} holds more than {MAX_SOURCE_FILES} source files",
                        hint="point at the plugin's own folder",
                    )
    return iter(sorted(found))


def source_digest(plugin_dir: Path, build_output: str) -> tuple[str, float]:
    """sha256 over the sources' names and contents, and their newest modification time."""
    digest = hashlib.sha256()
    newest = 0.0
    for relative, path in source_files(plugin_dir, build_output):
        try:
            with path.open("rb") as handle:
                newest = max(newest, os.fstat(handle.fileno()).st_mtime)
                content = hashlib.sha256(handle.read()).hexdigest()
        except OSError as error:
            raise FileSystemError("read", path, error) from None
        digest.update(f"{relative}\0{content}\n".encode())
    return digest.hexdigest(), newest


def newest_mtime(folder: Path) -> float | None:
    """The newest modification time of any file below `folder` (None: no file)."""
    newest: float | None = None
    for base, _dirs, files in os.walk(folder):
        for name in files:
            with_time = (Path(base) / name).lstat().st_mtime
            newest = with_time if newest is None else max(newest, with_time)
    return newest


def record_source(
    store: PluginStore,
    manifest: PluginManifest,
    digest: str,
    plugin_dir: Path,
    sources: str,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> SourceRecord:
    """Remember what the package `digest` was built from (atomically); the record."""
    state = worktree_state(plugin_dir)
    record = SourceRecord(
        version=manifest.version,
        digest=digest,
        source_dir=str(plugin_dir.resolve()),
        source_digest=sources,
        git_commit=state[0] if state else None,
        git_dirty=state[1] if state else False,
        installed_at=clock(),
    )
    records = read_records(store, manifest.name)
    kept = dict(list(records.records.items())[-(KEPT_RECORDS - 1) :])
    kept.pop(digest, None)
    kept[digest] = record
    updated = records.model_copy(update={"records": kept})
    path = store.root / SOURCES_DIR / f"{manifest.name}.json"
    atomic_write(path, (updated.model_dump_json(by_alias=True, indent=2) + "\n").encode())
    return record


def read_records(store: PluginStore, plugin: str) -> SourceRecords:
    """The source records of `plugin` (empty when none)."""
    found = read_json_model(
        store.root / SOURCES_DIR / f"{plugin}.json",
        SourceRecords,
        max_bytes=MAX_RECORDS_BYTES,
        what="the source records",
        hint="delete the file: the next install writes it again",
    )
    return found or SourceRecords(api_version=API_VERSION, kind="SourceRecords", plugin=plugin)


def revision_of(store: PluginStore, plugin: str, version: str, digest: str) -> str:
    """The revision name of an installed version (with its sources, when recorded)."""
    try:
        record = read_records(store, plugin).records.get(digest)
    except InputError:
        record = None
    return record.revision if record is not None else f"{version}@{digest[:12]}"


def read_version(store: PluginStore, name: str, folder: Path) -> Version | None:
    """The installed version in `folder` (None when the store cannot tell its digest)."""
    found = store.identify(name, folder)
    if found is None:
        return None
    version, digest = found
    manifest = read_installed_manifest(folder)
    return Version(
        plugin=name,
        version=version,
        digest=digest,
        folder=folder,
        manifest=manifest,
        revision=revision_of(store, name, version, digest),
    )

"""Building many catalog pages at once: the stale ones, split over worker processes.

A sync after an approval rebuilds a page or two; a first sync, a new trust policy or a new
catalog format rebuilds every page. Pages are independent (each reads its own plugin's
files), so past `PAGES_PER_WORKER` stale pages they are built by up to `WORKERS` processes
(spawned: no fork of an open repository), each opening the repo at the same commit.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path

from pipeline.gitrepo import GitRepo
from pipeline.market.catalog_build import Build, build_pages, source_digest, trust_digest
from pipeline.market.catalog_files import previous_page
from pipeline.models.catalog import IndexEntry
from pipeline.snapshot import Snapshot

WORKERS = min(4, os.cpu_count() or 1)
PAGES_PER_WORKER = 500
"""Fewer stale pages than this per process are built in the sync's own process."""


def build_catalog_pages(
    snapshot: Snapshot,
    plugins: list[str],
    previous: Mapping[str, IndexEntry],
    *,
    now: datetime,
    workers: int | None = None,
) -> Build:
    """Every listed plugin's entry at `snapshot`: reused when its sources are unchanged,
    else built (in worker processes when there are many)."""
    trust = trust_digest(snapshot.policies())
    reused: dict[str, IndexEntry] = {}
    stale: list[str] = []
    for plugin in plugins:
        entry = previous.get(plugin)
        if entry is not None and entry.source_digest == source_digest(snapshot, plugin, trust):
            reused[plugin] = entry
        else:
            stale.append(plugin)
    if workers is None:
        workers = min(WORKERS, len(stale) // PAGES_PER_WORKER)
    if workers <= 1:
        build = build_pages(
            snapshot, stale, previous, now=now, old_page=lambda p: previous_page(snapshot, p)
        )
    else:
        jobs = [
            (
                snapshot.git.root,
                snapshot.commit.id,
                chunk,
                now,
                {p: previous[p] for p in chunk if p in previous},
            )
            for chunk in (stale[start::workers] for start in range(workers))
        ]
        spawn = multiprocessing.get_context("spawn")
        build = Build()
        with ProcessPoolExecutor(workers, spawn) as pool:
            for part in pool.map(_build_chunk, jobs):
                build.entries.update(part.entries)
                build.pages.update(part.pages)
                build.problems += part.problems
        build.problems.sort()
    build.entries.update(reused)
    return build


def _build_chunk(
    job: tuple[Path, str, list[str], datetime, dict[str, IndexEntry]],
) -> Build:
    root, commit, plugins, now, previous = job
    git = GitRepo(root)
    snapshot = Snapshot(git, git.resolve(commit))
    return build_pages(
        snapshot, plugins, previous, now=now, old_page=lambda p: previous_page(snapshot, p)
    )

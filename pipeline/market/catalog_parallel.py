"""Building many catalog pages at once: the stale ones, split over processes.

A sync after an approval rebuilds a page or two; a first sync, a new trust policy or a new
catalog format rebuilds every page. Pages are independent (each reads its own plugin's
files), so past `PAGES_PER_WORKER` stale pages they are split over up to `WORKERS`
processes: the sync's own process builds one share while spawned workers (no fork of an
open repository) build the others, each opening the repo at the same commit.

Pages are rendered (`page_bytes`) where they are built: a worker sends back bytes and
index entries, not page models (unpickling 5,000 pages cost the sync seconds).

A build allocates hundreds of thousands of objects that live until it ends (every parsed
file stays in the snapshot's cache) and makes no reference cycles: the cyclic garbage
collector, which would walk that growing heap again and again, is paused while it runs.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pipeline.gitrepo import GitRepo
from pipeline.market.catalog_build import Build, build_pages, source_digest, trust_digest
from pipeline.market.catalog_files import page_bytes, previous_page
from pipeline.market.catalog_signers import Row, SignerMemo, load_memo, save_memo
from pipeline.models.catalog import IndexEntry
from pipeline.snapshot import Snapshot

WORKERS = min(4, os.cpu_count() or 1)
PAGES_PER_WORKER = 500
"""Fewer stale pages than this per process are built in the sync's own process alone."""

Job = tuple[Path, str, list[str], datetime, dict[str, IndexEntry], bool]
"""A worker's share: repo, commit, plugins, clock, their index entries, use the signer index."""


@dataclass
class PagesBuilt:
    """The catalog's pages at one revision, rendered."""

    entries: dict[str, IndexEntry] = field(default_factory=dict)
    """Every listed plugin's index entry (reused ones included)."""
    pages: dict[str, bytes] = field(default_factory=dict)
    """The rebuilt pages, as the catalog stores them (the others are as they were)."""
    widened: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    """Per rebuilt page: each version's widened permissions (from its review)."""
    problems: list[str] = field(default_factory=list)
    """Plugins whose files could not be read (each keeps its previous entry and page)."""
    signers: dict[str, Row] = field(default_factory=dict)
    """The signer verifications the build verified or reused (`catalog_signers`)."""

    def add(self, other: PagesBuilt) -> None:
        """Take in another share's pages."""
        self.entries.update(other.entries)
        self.pages.update(other.pages)
        self.widened.update(other.widened)
        self.problems += other.problems
        self.signers.update(other.signers)


def rendered(build: Build, memo: SignerMemo) -> PagesBuilt:
    """A build with its pages rendered (and the signer verifications it used)."""
    return PagesBuilt(
        signers=memo.used,
        entries=build.entries,
        pages={plugin: page_bytes(page) for plugin, page in build.pages.items()},
        widened={
            plugin: {v.version: v.permissions_widened for v in page.versions}
            for plugin, page in build.pages.items()
        },
        problems=build.problems,
    )


def build_catalog_pages(
    snapshot: Snapshot,
    plugins: list[str],
    previous: Mapping[str, IndexEntry],
    *,
    now: datetime,
    workers: int | None = None,
    remember: bool | None = None,
) -> PagesBuilt:
    """Every listed plugin's entry at `snapshot`: reused when its sources are unchanged,
    else built (shared with worker processes when there are many). With `remember` (by
    default: when there are many) signers are taken from and added to the signer index;
    a page or two are verified without it (reading and writing the index costs more)."""
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
    workers = max(workers, 1)
    shares = [stale[start::workers] for start in range(workers)]
    if not stale:
        return PagesBuilt(entries=reused)
    if remember is None:
        remember = len(stale) >= PAGES_PER_WORKER
    with gc_paused():
        memo = load_memo(snapshot.git) if remember else SignerMemo()
        build = _build_shares(snapshot, shares, previous, now, memo if remember else None)
        if remember:
            save_memo(snapshot.git, SignerMemo(memo.known, build.signers, memo.trust))
    build.entries.update(reused)
    return build


def _build_shares(
    snapshot: Snapshot,
    shares: list[list[str]],
    previous: Mapping[str, IndexEntry],
    now: datetime,
    memo: SignerMemo | None,
) -> PagesBuilt:
    """The first share built here, the others by spawned workers at the same time."""
    own, others = shares[0], shares[1:]

    def own_build() -> PagesBuilt:
        build = build_pages(
            snapshot,
            own,
            previous,
            now=now,
            old_page=lambda p: previous_page(snapshot, p),
            memo=memo,
        )
        return rendered(build, memo or SignerMemo())

    if not others:
        return own_build()
    jobs: list[Job] = [
        (
            snapshot.git.root,
            snapshot.commit.id,
            share,
            now,
            _known(previous, share),
            memo is not None,
        )
        for share in others
    ]
    with ProcessPoolExecutor(len(jobs), multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_build_share, job) for job in jobs]
        build = own_build()
        for future in futures:
            build.add(future.result())
    build.problems.sort()
    return build


def _known(previous: Mapping[str, IndexEntry], plugins: list[str]) -> dict[str, IndexEntry]:
    return {plugin: previous[plugin] for plugin in plugins if plugin in previous}


def _build_share(job: Job) -> PagesBuilt:
    """A worker's share: the repo opened afresh at the same commit."""
    root, commit, plugins, now, previous, remember = job
    git = GitRepo(root)
    snapshot = Snapshot(git, git.resolve(commit))
    with gc_paused():
        memo = load_memo(git) if remember else None
        build = build_pages(
            snapshot,
            plugins,
            previous,
            now=now,
            old_page=lambda p: previous_page(snapshot, p),
            memo=memo,
        )
        return rendered(build, memo or SignerMemo())


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off for the block (as it was after)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()

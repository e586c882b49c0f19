"""Building many catalog pages at once: the stale ones, split over processes.

A sync after an approval rebuilds a page or two; a first sync, a new trust policy or a new
catalog format rebuilds every page. Pages are independent (each reads its own plugin's
files), so past `PAGES_PER_WORKER` stale pages they are built in chunks by up to `WORKERS`
processes: worker processes take chunks from the front, the sync's own process takes
them from the back (those no worker has started), so a worker that started late or a
process that runs slower simply builds fewer. Each worker opens the repo afresh at the
same commit; it is forked where that is safe (`worker_context`), so it starts with every
module imported, else spawned.

Pages are rendered (`page_bytes`) where they are built: a worker sends back bytes and
index entries, not page models (unpickling 5,000 pages cost the sync seconds).

A build allocates hundreds of thousands of objects that live until it ends and makes no
reference cycles: the cyclic garbage collector, which would walk that growing heap again
and again, is paused while it runs (and never runs in a worker, whose life is one build).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.context import BaseContext
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
CHUNK_PAGES = 250
"""Pages a process builds at a time: workers take chunks from the front, the sync's own
process from the back, so whoever started late or runs slower simply builds fewer."""

Job = tuple[Path, str, list[str], datetime, dict[str, IndexEntry], bool]
"""A chunk: repo, commit, plugins, clock, their index entries, use the signer index."""


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
    if not stale:
        return PagesBuilt(entries=reused)
    if remember is None:
        remember = len(stale) >= PAGES_PER_WORKER
    with gc_paused():
        memo = load_memo(snapshot.git) if remember else None
        build = _build_chunks(snapshot, chunked(stale, workers), previous, now, memo, workers)
        if memo is not None:
            save_memo(snapshot.git, SignerMemo(memo.known, build.signers, trust))
    build.entries.update(reused)
    return build


def chunked(stale: list[str], workers: int) -> list[list[str]]:
    """The stale plugins in chunks of at most `CHUNK_PAGES` (one chunk for one process;
    at least two per process otherwise, so the last ones even out the finish)."""
    if workers == 1:
        return [stale]
    size = max(1, min(CHUNK_PAGES, -(-len(stale) // (2 * workers))))
    return [stale[start : start + size] for start in range(0, len(stale), size)]


def _build_chunks(
    snapshot: Snapshot,
    chunks: list[list[str]],
    previous: Mapping[str, IndexEntry],
    now: datetime,
    memo: SignerMemo | None,
    workers: int,
) -> PagesBuilt:
    """The chunks built by worker processes from the front (the first one always) and by
    this process from the back, until they meet; merged in chunk order (the same result
    whoever built what)."""
    remember = memo is not None
    jobs: list[Job] = [
        (snapshot.git.root, snapshot.commit.id, chunk, now, _known(previous, chunk), remember)
        for chunk in chunks
    ]

    def build_here(job: Job) -> PagesBuilt:
        return build_chunk(snapshot, job, memo.known if memo is not None else None)

    if len(jobs) == 1:
        return build_here(jobs[0])
    built: list[PagesBuilt | None] = [None] * len(jobs)
    processes = max(1, min(len(jobs) - 1, workers - 1))
    with ProcessPoolExecutor(processes, worker_context(), initializer=gc.disable) as pool:
        futures = [pool.submit(_build_share, job) for job in jobs]
        try:
            # from the back, what no worker has started yet; the first chunk is always a
            # worker's (it starts on it at once: this process would not wait any less)
            for number in reversed(range(1, len(jobs))):
                if not futures[number].cancel():
                    break
                built[number] = build_here(jobs[number])
            for number, future in enumerate(futures):
                if built[number] is None:
                    built[number] = future.result()
        except BaseException:
            pool.shutdown(cancel_futures=True)  # the rest would be built for nothing
            raise
    build = PagesBuilt()
    for part in built:
        assert part is not None
        build.add(part)
    build.problems.sort()
    return build


def worker_context() -> BaseContext:
    """How worker processes start: forked (imports done, nothing to load again) when this
    process runs a single thread on Linux, so no lock another thread holds is copied
    locked; spawned otherwise. A worker opens the repository afresh either way and never
    touches this process's."""
    if sys.platform == "linux" and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _known(previous: Mapping[str, IndexEntry], plugins: list[str]) -> dict[str, IndexEntry]:
    return {plugin: previous[plugin] for plugin in plugins if plugin in previous}


_opened: dict[tuple[Path, str, bool], tuple[Snapshot, Mapping[str, Row] | None]] = {}
"""A worker's repository at the commit it builds (and the signer index), opened once for
all its chunks."""


def _build_share(job: Job) -> PagesBuilt:
    """A chunk built in a worker process: the repo opened afresh at the same commit."""
    root, commit, _plugins, _now, _previous, remember = job
    key = (root, commit, remember)
    if key not in _opened:
        _opened.clear()
        git = GitRepo(root)
        _opened[key] = (
            Snapshot(git, git.resolve(commit)),
            load_memo(git).known if remember else None,
        )
    snapshot, known = _opened[key]
    return build_chunk(snapshot, job, known)


def build_chunk(snapshot: Snapshot, job: Job, known: Mapping[str, Row] | None) -> PagesBuilt:
    """One chunk's pages at `snapshot` (`known`: the signer index, None: not used)."""
    _root, _commit, plugins, now, previous, _remember = job
    memo = SignerMemo(known) if known is not None else None
    with gc_paused():
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
    """The cyclic garbage collector off for the block (as it was after).

    What the block allocated and kept joins the oldest generation as it is re-enabled
    (`gc.freeze` then `gc.unfreeze`, unless something else holds objects frozen): left in
    the youngest, the first collection after the block would walk all of it at once,
    about 0.1 s after a first sync, on the sync's critical path. It is walked by the next
    full collection, like any long-lived object."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if gc.get_freeze_count() == 0:
                gc.freeze()
                gc.unfreeze()
            gc.enable()

"""Writing the static site: render every planned page, then swap the new site in.

`build_site` checks the output folder first (absent, empty, or a previous build marked by
`site.MANIFEST`; never the release repo or a folder holding it), renders into a hidden
sibling folder (`.NAME.building-*`), and swaps it in with two renames: the previous site
is moved aside, the new one moved in, the previous one removed. An interrupted build leaves
the previous site in place (and its unfinished folder, removed by the next build).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from pipeline import __version__
from pipeline.errors import InputError
from pipeline.fsutil import fs_errors, make_dirs
from pipeline.policy.release_approvals import release_origins
from pipeline.snapshot import Snapshot
from pipeline.web import audit
from pipeline.web.app import STATIC, STATIC_FILES, VIEWS, Console
from pipeline.web.site import (
    AUDIT_JSON,
    MANIFEST,
    SITE,
    PageCache,
    SiteContext,
    json_twin,
    plan,
    site_map,
)
from pipeline.web.sitelinks import SiteMap, rewrite_html, root_prefix
from pipeline.web.views import Data, NotFoundError, Params, Source, View

BUILDING = ".building-"
OLD = ".previous-"
WORKERS = min(4, os.cpu_count() or 1)
"""Processes that render pages by default: one per core, at most 4."""
PAGES_PER_WORKER = 250
"""Fewer pages than this a process are rendered in the build's own process (no start-up)."""
CHUNKS = 8
"""Chunks of pages per worker process: the slow pages (matrix) spread over all of them."""


@dataclass(frozen=True)
class SiteReport:
    """What a build wrote."""

    output: Path
    head: str
    pages: int
    files: int
    seconds: float


def check_output(repo_dir: Path, output: Path) -> Path:
    """The output folder, absolute, once it is safe to replace (InputError, exit 2, if not)."""
    target = output.resolve()
    repo = repo_dir.resolve()
    if target == repo or repo.is_relative_to(target):
        raise InputError(
            f"-o {output}: {'is' if target == repo else 'holds'} the release repo {repo_dir}",
            hint="write the site to a folder of its own, e.g. -o _site",
        )
    if target.exists() and not target.is_dir():
        raise InputError(f"-o {output} is a file", hint="give a folder (it is created)")
    if target.is_dir() and any(target.iterdir()) and not (target / MANIFEST).is_file():
        raise InputError(
            f"-o {output} is a folder that is not empty and not a site this command built "
            f"(it has no {MANIFEST})",
            hint="give an empty or new folder, or remove this one first",
        )
    return target


def build_site(
    repo_dir: Path,
    output: Path,
    *,
    say: Callable[[str], None] = lambda line: None,
    workers: int | None = None,
) -> SiteReport:
    """Build the static site of the release repo at `repo_dir` into `output` (atomically),
    its pages rendered by `workers` processes (None: one per core, if the site is large)."""
    started = time.perf_counter()
    target = check_output(repo_dir, output)
    console = site_console(repo_dir)
    context = SiteContext(console.source())
    make_dirs(target.parent)
    for stale in target.parent.glob(f".{target.name}{BUILDING}*"):
        shutil.rmtree(stale, ignore_errors=True)  # an interrupted build's folder
    with fs_errors("create a folder beside", target):
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}{BUILDING}", dir=target.parent))
    try:
        pages, files = write_site(console, context, staging, say, workers)
        manifest = {
            "generator": "powerx site build",
            "version": __version__,
            "head": context.source.head.id,
            "pages": pages,
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        swap(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    seconds = time.perf_counter() - started
    return SiteReport(target, context.source.head.id, pages, files + 1, seconds)


def write_site(
    console: Console,
    context: SiteContext,
    out: Path,
    say: Callable[[str], None],
    workers: int | None,
) -> tuple[int, int]:
    """Render every page of the site into `out`: (pages, files written)."""
    cpu = CpuClock()
    trail = context.trail  # the audit index: read (or brought up to date) once, here
    cpu.lap("audit trail")
    views = [view for view in VIEWS if view.name in SITE]
    planned = plan(views, context)
    cpu.lap("page list")
    statics = [f"static/{name}" for name in STATIC_FILES]
    site = site_map(planned, views, [*statics, AUDIT_JSON])
    writer = Writer(out)
    for name in STATIC_FILES:
        writer.write(f"static/{name}", (STATIC / name).read_bytes())
    entries = [audit.entry_data(entry) for entry in trail] if "audit" in SITE else []
    writer.write(AUDIT_JSON, dump({"head": context.source.head.id, "entries": entries}))
    write_page(console, writer, site, "index.html", "index.html", index_data(context, views))
    jobs = [Job(item.view.name, item.page.params, item.page.data, item.file) for item in planned]
    if workers is None:  # as many as the cores, each with enough pages to pay its start
        workers = min(WORKERS, len(jobs) // PAGES_PER_WORKER)
    workers = max(1, min(workers, len(jobs)))
    say(f"{len(planned) + 1} pages, {len(site.files)} files, {workers} process(es)")
    written = 0
    if workers == 1:
        cache = PageCache(context.source, context.now)
        render_jobs(console, context.source, site, writer, jobs, cache)
    else:
        chunks = chunked(jobs, CHUNKS * workers)
        head = context.source.head.id
        if _asks_for_approvals(context.source):  # release pages ask who added each release:
            release_origins(context.source.git).read_all(context.source.head)  # read once, here
        spawn = multiprocessing.get_context("spawn")  # no fork of an open repository
        setup = (console.repo_dir, head, site, out, context.now)
        with ProcessPoolExecutor(workers, spawn, initializer=_start_worker, initargs=setup) as pool:
            written = sum(pool.map(_render_chunk, chunks))
    cpu.lap("pages")
    say(f"CPU seconds: {cpu}")
    return len(planned) + 1, writer.count + written


class CpuClock:
    """CPU seconds (user + system, of this process and the workers it waited for) spent
    in each step of a build: where a build's time goes, on a busy machine too."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = self.now()

    @staticmethod
    def now() -> float:
        own = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

    def lap(self, step: str) -> None:
        """Book the CPU seconds since the last lap to `step`."""
        now = self.now()
        self.laps[step] = now - self._last
        self._last = now

    def __str__(self) -> str:
        return ", ".join(f"{step} {seconds:.2f}" for step, seconds in self.laps.items())


@dataclass(frozen=True)
class Job:
    """A planned page as a worker gets it: the view by name, so it pickles."""

    view: str
    params: dict[str, str]
    data: Data | None
    file: str


def chunked(jobs: list[Job], count: int) -> list[list[Job]]:
    """`jobs` dealt into `count` chunks, one page after another, so that each holds some of
    every view (the slow matrix pages spread over all); the pages of a view's `group`
    (a plugin's release pages, next to each other in the plan) stay in one chunk."""
    units: list[list[Job]] = []
    last: tuple[str, str] | None = None
    for job in jobs:
        group = SITE[job.view].group
        key = (job.view, job.params[group]) if group is not None else None
        if key is not None and key == last:
            units[-1].append(job)
        else:
            units.append([job])
        last = key
    return [[job for unit in units[start::count] for job in unit] for start in range(count)]


def render_jobs(
    console: Console,
    source: Source,
    site: SiteMap,
    writer: Writer,
    jobs: list[Job],
    cache: PageCache,
) -> int:
    """Write the pages of `jobs`; the number of files written."""
    views = {view.name: view for view in VIEWS}
    before = writer.count
    for job in jobs:
        write_planned(console, source, writer, site, views[job.view], job, cache)
    return writer.count - before


def site_console(repo_dir: Path) -> Console:
    """The console whose views and templates render the site: its templates are read once
    (no check for a changed file before each page), its audit index built or loaded at
    its first use."""
    console = Console(repo_dir, index_in_background=False)
    console.templates.auto_reload = False
    return console


_worker: tuple[Console, Source, SiteMap, Writer, PageCache] | None = None
"""A worker process's console, source (the parent's head), site map, writer and cache."""


def _start_worker(repo_dir: Path, head: str, site: SiteMap, out: Path, now: datetime) -> None:
    """A worker's console, reading the parent's head with the console's audit index (the
    parent saved it: the worker loads it, it does not read the history again), and its
    cache of what pages share, at the parent's clock."""
    global _worker
    console = site_console(repo_dir)
    source = replace(console.source(), head=console.git.resolve(head))
    _worker = (console, source, site, Writer(out), PageCache(source, now))


def _render_chunk(jobs: list[Job]) -> int:
    assert _worker is not None, "a worker renders only once started"
    console, source, site, writer, cache = _worker
    return render_jobs(console, source, site, writer, jobs, cache)


def write_planned(
    console: Console,
    source: Source,
    writer: Writer,
    site: SiteMap,
    view: View,
    job: Job,
    cache: PageCache,
) -> None:
    """One page: its data (the plan's, else the site's cached data function, else the
    view's own), HTML and JSON; a page its view says is not there becomes the console's
    404 page."""
    data, template = job.data, view.template
    site_view = SITE[view.name]
    if data is None:
        try:
            if site_view.data is not None:
                data = site_view.data(source, Params(job.params), cache)
            else:
                data = view.data(source, Params(job.params))
        except NotFoundError as error:
            data = {
                "error": "not found",
                "message": error.message,
                "hint": error.hint or "",
                "status": 404,
            }
            template = "error.html"
    write_page(console, writer, site, job.file, template, data, site_view.script)
    if site_view.json:
        writer.write(json_twin(job.file), dump(data))


def write_page(
    console: Console,
    writer: Writer,
    site: SiteMap,
    file: str,
    template: str,
    data: Data,
    script: str | None = None,
) -> None:
    """A page rendered by the console's template, its links made relative."""
    body = bytes(console.page(template, data).body).decode()
    page = rewrite_html(body, file, site)
    if script is not None:
        root = root_prefix(file)
        tag = (
            f'<script src="{root}static/{script}" data-site-root="{root or "./"}" defer>'
            "</script>\n</head>"
        )
        page = page.replace("</head>", tag, 1)
    writer.write(file, page.encode())


def index_data(context: SiteContext, views: list[View]) -> Data:
    """The index page: the console's index data, naming the repo by its folder."""
    head = context.source.head
    return {
        "repo": context.source.git.root.name,
        "head": {"commit": head.id, "summary": head.message.strip().split("\n")[0]},
        "views": [{"name": v.name, "title": v.title, "url": v.url} for v in views if v.listed],
    }


def dump(data: object) -> bytes:
    """JSON as the console answers it."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


class Writer:
    """Writes the site's files below one folder, creating folders once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.folders: set[str] = set()
        self.count = 0

    def write(self, file: str, data: bytes) -> None:
        folder = file.rpartition("/")[0]
        if folder and folder not in self.folders:
            make_dirs(self.root / folder)
            self.folders.add(folder)
        with fs_errors("write", self.root / file):
            (self.root / file).write_bytes(data)
        self.count += 1


def swap(new: Path, target: Path) -> None:
    """Put the folder `new` at `target`, replacing a previous site there."""
    with fs_errors("replace the site at", target):
        if not target.exists():
            new.rename(target)
            return
        if target.is_dir() and not any(target.iterdir()):
            target.rmdir()
            new.rename(target)
            return
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}{OLD}", dir=target.parent))
        old.rmdir()
        target.rename(old)
        try:
            new.rename(target)
        except OSError:
            old.rename(target)  # put the previous site back
            raise
        shutil.rmtree(old, ignore_errors=True)


def _asks_for_approvals(source: Source) -> bool:
    """Whether some environment requires approvals (then every release page asks the
    release origin index, which the workers should find built, not each build it)."""
    try:
        policies = Snapshot(source.git, source.head).policies()
    except InputError:  # the pages report a bad policy file themselves
        return False
    return any(rule.required > 0 for rule in policies.approvals.environments.values())

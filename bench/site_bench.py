"""Benchmark `powerx site build` on the large generated release repo, against `cp -r` of
the site it builds.

The repo is `check_bench.py`'s (default 5,000 plugins x 3 versions x 3 environments,
10,000 commits), reused when its parameters match. Each round runs, in turn: `cp -r` of
the built site (the baseline: the same files and bytes, written without rendering), a
cold `powerx site build` (the CLI, into a fresh folder, with no audit index: it reads the
whole history once and saves the index under the repo's git directory), a warm one (the
index kept: what a rebuild after a push costs), and reading the audit trail alone
(`audit_trail()` in-process on a freshly opened repo, no index). Every build must exit 0
and write a site whose manifest names the repo's head, with one page per trail entry; the
builds' CPU seconds (user + system, their worker processes included) are split by the
build's own report into reading the audit trail, listing the pages and rendering them.
Issue 13's target is under 60 s for 5,000 plugins, cold.

A change that makes the pages cheaper must not change them: `--keep DIR` keeps the built
site, `--compare DIR` fails the run unless the built site holds the same files as DIR,
byte for byte (DIR: a site built by the code before the change, e.g. `--keep` of a run
on main, or `powerx site build` of main's checkout).

    .venv/bin/python bench/site_bench.py [--plugins N] [--commits N] [--runs N] [--quick]
        [--profile] [--keep DIR] [--compare DIR]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import re
import resource
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import CompletedProcess

from benchrepo import POWERX, PROJECT, ensure_repo, git, machine, run_cli
from check_bench import RepoSpec, generate, pr_sizes
from timing import Pair, Step, Timing, pair_of, rounds

MANIFEST = ".powerx-site.json"


def read_trail(repo: Path) -> int:
    """The number of audit entries of main, read in-process from a freshly opened repo."""
    from pipeline.gitrepo import GitRepo
    from pipeline.promotion.audit import AuditQuery, audit_trail

    opened = GitRepo(repo)
    return sum(1 for _ in audit_trail(opened, opened.resolve("main"), AuditQuery()))


def trail_cpu(repo: Path, spent: list[float]) -> int:
    """`read_trail`, adding the CPU seconds it used to `spent`."""
    started = time.process_time()
    count = read_trail(repo)
    spent.append(time.process_time() - started)
    return count


def check_site(result: CompletedProcess[str], site: Path, head: str, entries: int) -> None:
    """The build passed and wrote the whole site of `head`."""
    report = json.loads(result.stdout)
    manifest = json.loads((site / MANIFEST).read_text())
    assert manifest["head"] == head == report["head"], (manifest, head)
    written = sum(1 for _ in (site / "audit").glob("[0-9a-f]*.html"))
    assert written == entries, (written, entries)
    assert (site / "matrix.html").is_file() and (site / "audit.json").is_file()


CPU_LINE = re.compile(r"^CPU seconds: (.*)$", re.M)
CPU_STEPS = ("audit trail", "page list", "pages")
"""The steps of a build's CPU report (`sitebuild.CpuClock`), in order."""


def cpu_split(result: CompletedProcess[str]) -> dict[str, float]:
    """A build's CPU seconds by step, from the line it says on stderr."""
    found = CPU_LINE.search(result.stderr)
    assert found is not None, result.stderr[-2000:]
    split = {}
    for part in found.group(1).split(", "):
        step, _, seconds = part.rpartition(" ")
        split[step] = float(seconds)
    assert tuple(split) == CPU_STEPS, split
    return split


@dataclass
class Spent:
    """CPU seconds of one kind of build, per round: in all, and by step."""

    total: list[float] = field(default_factory=list)
    steps: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in CPU_STEPS})

    def book(
        self,
        before: resource.struct_rusage,
        after: resource.struct_rusage,
        result: CompletedProcess[str],
    ) -> None:
        """Book one build: CPU seconds between two `getrusage` readings, and its split."""
        self.total.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        for step, seconds in cpu_split(result).items():
            self.steps[step].append(seconds)


def cpu_of(command: list[str], spent: Spent) -> CompletedProcess[str]:
    """Run `command` (it must exit 0) and book the CPU seconds it and its children used
    (user + system): on a busy machine, what the build itself costs."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = run_cli(command)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    spent.book(before, after, result)
    return result


def index_file(repo: Path) -> Path:
    """Where the console's persisted audit index of `repo` lives."""
    from pipeline.gitrepo import GitRepo
    from pipeline.promotion.audit_index import INDEX_FILE

    return Path(GitRepo(repo).repo.path) / INDEX_FILE


def copy_site(site: Path, into: Path) -> None:
    """`cp -r` of the built site: the baseline."""
    run_cli(["cp", "-r", str(site), str(into)])


@dataclass(frozen=True)
class Figures:
    """One repo's figures."""

    plugins: int
    commits: int
    pages: int
    files: int
    cold: Pair
    """A build with no audit index against `cp -r` of its site."""
    warm: Pair
    """A build with the index of the previous one."""
    trail: Timing
    """Reading the audit trail alone."""
    cold_cpu: Spent
    warm_cpu: Spent
    trail_cpu: Timing
    """CPU seconds of reading the audit trail alone."""


def bench(repo: Path, plugins: int, commits: int, work: Path, runs: int) -> Figures:
    """Time `cp -r`, the cold and warm builds and the trail reading in interleaved rounds."""
    head = git(repo, "rev-parse", "main").strip()
    site, copy = work / "site", work / "site-copy"
    command = [str(POWERX), "site", "build", "--repo", str(repo), "-o", str(site)]
    command += ["--format", "json"]
    entries = read_trail(repo)
    run_cli(command)  # a first site to copy (and the untimed warm-up of the build)
    index = index_file(repo)
    cold, warm = Spent(), Spent()
    trail_spent: list[float] = []

    def fresh(path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)

    def no_index() -> None:
        fresh(site)
        index.unlink(missing_ok=True)

    def check(result: CompletedProcess[str]) -> None:
        check_site(result, site, head, entries)
        assert index.is_file(), f"the build saved no audit index at {index}"

    samples = rounds(
        {
            "cp": Step(lambda: copy_site(site, copy), reset=lambda: fresh(copy)),
            "cold": Step(lambda: cpu_of(command, cold), reset=no_index, check=check),
            "warm": Step(lambda: cpu_of(command, warm), reset=lambda: fresh(site), check=check),
            "trail": Step(lambda: trail_cpu(repo, trail_spent), check=lambda n: n == entries or n),
        },
        runs,
        warmup=0,
    )
    manifest = json.loads((site / MANIFEST).read_text())
    files = sum(1 for path in site.rglob("*") if path.is_file())
    return Figures(
        plugins=plugins,
        commits=commits,
        pages=manifest["pages"],
        files=files,
        cold=pair_of(samples["cold"], samples["cp"]),
        warm=pair_of(samples["warm"], samples["cp"]),
        trail=Timing.of(samples["trail"]),
        cold_cpu=cold,
        warm_cpu=warm,
        trail_cpu=Timing.of(trail_spent),
    )


def site_files(site: Path) -> dict[str, bytes]:
    """Every file of a site by its relative path, with its bytes."""
    return {
        path.relative_to(site).as_posix(): path.read_bytes()
        for path in sorted(site.rglob("*"))
        if path.is_file()
    }


def compare_sites(site: Path, reference: Path) -> str:
    """'' when both sites hold the same files with the same bytes, else what differs."""
    ours, theirs = site_files(site), site_files(reference)
    missing, extra = sorted(theirs.keys() - ours.keys()), sorted(ours.keys() - theirs.keys())
    changed = sorted(name for name in ours.keys() & theirs.keys() if ours[name] != theirs[name])
    problems = [
        f"{len(names)} file(s) {what}: {', '.join(names[:5])}"
        for what, names in (("missing", missing), ("extra", extra), ("changed", changed))
        if names
    ]
    return "; ".join(problems)


def profile(repo: Path, work: Path, lines: int = 40) -> str:
    """A cProfile of one in-process build, its pages rendered in this process (worker
    processes would hide them), top functions by cumulative then own time."""
    from pipeline.web.sitebuild import build_site

    profiler = cProfile.Profile()
    profiler.runcall(build_site, repo, work / "site-profiled", workers=1)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(lines)
    stats.sort_stats("tottime").print_stats(lines // 2)
    return out.getvalue()


def table(figures: Figures, runs: int) -> str:
    """The figures as Markdown tables (s, min / median / max of `runs` rounds)."""
    lines = [
        f"{figures.plugins:,} plugins, {figures.commits:,} commits: {figures.pages:,} pages, "
        f"{figures.files:,} files; `cp -r` of the site (the baseline) "
        f"{figures.cold.baseline.cell(1, 2)} s.",
        "",
        "| build | wall | build / baseline | CPU (user + sys) | its audit trail | "
        "its page list | its pages |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, pair, spent in (
        ("cold (no audit index)", figures.cold, figures.cold_cpu),
        ("warm (index kept)", figures.warm, figures.warm_cpu),
    ):
        steps = [Timing.of(spent.steps[step]).cell(1, 2) for step in CPU_STEPS]
        lines.append(
            f"| {name} | {pair.subject.cell(1, 2)} | {pair.ratio_cell()} | "
            f"{Timing.of(spent.total).cell(1, 2)} | " + " | ".join(steps) + " |"
        )
    lines += [
        "",
        f"Reading the audit trail alone (no index): {figures.trail.cell(1, 2)} s, "
        f"CPU {figures.trail_cpu.cell(1, 2)} s.",
        f"\ns (wall clock unless said), min / median / max of {runs} rounds, each running "
        "`cp -r`, the cold build, the warm build and the trail reading in turn; ratio: "
        "median of the per-round ratios; CPU split: the build's own report (its workers "
        "included); at the end of the run, " + load() + ".",
    ]
    return "\n".join(lines)


def load() -> str:
    """The machine's load averages (a busy machine weighs on the wall-clock figures)."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plugins", type=int, help="plugins in the repo [5000]")
    parser.add_argument("--commits", type=int, help="commits of history [10000]")
    parser.add_argument("--runs", type=int, help="timed rounds [3; quick: 1]")
    parser.add_argument("--out", type=Path, default=PROJECT / "bench" / "out", help="work dir")
    quick = "a smoke run: 500 plugins, 1,000 commits, 1 round"
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one build")
    parser.add_argument("--keep", type=Path, help="keep the built site in this folder")
    parser.add_argument(
        "--compare", type=Path, help="fail unless the built site equals this one, byte for byte"
    )
    args = parser.parse_args(argv)
    defaults = (500, 1_000, 1) if args.quick else (5_000, 10_000, 3)
    for name, default in zip(("plugins", "commits", "runs"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Generate (or reuse) the repo, time the build, print the table."""
    args = parse_args(argv)
    sys.path.insert(0, str(PROJECT))
    args.out.mkdir(parents=True, exist_ok=True)
    spec = RepoSpec(args.plugins, args.commits, tuple(pr_sizes(args.plugins)))
    repo = ensure_repo(spec, args.out, lambda path: generate(spec, path))
    work = args.out / "site-bench"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    figures = bench(repo, spec.plugins, spec.commits, work, args.runs)
    report = f"{machine()}\n\n{table(figures, args.runs)}\n"
    if args.compare is not None:
        differs = compare_sites(work / "site", args.compare)
        if differs:
            print(f"the site differs from {args.compare}: {differs}", file=sys.stderr)
            return 1
        report += f"\nEvery file of the site is the same, byte for byte, as in {args.compare}.\n"
    if args.keep is not None:
        shutil.rmtree(args.keep, ignore_errors=True)
        shutil.copytree(work / "site", args.keep)
    print()
    print(report)
    (args.out / "site_bench.md").write_text(report)
    if args.profile:
        print(profile(repo, work))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

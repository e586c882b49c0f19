"""Benchmark `powerx site build` on the large generated release repo, against `cp -r` of
the site it builds.

The repo is `check_bench.py`'s (default 5,000 plugins x 3 versions x 3 environments,
10,000 commits), reused when its parameters match. Each round runs, in turn: `cp -r` of
the built site (the baseline: the same files and bytes, written without rendering),
`powerx site build` (the CLI, into a fresh folder), and reading the audit trail alone
(`audit_trail()` in-process on a freshly opened repo: the part of the build that reads
history). Every build must exit 0 and write a site whose manifest names the repo's head,
with one page per matrix page, trail page and trail entry; issue 13's target is under 60 s
for 5,000 plugins.

    .venv/bin/python bench/site_bench.py [--plugins N] [--commits N] [--runs N] [--quick]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import shutil
import sys
import time
from dataclasses import dataclass
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


def cpu_of(command: list[str], spent: list[float]) -> CompletedProcess[str]:
    """Run `command` (it must exit 0) and add the CPU seconds it and its children used
    (user + system) to `spent`: on a busy machine, what the build itself costs."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = run_cli(command)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    spent.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return result


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
    build: Pair
    """`powerx site build` against `cp -r` of its site."""
    trail: Timing
    """Reading the audit trail alone."""
    cpu: Timing
    """CPU seconds of the build (user + system, its worker processes included)."""
    trail_cpu: Timing
    """CPU seconds of reading the audit trail alone."""


def bench(repo: Path, plugins: int, commits: int, work: Path, runs: int) -> Figures:
    """Time `cp -r`, the build and the trail reading in interleaved rounds."""
    head = git(repo, "rev-parse", "main").strip()
    site, copy = work / "site", work / "site-copy"
    command = [str(POWERX), "site", "build", "--repo", str(repo), "-o", str(site)]
    command += ["--format", "json"]
    entries = read_trail(repo)
    run_cli(command)  # a first site to copy (and the untimed warm-up of the build)
    spent: list[float] = []
    trail_spent: list[float] = []

    def fresh(path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)

    samples = rounds(
        {
            "cp": Step(lambda: copy_site(site, copy), reset=lambda: fresh(copy)),
            "build": Step(
                lambda: cpu_of(command, spent),
                reset=lambda: fresh(site),
                check=lambda r: check_site(r, site, head, entries),
            ),
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
        build=pair_of(samples["build"], samples["cp"]),
        trail=Timing.of(samples["trail"]),
        cpu=Timing.of(spent),
        trail_cpu=Timing.of(trail_spent),
    )


def profile(repo: Path, work: Path, lines: int = 30) -> str:
    """A cProfile of one in-process build, top functions by cumulative time."""
    from pipeline.web.sitebuild import build_site

    profiler = cProfile.Profile()
    profiler.runcall(build_site, repo, work / "site-profiled")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(lines)
    return out.getvalue()


def table(figures: Figures, runs: int) -> str:
    """The figures as a Markdown table (s, min / median / max of `runs` rounds)."""
    build, trail = figures.build, figures.trail
    return "\n".join(
        [
            "| plugins | commits | pages | files | `cp -r` of the site (baseline) | "
            "`powerx site build` | build / baseline | build CPU (user + sys) | "
            "reading the audit trail alone | its CPU |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {figures.plugins:,} | {figures.commits:,} | {figures.pages:,} | "
            f"{figures.files:,} | {build.baseline.cell(1, 2)} | {build.subject.cell(1, 2)} | "
            f"{build.ratio_cell()} | {figures.cpu.cell(1, 2)} | {trail.cell(1, 2)} | "
            f"{figures.trail_cpu.cell(1, 2)} |",
            f"\ns (wall clock unless said), min / median / max of {runs} rounds, each running "
            "`cp -r`, the build and the trail reading in turn; ratio: median of the per-round "
            "ratios; at the end of the run, " + load() + ".",
        ]
    )


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
    print()
    print(report)
    (args.out / "site_bench.md").write_text(report)
    if args.profile:
        print(profile(repo, work))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark `powerx check` on a large generated release repo, against `git diff --name-only`.

The repo (default 5,000 plugins x 3 versions x 3 environments, 10,000 commits) is the
one `benchrepo.py` writes with `git fast-import`, reused on the next run when its
parameters match. Each pull request is one commit on a branch off `main`
that adds new releases (with evidence) and promotes existing versions, so every gate does
real work, and every timed check must pass (exit 0) with the expected number of changed
files.

    .venv/bin/python bench/check_bench.py [--plugins N] [--out DIR] [--quick]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
from dataclasses import dataclass
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

from benchrepo import (
    NEW_VERSION,
    POWERX,
    PROJECT,
    VERSIONS,
    Changes,
    Event,
    ensure_repo,
    git,
    machine,
    plugin_name,
    promotion,
    release_files,
    run_cli,
    signed_content,
    signed_history,
    with_bundles,
    write_repo,
)
from timing import Pair, Step, interleaved, pair_of, rounds

PR_SIZES = (10, 100, 1000)
UNIT_FILES = 10
"""A PR is made of units of 10 files: 1 new signed release (5 files) promoted to test (1),
2 promotions of 1.2.0 into test and 2 promotions of 1.1.0 from staging into prod."""
UNIT_PLUGINS = 5


def pull_request(plugins: int, files: int) -> Event:
    """One commit touching `files` files: new releases and promotions, all of which pass."""
    units = files // UNIT_FILES
    stride = plugins // (units * UNIT_PLUGINS)
    chosen = [plugin_name(1 + i * stride) for i in range(units * UNIT_PLUGINS)]
    changes: Changes = {}
    for unit in range(units):
        new, *others = chosen[unit * UNIT_PLUGINS : (unit + 1) * UNIT_PLUGINS]
        changes.update(with_bundles(Event("", release_files(new, NEW_VERSION))).changes)
        changes.update(promotion("test", new, NEW_VERSION))
        for name in others[:2]:
            changes.update(promotion("test", name, VERSIONS[2]))
        for name in others[2:]:
            changes.update(promotion("prod", name, VERSIONS[1]))
    assert len(changes) == files, (len(changes), files)
    return Event(f"release train: {files} files", changes)


def pr_sizes(plugins: int) -> list[int]:
    """The PR sizes this many plugins can hold (each unit needs 5 distinct plugins)."""
    return [n for n in PR_SIZES if (n // UNIT_FILES) * UNIT_PLUGINS < plugins]


# -- the repo --------------------------------------------------------------------------


@dataclass(frozen=True)
class RepoSpec:
    """The parameters of a generated repo; a cached repo is reused when they match."""

    plugins: int
    commits: int
    pr_sizes: tuple[int, ...]
    generator: int = 2
    """1: unsigned releases; 2: signed, approvals not required (`benchrepo.signed_history`)."""

    @property
    def name(self) -> str:
        """The folder name of the repo under the work dir."""
        return f"repo-p{self.plugins}-c{self.commits}"


def generate(spec: RepoSpec, path: Path) -> None:
    """The signed history on `main`, and one branch `pr-N` per pull request size."""
    branches = {f"pr-{size}": pull_request(spec.plugins, size) for size in spec.pr_sizes}
    write_repo(path, signed_history(spec.plugins, spec.commits), branches, signed_content)


# -- timing ----------------------------------------------------------------------------


def check_report(result: CompletedProcess[str], expected_files: int) -> None:
    """`powerx check --format json` passed and saw `expected_files` changed files."""
    report = json.loads(result.stdout)
    assert report["exit_code"] == 0 and report["status"] == "pass", report["status"]
    assert report["changed_files"] == expected_files, (report["changed_files"], expected_files)


def check_lines(result: CompletedProcess[str], expected: int) -> None:
    """The command printed `expected` lines."""
    assert len(result.stdout.splitlines()) == expected, (len(result.stdout.splitlines()), expected)


def run_in_process(repo: Path, head: str) -> Any:
    """`run_check()` on a freshly opened repo (no warm tree cache); its report."""
    from pipeline.gitrepo import GitRepo
    from pipeline.policy import CheckRequest, run_check

    return run_check(GitRepo(repo), CheckRequest(head=head, base="main"))


def check_in_process(report: Any, expected_files: int) -> None:
    """The in-process report passed and saw `expected_files` changed files."""
    assert report.exit_code == 0, [r for r in report.results if r.status != "pass"][:5]
    assert report.changed_files == expected_files, report.changed_files


@dataclass(frozen=True)
class Row:
    """The figures of one scenario: the CLI and run_check(), each against `git diff`."""

    plugins: int
    repo_files: int
    changed: int
    cli: Pair
    in_process: Pair


def bench_scenario(repo: Path, plugins: int, size: int, runs: int) -> Row:
    """Time git diff, the powerx CLI and run_check() on the PR branch, interleaved."""
    head = f"pr-{size}"
    diff = ["git", "-C", str(repo), "diff", "--name-only", "main", head]
    cli = [str(POWERX), "check", "--repo", str(repo), "--base", "main", "--head", head]
    cli += ["--format", "json"]
    repo_files = len(git(repo, "ls-tree", "-r", "--name-only", "main").splitlines())
    samples = rounds(
        {
            "diff": Step(lambda: run_cli(diff), check=lambda r: check_lines(r, size)),
            "cli": Step(lambda: run_cli(cli), check=lambda r: check_report(r, size)),
            "lib": Step(
                lambda: run_in_process(repo, head), check=lambda r: check_in_process(r, size)
            ),
        },
        runs,
    )
    return Row(
        plugins=plugins,
        repo_files=repo_files,
        changed=size,
        cli=pair_of(samples["cli"], samples["diff"]),
        in_process=pair_of(samples["lib"], samples["diff"]),
    )


def startup(runs: int) -> Pair:
    """`powerx --version` against `python -c pass`, interleaved."""
    return interleaved(
        Step(lambda: run_cli([str(POWERX), "--version"]), check=lambda r: check_lines(r, 1)),
        lambda: run_cli([sys.executable, "-c", "pass"]),
        runs,
    )


def profile(repo: Path, size: int, lines: int = 25) -> str:
    """A cProfile of run_check() on the PR of `size` files, top functions by cumulative time."""
    profiler = cProfile.Profile()
    report = profiler.runcall(run_in_process, repo, f"pr-{size}")
    check_in_process(report, size)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(lines)
    return out.getvalue()


# -- report ----------------------------------------------------------------------------


def table(rows: list[Row], start_up: Pair, runs: int) -> str:
    """The figures as a Markdown table (ms, min / median / max of `runs` interleaved rounds)."""
    lines = [
        "| plugins | files in repo | changed files | `git diff --name-only` (baseline) | "
        "`powerx check` (CLI) | CLI / baseline | `run_check()` | `run_check()` / baseline |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.plugins:,} | {row.repo_files:,} | {row.changed:,} | "
            f"{row.cli.baseline.cell()} | {row.cli.subject.cell()} | {row.cli.ratio_cell()} | "
            f"{row.in_process.subject.cell()} | {row.in_process.ratio_cell()} |"
        )
    lines.append(
        f"\nms, min / median / max of {runs} rounds, each round running the baseline, the CLI "
        "and `run_check()` in turn; ratios: median of the per-round ratios. "
        f"`powerx --version` (CLI start-up alone): {start_up.subject.cell()} ms, "
        f"`python -c pass`: {start_up.baseline.cell()} ms ({start_up.ratio_cell()})."
    )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plugins", type=int, help="plugins in the large repo [5000]")
    parser.add_argument("--small-plugins", type=int, help="plugins in the small repo [1000]")
    parser.add_argument("--commits", type=int, help="commits of history [10000]")
    parser.add_argument("--runs", type=int, help="timed rounds per figure [7; quick: 3]")
    parser.add_argument("--out", type=Path, default=PROJECT / "bench" / "out", help="work dir")
    quick = "a smoke run: 500/100 plugins, 1,000 commits, 3 rounds"
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the largest PR")
    args = parser.parse_args(argv)
    defaults = (500, 100, 1_000, 3) if args.quick else (5_000, 1_000, 10_000, 7)
    names = ("plugins", "small_plugins", "commits", "runs")
    for name, default in zip(names, defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.runs < 3:
        parser.error("--runs must be at least 3")
    return args


def main(argv: list[str] | None = None) -> int:
    """Generate (or reuse) the repos, time every scenario, print the table."""
    args = parse_args(argv)
    sys.path.insert(0, str(PROJECT))
    args.out.mkdir(parents=True, exist_ok=True)
    large = RepoSpec(args.plugins, args.commits, tuple(pr_sizes(args.plugins)))
    small = RepoSpec(args.small_plugins, args.commits, (PR_SIZES[0],))
    large_repo = ensure_repo(large, args.out, lambda path: generate(large, path))
    small_repo = ensure_repo(small, args.out, lambda path: generate(small, path))
    rows = [bench_scenario(large_repo, large.plugins, size, args.runs) for size in large.pr_sizes]
    rows.append(bench_scenario(small_repo, small.plugins, PR_SIZES[0], args.runs))
    start_up = startup(args.runs)
    report = f"{machine()}\n\n{table(rows, start_up, args.runs)}\n"
    print()
    print(report)
    (args.out / "check_bench.md").write_text(report)
    if args.profile:
        print(profile(large_repo, large.pr_sizes[-1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

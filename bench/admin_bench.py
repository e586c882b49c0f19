"""Benchmark `px-admin diff` and `px-admin drift` on the large generated release repo,
against reading the same files raw.

The repo is `check_bench.py`'s (default 5,000 plugins x 3 versions x 3 environments,
10,000 commits), reused when its parameters match; in it staging and prod differ in every
plugin (each state file a different blob), so the diff parses all 10,000 state files. The
site's report is a status file (`AgentStatus`) of 5,000 plugins for prod, written from git
with `--lagging` plugins one version behind (the drift must find exactly those, as
not-synced, and exit 1).

Each round runs, in turn: `git archive` of the two environment folders (the baseline of
the diff: every file read raw, no parsing), `px-admin diff staging prod --format json`
(must exit 0 with one difference per plugin), `git archive` of prod plus `cat` of the
status file (the baseline of the drift), and `px-admin drift --status FILE --format json`
(must exit 1 with `--lagging` differences). Issue 15's target: under 1 s each.

    .venv/bin/python bench/admin_bench.py [--plugins N] [--commits N] [--runs N]
        [--lagging N] [--out DIR] [--quick]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchrepo import PROJECT, ensure_repo, machine
from check_bench import RepoSpec, generate, pr_sizes
from timing import Pair, Step, Timing, pair_of, rounds

BIN = Path(sys.executable).parent
PX_ADMIN = BIN / "px-admin"


def status_file(repo: Path, path: Path, lagging: int) -> int:
    """A prod status of every plugin in sync with git but the first `lagging` (whose last
    sync applied another version); how many plugins it lists."""
    sys.path.insert(0, str(PROJECT))
    from pipeline.admin.drift import git_wanted
    from pipeline.admin.state import load_environment, snapshot_at
    from pipeline.gitrepo import GitRepo
    from pipeline.models.agent import AgentStatus, PluginStatus
    from pipeline.models.base import API_VERSION

    snapshot = snapshot_at(GitRepo(repo), "main")
    wanted = git_wanted(snapshot, load_environment(snapshot, "prod").model, None)
    now = datetime.now(UTC)
    plugins = {}
    for index, (name, want) in enumerate(sorted(wanted.items())):
        desired = (want.version, want.digest)
        if index < lagging:  # the last sync applied another version: not yet synced
            desired = ("0.9.0", "0" * 64)
        plugins[name] = PluginStatus(
            desired_version=desired[0],
            desired_digest=desired[1],
            enabled=want.enabled,
            observed_version=desired[0],
            observed_digest=desired[1],
            healthy=True,
            last_action="unchanged",
            last_change=now,
        )
    status = AgentStatus(
        api_version=API_VERSION,
        kind="AgentStatus",
        environment="prod",
        last_sync=now,
        ok=True,
        plugins=plugins,
    )
    path.write_text(status.model_dump_json(by_alias=True, indent=2) + "\n")
    return len(plugins)


CPU: dict[str, list[float]] = {}
"""Step name -> CPU seconds (user + system) of each of its runs, warm-up included."""


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(argv: list[str], code: int, name: str = "") -> subprocess.CompletedProcess[str]:
    """Run a command that must exit with `code` (its CPU seconds kept under `name`)."""
    before = children_cpu()
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if name:
        CPU.setdefault(name, []).append(children_cpu() - before)
    if result.returncode != code:
        tail = result.stdout[-2000:] + result.stderr
        raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}, not {code}:\n{tail}")
    return result


def archive(repo: Path, *folders: str) -> list[str]:
    return ["git", "-C", str(repo), "archive", "--format=tar", "main", *folders]


def raw_read(argv: list[str], also: Path | None = None) -> int:
    """The baseline: the files read raw (a tar stream of the folders, and a file); bytes."""
    size = len(run(argv, 0).stdout)
    if also is not None:
        size += len(run(["cat", str(also)], 0).stdout)
    return size


def check_diff(expected: int) -> Any:
    def check(result: subprocess.CompletedProcess[str]) -> None:
        report = json.loads(result.stdout)
        assert report["counts"]["plugin"] == expected, report["counts"]

    return check


def check_drift(expected: int) -> Any:
    def check(result: subprocess.CompletedProcess[str]) -> None:
        report = json.loads(result.stdout)
        assert report["drift"] == expected, report["drift"]
        assert report["environments"]["prod"]["byCause"]["not-synced"] == expected

    return check


def bench(repo: Path, status: Path, plugins: int, lagging: int, runs: int) -> dict[str, Pair]:
    """Both commands against their baselines, interleaved round by round."""
    repo_args = ["--repo", str(repo), "--rev", "main", "--format", "json"]
    diff = [str(PX_ADMIN), "diff", "staging", "prod", *repo_args]
    drift = [str(PX_ADMIN), "drift", "--status", str(status), *repo_args]
    envs = archive(repo, "environments/staging", "environments/prod")
    prod = archive(repo, "environments/prod")
    samples = rounds(
        {
            "diff baseline": lambda: raw_read(envs),
            "diff": Step(lambda: run(diff, 0, "diff"), check=check_diff(plugins)),
            "drift baseline": lambda: raw_read(prod, status),
            "drift": Step(lambda: run(drift, 1, "drift"), check=check_drift(lagging)),
        },
        runs,
    )
    return {name: pair_of(samples[name], samples[f"{name} baseline"]) for name in ("diff", "drift")}


def table(pairs: dict[str, Pair], plugins: int, lagging: int, runs: int) -> str:
    rows = {
        "diff": (
            "`px-admin diff staging prod --format json`",
            f"{plugins:,} plugins differ",
            "`git archive` of both folders",
        ),
        "drift": (
            "`px-admin drift --status FILE --format json`",
            f"{plugins:,}-plugin status, {lagging} drift",
            "`git archive` of prod + `cat` status",
        ),
    }
    lines = [
        "| command | load | baseline | baseline ms | command ms | ratio | command CPU ms |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for name, pair in pairs.items():
        what, load, base = rows[name]
        lines.append(
            f"| {what} | {load} | {base} | {pair.baseline.cell()} | {pair.subject.cell()} | "
            f"{pair.ratio_cell()} | {Timing.of(CPU[name][-runs:]).cell()} |"
        )
    lines.append(
        f"\nms, min / median / max of {runs} rounds (after a warm-up round), each running "
        "both baselines and both commands in turn; ratios: median of the per-round ratios; "
        "CPU: user + system seconds of the command's process (what load on the machine "
        "does not inflate). "
        "Target (issue 15): under 1,000 ms each."
    )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plugins", type=int, help="plugins in the repo [5000]")
    parser.add_argument("--commits", type=int, help="commits of history [10000]")
    parser.add_argument("--runs", type=int, help="timed rounds [7; quick: 3]")
    parser.add_argument("--lagging", type=int, default=50, help="plugins behind at the site")
    parser.add_argument("--out", type=Path, default=PROJECT / "bench" / "out", help="work dir")
    parser.add_argument("--quick", action="store_true", help="500 plugins, 1,000 commits")
    args = parser.parse_args(argv)
    defaults = (500, 1_000, 3) if args.quick else (5_000, 10_000, 7)
    for name, default in zip(("plugins", "commits", "runs"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, default)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    spec = RepoSpec(args.plugins, args.commits, tuple(pr_sizes(args.plugins)))
    repo = ensure_repo(spec, args.out, lambda path: generate(spec, path))
    with tempfile.TemporaryDirectory(prefix="admin-bench-") as work:
        status = Path(work) / "status.json"
        listed = status_file(repo, status, args.lagging)
        pairs = bench(repo, status, listed, args.lagging, args.runs)
    report = f"{machine()}\n\n{table(pairs, listed, args.lagging, args.runs)}\n"
    print()
    print(report)
    (args.out / "admin_bench.md").write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark `powerx promote` on the large generated release repo, against plain git.

The repo is the check benchmark's history (`benchrepo.py`: 5,000 plugins, 10,000 commits)
with every release signed (a key-mode bundle by examples/keys/samples.key, which
policies/signing.yaml trusts), passing evidence, no approvals required, no soak time and
no windows, so promotions are allowed. Its last commit promotes 1.1.0 to prod for all
plugins but `--ready` of them (every 5th): those are ready to go staging -> prod, the
others have nothing left to promote. Three figures:

1. one promotion, commit written locally: `promote()` in-process and `powerx promote
   PLUGIN` (a process), against the same one-file commit written by a one-commit
   `git fast-import` (one blob changed on top of main, as the promotion does);
2. every ready plugin promoted in one `promote()` run, against `git fast-import` writing
   the same commits;
3. `--runners` processes each promoting a different plugin with `--push origin` against
   one bare remote, all started at once: every promotion must land on the remote's main
   exactly once; the time until the last one lands, and the push retries.

Each figure and its baseline run in interleaved rounds (`timing.py`), main reset before
each run, and every run's commits are checked before its time counts.

    .venv/bin/python bench/promote_bench.py [--plugins 5000] [--commits 10000] [--profile]
    .venv/bin/python bench/promote_bench.py --quick   # 200 plugins, 400 commits, 4 runners
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchrepo import (
    POWERX,
    PROJECT,
    VERSIONS,
    Event,
    FileKey,
    ensure_repo,
    git,
    machine,
    plugin_name,
    promotion,
    run_cli,
    signed_content,
    signed_history,
    state_yaml,
    write_repo,
)
from timing import Pair, Step, interleaved, pair_of, rounds

SOURCE, TARGET = "staging", "prod"
VERSION = VERSIONS[1]
"""Staging runs 1.1.0 everywhere; prod runs 1.0.0 for the ready plugins only."""


# -- the repo ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PromoteSpec:
    """The parameters of the promotion repo; a cached repo is reused when they match."""

    plugins: int
    commits: int
    ready: int
    generator: int = 1

    @property
    def name(self) -> str:
        """The folder name of the repo under the work dir."""
        return f"promote-p{self.plugins}-c{self.commits}-r{self.ready}"

    @property
    def stride(self) -> int:
        """Every `stride`-th plugin is ready to promote."""
        return self.plugins // self.ready

    def ready_plugins(self) -> list[str]:
        """The plugins that run 1.1.0 in staging and 1.0.0 in prod."""
        return [plugin_name(i * self.stride) for i in range(self.ready)]


def promote_history(spec: PromoteSpec) -> list[Event]:
    """The check benchmark's history, signed, then 1.1.0 into prod for all but the ready."""
    events = signed_history(spec.plugins, spec.commits - 1)
    ready = set(spec.ready_plugins())
    setup: dict[str, FileKey] = {}
    for index in range(spec.plugins):
        name = plugin_name(index)
        if name not in ready:
            setup.update(promotion(TARGET, name, VERSION))
    return [*events, Event(f"promote {VERSION} to {TARGET} (all but the ready plugins)", setup)]


def generate(spec: PromoteSpec, path: Path) -> None:
    """Write the promotion repo (signing every release once)."""
    write_repo(path, promote_history(spec), content=signed_content)


# -- one work copy per figure --------------------------------------------------------------


class WorkRepo:
    """A bare clone of the cached repo (objects hard-linked) whose main can be reset."""

    def __init__(self, cached: Path, path: Path) -> None:
        if path.exists():
            shutil.rmtree(path)
        subprocess.run(["git", "clone", "--quiet", "--bare", str(cached), str(path)], check=True)
        self.path = path
        self.start = git(path, "rev-parse", "refs/heads/main").strip()

    def reset(self) -> None:
        """Put main back where the cached repo has it."""
        git(self.path, "update-ref", "refs/heads/main", self.start)

    def new_commits(self) -> list[str]:
        """Subjects of the commits on main since the start, oldest first."""
        log = git(self.path, "log", "--reverse", "--format=%s", f"{self.start}..main")
        return log.splitlines()


def subject(plugin: str) -> str:
    """The subject line of the promotion commit of plugin."""
    return f"Promote {plugin} {VERSION} to {TARGET}"


def promote_in_process(repo: Path, plugin: str | None) -> Any:
    """`promote()` on a freshly opened repo; its result."""
    from pipeline.gitrepo import GitRepo
    from pipeline.promotion.promote import PromoteRequest, promote

    request = PromoteRequest(now=datetime.now(UTC), plugin=plugin, operator="bench")
    return promote(GitRepo(repo), request, branch="main")


def check_landed(result: Any, expected: int) -> None:
    """`expected` promotions landed, each staging -> prod."""
    assert len(result.landed) == expected, (len(result.landed), result.held[:3])
    assert all((p.source, p.target) == (SOURCE, TARGET) for p, _ in result.landed)


def fast_import_baseline(repo: Path, plugins: list[str]) -> None:
    """The same one-file commits, one per plugin, written by one `git fast-import`."""
    stream = io.BytesIO()
    stream.write(b"reset refs/heads/main\nfrom refs/heads/main^0\n\n")
    for plugin in plugins:
        data = state_yaml(plugin, VERSION)
        message = subject(plugin).encode()
        stream.write(b"commit refs/heads/main\ncommitter Bench <bench@example.com> ")
        stream.write(b"%d +0000\ndata %d\n%s\n" % (int(time.time()), len(message), message))
        path = f"environments/{TARGET}/plugins/{plugin}.yaml".encode()
        stream.write(b"M 100644 inline %s\ndata %d\n%s\n" % (path, len(data), data))
    stream.write(b"done\n")
    subprocess.run(
        ["git", "-C", str(repo), "fast-import", "--quiet", "--done", "--force"],
        input=stream.getvalue(),
        check=True,
    )


def landed_on(copy: WorkRepo, plugins: list[str]) -> Callable[[object], None]:
    """A check: main holds exactly the promotion commits of `plugins` since the start."""

    def check(_result: object) -> None:
        commits = copy.new_commits()
        assert commits == [subject(p) for p in plugins], commits[:3]

    return check


def check_promoted(result: subprocess.CompletedProcess[str]) -> None:
    """`powerx promote` said it promoted."""
    assert result.stdout.startswith("promoted "), result.stdout


def both(*checks: Callable[[Any], object]) -> Callable[[Any], None]:
    """A check that runs every check in turn."""

    def check(result: Any) -> None:
        for each in checks:
            each(result)

    return check


# -- concurrent runners --------------------------------------------------------------------

DRIVER = """
import json, sys, time
began = time.time()
from datetime import UTC, datetime
from pipeline.gitrepo import GitRepo
from pipeline.promotion.promote import PromoteRequest, promote

class CountingRepo(GitRepo):
    pushes = 0
    def push(self, *args, **kwargs):
        self.pushes += 1
        return super().push(*args, **kwargs)

ready = time.time()
repo, plugin = CountingRepo(sys.argv[1]), sys.argv[2]
request = PromoteRequest(now=datetime.now(UTC), plugin=plugin, operator="bench")
result = promote(repo, request, branch="main", remote="origin")
report = {"landed": len(result.landed), "pushes": repo.pushes, "began": began, "ready": ready}
print(json.dumps({**report, "end": time.time()}))
"""
"""A runner that also counts its push attempts (the CLI does not print them)."""


@dataclass(frozen=True)
class RaceResult:
    """One round of concurrent runners."""

    runners: int
    last_lands: float
    """Seconds from starting every runner to the last one's exit (its promotion landed)."""
    median_lands: float
    retries: int | None
    """Rejected pushes over all runners (None: not counted)."""
    imported: float | None
    """Median seconds from the start until a runner had imported pipeline (drivers only)."""
    max_retries: int | None


def race(cached: Path, work: Path, plugins: list[str], *, cli: bool) -> RaceResult:
    """Start one runner per plugin against one bare remote; check everything landed once."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    remote = work / "remote.git"
    subprocess.run(["git", "init", "--quiet", "--bare", "-b", "main", str(remote)], check=True)
    git(cached, "push", "--quiet", str(remote), "main:main")
    start = git(remote, "rev-parse", "main").strip()
    clones = []
    for index in range(len(plugins)):
        clone = work / f"runner-{index:02d}"
        subprocess.run(["git", "clone", "--quiet", "--bare", str(remote), str(clone)], check=True)
        clones.append(clone)
    commands = [
        [str(POWERX), "promote", plugin, "--repo", str(clone), "--push", "origin"]
        if cli
        else [sys.executable, "-c", DRIVER, str(clone), plugin]
        for plugin, clone in zip(plugins, clones, strict=True)
    ]
    started = time.time()
    processes = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for command in commands
    ]
    exited = wait_all(processes)
    ends, pushes, imported = [], [], []
    for process, command, end in zip(processes, commands, exited, strict=True):
        out, err = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"{command} exited {process.returncode}:\n{out}{err}")
        if cli:
            assert out.startswith("promoted "), out
            ends.append(end)
        else:
            report = json.loads(out.splitlines()[-1])
            assert report["landed"] == 1, report
            ends.append(report["end"])
            pushes.append(report["pushes"])
            imported.append(report["ready"] - started)
    landed = git(remote, "log", "--first-parent", "--format=%s", f"{start}..main").splitlines()
    for plugin in plugins:
        assert landed.count(subject(plugin)) == 1, (plugin, landed)
    assert len(landed) == len(plugins), landed
    durations = [end - started for end in ends]
    retries = [count - 1 for count in pushes]
    return RaceResult(
        runners=len(plugins),
        last_lands=max(durations),
        median_lands=statistics.median(durations),
        retries=sum(retries) if retries else None,
        imported=statistics.median(imported) if imported else None,
        max_retries=max(retries) if retries else None,
    )


def wait_all(processes: list[subprocess.Popen[str]]) -> list[float]:
    """Wait for every process; when each exited (time.time(), to 10 ms)."""
    ends: dict[int, float] = {}
    while len(ends) < len(processes):
        for index, process in enumerate(processes):
            if index not in ends and process.poll() is not None:
                ends[index] = time.time()
        time.sleep(0.01)
    return [ends[index] for index in range(len(processes))]


def pushed_remote(cached: Path, work: Path, name: str) -> tuple[Path, Path, str]:
    """A bare remote holding the cached main, and a bare clone of it; the start commit."""
    remote, clone = work / f"{name}-remote.git", work / f"{name}-clone.git"
    for path in (remote, clone):
        if path.exists():
            shutil.rmtree(path)
    subprocess.run(["git", "init", "--quiet", "--bare", "-b", "main", str(remote)], check=True)
    git(cached, "push", "--quiet", str(remote), "main:main")
    subprocess.run(["git", "clone", "--quiet", "--bare", str(remote), str(clone)], check=True)
    return remote, clone, git(clone, "rev-parse", "main").strip()


def bench_push(cached: Path, work: Path, plugin: str, runs: int) -> Pair:
    """`powerx promote PLUGIN --push origin` alone, against `git push` of the same commit."""
    cli_remote, cli_clone, start = pushed_remote(cached, work, "cli-push")
    git_remote, git_clone, _ = pushed_remote(cached, work, "git-push")
    fast_import_baseline(git_clone, [plugin])
    commit = git(git_clone, "rev-parse", "main").strip()

    def reset_cli() -> None:
        git(cli_remote, "update-ref", "refs/heads/main", start)
        git(cli_clone, "update-ref", "refs/heads/main", start)

    def check_cli(result: subprocess.CompletedProcess[str]) -> None:
        assert result.stdout.startswith("promoted "), result.stdout
        log = git(cli_remote, "log", "--format=%s", f"{start}..main").splitlines()
        assert log == [subject(plugin)], log

    def check_git(_result: object) -> None:
        assert git(git_remote, "rev-parse", "main").strip() == commit

    command = [str(POWERX), "promote", plugin, "--repo", str(cli_clone), "--push", "origin"]
    push = ["git", "-C", str(git_clone), "push", "--quiet", "origin", "main:main"]
    return interleaved(
        Step(lambda: run_cli(command), reset=reset_cli, check=check_cli),
        Step(
            lambda: run_cli(push),
            reset=lambda: git(git_remote, "update-ref", "refs/heads/main", start),
            check=check_git,
        ),
        runs,
    )


# -- report --------------------------------------------------------------------------------


def seconds(pair: Pair) -> tuple[str, str, str]:
    """The subject, the baseline (min / median / max, s) and the median ratio."""
    return pair.subject.cell(1, 2), pair.baseline.cell(1, 2), pair.ratio_cell()


def profile(action: Callable[[], object], lines: int = 30) -> str:
    """A cProfile of `action`, top functions by cumulative time."""
    profiler = cProfile.Profile()
    profiler.runcall(action)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(lines)
    return out.getvalue()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plugins", type=int, help="plugins [5000; quick: 200]")
    parser.add_argument("--commits", type=int, help="commits of history [10000; quick: 400]")
    parser.add_argument("--ready", type=int, help="plugins ready to promote [plugins / 5]")
    parser.add_argument("--runners", type=int, help="concurrent runners [20; quick: 4]")
    parser.add_argument("--rounds", type=int, help="rounds of runners [3; quick: 1]")
    parser.add_argument("--runs", type=int, help="timed rounds of one promotion [5; quick: 3]")
    parser.add_argument("--batch-runs", type=int, help="timed rounds of the batch [3; quick: 3]")
    parser.add_argument("--out", type=Path, default=PROJECT / "bench" / "out", help="work dir")
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--profile", action="store_true", help="print cProfiles of 1 and 2")
    args = parser.parse_args(argv)
    defaults = (200, 400, 4, 1, 3, 3) if args.quick else (5_000, 10_000, 20, 3, 5, 3)
    names = ("plugins", "commits", "runners", "rounds", "runs", "batch_runs")
    for name, default in zip(names, defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.ready is None:
        args.ready = min(1_000, args.plugins // 5)
    if not 0 < args.runners <= args.ready <= args.plugins:
        parser.error("need 0 < --runners <= --ready <= --plugins")
    if min(args.runs, args.batch_runs, args.rounds) < 1:
        parser.error("--runs, --batch-runs and --rounds must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Generate (or reuse) the repo, time every figure, print the table."""
    args = parse_args(argv)
    sys.path.insert(0, str(PROJECT))
    args.out.mkdir(parents=True, exist_ok=True)
    spec = PromoteSpec(args.plugins, args.commits, args.ready)
    cached = ensure_repo(spec, args.out, lambda path: generate(spec, path))
    work = args.out / "promote-work"
    ready = spec.ready_plugins()
    copy = WorkRepo(cached, work / "local.git")
    one = ready[0]
    one_landed = landed_on(copy, [one])

    print("1. one promotion ...", flush=True)
    command = [str(POWERX), "promote", one, "--repo", str(copy.path)]
    one_run = rounds(
        {
            "lib": Step(
                lambda: promote_in_process(copy.path, one),
                reset=copy.reset,
                check=both(lambda r: check_landed(r, 1), one_landed),
            ),
            "cli": Step(
                lambda: run_cli(command),
                reset=copy.reset,
                check=both(check_promoted, one_landed),
            ),
            "git": Step(
                lambda: fast_import_baseline(copy.path, [one]), reset=copy.reset, check=one_landed
            ),
        },
        args.runs,
    )
    in_process = pair_of(one_run["lib"], one_run["git"])
    cli = pair_of(one_run["cli"], one_run["git"])
    startup = interleaved(
        lambda: run_cli([str(POWERX), "--version"]),
        lambda: run_cli([sys.executable, "-c", "pass"]),
        args.runs,
    )

    print(f"2. {len(ready)} promotions in one run ...", flush=True)
    all_landed = landed_on(copy, ready)
    batch = interleaved(
        Step(
            lambda: promote_in_process(copy.path, None),
            reset=copy.reset,
            check=both(lambda r: check_landed(r, len(ready)), all_landed),
        ),
        Step(lambda: fast_import_baseline(copy.path, ready), reset=copy.reset, check=all_landed),
        args.batch_runs,
    )

    print("4. deciding with nothing to promote ...", flush=True)
    copy.reset()
    check_landed(promote_in_process(copy.path, None), len(ready))  # now every plugin is current
    settled = git(copy.path, "rev-parse", "refs/heads/main").strip()

    def nothing_moved(result: Any) -> None:
        assert result.landed == [] and result.proposed == [], result.landed[:3]
        assert git(copy.path, "rev-parse", "refs/heads/main").strip() == settled

    def listed_states(result: subprocess.CompletedProcess[str]) -> None:
        assert result.stdout.count("\n") >= 3 * spec.plugins, "not every state file listed"

    ls_states = ["git", "-C", str(copy.path), "ls-tree", "-r", "main", "environments/"]
    nothing = interleaved(
        Step(lambda: promote_in_process(copy.path, None), check=nothing_moved),
        Step(lambda: run_cli(ls_states), check=listed_states),
        args.batch_runs,
    )
    copy.reset()

    print(f"3. {args.runners} concurrent runners ...", flush=True)
    runners = ready[: args.runners]
    races = [
        (
            race(cached, work / "race", runners, cli=False),
            race(cached, work / "race", runners, cli=True),
        )
        for _ in range(args.rounds)
    ]
    alone = bench_push(cached, work, one, args.runs)

    rows = [
        "| 1 | one promotion, local commit: `promote()` | {} | {} | {} |".format(
            *seconds(in_process)
        ),
        "| 1 | one promotion, local commit: `powerx promote PLUGIN` | {} | {} | {} |".format(
            *seconds(cli)
        ),
        "| 1 | CLI start-up: `powerx --version` (baseline: `python -c pass`) "
        "| {} | {} | {} |".format(*seconds(startup)),
        "| 2 | {:,} promotions in one `promote()` run (baseline: `git fast-import` of the same "
        "commits) | {} | {} | {} |".format(len(ready), *seconds(batch)),
        "| 3 | one `powerx promote PLUGIN --push origin`, alone (baseline: `git push` of one "
        "commit) | {} | {} | {} |".format(*seconds(alone)),
    ]
    for index, (drivers, clis) in enumerate(races, 1):
        for name, result in (("`powerx promote --push`", clis), ("`promote()` drivers", drivers)):
            retries = (
                f"; {result.retries} retries (at most {result.max_retries} for one runner); "
                f"median runner ready (imports done) after {result.imported:.2f} s"
                if result.retries is not None
                else ""
            )
            rows.append(
                f"| 3 | round {index}: {result.runners} concurrent {name}, the last lands "
                f"after | {result.last_lands:.2f} | median runner {result.median_lands:.2f} s"
                f"{retries} | |"
            )
    rows.append(
        "| 4 | deciding with nothing to promote, {:,} plugins: `promote()` (baseline: `git "
        "ls-tree -r main environments/`) | {} | {} | {} |".format(spec.plugins, *seconds(nothing))
    )
    commits = int(git(cached, "rev-list", "--count", "main"))
    files = len(git(cached, "ls-tree", "-r", "--name-only", "main").splitlines())
    report = (
        f"{machine()}\n\nRepo: {spec.plugins:,} plugins, {commits:,} commits, {files:,} files; "
        f"{len(ready):,} plugins ready ({SOURCE} -> {TARGET}).\n\n"
        "| figure | what | powerx, s (min / median / max) | baseline, s (min / median / max) "
        "| ratio |\n|---|---|---:|---:|---:|\n"
        + "\n".join(rows)
        + f"\n\n{args.runs} interleaved rounds (figure 2: {args.batch_runs}), main reset "
        "before each run; figure 1's baseline is a one-commit `git fast-import` (one blob "
        "changed on top of main); ratio: median of the per-round ratios. "
        f"Figure 3: {args.rounds} rounds, each of drivers then of CLI processes.\n"
    )
    print()
    print(report)
    (args.out / "promote_bench.md").write_text(report)
    if args.profile:
        copy.reset()
        print(profile(lambda: check_landed(promote_in_process(copy.path, one), 1)))
        copy.reset()
        print(profile(lambda: check_landed(promote_in_process(copy.path, None), len(ready))))
    return 0


if __name__ == "__main__":
    sys.exit(main())

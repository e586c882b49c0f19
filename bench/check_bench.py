"""Benchmark `powerx check` on a large generated release repo, against `git diff --name-only`.

The repo (default 5,000 plugins x 3 versions x 3 environments, 10,000 commits) is written
with the real `git fast-import`, so generating it takes seconds, and is reused on the next
run when its parameters match. Each pull request is one commit on a branch off `main`
that adds new releases (with evidence) and promotes existing versions, so every gate does
real work, and every timed check must pass (exit 0) with the expected number of changed
files.

    .venv/bin/python bench/check_bench.py [--plugins N] [--out DIR] [--quick]
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

PROJECT = Path(__file__).resolve().parents[1]
POLICY_TEMPLATES = PROJECT / "pipeline" / "templates" / "repo" / "policies"
REPORTS = PROJECT.parent / "shared" / "fixtures" / "reports" / "passing"
POWERX = Path(sys.executable).parent / "powerx"

GENERATOR_VERSION = 1
"""Bump when the generated repo changes, so that cached repos are rebuilt."""

ENVIRONMENTS = ("test", "staging", "prod")
VERSIONS = ("1.0.0", "1.1.0", "1.2.0")
NEW_VERSION = "1.3.0"
EVIDENCE = {"coverage.json": "coverage", "junit.xml": "tests", "bandit.sarif": "scans"}
PR_SIZES = (10, 100, 1000)
UNIT_FILES = 10
"""A PR is made of units of 10 files: 1 new release (4 files) promoted to test (1),
3 promotions of 1.2.0 into test and 2 promotions of 1.1.0 from staging into prod."""
UNIT_PLUGINS = 6
EPOCH = 1_700_000_000
COMMITTER = b"Bench Bot <bench@example.com>"

FileKey = tuple[str, ...]
"""What a file holds: ("release", plugin, version), ("state", plugin, version), ..."""
Changes = dict[str, FileKey]
"""One commit's changes: repo path -> content key."""


# -- file contents ---------------------------------------------------------------------


def plugin_name(index: int) -> str:
    """The name of the plugin with this index, e.g. plugin-00042."""
    return f"plugin-{index:05d}"


def digest_of(plugin: str, version: str) -> str:
    """A stable stand-in for the sha256 of a release's artifact."""
    return hashlib.sha256(f"{plugin}-{version}.pxp".encode()).hexdigest()


def release_yaml(plugin: str, version: str) -> bytes:
    """A valid release manifest; new versions depend on plugin-00000 (a dependency gate)."""
    ticket = int(hashlib.sha256(f"{plugin}{version}".encode()).hexdigest()[:6], 16) % 10_000
    needs_base = version == NEW_VERSION and plugin != plugin_name(0)
    dependencies = '\n  plugin-00000: ">=1.0.0,<2"' if needs_base else " {}"
    evidence = "\n".join(f"  {field}:\n    - evidence/{name}" for name, field in EVIDENCE.items())
    return f"""apiVersion: powerx.io/v1alpha1
kind: Release
plugin: {plugin}
version: {version}
artifact:
  uri: file://artifacts/{plugin}-{version}.pxp
  sha256: {digest_of(plugin, version)}
  size: 1234
notes: Release {version} of {plugin}.
changes:
  - id: PX-{ticket}
    title: Improve {plugin}
    link: https://example.com/PX-{ticket}
evidence:
{evidence}
compatibility:
  powerx: ">=2.4,<3"
dependencies:{dependencies}
license: Apache-2.0
channels:
  - online
  - offline
rollback:
  playbook: "1. Point the environment back at the previous version."
contacts:
  - name: Ada
    email: ada@example.com
""".encode()


def state_yaml(plugin: str, version: str) -> bytes:
    """A valid PluginState pinning plugin@version."""
    return (
        f"apiVersion: powerx.io/v1alpha1\nkind: PluginState\nplugin: {plugin}\n"
        f"version: {version}\ndigest: {digest_of(plugin, version)}\n"
    ).encode()


def environment_yaml(env: str) -> bytes:
    """An environment manifest as `powerx init` writes it."""
    position = ENVIRONMENTS.index(env)
    return (
        f"apiVersion: powerx.io/v1alpha1\nkind: Environment\nname: {env}\n"
        f"position: {position}\ntenants: []\ngroups: {{}}\n"
    ).encode()


def content(key: FileKey) -> bytes:
    """The bytes a content key stands for."""
    kind, *args = key
    if kind == "release":
        return release_yaml(args[0], args[1])
    if kind == "state":
        return state_yaml(args[0], args[1])
    if kind == "environment":
        return environment_yaml(args[0])
    if kind == "policy":
        return (POLICY_TEMPLATES / args[0]).read_bytes()
    if kind == "report":
        return (REPORTS / args[0]).read_bytes()
    raise ValueError(f"unknown content key {key}")


# -- changes ---------------------------------------------------------------------------


def release_files(plugin: str, version: str) -> Changes:
    """The four files of a release folder: manifest and its evidence."""
    folder = f"releases/{plugin}/{version}"
    files: Changes = {f"{folder}/release.yaml": ("release", plugin, version)}
    files.update({f"{folder}/evidence/{name}": ("report", name) for name in EVIDENCE})
    return files


def promotion(env: str, plugin: str, version: str) -> Changes:
    """Pin plugin@version in an environment."""
    return {f"environments/{env}/plugins/{plugin}.yaml": ("state", plugin, version)}


def init_files() -> Changes:
    """What `powerx init` commits: policies and environments."""
    policies = sorted(path.name for path in POLICY_TEMPLATES.glob("*.yaml"))
    files: Changes = {f"policies/{name}": ("policy", name) for name in policies}
    for env in ENVIRONMENTS:
        files[f"environments/{env}/environment.yaml"] = ("environment", env)
    return files


# -- history ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One logical change of the history (a commit, unless grouped with neighbours)."""

    subject: str
    changes: Changes


def onboarding(plugins: int, batches: int) -> Iterator[Event]:
    """Plugins arrive in batches: release 1.0.0, deployed to every environment."""
    size = max(1, -(-plugins // batches))
    for start in range(0, plugins, size):
        changes: Changes = {}
        for index in range(start, min(start + size, plugins)):
            name = plugin_name(index)
            changes.update(release_files(name, VERSIONS[0]))
            for env in ENVIRONMENTS:
                changes.update(promotion(env, name, VERSIONS[0]))
        yield Event(f"onboard plugins {start}..{min(start + size, plugins) - 1}", changes)


def lifecycle(plugins: int) -> Iterator[Event]:
    """Release 1.1.0, promote it to test and staging, then release 1.2.0 (undeployed)."""
    steps: list[tuple[str, Callable[[str], Changes]]] = [
        ("release 1.1.0", lambda p: release_files(p, VERSIONS[1])),
        ("promote 1.1.0 to test", lambda p: promotion("test", p, VERSIONS[1])),
        ("promote 1.1.0 to staging", lambda p: promotion("staging", p, VERSIONS[1])),
        ("release 1.2.0", lambda p: release_files(p, VERSIONS[2])),
    ]
    for subject, make in steps:
        for index in range(plugins):
            name = plugin_name(index)
            yield Event(f"{name}: {subject}", make(name))


def rollbacks(plugins: int, count: int) -> Iterator[Event]:
    """Pairs of test rollbacks to 1.0.0 and re-promotions of 1.1.0 (net: no change)."""
    for pair in range(-(-count // 2)):
        name = plugin_name(pair % plugins)
        yield Event(f"{name}: roll test back to 1.0.0", promotion("test", name, VERSIONS[0]))
        yield Event(f"{name}: promote 1.1.0 to test again", promotion("test", name, VERSIONS[1]))


def history(plugins: int, commits: int) -> list[Event]:
    """Exactly `commits` commits whose final tree is the full layout."""
    events = [Event("powerx init", init_files())]
    events += onboarding(plugins, batches=min(100, plugins))
    events += lifecycle(plugins)
    if len(events) < commits:
        events += rollbacks(plugins, commits - len(events))
    return group(events, commits)


def group(events: list[Event], commits: int) -> list[Event]:
    """Merge neighbouring events so that there are exactly `commits` of them."""
    if len(events) <= commits:
        return events
    per, extra = divmod(len(events), commits)
    grouped, start = [], 0
    for index in range(commits):
        end = start + per + (1 if index < extra else 0)
        chunk = events[start:end]
        changes: Changes = {}
        for event in chunk:
            changes.update(event.changes)
        grouped.append(Event("; ".join(event.subject for event in chunk), changes))
        start = end
    return grouped


def pull_request(plugins: int, files: int) -> Event:
    """One commit touching `files` files: new releases and promotions, all of which pass."""
    units = files // UNIT_FILES
    stride = plugins // (units * UNIT_PLUGINS)
    chosen = [plugin_name(1 + i * stride) for i in range(units * UNIT_PLUGINS)]
    changes: Changes = {}
    for unit in range(units):
        new, *others = chosen[unit * UNIT_PLUGINS : (unit + 1) * UNIT_PLUGINS]
        changes.update(release_files(new, NEW_VERSION))
        changes.update(promotion("test", new, NEW_VERSION))
        for name in others[:3]:
            changes.update(promotion("test", name, VERSIONS[2]))
        for name in others[3:]:
            changes.update(promotion("prod", name, VERSIONS[1]))
    assert len(changes) == files, (len(changes), files)
    return Event(f"release train: {files} files", changes)


def pr_sizes(plugins: int) -> list[int]:
    """The PR sizes this many plugins can hold (each unit needs 6 distinct plugins)."""
    return [n for n in PR_SIZES if (n // UNIT_FILES) * UNIT_PLUGINS < plugins]


# -- git fast-import -------------------------------------------------------------------


class FastImport:
    """Writes a fast-import stream; each distinct content is one blob, reused by mark."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.marks: dict[FileKey, int] = {}
        self.next_mark = 1
        self.time = EPOCH

    def _mark(self) -> int:
        self.next_mark += 1
        return self.next_mark - 1

    def _data(self, payload: bytes) -> None:
        self.stream.write(b"data %d\n" % len(payload))
        self.stream.write(payload)
        self.stream.write(b"\n")

    def blob(self, key: FileKey) -> int:
        """The mark of a content, writing the blob the first time it is needed."""
        if key not in self.marks:
            mark = self._mark()
            self.stream.write(b"blob\nmark :%d\n" % mark)
            self._data(content(key))
            self.marks[key] = mark
        return self.marks[key]

    def commit(self, ref: str, event: Event, parent: int | None) -> int:
        """Write one commit on `ref` (after `parent`); its mark."""
        blobs = {path: self.blob(key) for path, key in sorted(event.changes.items())}
        mark = self._mark()
        self.time += 600
        self.stream.write(b"commit %s\nmark :%d\n" % (ref.encode(), mark))
        self.stream.write(b"committer %s %d +0000\n" % (COMMITTER, self.time))
        self._data(event.subject.encode())
        if parent is not None:
            self.stream.write(b"from :%d\n" % parent)
        for path, blob in blobs.items():
            self.stream.write(b"M 100644 :%d %s\n" % (blob, path.encode()))
        return mark


@dataclass(frozen=True)
class RepoSpec:
    """The parameters of a generated repo; a cached repo is reused when they match."""

    plugins: int
    commits: int
    pr_sizes: tuple[int, ...]
    generator: int = GENERATOR_VERSION

    @property
    def name(self) -> str:
        """The folder name of the repo under the work dir."""
        return f"repo-p{self.plugins}-c{self.commits}"


def git(repo: Path, *args: str) -> str:
    """Run git in `repo`; its stdout."""
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def generate(spec: RepoSpec, path: Path) -> None:
    """Write the repo with `git fast-import`, then pack it the way a server would."""
    if path.exists():
        shutil.rmtree(path)
    subprocess.run(["git", "init", "--quiet", "--bare", "-b", "main", str(path)], check=True)
    process = subprocess.Popen(
        ["git", "-C", str(path), "fast-import", "--quiet", "--done"], stdin=subprocess.PIPE
    )
    assert process.stdin is not None
    with io.BufferedWriter(process.stdin, buffer_size=1 << 20) as stream:
        writer = FastImport(stream)
        tip = None
        for event in history(spec.plugins, spec.commits):
            tip = writer.commit("refs/heads/main", event, tip)
        for size in spec.pr_sizes:
            writer.commit(f"refs/heads/pr-{size}", pull_request(spec.plugins, size), tip)
        stream.write(b"done\n")
    if process.wait() != 0:
        raise RuntimeError("git fast-import failed")
    git(path, "gc", "--quiet")


def ensure_repo(spec: RepoSpec, work: Path) -> Path:
    """The generated repo for `spec`, reusing a cached one when its parameters match."""
    path = work / spec.name
    stamp = path / "bench-params.json"
    wanted = json.dumps(asdict(spec), sort_keys=True)
    if stamp.exists() and stamp.read_text() == wanted:
        print(f"reusing {path}")
        return path
    print(f"generating {path} ({spec.plugins} plugins, {spec.commits} commits) ...", flush=True)
    started = time.perf_counter()
    generate(spec, path)
    stamp.write_text(wanted)
    print(f"  done in {time.perf_counter() - started:.1f} s", flush=True)
    return path


# -- timing ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """Best and median wall-clock seconds of several runs."""

    best: float
    median: float

    def cell(self) -> str:
        """`best / median` in milliseconds, for the table."""
        return f"{self.best * 1000:.0f} / {self.median * 1000:.0f}"


def measure(action: Callable[[], object], runs: int) -> Timing:
    """Time `action` `runs` times after one warm-up run."""
    action()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return Timing(min(times), statistics.median(times))


def run_cli(args: list[str], expected_files: int | None = None) -> None:
    """Run a command, failing the benchmark unless it exits 0 (and checks `expected_files`)."""
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode != 0:
        output = result.stdout[-2000:] + result.stderr
        raise RuntimeError(f"{' '.join(args)} exited {result.returncode}:\n{output}")
    if expected_files is not None:
        report = json.loads(result.stdout)
        assert report["exit_code"] == 0 and report["status"] == "pass", report["status"]
        assert report["changed_files"] == expected_files, (report["changed_files"], expected_files)


def check_in_process(repo: Path, head: str, expected_files: int) -> None:
    """`run_check()` on a freshly opened repo (no warm tree cache), asserting it passes."""
    from pipeline.gitrepo import GitRepo
    from pipeline.policy import CheckRequest, run_check

    report = run_check(GitRepo(repo), CheckRequest(head=head, base="main"))
    assert report.exit_code == 0, [r for r in report.results if r.status != "pass"][:5]
    assert report.changed_files == expected_files, report.changed_files


@dataclass(frozen=True)
class Row:
    """The figures of one scenario."""

    plugins: int
    repo_files: int
    changed: int
    git_diff: Timing
    cli: Timing
    in_process: Timing


def bench_scenario(repo: Path, plugins: int, size: int, runs: int) -> Row:
    """Time git diff, the powerx CLI and run_check() on the PR branch of `size` files."""
    head = f"pr-{size}"
    diff = ["git", "-C", str(repo), "diff", "--name-only", "main", head]
    changed = len(git(repo, "diff", "--name-only", "main", head).splitlines())
    assert changed == size, (changed, size)
    cli = [str(POWERX), "check", "--repo", str(repo), "--base", "main", "--head", head]
    cli += ["--format", "json"]
    run_cli(cli, expected_files=size)
    check_in_process(repo, head, size)
    repo_files = len(git(repo, "ls-tree", "-r", "--name-only", "main").splitlines())
    return Row(
        plugins=plugins,
        repo_files=repo_files,
        changed=size,
        git_diff=measure(lambda: run_cli(diff), runs),
        cli=measure(lambda: run_cli(cli), runs),
        in_process=measure(lambda: check_in_process(repo, head, size), runs),
    )


def profile(repo: Path, size: int, lines: int = 25) -> str:
    """A cProfile of run_check() on the PR of `size` files, top functions by cumulative time."""
    profiler = cProfile.Profile()
    profiler.runcall(check_in_process, repo, f"pr-{size}", size)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(lines)
    return out.getvalue()


# -- report ----------------------------------------------------------------------------


def machine() -> str:
    """CPU count, CPU model, Python and git versions."""
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    git_version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout
    return f"nproc {nproc}, CPU {model}, Python {platform.python_version()}, {git_version.strip()}"


def table(rows: list[Row], startup: Timing, runs: int) -> str:
    """The figures as a Markdown table (milliseconds, best / median of `runs` runs)."""
    lines = [
        "| plugins | files in repo | changed files | `git diff --name-only` | "
        "`powerx check` (CLI) | `run_check()` |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.plugins:,} | {row.repo_files:,} | {row.changed:,} | {row.git_diff.cell()} | "
            f"{row.cli.cell()} | {row.in_process.cell()} |"
        )
    lines.append(f"\nms, best / median of {runs} runs. `powerx --version` (CLI start-up alone): "
                 f"{startup.cell()} ms.")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plugins", type=int, help="plugins in the large repo [5000]")
    parser.add_argument("--small-plugins", type=int, help="plugins in the small repo [1000]")
    parser.add_argument("--commits", type=int, help="commits of history [10000]")
    parser.add_argument("--runs", type=int, help="timed runs per figure [7]")
    parser.add_argument("--out", type=Path, default=PROJECT / "bench" / "out", help="work dir")
    parser.add_argument("--quick", action="store_true", help="a small smoke run (500/100 plugins)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the largest PR")
    args = parser.parse_args(argv)
    defaults = (500, 100, 1_000, 5) if args.quick else (5_000, 1_000, 10_000, 7)
    names = ("plugins", "small_plugins", "commits", "runs")
    for name, default in zip(names, defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.runs < 5:
        parser.error("--runs must be at least 5")
    return args


def main(argv: list[str] | None = None) -> int:
    """Generate (or reuse) the repos, time every scenario, print the table."""
    args = parse_args(argv)
    sys.path.insert(0, str(PROJECT))
    args.out.mkdir(parents=True, exist_ok=True)
    large = RepoSpec(args.plugins, args.commits, tuple(pr_sizes(args.plugins)))
    small = RepoSpec(args.small_plugins, args.commits, (PR_SIZES[0],))
    large_repo, small_repo = ensure_repo(large, args.out), ensure_repo(small, args.out)
    rows = [bench_scenario(large_repo, large.plugins, size, args.runs) for size in large.pr_sizes]
    rows.append(bench_scenario(small_repo, small.plugins, PR_SIZES[0], args.runs))
    startup = measure(lambda: run_cli([str(POWERX), "--version"]), args.runs)
    report = f"{machine()}\n\n{table(rows, startup, args.runs)}\n"
    print()
    print(report)
    (args.out / "check_bench.md").write_text(report)
    if args.profile:
        print(profile(large_repo, large.pr_sizes[-1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark the web console (`powerx serve`) on a large release repo, against a baseline.

The repo: `--plugins` plugins (5,000) onboarded in 100 batch commits with signed release
1.0.0 deployed everywhere (`benchrepo.onboarding`), then runner commits carrying the
trailers `powerx` writes (publish, promote, approve, rollback; `compose_message`), one
plugin each, until the history has `--commits` (10,000+) commits. The active plugins
(the first ones, so the matrix's first page) end with 1.1.0 in test (or rolled back to
1.0.0), 1.1.0 in staging and 1.0.0 in prod: the planner judges each of them in full.
Operators rotate, one (`RARE_OPERATOR`) signs three commits, and the last plugin has no
runner commit: filtering on either walks the whole history.

Each URL of `urls()` is timed two ways, each against the baseline console (the code at
`--baseline`, extracted into bench/out/, so both run in the same rounds, interleaved):

- server time: the ASGI app called in-process (httpx's ASGITransport) in a worker process
  per side, one request per round, timed inside the worker;
- over HTTP: a `powerx serve` process per side on a loopback port, timed by the client.

Every answer is checked (status 200, a non-empty body); the JSON answers of the audit
views must be identical on both sides before any time counts. Adding a view to the
benchmark is one line in `urls()`.

    .venv/bin/python bench/console_bench.py [--plugins 5000] [--commits 10000]
    .venv/bin/python bench/console_bench.py --quick     # 300 plugins, 1,000 commits
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from benchrepo import (
    EPOCH,
    PROJECT,
    VERSIONS,
    Event,
    ensure_repo,
    git,
    init_files,
    machine,
    onboarding,
    plugin_name,
    promotion,
    release_files,
    signed_content,
    with_bundles,
    write_repo,
)
from timing import Pair, Step, Timing, interleaved, measure, pair_of, rounds

BASELINE = "b6ea2c9"
"""The console before the audit index (main when this benchmark was written)."""
OPERATORS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi")
RARE_OPERATOR = "zoe"
RARE_SERIALS = (11, 4_111, 8_111)
"""The runner commits `RARE_OPERATOR` signs: filtering on it walks the whole history."""
STEPS = ("publish", "promote-test", "approve-staging", "promote-staging", "settle-test")
"""What each active plugin goes through, every plugin one step before the next step."""
ROLLED_BACK = 7
"""Every 7th active plugin's last step rolls test back to 1.0.0 (else it is re-approved)."""
COMMIT_SECONDS = 600
"""`benchrepo.FastImport` dates each commit 10 minutes after the one before."""


# -- the repo ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsoleSpec:
    """The parameters of the console repo; a cached repo is reused when they match."""

    plugins: int
    commits: int
    generator: int = 1

    @property
    def name(self) -> str:
        """The folder name of the repo under the work dir."""
        return f"console-p{self.plugins}-c{self.commits}"

    @property
    def batches(self) -> int:
        """Onboarding commits."""
        return min(100, self.plugins)

    @property
    def active(self) -> int:
        """Plugins with runner commits (enough of them for `commits` in all)."""
        runner_commits = self.commits - 1 - self.batches
        return min(self.plugins - 1, -(-runner_commits // len(STEPS)))

    def rare_plugin(self) -> str:
        """The last plugin: onboarded with 99 others, never touched by the runner."""
        return plugin_name(self.plugins - 1)


def message(subject: str, action: str, plugin: str | None = None, **extra: str) -> str:
    """A commit message as the runner writes it (trailers by `compose_message`); `extra`
    holds version, environment, operator and any other trailer."""
    from pipeline.gitrepo import Trailers, compose_message

    version, env, operator = (extra.pop(key, None) for key in ("version", "env", "operator"))
    trailers = Trailers(action, plugin, version, env, operator, extra=extra)
    return compose_message(subject, "", trailers)


def operator_of(serial: int) -> str:
    """The operator of the runner commit with this serial number."""
    return RARE_OPERATOR if serial in RARE_SERIALS else OPERATORS[serial % len(OPERATORS)]


def runner_event(step: str, index: int, serial: int) -> Event:
    """One runner commit: `step` of the plugin with this index."""
    plugin, old, new = plugin_name(index), VERSIONS[0], VERSIONS[1]
    who = operator_of(serial)
    if step == "publish":
        ci = f"https://ci.example.com/run/{serial}"
        text = message(
            f"Publish {plugin} {new}",
            "publish",
            plugin,
            version=new,
            operator=who,
            **{"CI-Run": ci},
        )
        return Event(text, release_files(plugin, new))
    if step.startswith("promote-"):
        env = step.removeprefix("promote-")
        source = "release" if env == "test" else "test"
        text = message(
            f"Promote {plugin} {new} to {env}",
            "promote",
            plugin,
            version=new,
            env=env,
            operator=who,
            From=source,
        )
        return Event(text, promotion(env, plugin, new))
    if step == "approve-staging" or index % ROLLED_BACK:
        env = "staging" if step == "approve-staging" else "prod"
        text = message(
            f"Approve {plugin} {new} for {env}",
            "approve",
            plugin,
            version=new,
            env=env,
            operator=who,
        )
        return Event(text, {})
    reason = "error rate above threshold"
    text = message(
        f"Roll back {plugin} in test: {new} -> {old}",
        "rollback",
        plugin,
        version=old,
        env="test",
        operator=who,
        Reason=reason,
        **{"Rolled-Back-From": new},
    )
    return Event(text, promotion("test", plugin, old))


def console_history(spec: ConsoleSpec) -> list[Event]:
    """init, the onboarding batches, then every step of every active plugin, step by step."""
    init = {**init_files(), "policies/approvals.yaml": ("policy", "approvals.yaml")}
    events = [Event(message("powerx init", "init"), init)]
    events += onboarding(spec.plugins, spec.batches)
    serial = 0
    for step in STEPS:
        for index in range(spec.active):
            events.append(runner_event(step, index, serial))
            serial += 1
    return [with_bundles(event) for event in events]


def generate(spec: ConsoleSpec, path: Path) -> None:
    """Write the console repo (signing every release once) as a non-bare repo's .git."""
    write_repo(path, console_history(spec), content=signed_content)


# -- the baseline tree ---------------------------------------------------------------------


def baseline_tree(rev: str, out: Path) -> Path:
    """`pipeline/` as it is at `rev`, extracted under `out` (reused when it is there)."""
    commit = subprocess.run(
        ["git", "-C", str(PROJECT), "rev-parse", "--verify", f"{rev}^{{commit}}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    tree = out / f"console-baseline-{commit[:12]}"
    if not (tree / "pipeline" / "web" / "app.py").exists():
        tree.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(PROJECT), "archive", commit, "pipeline"],
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


# -- what is timed -------------------------------------------------------------------------


def urls(spec: ConsoleSpec, repo: Path) -> list[tuple[str, str]]:
    """(what, URL) of every timed request; a new view is one more line here."""
    root = git(repo, "rev-list", "--max-parents=0", "main").split()[0]  # the far end
    since, until = date_range(spec)
    rare = plugin_name(spec.active - 1)
    return [
        ("matrix, first page", "/matrix"),
        ("matrix, filtered (q=plugin-001, env=prod)", "/matrix?q=plugin-001&env=prod"),
        ("audit, first page", "/audit"),
        (f"audit, rare operator ({RARE_OPERATOR}: 3 entries)", f"/audit?operator={RARE_OPERATOR}"),
        (f"audit, rare plugin ({rare}: 5 entries)", f"/audit?plugin={rare}&action=promote"),
        (f"audit, date range ({since} to {until})", f"/audit?since={since}&until={until}"),
        ("audit, CSV export (every entry)", "/audit.csv"),
        ("audit, permalink of the first commit", f"/audit/{root}"),
        # ("release page", f"/release/{plugin_name(0)}/{VERSIONS[1]}"),
    ]


def date_range(spec: ConsoleSpec) -> tuple[str, str]:
    """Two days around the middle of the history (YYYY-MM-DD, both included)."""
    middle = EPOCH + COMMIT_SECONDS * spec.commits // 2
    day = 86_400
    return tuple(  # type: ignore[return-value]
        datetime.fromtimestamp(middle + offset, UTC).strftime("%Y-%m-%d") for offset in (0, day)
    )


def as_json(url: str) -> str:
    """The JSON spelling of a view's URL (.json before the query); None for the CSV."""
    path, mark, query = url.partition("?")
    return f"{path}.json{mark}{query}"


WORKER = """
import asyncio, hashlib, json, sys, time
from pathlib import Path
import httpx
from pipeline.web.app import create_app

def client():
    app = create_app(Path(sys.argv[1]))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1")

import pipeline.web.audit
print(json.dumps({"code": pipeline.web.audit.__file__}), flush=True)
loop = asyncio.new_event_loop()
session = client()
for line in sys.stdin:
    ask = json.loads(line)
    if ask.get("fresh"):
        session = client()
    started = time.perf_counter()
    answer = loop.run_until_complete(session.get(ask["url"], timeout=600))
    seconds = time.perf_counter() - started
    body = answer.content
    report = {"seconds": seconds, "status": answer.status_code, "bytes": len(body)}
    report["body"] = body.decode() if ask.get("body") else hashlib.sha256(body).hexdigest()
    print(json.dumps(report), flush=True)
"""
"""One side's console, called in-process through httpx's ASGITransport: a request per
line of stdin, timed inside the process; `fresh` starts a new console first (a restart)."""


class Side:
    """One implementation (a `pipeline/` tree): its in-process worker and its server."""

    def __init__(self, name: str, tree: Path, repo: Path) -> None:
        self.name, self.tree, self.repo = name, tree, repo
        env = {**os.environ, "PYTHONPATH": str(tree)}
        self.worker = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(repo)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tree,  # `python -c` puts the working directory first on sys.path
        )
        assert self.worker.stdout is not None
        code = json.loads(self.worker.stdout.readline())["code"]
        if not Path(code).is_relative_to(tree):
            raise RuntimeError(f"{name}: the worker runs {code}, not the code in {tree}")
        self.server = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "serve", "--repo", str(repo), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=tree,
        )
        assert self.server.stdout is not None
        line = self.server.stdout.readline()
        if "console at " not in line:
            raise RuntimeError(f"{name}: powerx serve said {line!r}")
        self.url = line.split("console at ", 1)[1].split("/ ", 1)[0]
        import httpx

        self.http = httpx.Client(base_url=self.url, timeout=600)

    def ask(self, url: str, *, fresh: bool = False, body: bool = False) -> dict[str, Any]:
        """One request to the in-process console: seconds (server time), status, body."""
        assert self.worker.stdin is not None and self.worker.stdout is not None
        self.worker.stdin.write(json.dumps({"url": url, "fresh": fresh, "body": body}) + "\n")
        self.worker.stdin.flush()
        answer: dict[str, Any] = json.loads(self.worker.stdout.readline())
        if answer["status"] != 200 or answer["bytes"] == 0:
            raise RuntimeError(f"{self.name} {url}: {answer['status']}, {answer['bytes']} B")
        return answer

    def get(self, url: str) -> int:
        """One request over HTTP on loopback; the body's size (checked: 200, not empty)."""
        answer = self.http.get(url)
        if answer.status_code != 200 or not answer.content:
            raise RuntimeError(f"{self.name} {url} over HTTP: {answer.status_code}")
        return len(answer.content)

    def close(self) -> None:
        """Stop the worker and the server (both ours)."""
        self.http.close()
        assert self.worker.stdin is not None
        self.worker.stdin.close()
        self.worker.wait(timeout=60)
        self.server.terminate()
        self.server.wait(timeout=60)


def check_same_answers(subject: Side, baseline: Side, timed: list[tuple[str, str]]) -> None:
    """Every view answers the same data on both sides (the audit must be identical)."""
    for what, url in timed:
        spelled = url if url.endswith(".csv") or ".csv?" in url else as_json(url)
        mine = subject.ask(spelled, body=True)["body"]
        theirs = baseline.ask(spelled, body=True)["body"]
        if mine != theirs:
            raise RuntimeError(f"{what}: {spelled} differs from the baseline's answer")


def recorder(into: list[float]) -> Callable[[dict[str, Any]], None]:
    """A check that keeps the server time a worker reported."""
    return lambda answer: into.append(answer["seconds"])


def server_times(
    subject: Side, baseline: Side, timed: list[tuple[str, str]], runs: int
) -> dict[str, Pair]:
    """Server time of each URL, in-process, subject and baseline in alternation."""
    seconds: dict[str, list[float]] = {}
    steps: dict[str, Step] = {}
    for what, url in timed:
        for side in (subject, baseline):
            key = f"{side.name}|{what}"
            seconds[key] = []
            steps[key] = Step(partial(side.ask, url), check=recorder(seconds[key]))
    rounds(steps, runs)
    return {
        what: pair_of(
            seconds[f"{subject.name}|{what}"][-runs:], seconds[f"{baseline.name}|{what}"][-runs:]
        )
        for what, _ in timed
    }


def http_times(
    subject: Side, baseline: Side, timed: list[tuple[str, str]], runs: int
) -> dict[str, Pair]:
    """Time of each URL over HTTP on loopback (client side), in alternation."""
    steps = {
        f"{side.name}|{what}": Step(partial(side.get, url))
        for what, url in timed
        for side in (subject, baseline)
    }
    samples = rounds(steps, runs)
    return {
        what: pair_of(samples[f"{subject.name}|{what}"], samples[f"{baseline.name}|{what}"])
        for what, _ in timed
    }


def index_times(repo: Path, runs: int) -> tuple[Pair, Timing]:
    """Building the audit index from nothing (against reading the whole trail once, as the
    old console did for a rare filter), and reading a persisted one back (a restart)."""
    from pipeline.gitrepo import GitRepo
    from pipeline.promotion.audit import AuditQuery, audit_trail
    from pipeline.promotion.audit_index import INDEX_FILE, AuditIndex

    saved = repo / INDEX_FILE
    head = GitRepo(repo).resolve("main")
    built = Step(
        lambda: AuditIndex(GitRepo(repo), persist=True).find(head),
        reset=lambda: saved.unlink(missing_ok=True),
        check=lambda found: (found is not None and saved.exists()) or fail("no index built"),
    )
    walk = Step(lambda: sum(1 for _ in audit_trail(GitRepo(repo), head, AuditQuery())))
    build = interleaved(built, walk, runs)
    load = measure(
        Step(
            lambda: AuditIndex(GitRepo(repo), persist=True).find(head),
            check=lambda found: found is not None or fail("the saved index was not read"),
        ),
        runs,
    )
    return build, load


def fail(message: str) -> bool:
    """Stop the benchmark: a result did not check out."""
    raise RuntimeError(message)


# -- report --------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plugins", type=int, help="plugins [5000; quick: 300]")
    parser.add_argument("--commits", type=int, help="commits of history [10000; quick: 1000]")
    parser.add_argument("--runs", type=int, help="timed rounds [5; quick: 3]")
    parser.add_argument("--index-runs", type=int, help="rounds of the index build [2; quick: 2]")
    parser.add_argument("--baseline", default=BASELINE, help=f"the baseline's commit [{BASELINE}]")
    parser.add_argument("--url", action="append", default=[], help="time this URL too")
    parser.add_argument("--out", type=Path, default=PROJECT / "bench" / "out", help="work dir")
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    args = parser.parse_args(argv)
    defaults = (300, 1_000, 3, 2) if args.quick else (5_000, 10_000, 5, 2)
    for name, default in zip(("plugins", "commits", "runs", "index_runs"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.plugins < 10 or args.commits < args.plugins // 50 + 20:
        parser.error("need --plugins >= 10 and enough --commits for the onboarding batches")
    if min(args.runs, args.index_runs) < 1:
        parser.error("--runs and --index-runs must be at least 1")
    return args


TARGETS = {"matrix, first page": "< 300 ms"}
"""Issue 13's targets, by figure (every audit filter: < 500 ms)."""


def table(server: dict[str, Pair], http: dict[str, Pair], timed: list[tuple[str, str]]) -> str:
    """The Markdown table of every URL's figures."""
    lines = [
        "| request | server time, ms (min / median / max) | baseline, ms | ratio "
        "| over HTTP, ms | baseline, ms | ratio | target |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for what, url in timed:
        target = TARGETS.get(what, "< 500 ms" if what.startswith("audit, ") and "?" in url else "")
        a, b = server[what], http[what]
        lines.append(
            f"| {what}: `{url}` | {a.subject.cell()} | {a.baseline.cell()} | {a.ratio_cell()} "
            f"| {b.subject.cell()} | {b.baseline.cell()} | {b.ratio_cell()} | {target} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Generate (or reuse) the repo, time every URL on both sides, print the table."""
    args = parse_args(argv)
    sys.path.insert(0, str(PROJECT))
    args.out.mkdir(parents=True, exist_ok=True)
    spec = ConsoleSpec(args.plugins, args.commits)
    repo = ensure_repo(spec, args.out, lambda path: generate(spec, path))
    old = baseline_tree(args.baseline, args.out)
    timed = urls(spec, repo) + [(f"extra: {url}", url) for url in args.url]

    print("1. building the audit index ...", flush=True)
    build, load = index_times(repo, args.index_runs)  # leaves the index saved for the rest
    subject, baseline = Side("new", PROJECT, repo), Side("baseline", old, repo)
    try:
        print("2. same answers on both sides ...", flush=True)
        check_same_answers(subject, baseline, timed)
        print(f"3. server time of {len(timed)} requests, {args.runs} rounds ...", flush=True)
        server = server_times(subject, baseline, timed, args.runs)
        print("4. over HTTP ...", flush=True)
        http = http_times(subject, baseline, timed, args.runs)
        restart = measure(
            Step(lambda: subject.ask(f"/audit?operator={RARE_OPERATOR}", fresh=True)), args.runs
        )
    finally:
        subject.close()
        baseline.close()
    commits = int(git(repo, "rev-list", "--count", "main"))
    files = len(git(repo, "ls-tree", "-r", "--name-only", "main").splitlines())
    report = (
        f"{machine()}\n\nRepo: {spec.plugins:,} plugins, {commits:,} commits "
        f"({spec.active:,} plugins with runner commits), {files:,} files. Baseline: "
        f"`{args.baseline}` (`pipeline/` extracted to {old.relative_to(args.out)}).\n\n"
        + table(server, http, timed)
        + "\n\n| audit index | ms (min / median / max) | baseline, ms | ratio |\n"
        "|---|---:|---:|---:|\n"
        f"| built from nothing (baseline: reading the whole trail once) "
        f"| {build.subject.cell()} | {build.baseline.cell()} | {build.ratio_cell()} |\n"
        f"| read back from .git/powerx/audit-index (a restart) | {load.cell()} | | |\n"
        f"| first rare-operator filter of a restarted console (server time) "
        f"| {restart.cell()} | | |\n"
        f"\n{args.runs} interleaved rounds after a warm-up round (the index build: "
        f"{args.index_runs}); server time is the ASGI app called in-process (httpx "
        "ASGITransport) and timed inside its process; ratio: median of the per-round ratios.\n"
    )
    print()
    print(report)
    (args.out / "console_bench.md").write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())

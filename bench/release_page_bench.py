"""Benchmark the release page and the walk behind its approvals, against a same-run baseline.

The repo: `benchrepo.signed_history` (default 5,000 plugins, 10,000 commits, signed
releases) with one approval required for prod, so the release page (`release_data`) judges
the prod approvals of every release, and asks `request_origin` for the commit that added
the release manifest. Three kinds of figures, each interleaved (A B A B) with its baseline:

1. `request_origin` on a fresh GitRepo: the release origin index read back from
   .git/powerx/release-origins (this tree) against the `path_history` walk (`walk_origin`),
   for a release published early (the walk crosses the whole history) and a recent one;
   and the one-time index build from nothing against the longest walk.
2. The page's server time, in-process (the ASGI app called through httpx in a worker
   process, as `console_bench.py` does): the first view after a console restart, the
   first view of another release in a warm console, and the same release again.
3. The page over HTTP on loopback (`powerx serve`): first view of a release, and again.

The baseline is the console at `--baseline` (`pipeline/` extracted into bench/out/), so
both sides run in the same rounds; the JSON pages must be identical before any time counts.

    .venv/bin/python bench/release_page_bench.py [--plugins 5000] [--commits 10000]
    .venv/bin/python bench/release_page_bench.py --quick     # 500 plugins, 1,000 commits
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from benchrepo import (
    PROJECT,
    VERSIONS,
    FileKey,
    ensure_repo,
    git,
    machine,
    plugin_name,
    signed_content,
    signed_history,
    write_repo,
)
from console_bench import Side, as_json, baseline_tree, fail
from timing import Pair, Step, interleaved, pair_of, rounds

BASELINE = "24b09ba"
"""main before the release origin index (when this benchmark was written)."""
APPROVALS = b"""apiVersion: powerx.io/v1alpha1
kind: ApprovalPolicy
environments:
  staging: {required: 0}
  prod: {required: 1}
"""
"""Prod needs one approval: the page judges it, so it asks for the publishing commit."""


def content(key: FileKey) -> bytes:
    """`signed_content`, with one approval required for prod."""
    if key == ("policy", "approvals.yaml"):
        return APPROVALS
    return signed_content(key)


@dataclass(frozen=True)
class PageSpec:
    """The parameters of the repo; a cached repo is reused when they match."""

    plugins: int
    commits: int
    generator: int = 1

    @property
    def name(self) -> str:
        """The folder name of the repo under the work dir."""
        return f"relpage-p{self.plugins}-c{self.commits}"


def early(spec: PageSpec) -> tuple[str, str]:
    """A release of the onboarding: its walk crosses the whole history."""
    return plugin_name(spec.plugins // 2), VERSIONS[0]


def recent(spec: PageSpec) -> tuple[str, str]:
    """One of the last releases: its walk is short."""
    return plugin_name(spec.plugins - 1), VERSIONS[2]


def others(spec: PageSpec, count: int) -> list[tuple[str, str]]:
    """Releases of the middle of the history, a different one each round."""
    step = max(1, spec.plugins // (count + 1))
    return [(plugin_name(step * (index + 1) + 1), VERSIONS[1]) for index in range(count)]


def page(plugin: str, version: str) -> str:
    return f"/release/{plugin}/{version}"


# -- 1. request_origin and the index build --------------------------------------------------


def origin_pairs(repo: Path, spec: PageSpec, runs: int, build_runs: int) -> dict[str, Pair]:
    """The index answer against the walk, each on a fresh GitRepo; the build from nothing
    against the longest walk. Leaves the index saved for what follows."""
    from pipeline import layout
    from pipeline.gitrepo import GitRepo
    from pipeline.policy.release_approvals import ORIGINS_FILE, release_origins, walk_origin

    stored = repo / ORIGINS_FILE

    def build() -> Any:
        fresh = GitRepo(repo)
        release_origins(fresh).read_all(fresh.resolve("main"))
        return fresh

    def walk(path: str) -> str:
        fresh = GitRepo(repo)
        return walk_origin(fresh, fresh.resolve("main"), path).id

    def indexed(path: str) -> str:
        fresh = GitRepo(repo)
        index = release_origins(fresh)
        key = index.key(path)
        assert key is not None
        tip = fresh.resolve("main")
        return (index.added(tip, key) or tip).id

    deepest = layout.release_path(*early(spec))
    pairs = {
        "index build from nothing (baseline: the longest walk)": interleaved(
            Step(
                build,
                reset=lambda: stored.unlink(missing_ok=True),
                check=lambda _: stored.exists() or fail(f"no index saved at {stored}"),
            ),
            Step(partial(walk, deepest)),
            build_runs,
            warmup=0,
        )
    }
    for what, release in (("early", early(spec)), ("recent", recent(spec))):
        path = layout.release_path(*release)
        expected = walk(path)
        pairs[f"`request_origin`, {what} release {release[0]}@{release[1]}"] = interleaved(
            Step(partial(indexed, path), check=same(expected)),
            Step(partial(walk, path), check=same(expected)),
            runs,
        )
    return pairs


def same(expected: str) -> Callable[[str], object]:
    """A check: the answer is the walk's."""
    return lambda found: found == expected or fail(f"{found} is not the walk's {expected}")


# -- 2 and 3. the page ----------------------------------------------------------------------


class Releases:
    """Each round's releases: one per figure that needs a release neither console showed."""

    def __init__(self, spec: PageSpec, runs: int, figures: list[str]) -> None:
        rounds_ = runs + 1  # the warm-up round too
        pool = iter(others(spec, rounds_ * len(figures)))
        self.queues = {figure: [next(pool) for _ in range(rounds_)] for figure in figures}
        self.served = dict.fromkeys(figures, 0)

    def next(self, figure: str, side: Side) -> tuple[str, str]:
        """The release of this round for `figure` (the same for both sides)."""
        count = self.served[figure] = self.served[figure] + (side.name == "new")
        return self.queues[figure][count - 1]

    def latest(self, figure: str) -> tuple[str, str]:
        return self.queues[figure][self.served[figure] - 1]


SERVER = (
    "first view after a console restart (JSON)",
    "first view after a console restart (HTML: the first render compiles the template)",
    "first view of another release, warm console",
    "the release of the restart again",
)
HTTP = ("first view of a release", "the same release again")


def page_pairs(
    subject: Side, baseline: Side, spec: PageSpec, runs: int
) -> tuple[dict[str, Pair], dict[str, Pair]]:
    """Server time (in-process) and time over HTTP of the page; in each round every figure
    is timed on this tree, then on the baseline, on the same release."""
    releases = Releases(spec, runs, ["html", "json", "other", "http"])
    seconds: dict[str, list[float]] = {}
    steps: dict[str, Step] = {}

    def ask(side: Side, figure: str, *, fresh: bool = False, suffix: str = "") -> Any:
        return side.ask(page(*releases.next(figure, side)) + suffix, fresh=fresh)

    def again(side: Side) -> Any:
        return side.ask(page(*releases.latest("html")))

    figures: dict[str, Callable[[Side], Any]] = {
        SERVER[0]: lambda side: ask(side, "json", fresh=True, suffix=".json"),
        SERVER[1]: lambda side: ask(side, "html", fresh=True),
        SERVER[2]: lambda side: ask(side, "other"),
        SERVER[3]: again,
    }
    for what, run in figures.items():
        for side in (subject, baseline):
            key = f"{side.name}|{what}"
            seconds[key] = []
            steps[key] = Step(partial(run, side), check=partial(record, seconds[key]))
    rounds(steps, runs)
    server = {what: pair_of_side(seconds, subject, baseline, what, runs) for what in figures}
    http_steps: dict[str, Step] = {}
    for side in (subject, baseline):
        http_steps[f"{side.name}|{HTTP[0]}"] = Step(
            partial(lambda s: s.get(page(*releases.next("http", s))), side)
        )
    for side in (subject, baseline):
        http_steps[f"{side.name}|{HTTP[1]}"] = Step(
            partial(lambda s: s.get(page(*releases.latest("http"))), side)
        )
    samples = rounds(http_steps, runs)
    http = {
        what: pair_of(samples[f"{subject.name}|{what}"], samples[f"{baseline.name}|{what}"])
        for what in HTTP
    }
    return server, http


def record(into: list[float], answer: dict[str, Any]) -> None:
    """A check that keeps the server time a worker reported."""
    into.append(answer["seconds"])


def pair_of_side(
    seconds: dict[str, list[float]], subject: Side, baseline: Side, what: str, runs: int
) -> Pair:
    return pair_of(
        seconds[f"{subject.name}|{what}"][-runs:], seconds[f"{baseline.name}|{what}"][-runs:]
    )


def check_same_pages(subject: Side, baseline: Side, releases: list[tuple[str, str]]) -> None:
    """The JSON page of each release is the same on both sides."""
    for release in releases:
        url = as_json(page(*release))
        if subject.ask(url, body=True)["body"] != baseline.ask(url, body=True)["body"]:
            raise RuntimeError(f"{url} differs from the baseline's page")


# -- report ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plugins", type=int, help="plugins [5000; quick: 500]")
    parser.add_argument("--commits", type=int, help="commits of history [10000; quick: 1000]")
    parser.add_argument("--runs", type=int, help="timed rounds [3; quick: 2]")
    parser.add_argument("--build-runs", type=int, help="rounds of the index build [2]")
    parser.add_argument("--baseline", default=BASELINE, help=f"the baseline's commit [{BASELINE}]")
    parser.add_argument("--out", type=Path, default=PROJECT / "bench" / "out", help="work dir")
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    args = parser.parse_args(argv)
    defaults = (500, 1_000, 2, 1) if args.quick else (5_000, 10_000, 3, 2)
    for name, default in zip(("plugins", "commits", "runs", "build_runs"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.plugins < 20 or args.commits < args.plugins // 50 + 20:
        parser.error("need --plugins >= 20 and enough --commits for the onboarding batches")
    if min(args.runs, args.build_runs) < 1:
        parser.error("--runs and --build-runs must be at least 1")
    return args


def rows(title: str, pairs: dict[str, Pair]) -> list[str]:
    return [
        f"| {title}: {what} | {pair.subject.cell(digits=1)} | {pair.baseline.cell(digits=1)} "
        f"| {pair.ratio_cell()} |"
        for what, pair in pairs.items()
    ]


def main(argv: list[str] | None = None) -> int:
    """Generate (or reuse) the repo, time both sides, print the table."""
    args = parse_args(argv)
    sys.path.insert(0, str(PROJECT))
    args.out.mkdir(parents=True, exist_ok=True)
    spec = PageSpec(args.plugins, args.commits)
    events = signed_history(spec.plugins, spec.commits)
    repo = ensure_repo(spec, args.out, lambda path: write_repo(path, events, None, content))
    old = baseline_tree(args.baseline, args.out)
    print("1. request_origin and the index build ...", flush=True)
    origins = origin_pairs(repo, spec, args.runs, args.build_runs)
    subject, baseline = Side("new", PROJECT, repo), Side("baseline", old, repo)
    try:
        print("2. same pages on both sides ...", flush=True)
        check_same_pages(subject, baseline, [early(spec), recent(spec)])
        print(f"3. the page, {args.runs} rounds ...", flush=True)
        server, http = page_pairs(subject, baseline, spec, args.runs)
    finally:
        subject.close()
        baseline.close()
    commits = int(git(repo, "rev-list", "--count", "main"))
    report = "\n".join(
        [
            machine(),
            "",
            f"Repo: {spec.plugins:,} plugins, {commits:,} commits, one approval required for "
            f"prod. Baseline: `{args.baseline}` (`pipeline/` extracted to "
            f"{old.relative_to(args.out)}).",
            "",
            "| figure | this tree, ms (min / median / max) | baseline, ms | ratio |",
            "|---|---:|---:|---:|",
            *rows("fresh GitRepo", origins),
            *rows("page, server time", server),
            *rows("page over HTTP", http),
            "",
            f"{args.runs} interleaved rounds after a warm-up round (the index build: "
            f"{args.build_runs}, no warm-up); server time is the ASGI app called in-process "
            "and timed inside its process; each first view is of a release neither side "
            "showed before; ratio: median of the per-round ratios.",
            "",
        ]
    )
    print()
    print(report)
    (args.out / "release_page_bench.md").write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: time from an anomaly on the canary to the revert commit, with a real Prometheus.

Each run builds a release repo (prod runs hello 1.0.0, 1.1.0 is approved for prod) with a
bare remote, starts the canary of 1.1.0 at 10%, and runs `watch_rollout` (the code behind
`powerx rollout watch`) with a 10 s interval against Debian's Prometheus, which scrapes the
test exporter every second. Once the canary has passed one analysis, the exporter's canary
error ratio jumps from 1% to 20% at a random moment within the interval (so the phase of
the spike against the watch's rounds is uniform, as in life). The figure is the wall time
from that switch to the moment the revert commit has landed on the remote.

Policy: steps 10/50/100, interval 10 s, analysisWindow 30 s, sampleInterval 1 s,
minSamples 5, minStepDuration 10 min (so the canary stays at 10%), error ratio critical
with `rate(...[5s])`; exporter noise 2% per scrape on both sides.

Each run checks its result before its figure counts: the rollout rolled back after the
spike and the remote's head is the revert commit. No baseline: the figure is an absolute
latency against the target (min / median / max over the runs, `timing.Timing`).

    .venv/bin/python bench/rollback_latency_bench.py [--runs N] [--interval S] [--quick]

Target: under 60 s (the seed's limit, a scheduled job every 5 minutes, is 300 s and more).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from timing import Timing

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "tests"))

from conftest import Repo  # noqa: E402
from factories import signing_policy, yaml_text  # noqa: E402
from prometheus import (  # noqa: E402
    ERROR_RATIO,
    Exporter,
    Prometheus,
    running_exporter,
    running_prometheus,
)
from test_canary_controller import make_rollout  # noqa: E402

from pipeline.canary.controller import RolloutResult, watch_rollout  # noqa: E402
from pipeline.canary.providers import PrometheusProvider  # noqa: E402
from pipeline.models.rollout import render_query  # noqa: E402
from pipeline.scaffold import init_repo  # noqa: E402

TARGET_SECONDS = 60.0


def now() -> datetime:
    return datetime.now(UTC)


def one_run(
    work: Path, exporter: Exporter, prometheus: Prometheus, interval: float, rng: random.Random
) -> tuple[float, int]:
    """(seconds from spike to revert commit, analyses after the spike) of one rollout."""
    work.mkdir(parents=True)
    init_repo(work / "release-repo")
    repo = Repo(work / "release-repo")
    repo.commit({"policies/signing.yaml": yaml_text(signing_policy())}, "trust the test key")
    rollout = make_rollout(
        repo,
        work,
        interval=interval,
        analysisWindow=30,
        minSamples=5,
        minStepDuration=600,
        failAfter=900,
    )
    exporter.set("hello", "stable", version="1.0.0", error_ratio=0.01, noise=0.02)
    exporter.set("hello", "canary", version="1.1.0", error_ratio=0.01, noise=0.02)
    time.sleep(6)  # the previous run's spike leaves rate(...[5s])
    rollout.start(now=now())
    provider = PrometheusProvider(prometheus.url, timeout=2.0, retries=1)
    spike: dict[str, float] = {}
    rounds_after: list[RolloutResult] = []

    def switch_on() -> None:
        exporter.set("hello", "canary", error_ratio=0.2)
        spike["at"] = time.monotonic()

    def on_round(result: RolloutResult) -> None:
        if "at" in spike:
            rounds_after.append(result)
        elif result.outcome == "waiting" and result.verdict is not None and "timer" not in spike:
            spike["timer"] = 1.0
            threading.Timer(rng.uniform(0, interval), switch_on).start()

    result = watch_rollout(
        rollout.target(sleep=time.sleep),
        "hello",
        "prod",
        lambda _spec: provider,
        clock=now,
        on_round=on_round,
        max_rounds=40,
    )
    landed = time.monotonic()
    provider.close()
    if result.outcome != "rolled-back" or "at" not in spike:
        raise SystemExit(f"benchmark run did not roll back after the spike: {result.message}")
    if rollout.subjects()[0] != "Roll back hello in prod: 1.1.0 -> 1.0.0":
        raise SystemExit(f"unexpected head commit on the remote: {rollout.subjects()[0]}")
    return landed - spike["at"], len(rounds_after)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, help="rollouts [5; quick: 2]")
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 rollouts")
    args = parser.parse_args()
    if args.runs is None:
        args.runs = 2 if args.quick else 5
    rng = random.Random(args.seed)
    latencies: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, running_exporter() as exporter:
        base = Path(tmp)
        with running_prometheus(exporter, base / "prometheus") as prometheus:
            exporter.set("hello", "stable", version="1.0.0")
            exporter.set("hello", "canary", version="1.1.0")
            query = render_query(ERROR_RATIO, plugin="hello", version="", group="canary")
            prometheus.wait_for_samples(query, 5)
            for run in range(args.runs):
                seconds, rounds = one_run(
                    base / f"run-{run}", exporter, prometheus, args.interval, rng
                )
                latencies.append(seconds)
                print(f"run {run + 1}: spike -> revert commit {seconds:5.1f} s ({rounds} analyses)")
    timing = Timing.of(latencies)
    worst = timing.max
    print(
        f"interval {args.interval:g} s, {args.runs} runs: spike -> revert commit "
        f"{timing.cell(1, 1)} s (min / median / max; target < {TARGET_SECONDS:g} s)"
    )
    if worst >= TARGET_SECONDS:
        raise SystemExit(
            f"worst rollback latency {worst:.1f} s is over the {TARGET_SECONDS:g} s target"
        )


if __name__ == "__main__":
    main()

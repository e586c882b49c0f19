"""Benchmark the canary judge and tenant assignment (issue 5).

1. Judge throughput: one verdict on 20 metrics x 1,000 samples per side (40,000 samples),
   through three providers: in memory (the judge alone: means, ranks, Mann-Whitney U,
   scoring), the file provider (a 40,000-sample JSON file) and the Prometheus provider
   (`/api/v1/query_range` answers of 1,000 points served over loopback HTTP). Baseline in
   the same run: sorting each metric's 2,000 samples, the floor of any rank test.
   Every verdict must come out as planned (14 metrics pass, 6 fail: score 70, decision fail).
2. Tenant assignment for 100,000 tenants: `bucket()` and `version_for_tenant()` at 10% and
   50%, against sha256 of the same strings (the floor); it also checks that the canary share
   is close to the weight and that every 10% tenant stays on the canary at 50%.

Each figure runs in rounds with its baseline (`timing.py`): min / median / max, and the
median of the per-round ratios to the baseline; every verdict and assignment is checked
before its time counts.

    .venv/bin/python bench/judge_bench.py [--runs N] [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from timing import Pair, Step, pair_of, rounds

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from pipeline.canary.assignment import bucket, version_for_tenant  # noqa: E402
from pipeline.canary.judge import Verdict, judge  # noqa: E402
from pipeline.canary.providers import FileProvider, PrometheusProvider  # noqa: E402
from pipeline.models.environment import PluginState  # noqa: E402
from pipeline.models.rollout import RolloutPolicy, RolloutSpec, render_query  # noqa: E402

METRICS = 20
FAILING = 6
SAMPLES = 1000
TENANTS = 100_000
END = datetime(2026, 1, 1, tzinfo=UTC)
START = END - timedelta(seconds=SAMPLES)
DIGEST = "a" * 64


def policy_spec(metrics: int) -> RolloutSpec:
    policy = RolloutPolicy.model_validate(
        {
            "apiVersion": "powerx.io/v1alpha1",
            "kind": "RolloutPolicy",
            "sampleInterval": "1s",
            "metrics": [
                {
                    "name": f"m{i}",
                    "query": f'metric_{i}{{plugin="{{plugin}}",group="{{group}}"}}',
                    "direction": "increase",
                }
                for i in range(metrics)
            ],
        }
    )
    return policy.for_plugin("bench")


def generate(spec: RolloutSpec, samples: int) -> dict[str, list[float]]:
    """Rendered query -> samples: the first FAILING metrics are 20% worse on the canary."""
    rng = random.Random(5)
    data: dict[str, list[float]] = {}
    for index, metric in enumerate(spec.metrics):
        shift = 1.2 if index < FAILING else 1.0
        for group, factor in (("canary", shift), ("stable", 1.0)):
            query = render_query(metric.query, plugin="bench", version="", group=group)
            data[query] = [rng.gauss(100 * factor, 5) for _ in range(samples)]
    return data


class MemoryProvider:
    """Samples from a dict: the judge's own cost, without any I/O."""

    def __init__(self, data: dict[str, list[float]]) -> None:
        self.data = data

    def samples(self, query: str, start: datetime, end: datetime, step: float) -> list[float]:
        return self.data.get(query, [])


def run_judge(spec: RolloutSpec, provider: Any) -> Verdict:
    """One verdict over the whole window."""
    return judge(
        spec,
        provider,
        plugin="bench",
        canary_version="1.1.0",
        stable_version="1.0.0",
        start=START,
        end=END,
    )


def check_verdict(spec: RolloutSpec, verdict: Verdict) -> None:
    """The verdict came out as planned: the first FAILING metrics high, the rest pass."""
    statuses = [metric.status for metric in verdict.metrics]
    expected = ["high"] * FAILING + ["pass"] * (len(spec.metrics) - FAILING)
    if statuses != expected or verdict.decision != "fail":
        raise RuntimeError(f"unexpected verdict:\n{verdict.explain()}")


@contextmanager
def prometheus_stand_in(data: dict[str, list[float]]) -> Iterator[str]:
    """A loopback server answering query_range like Prometheus, from `data`."""
    start = int(START.timestamp())
    bodies = {
        query: json.dumps(
            {
                "status": "success",
                "data": {
                    "resultType": "matrix",
                    "result": [
                        {
                            "metric": {"__name__": query},
                            "values": [[start + i, repr(v)] for i, v in enumerate(values)],
                        }
                    ],
                },
            }
        ).encode()
        for query, values in data.items()
    }

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else headers and body wait for a delayed ACK

        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)["query"][0]
            body = bodies[query]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def sort_floor(data: dict[str, list[float]], spec: RolloutSpec) -> None:
    for metric in spec.metrics:
        canary = render_query(metric.query, plugin="bench", version="", group="canary")
        stable = render_query(metric.query, plugin="bench", version="", group="stable")
        sorted([*data[canary], *data[stable]])


Rows = list[tuple[str, Pair]]
"""(what, its times against the baseline's)."""


def judge_figures(runs: int, samples: int) -> Rows:
    """The judge through each provider, in rounds with the sort floor."""
    spec = policy_spec(METRICS)
    data = generate(spec, samples)

    def judged(provider: Any) -> Step:
        return Step(lambda: run_judge(spec, provider), check=lambda v: check_verdict(spec, v))

    names = {
        "memory": "judge, in-memory provider",
        "file": "judge, file provider (cold: file parsed)",
        "warm": "judge, file provider (warm: file unchanged)",
        "prometheus": "judge, Prometheus provider (40 HTTP queries)",
    }
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "samples.json"
        path.write_text(json.dumps({"samples": data}))
        warm = FileProvider(path)
        with prometheus_stand_in(data) as url, PrometheusProvider(url) as prom:
            times = rounds(
                {
                    "floor": lambda: sort_floor(data, spec),
                    "memory": judged(MemoryProvider(data)),
                    "file": Step(
                        lambda: run_judge(spec, FileProvider(path)),
                        check=lambda v: check_verdict(spec, v),
                    ),
                    "warm": judged(warm),
                    "prometheus": judged(prom),
                },
                runs,
            )
    rows = [("baseline: sort the 2 x 1,000 samples of each metric", pair_of(*[times["floor"]] * 2))]
    rows += [(label, pair_of(times[key], times["floor"])) for key, label in names.items()]
    return rows


def assignment_figures(runs: int, tenants: int) -> tuple[Rows, list[str]]:
    """bucket() and version_for_tenant() for every tenant, in rounds with sha256."""
    ids = [f"tenant-{i:06d}" for i in range(tenants)]
    states = {
        weight: PluginState.model_validate(
            {
                "apiVersion": "powerx.io/v1alpha1",
                "kind": "PluginState",
                "plugin": "bench",
                "version": "1.0.0",
                "digest": DIGEST,
                "canary": {
                    "version": "1.1.0",
                    "digest": "b" * 64,
                    "weight": weight,
                    "step": 0,
                    "startedAt": END.isoformat(),
                    "stepStartedAt": END.isoformat(),
                },
            }
        )
        for weight in (10, 50)
    }
    checks: list[str] = []
    on_canary: dict[int, set[str]] = {}

    def assign(state: PluginState) -> list[tuple[str, str]]:
        return [version_for_tenant(state, t) for t in ids]

    def check_share(weight: int, versions: list[tuple[str, str]]) -> None:
        on = {t for t, (version, _) in zip(ids, versions, strict=True) if version == "1.1.0"}
        share = len(on) / tenants
        if abs(share - weight / 100) > 0.02:
            raise RuntimeError(f"{share:.2%} of tenants on a {weight}% canary")
        on_canary[weight] = on

    def check_count(values: list[object]) -> None:
        if len(values) != tenants:
            raise RuntimeError(f"{len(values)} results for {tenants} tenants")

    steps: dict[str, Step] = {
        "sha256": Step(
            lambda: [hashlib.sha256(f"bench\0{t}".encode()).digest() for t in ids],
            check=check_count,
        ),
        "bucket": Step(lambda: [bucket(t, "bench") for t in ids], check=check_count),
    }
    for weight, state in states.items():
        steps[f"vft{weight}"] = Step(partial(assign, state), check=partial(check_share, weight))
    times = rounds(steps, runs)
    rows = [
        ("baseline: sha256 of plugin + tenant id", pair_of(times["sha256"], times["sha256"])),
        ("bucket()", pair_of(times["bucket"], times["sha256"])),
    ]
    for weight in states:
        label = f"version_for_tenant(), canary at {weight}%"
        rows.append((label, pair_of(times[f"vft{weight}"], times["sha256"])))
        checks.append(f"{weight}% canary: {len(on_canary[weight]) / tenants:.2%} of tenants")
    if not on_canary[10] <= on_canary[50]:
        raise RuntimeError("a tenant on the 10% canary left it at 50%")
    checks.append("every tenant of the 10% canary is in the 50% canary")
    return rows, checks


def table(rows: Rows, unit_count: int, unit: str) -> str:
    """ms (min / median / max), ratio to the baseline, and per unit (us, median)."""
    lines = [
        f"| what | ms (min / median / max) | / baseline | per {unit} (us, median) |",
        "|---|---:|---:|---:|",
    ]
    for name, pair in rows:
        per_unit = pair.subject.median * 1e6 / unit_count
        lines.append(
            f"| {name} | {pair.subject.cell(digits=2)} | {pair.ratio_cell()} | {per_unit:,.2f} |"
        )
    return "\n".join(lines)


def machine() -> str:
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"nproc {os.cpu_count()}, CPU {model}, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer tenants, 3 runs")
    args = parser.parse_args()
    runs = 3 if args.quick else args.runs
    tenants = 10_000 if args.quick else TENANTS
    judged = judge_figures(runs, SAMPLES)
    assigned, checks = assignment_figures(runs, tenants)
    print(f"{machine()}\n")
    print(
        f"Judge: {METRICS} metrics x {SAMPLES:,} samples per side ({FAILING} metrics 20% worse)\n"
    )
    print(table(judged, METRICS, "metric"))
    print(f"\nTenant assignment: {tenants:,} tenants\n")
    print(table(assigned, tenants, "tenant"))
    print("\n" + "\n".join(f"- {check}" for check in checks))
    print(
        f"\n{runs} rounds after one warm-up, each running the baseline and every figure in "
        "turn; ratio: median of the per-round ratios."
    )


if __name__ == "__main__":
    main()

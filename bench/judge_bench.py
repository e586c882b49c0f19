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

    .venv/bin/python bench/judge_bench.py [--runs N] [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

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
    verdict = judge(
        spec,
        provider,
        plugin="bench",
        canary_version="1.1.0",
        stable_version="1.0.0",
        start=START,
        end=END,
    )
    statuses = [metric.status for metric in verdict.metrics]
    expected = ["high"] * FAILING + ["pass"] * (len(spec.metrics) - FAILING)
    if statuses != expected or verdict.decision != "fail":
        raise RuntimeError(f"unexpected verdict:\n{verdict.explain()}")
    return verdict


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


def timed(action: Callable[[], object], runs: int) -> tuple[float, float]:
    """Best and median wall time in ms over `runs` runs, after one warm-up."""
    action()
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        action()
        times.append((time.perf_counter() - began) * 1000)
    return min(times), statistics.median(times)


def sort_floor(data: dict[str, list[float]], spec: RolloutSpec) -> None:
    for metric in spec.metrics:
        canary = render_query(metric.query, plugin="bench", version="", group="canary")
        stable = render_query(metric.query, plugin="bench", version="", group="stable")
        sorted([*data[canary], *data[stable]])


def judge_figures(runs: int, samples: int) -> list[tuple[str, tuple[float, float]]]:
    spec = policy_spec(METRICS)
    data = generate(spec, samples)
    rows = [
        (
            "baseline: sort the 2 x 1,000 samples of each metric",
            timed(lambda: sort_floor(data, spec), runs),
        )
    ]
    rows.append(
        ("judge, in-memory provider", timed(lambda: run_judge(spec, MemoryProvider(data)), runs))
    )
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "samples.json"
        path.write_text(json.dumps({"samples": data}))
        rows.append(
            (
                "judge, file provider (cold: file parsed)",
                timed(lambda: run_judge(spec, FileProvider(path)), runs),
            )
        )
        warm = FileProvider(path)
        rows.append(
            (
                "judge, file provider (warm: file unchanged)",
                timed(lambda: run_judge(spec, warm), runs),
            )
        )
    with prometheus_stand_in(data) as url, PrometheusProvider(url) as prom:
        rows.append(
            (
                "judge, Prometheus provider (40 HTTP queries)",
                timed(lambda: run_judge(spec, prom), runs),
            )
        )
    return rows


def assignment_figures(
    runs: int, tenants: int
) -> tuple[list[tuple[str, tuple[float, float]]], list[str]]:
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
    rows = [
        (
            "baseline: sha256 of plugin + tenant id",
            timed(lambda: [hashlib.sha256(f"bench\0{t}".encode()).digest() for t in ids], runs),
        ),
        ("bucket()", timed(lambda: [bucket(t, "bench") for t in ids], runs)),
    ]
    checks = []
    on_canary: dict[int, set[str]] = {}
    for weight, state in states.items():
        rows.append(
            (
                f"version_for_tenant(), canary at {weight}%",
                timed(lambda state=state: [version_for_tenant(state, t) for t in ids], runs),
            )
        )
        on_canary[weight] = {t for t in ids if version_for_tenant(state, t)[0] == "1.1.0"}
        checks.append(f"{weight}% canary: {len(on_canary[weight]) / tenants:.2%} of tenants")
    if not on_canary[10] <= on_canary[50]:
        raise RuntimeError("a tenant on the 10% canary left it at 50%")
    checks.append("every tenant of the 10% canary is in the 50% canary")
    return rows, checks


def table(rows: list[tuple[str, tuple[float, float]]], unit_count: int, unit: str) -> str:
    lines = [f"| what | ms (best / median) | per {unit} (us, best) |", "|---|---:|---:|"]
    for name, (best, median) in rows:
        lines.append(f"| {name} | {best:,.2f} / {median:,.2f} | {best * 1000 / unit_count:,.2f} |")
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


if __name__ == "__main__":
    main()

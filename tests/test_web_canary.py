"""The console's canary view: a rollout charted from what the controller records in git.

The real controller (`start_rollout`, `step_rollout`, the file metrics provider) commits
its decisions to a real release repo; `powerx serve --port 0` runs as a real process on it
and is asked over HTTP on loopback while the rollout runs and once it is over.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import Repo
from hostplugins import ServerProcess
from prometheus import Exporter, Prometheus
from test_canary_controller import (
    HEALTHY,
    SPIKE,
    Rollout,
    make_rollout,
    now,
    samples_file,
    wait_for_data,
)
from test_canary_controller import serve as serve_metrics
from test_web_console import Client
from waiting import wait_until

from pipeline.canary.analysis import PREFIX, rollout_decisions
from pipeline.canary.controller import (
    StartRequest,
    StepRequest,
    Target,
    start_rollout,
    step_rollout,
    watch_rollout,
)
from pipeline.canary.providers import FileProvider, PrometheusProvider
from pipeline.canary.result import RolloutResult
from pipeline.gitrepo import GitRepo

TRIGGER = 'hx-trigger="every 2s"'


class LocalRollout:
    """The controller, deciding on the repo's own main (no remote), from a samples file."""

    def __init__(self, rollout: Rollout, samples: Path) -> None:
        self.rollout = rollout
        self.samples = samples
        self.start_time = now() - timedelta(seconds=30)

    def target(self) -> Target:
        return self.rollout.target(remote=None)

    def start(self) -> RolloutResult:
        request = StartRequest("hello", "1.1.0", "prod", self.start_time)
        return start_rollout(self.target(), request)

    def step(self, seconds: float, canary: dict[str, list[float]]) -> RolloutResult:
        provider = FileProvider(samples_file(self.samples, canary, HEALTHY))
        request = StepRequest("hello", "prod", self.start_time + timedelta(seconds=seconds))
        return step_rollout(self.target(), request, lambda _spec: provider)


@pytest.fixture
def local(release_repo: Repo, tmp_path: Path) -> LocalRollout:
    return LocalRollout(make_rollout(release_repo, tmp_path), tmp_path / "metrics.json")


@pytest.fixture
def client(local: LocalRollout) -> Iterator[Client]:
    path = local.rollout.repo.path
    with ServerProcess(["powerx", "serve", "--repo", str(path), "--port", "0"]) as server:
        yield Client(server.url)


def live_part(page: str) -> str:
    match = re.search(r'<div id="live"[^>]*>', page)
    assert match is not None
    return match.group(0)


def test_a_running_rollout_polls_and_a_finished_one_stops(
    local: LocalRollout, client: Client
) -> None:
    local.start()
    data = client.json("/canary/hello/prod")
    assert data["running"] and data["poll"] == "every 2s"
    assert (data["stable"], data["canary"]["version"], data["canary"]["weight"]) == (
        "1.0.0",
        "1.1.0",
        10,
    )
    assert [d["action"] for d in data["decisions"]] == ["rollout-start"]
    assert data["verdict"] is None and data["weight_svg"].startswith("<svg")
    status, _, page = client.get("/canary/hello/prod")
    assert status == 200 and TRIGGER in live_part(page)
    assert 'hx-get="/canary/hello/prod?part=live"' in live_part(page)
    assert "<html" in page and "<script>" not in page and " style=" not in page

    grown = local.step(5, HEALTHY)
    assert grown.outcome == "expanded"
    part = client.get("/canary/hello/prod?part=live")[2]
    assert part.strip().startswith('<div id="live"') and "<html" not in part
    assert TRIGGER in live_part(part) and "Verdict: pass (score 100.0)" in part
    data = client.json("/canary/hello/prod")
    step = data["decisions"][1]
    assert (step["action"], step["judged_at"], step["weight"]) == ("rollout-step", 10, 50)
    error_ratio = step["metrics"][0]
    assert error_ratio["name"] == "error-ratio" and error_ratio["status"] == "pass"
    assert error_ratio["canary"] == HEALTHY["error-ratio"]  # the samples the judge used
    assert error_ratio["stable"] == HEALTHY["error-ratio"]
    assert error_ratio["thresholds"] == [pytest.approx(0.01 * 1.05)]
    assert "verdict: pass" in data["verdict"]["explanation"]
    assert PREFIX not in data["verdict"]["explanation"]

    done = local.step(8, HEALTHY)
    assert done.outcome == "completed"
    part = client.get("/canary/hello/prod?part=live")[2]
    assert TRIGGER not in part and "hx-get" not in part  # polling stops
    data = client.json("/canary/hello/prod.json")
    assert not data["running"] and data["poll"] is None and data["outcome"] == "completed"
    assert [d["weight"] for d in data["decisions"]] == [10, 50, 100]
    page = client.get("/canary/hello/prod")[2]
    assert TRIGGER not in page and "completed" in page


def test_a_rolled_back_canary_shows_its_rollback_and_escaped_charts(
    local: LocalRollout, client: Client
) -> None:
    local.start()
    failed = local.step(5, SPIKE)
    assert failed.outcome == "rolled-back"
    data = client.json("/canary/hello/prod")
    assert data["outcome"] == "rolled back" and not data["running"]
    rollback = data["rollback"]
    assert rollback["action"] == "rollback" and rollback["weight"] == 0
    assert "critical metric(s) failed: error-ratio high" in rollback["explanation"]
    assert rollback["metrics"][0]["canary"] == SPIKE["error-ratio"]
    assert rollback["permalink"] == f"/audit/{rollback['commit']}"
    assert data["verdict"] == rollback and (rollback["decision"], rollback["score"]) == (
        "fail",
        "50.0",
    )
    page = client.get("/canary/hello/prod")[2]
    assert TRIGGER not in page and "Rolled back" in page and "Verdict: fail (score 50.0)" in page
    charts = re.findall(r"<svg .*?</svg>", page, re.S)
    assert len(charts) == 1 + 2  # the weight, and error-ratio and latency at 10%
    metric = charts[1]
    assert 'class="series-canary"' in metric and 'class="threshold"' in metric
    assert "<polyline" in metric and "style" not in metric
    # the rendered queries carry quotes and braces: escaped inside the SVG's titles
    assert 'plugin="{plugin}"' not in metric and "plugin=&quot;{plugin}&quot;" in metric
    assert "<title>canary 1.1.0: sum(rate(" in metric and "error-ratio at 10%: high" in metric


def test_the_samples_are_recorded_in_the_decision_commit(local: LocalRollout) -> None:
    local.start()
    local.step(5, HEALTHY)
    git = GitRepo(local.rollout.repo.path)
    [start, step] = rollout_decisions(git, git.resolve("HEAD"), "hello", "prod")
    assert (start.analysis, start.weight) == (None, 10)
    assert step.analysis is not None and step.decision == "pass" and step.weight == 50
    latency = step.analysis["metrics"][1]
    assert latency["name"] == "latency" and latency["canary"] == HEALTHY["latency"]
    assert (latency["direction"], latency["maxDeviation"]) == ("increase", 0.05)
    message = git.resolve("HEAD").message
    line = next(line for line in message.splitlines() if line.startswith(PREFIX))
    assert json.loads(line[len(PREFIX) :]) == step.analysis


def test_unknown_names_are_404_with_did_you_mean(local: LocalRollout, client: Client) -> None:
    for path, message in [
        ("/canary/helo/prod", "did you mean 'hello'?"),
        ("/canary/hello/prd", "did you mean 'prod'?"),
        ("/canary/nobody/prod", "there is no plugin 'nobody'"),
    ]:
        status, _, body = client.get(path, "application/json")
        answer = json.loads(body)
        assert status == 404 and message in answer["message"], (path, answer)
    assert client.status("/canary/hello/prod?part=all") == 400
    data = client.json("/canary/hello/test")  # deployed, never rolled out
    assert data["decisions"] == [] and data["outcome"] == "no rollout recorded"
    assert "No rollout of hello in test" in client.get("/canary/hello/test")[2]


def test_the_page_follows_a_rollout_judged_against_prometheus(
    release_repo: Repo, tmp_path: Path, exporter: Exporter, prometheus: Prometheus
) -> None:
    rollout = make_rollout(release_repo, tmp_path, plugin="healthy")
    serve_metrics(exporter, "healthy")
    wait_for_data(prometheus, "healthy")
    target = rollout.target(remote=None, sleep=time.sleep)
    start_rollout(target, StartRequest("healthy", "1.1.0", "prod", now() - timedelta(seconds=5)))
    provider = PrometheusProvider(prometheus.url, timeout=10.0, retries=0)
    path = rollout.repo.path
    with ServerProcess(["powerx", "serve", "--repo", str(path), "--port", "0"]) as server:
        client = Client(server.url)
        assert TRIGGER in live_part(client.get("/canary/healthy/prod")[2])
        results: list[RolloutResult] = []

        def run_watch() -> None:
            results.append(
                watch_rollout(
                    target,
                    "healthy",
                    "prod",
                    lambda _spec: provider,
                    clock=now,
                    interval=0.5,
                    max_rounds=60,
                )
            )

        watcher = threading.Thread(target=run_watch)
        watcher.start()
        parts: list[str] = []

        def judged() -> bool:
            parts.append(client.get("/canary/healthy/prod?part=live")[2])
            return "judged at 10%" in parts[-1]

        wait_until(judged, "the live part to show the analysis of the 10% step")
        watcher.join(timeout=60)
        assert results and results[0].outcome == "completed", results
        assert any(TRIGGER in live_part(part) for part in parts)  # polled while it ran
        final = client.get("/canary/healthy/prod?part=live")[2]
        assert TRIGGER not in final and "completed" in final
        data = client.json("/canary/healthy/prod")
    step = data["decisions"][1]
    error_ratio = step["metrics"][0]
    assert len(error_ratio["canary"]) >= 3 and len(error_ratio["stable"]) >= 3
    assert error_ratio["canary"][-1] == pytest.approx(0.01, rel=0.5)  # what Prometheus measured

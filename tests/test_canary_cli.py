"""`powerx rollout`: the commands in-process, and a real `watch` process killed and restarted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import Repo
from prometheus import Exporter, Prometheus
from test_canary_controller import (
    HEALTHY,
    SPIKE,
    Rollout,
    make_rollout,
    samples_file,
    serve,
    wait_for_data,
)
from test_notify import Recorder
from waiting import DEADLINE, wait_until

from pipeline.canary.controller import RolloutResult
from pipeline.canary.judge import MetricResult, Verdict
from pipeline.cli.powerx import cli
from pipeline.cli.rollout import LiveView, render_round
from pipeline.yamlio import dump_yaml, parse_yaml


@pytest.fixture
def recorder() -> Any:
    server = Recorder()
    yield server
    server.close()


def back_date(rollout: Rollout, seconds: float) -> None:
    """Move the canary's start back in time on the remote, as if it had been running."""
    rollout.repo.git("pull", "-q", "origin", "main")
    path = rollout.repo.path / "environments/prod/plugins/hello.yaml"
    doc = parse_yaml(path.read_bytes(), str(path))
    earlier = (datetime.now(UTC) - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
    doc.tree["canary"]["startedAt"] = doc.tree["canary"]["stepStartedAt"] = earlier
    path.write_text(dump_yaml(doc.tree))
    rollout.repo.git("commit", "-q", "-am", "back-date the canary for the test")
    rollout.repo.git("push", "-q", "origin", "main")


def test_start_status_and_step_commands(
    run_cli: Any, release_repo: Repo, tmp_path: Path, recorder: Recorder
) -> None:
    rollout = make_rollout(release_repo, tmp_path)
    repo = ["--repo", str(rollout.repo.path)]
    started = run_cli(
        cli,
        "rollout",
        "start",
        "hello@1.1.0",
        "--env",
        "prod",
        *repo,
        "--push",
        "--operator",
        "rita",
        "--webhook",
        recorder.url(),
        "--slack-webhook",
        recorder.url("/slack/secret-token"),
    )
    assert started.code == 0, started.err
    assert started.out.startswith("hello in prod: canary 1.1.0 started at 10% beside stable 1.0.0")
    assert recorder.texts()[0].startswith("PowerX rollout hello in prod: canary 1.1.0 started")
    status = run_cli(cli, "rollout", "status", "hello", "--env", "prod", *repo)
    assert status.code == 0
    assert "canary 1.1.0 at 10% (step 1 of 10% -> 50% -> 100%)" in status.out
    assert "rollout-start" in status.out
    as_json = json.loads(
        run_cli(cli, "rollout", "status", "hello", "--env", "prod", *repo, "--format", "json").out
    )
    assert (
        as_json["canary"]["weight"] == 10 and as_json["decisions"][0]["action"] == "rollout-start"
    )
    back_date(rollout, 30)
    metrics = samples_file(tmp_path / "m.json", HEALTHY, HEALTHY)
    step = ["rollout", "step", "hello", "--env", "prod", *repo, "--push"]
    grown = run_cli(cli, *step, "--metrics-file", str(metrics), "--format", "json")
    assert grown.code == 0, grown.err
    assert json.loads(grown.out)["outcome"] == "expanded"
    samples_file(metrics, SPIKE, HEALTHY)
    failed = run_cli(cli, *step, "--metrics-file", str(metrics))
    assert failed.code == 1, failed.err
    assert "rolled-back" in failed.out and "verdict: fail" in failed.out
    assert "error-ratio      high" in failed.out
    idle = run_cli(cli, "rollout", "status", "hello", "--env", "prod", *repo)
    assert "no rollout in progress" in idle.out
    assert run_cli(cli, *step, "--metrics-file", str(metrics)).code == 2
    both = run_cli(cli, *step, "--metrics-file", str(metrics), "--prometheus", "http://x")
    assert both.code == 2 and "not both" in both.err
    leaky = run_cli(cli, *step, "--prometheus", "http://user:s3cret@127.0.0.1:9")
    assert leaky.code == 2 and "without credentials" in leaky.err
    assert "s3cret" not in leaky.err
    bad = run_cli(cli, "rollout", "start", "hello", "--env", "prod", *repo)
    assert bad.code == 2 and "plugin@version" in bad.err
    hook = run_cli(cli, "rollout", "start", "hello@1.1.0", "--env", "prod", *repo, "--webhook", "x")
    assert hook.code == 2


def test_watch_with_a_metrics_file_and_unreachable_webhooks(
    run_cli: Any, release_repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rollout = make_rollout(release_repo, tmp_path, minStepDuration=1)
    repo = ["--repo", str(rollout.repo.path)]
    assert run_cli(cli, "rollout", "start", "hello@1.1.0", "--env", "prod", *repo).code == 0
    back_date(rollout, 30)
    metrics = samples_file(tmp_path / "m.json", HEALTHY, HEALTHY)
    closed = Recorder()
    closed.close()
    monkeypatch.setenv("POWERX_WEBHOOKS", f"http://127.0.0.1:{closed.port}/hook?token=s3cret")
    watched = run_cli(
        cli,
        "rollout",
        "watch",
        "hello",
        "--env",
        "prod",
        *repo,
        "--metrics-file",
        str(metrics),
        "--interval",
        "0.2",
    )
    assert watched.code == 0, watched.err
    assert "expanded, stable 1.0.0 canary 1.1.0 at 50%" in watched.out
    assert "completed, stable 1.1.0 at 100%" in watched.out
    assert "\x1b[" not in watched.out  # not a terminal: plain lines
    assert f"warning: cloudevents webhook http://127.0.0.1:{closed.port}/… unreachable" in (
        watched.err
    )
    assert "s3cret" not in watched.err


def test_live_view_redraws_on_a_terminal(capsys: Any) -> None:
    metric = MetricResult(
        name="error-ratio",
        query_canary="q1",
        query_stable="q2",
        canary_n=5,
        canary_mean=0.0101,
        stable_n=5,
        stable_mean=0.01,
        deviation=0.01,
        p_value=0.5,
        status="pass",
        critical=True,
        weight=1.0,
        outcome="pass",
        contribution=1.0,
        detail="deviation +1.0% within 5.0%",
    )
    verdict = Verdict("pass", 100.0, (metric,), "score 100.0 >= 95", end=datetime.now(UTC))
    waiting = RolloutResult(
        "hello", "prod", "waiting", "1.0.0", "1.1.0", 10, "healthy", None, verdict
    )
    view = LiveView(tty=True)
    view.show(waiting)
    view.show(waiting)
    out = capsys.readouterr().out
    assert out.count("\x1b[2F\x1b[J") == 1
    lines = render_round(waiting)
    assert lines[1].split() == (
        [
            "error-ratio",
            "pass",
            "canary",
            "5",
            "x",
            "0.0101",
            "stable",
            "5",
            "x",
            "0.01",
            "dev",
            "+1.0%",
            "p",
            "0.500",
        ]
    )


def powerx_process(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "pipeline", *args], stdout=out, stderr=subprocess.STDOUT, env=env
        )


def test_a_killed_watch_continues_from_git(
    run_cli: Any,
    release_repo: Repo,
    tmp_path: Path,
    exporter: Exporter,
    prometheus: Prometheus,
) -> None:
    rollout = make_rollout(release_repo, tmp_path, minStepDuration=3)
    serve(exporter, "hello")
    wait_for_data(prometheus, "hello")
    repo = ["--repo", str(rollout.repo.path), "--push"]
    assert run_cli(cli, "rollout", "start", "hello@1.1.0", "--env", "prod", *repo).code == 0
    watch = ["rollout", "watch", "hello", "--env", "prod", *repo, "--interval", "0.5"]
    watch += ["--prometheus", prometheus.url]
    log = tmp_path / "watch.log"
    first = powerx_process(watch, log)
    try:
        wait_until(
            lambda: "Canary hello 1.1.0 in prod expands to 50%" in rollout.subjects(),
            "the first expansion",
        )
    finally:
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=DEADLINE) == -signal.SIGKILL
    assert "canary" in rollout.state()
    second = powerx_process(watch, log)
    try:
        assert second.wait(timeout=DEADLINE) == 0, log.read_text()
    finally:
        second.kill()
    subjects = rollout.subjects()
    assert subjects[0] == "Complete the rollout of hello in prod: 1.0.0 -> 1.1.0"
    assert subjects.count("Canary hello 1.1.0 in prod expands to 50%") == 1
    assert rollout.state()["version"] == "1.1.0"
    assert "completed, stable 1.1.0 at 100%" in log.read_text()

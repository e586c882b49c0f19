"""The rollout controller on real git repositories with bare remotes, and a real Prometheus."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import Repo, git
from factories import API, digest_of, plugin_state, yaml_text
from prometheus import (
    ERROR_RATIO,
    LATENCY,
    Exporter,
    Prometheus,
    running_exporter,
    running_prometheus,
)
from test_approvals import key, teams_data
from test_notify import Recorder
from test_promote import publish

from pipeline.canary.controller import (
    PushEscalatedError,
    RolloutResult,
    StartRequest,
    StepRequest,
    Target,
    rollout_status,
    start_rollout,
    step_rollout,
    watch_rollout,
)
from pipeline.canary.providers import FileProvider, MetricsProvider, PrometheusProvider
from pipeline.errors import GateError, InputError
from pipeline.gitrepo import GitRepo, read_trailers
from pipeline.models.rollout import RolloutSpec, render_query
from pipeline.notify import Notifier
from pipeline.policy.signed_approvals import ApproveRequest, record_approval
from pipeline.promotion.audit import AuditQuery, audit_trail
from pipeline.promotion.rollback import RollbackRequest, rollback
from pipeline.yamlio import parse_yaml

STATE = "environments/prod/plugins/hello.yaml"


def rollout_policy(**overrides: Any) -> dict[str, Any]:
    """Short timings for tests: 1 s samples, 5 s window, 2 s per step."""
    data: dict[str, Any] = {
        "apiVersion": API,
        "kind": "RolloutPolicy",
        "steps": [10, 50, 100],
        "interval": 1,
        "minStepDuration": 2,
        "analysisWindow": 5,
        "sampleInterval": 1,
        "minSamples": 3,
        "failAfter": 4,
        "provider": {"type": "prometheus", "url": "http://127.0.0.1:9"},
        "metrics": [
            {
                "name": "error-ratio",
                "query": ERROR_RATIO,
                "direction": "increase",
                "tolerance": 0.002,
                "critical": True,
                "noData": "hold",
            },
            {"name": "latency", "query": LATENCY, "direction": "increase", "noData": "hold"},
        ],
    }
    data.update(overrides)
    return data


@dataclass
class Rollout:
    """A release repo whose prod runs hello 1.0.0 and whose staging runs 1.1.0, with a remote."""

    repo: Repo
    remote: Path
    recorder: Recorder | None = None
    slept: list[float] = field(default_factory=list)
    plugin: str = "hello"

    @property
    def state_path(self) -> str:
        return f"environments/prod/plugins/{self.plugin}.yaml"

    def target(self, **overrides: Any) -> Target:
        hooks = [self.recorder.url()] if self.recorder else []
        fields: dict[str, Any] = {
            "branch": "main",
            "remote": "origin",
            "operator": "robot",
            "notifier": Notifier(hooks, timeout=2.0),
            "sleep": self.slept.append,
        }
        fields.update(overrides)
        return Target(GitRepo(self.repo.path), **fields)

    def remote_git(self, *args: str) -> str:
        return git(self.remote.parent, "--git-dir", str(self.remote), *args)

    def state(self) -> dict[str, Any]:
        raw = self.remote_git("show", f"main:{self.state_path}").encode()
        return dict(parse_yaml(raw, self.state_path).data)

    def subjects(self) -> list[str]:
        return self.remote_git("log", "--format=%s", "main").splitlines()

    def message(self, rev: str = "main") -> str:
        return self.remote_git("log", "-1", "--format=%B", rev)

    def start(self, version: str = "1.1.0", **fields: Any) -> RolloutResult:
        request = StartRequest(self.plugin, version, "prod", fields.pop("now", now()), **fields)
        return start_rollout(self.target(), request)

    def step(self, provider: MetricsProvider, when: datetime | None = None) -> RolloutResult:
        request = StepRequest(self.plugin, "prod", when or now())
        return step_rollout(self.target(), request, lambda _spec: provider)


def now() -> datetime:
    return datetime.now(UTC)


def approve(repo: Repo, who: str, version: str = "1.1.0", plugin: str = "hello") -> None:
    record_approval(
        GitRepo(repo.path),
        ApproveRequest(plugin, version, "prod", who, key(who)[0], now()),
        branch="main",
    )


def make_rollout(
    release_repo: Repo,
    tmp_path: Path,
    *,
    approved: bool = True,
    plugin: str = "hello",
    **policy: Any,
) -> Rollout:
    repo = release_repo
    repo.git("checkout", "-q", "main")
    publish(repo, "1.0.0", plugin=plugin)
    publish(repo, "1.1.0", plugin=plugin)
    approvals = {
        "apiVersion": API,
        "kind": "ApprovalPolicy",
        "environments": {"staging": {"required": 0}, "prod": {"required": 1}},
    }
    environment = {
        "apiVersion": API,
        "kind": "Environment",
        "name": "prod",
        "position": 2,
        "tenants": [{"id": f"tenant-{i}"} for i in range(6)],
        "groups": {"early": ["tenant-0", "tenant-1"]},
    }
    repo.commit(
        {
            "policies/teams.yaml": yaml_text(teams_data()),
            "policies/approvals.yaml": yaml_text(approvals),
            "policies/rollout.yaml": yaml_text(rollout_policy(**policy)),
            "environments/prod/environment.yaml": yaml_text(environment),
            f"environments/test/plugins/{plugin}.yaml": yaml_text(plugin_state(plugin, "1.1.0")),
            f"environments/staging/plugins/{plugin}.yaml": yaml_text(plugin_state(plugin, "1.1.0")),
            f"environments/prod/plugins/{plugin}.yaml": (
                f"# {plugin} in prod: kept by hand and by the controller\n"
                + yaml_text(plugin_state(plugin, "1.0.0"))
            ),
        },
        f"{plugin}: 1.1.0 in test and staging, 1.0.0 in prod",
    )
    if approved:
        approve(repo, "quinn", plugin=plugin)
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    repo.git("remote", "add", "origin", str(remote))
    repo.git("push", "-q", "origin", "main")
    return Rollout(repo, remote, plugin=plugin)


@pytest.fixture
def rollout(release_repo: Repo, tmp_path: Path, recorder: Recorder) -> Rollout:
    made = make_rollout(release_repo, tmp_path)
    made.recorder = recorder
    return made


@pytest.fixture
def recorder() -> Any:
    server = Recorder()
    yield server
    server.close()


def samples_file(path: Path, canary: dict[str, list[Any]], stable: dict[str, list[Any]]) -> Path:
    """A file-provider metrics file for hello 1.1.0 (canary) against 1.0.0 (stable)."""
    queries = {"error-ratio": ERROR_RATIO, "latency": LATENCY}
    samples = {}
    for group, values in (("canary", canary), ("stable", stable)):
        for name, series in values.items():
            version = "1.1.0" if group == "canary" else "1.0.0"
            query = render_query(queries[name], plugin="hello", version=version, group=group)
            samples[query] = series
    path.write_text(json.dumps({"samples": samples}))
    return path


HEALTHY = {"error-ratio": [0.01, 0.011, 0.009, 0.01], "latency": [0.1, 0.11, 0.09, 0.1]}
SPIKE = {"error-ratio": [0.2, 0.21, 0.19, 0.2], "latency": [0.1, 0.11, 0.09, 0.1]}


# -- start, status and the gates -----------------------------------------------------------


def test_start_needs_a_version_allowed_into_the_environment(
    release_repo: Repo, tmp_path: Path, recorder: Recorder
) -> None:
    made = make_rollout(release_repo, tmp_path, approved=False)
    made.recorder = recorder
    with pytest.raises(GateError, match=r"hello@1.1.0 may not enter prod: 0/1 approval"):
        made.start()
    with pytest.raises(InputError, match=r"prod already runs hello@1\.0\.0"):
        made.start("1.0.0")
    with pytest.raises(InputError, match="has no tenant group 'vip'"):
        made.start(group="vip")
    approve(made.repo, "quinn")
    made.repo.git("push", "-q", "origin", "main")
    started = made.start(now=datetime(2026, 11, 24, 12, 0, tzinfo=UTC))
    assert (started.outcome, started.weight, started.stable, started.canary) == (
        "started",
        10,
        "1.0.0",
        "1.1.0",
    )
    message = made.message()
    assert message.startswith("Start the canary of hello 1.1.0 in prod at 10%\n\n")
    assert "plan: 10% -> 50% -> 100%" in message
    assert "- error-ratio: increase is bad, max deviation 5%, weight 1, critical" in message
    assert read_trailers(message) == {
        "Action": "rollout-start",
        "Plugin": "hello",
        "Version": "1.1.0",
        "Environment": "prod",
        "Operator": "robot",
        "Stable": "1.0.0",
        "Weight": "10",
    }
    state = made.state()
    assert state["version"] == "1.0.0"
    assert state["canary"] == {
        "version": "1.1.0",
        "digest": state["canary"]["digest"],
        "weight": 10,
        "step": 0,
        "startedAt": "2026-11-24T12:00:00Z",
        "stepStartedAt": "2026-11-24T12:00:00Z",
    }
    raw = made.remote_git("show", f"main:{STATE}")
    assert raw.startswith("# hello in prod: kept by hand and by the controller")
    again = made.start()
    assert again.commit is None and "already under way" in again.message
    with pytest.raises(GateError, match=r"a rollout of hello 1\.1\.0 is already in progress"):
        made.start("1.0.1")
    assert [e["type"] for e in recorder.events()] == ["io.powerx.rollout.started"]
    status = rollout_status(made.target(), "hello", "prod")
    assert status.canary is not None and status.canary.weight == 10
    assert [d.action for d in status.decisions] == ["rollout-start"]
    assert status.as_dict()["canary"]["version"] == "1.1.0"
    with pytest.raises(InputError, match="'qa' is not in the promotion order"):
        rollout_status(made.target(), "hello", "qa")
    with pytest.raises(InputError, match="not deployed in prod"):
        rollout_status(made.target(), "nobody", "prod")


def test_decisions_with_the_file_provider(rollout: Rollout, tmp_path: Path) -> None:
    start = now() - timedelta(seconds=30)
    rollout.start(now=start)
    metrics = FileProvider(samples_file(tmp_path / "m.json", HEALTHY, HEALTHY))
    early = rollout.step(metrics, start + timedelta(seconds=1))
    assert early.outcome == "waiting" and "collecting samples" in early.message
    grown = rollout.step(metrics, start + timedelta(seconds=5))
    assert (grown.outcome, grown.weight) == ("expanded", 50)
    assert rollout.subjects()[0] == "Canary hello 1.1.0 in prod expands to 50%"
    message = rollout.message()
    assert "verdict: pass (score 100.0)" in message
    assert read_trailers(message)["Decision"] == "pass"
    waiting = rollout.step(metrics, start + timedelta(seconds=6))
    assert waiting.outcome == "waiting" and waiting.commit is None
    assert "the step has run 1s of 2s" in waiting.message
    samples_file(tmp_path / "m.json", {"error-ratio": [], "latency": []}, HEALTHY)
    held = rollout.step(metrics, start + timedelta(seconds=6))
    assert held.outcome == "held" and rollout.state()["canary"]["holdingSince"]
    assert rollout.subjects()[0] == "Canary hello 1.1.0 in prod holds at 50%"
    holding = rollout.step(metrics, start + timedelta(seconds=6.5))
    assert holding.outcome == "holding" and holding.commit is None
    samples_file(tmp_path / "m.json", HEALTHY, HEALTHY)
    resumed = rollout.step(metrics, start + timedelta(seconds=6.5))
    assert resumed.outcome == "resumed" and "holdingSince" not in rollout.state()["canary"]
    done = rollout.step(metrics, start + timedelta(seconds=7.5))
    assert done.outcome == "completed" and done.final
    state = rollout.state()
    assert (state["version"], "canary" in state) == ("1.1.0", False)
    assert state["digest"] == digest_of("hello", "1.1.0")
    assert rollout.subjects()[0] == "Complete the rollout of hello in prod: 1.0.0 -> 1.1.0"
    log = rollout.remote_git("show", "main:environments/prod/CHANGELOG.md")
    assert log.startswith("# Change log of prod\n")
    assert "**hello 1.1.0** replaces 1.0.0" in log and "  - PX-1: Greet people" in log
    changed = rollout.remote_git("show", "--name-only", "--format=", "main").split()
    assert sorted(changed) == ["environments/prod/CHANGELOG.md", STATE]
    assert [e["type"].rsplit(".", 1)[1] for e in rollout.recorder.events()] == [  # type: ignore[union-attr]
        "started",
        "expanded",
        "held",
        "completed",
    ]
    with pytest.raises(InputError, match="no rollout of hello is in progress in prod"):
        rollout.step(metrics)
    entries = list(
        audit_trail(GitRepo(rollout.remote), GitRepo(rollout.remote).resolve("main"), AuditQuery())
    )
    assert [e.action for e in entries[:6]] == [
        "rollout-complete",
        "rollout-resume",
        "rollout-hold",
        "rollout-step",
        "rollout-start",
        "approve",
    ][: len(entries[:6])]


def test_a_failing_canary_is_rolled_back_and_stays_out(rollout: Rollout, tmp_path: Path) -> None:
    start = now() - timedelta(seconds=30)
    rollout.start(now=start)
    metrics = FileProvider(samples_file(tmp_path / "m.json", SPIKE, HEALTHY))
    result = rollout.step(metrics, start + timedelta(seconds=4))
    assert result.outcome == "rolled-back" and result.final
    state = rollout.state()
    assert (state["version"], "canary" in state) == ("1.0.0", False)
    message = rollout.message()
    assert message.startswith("Roll back hello in prod: 1.1.0 -> 1.0.0\n")
    trailers = read_trailers(message)
    assert trailers["Action"] == "rollback"
    assert trailers["Rolled-Back-From"] == "1.1.0"
    assert trailers["Reason"].startswith("the canary failed: critical metric(s) failed")
    assert trailers["Reverts"] == rollout.remote_git("log", "-1", "--format=%H", "main~1")
    assert "verdict: fail" in message and "error-ratio  high (critical)" in message
    events = rollout.recorder.events()  # type: ignore[union-attr]
    assert events[-1]["type"] == "io.powerx.rollout.rolled-back"
    assert events[-1]["data"]["severity"] == "alert"
    assert events[-1]["data"]["verdict"]["decision"] == "fail"
    with pytest.raises(GateError, match="was rolled back from prod"):
        rollout.start()


def test_a_hold_fails_after_fail_after(rollout: Rollout, tmp_path: Path) -> None:
    start = now() - timedelta(seconds=60)
    rollout.start(now=start)
    metrics = FileProvider(tmp_path / "missing.json")
    assert rollout.step(metrics, start + timedelta(seconds=4)).outcome == "held"
    assert rollout.step(metrics, start + timedelta(seconds=6)).outcome == "holding"
    late = rollout.step(metrics, start + timedelta(seconds=8))
    assert late.outcome == "rolled-back"
    assert read_trailers(rollout.message())["Reason"].startswith(
        "held for 4s, at least failAfter 4s"
    )


def test_no_data_rule_fail_and_nan(release_repo: Repo, tmp_path: Path) -> None:
    metrics = rollout_policy()["metrics"]
    metrics[1]["noData"] = "fail"
    made = make_rollout(release_repo, tmp_path, metrics=metrics)
    start = now() - timedelta(seconds=30)
    made.start(now=start)
    nan: dict[str, list[Any]] = {
        "error-ratio": HEALTHY["error-ratio"],
        "latency": ["NaN", "NaN", "Inf", 0.1],
    }
    provider = FileProvider(samples_file(tmp_path / "m.json", nan, HEALTHY))
    result = made.step(provider, start + timedelta(seconds=4))
    assert result.outcome == "rolled-back"
    assert result.verdict is not None
    latency = result.verdict.metrics[1]
    assert (latency.status, latency.canary_dropped) == ("no-data", 3)


def test_licence_and_dependencies_are_checked_again_before_100(
    rollout: Rollout, tmp_path: Path
) -> None:
    start = now() - timedelta(seconds=30)
    rollout.start(now=start)
    metrics = FileProvider(samples_file(tmp_path / "m.json", HEALTHY, HEALTHY))
    assert rollout.step(metrics, start + timedelta(seconds=4)).outcome == "expanded"
    rollout.repo.git("pull", "-q", "origin", "main")
    licences = {"apiVersion": API, "kind": "LicensePolicy", "allowed": ["MIT"]}
    rollout.repo.commit({"policies/licenses.yaml": yaml_text(licences)}, "MIT only")
    rollout.repo.git("push", "-q", "origin", "main")
    result = rollout.step(metrics, start + timedelta(seconds=8))
    assert result.outcome == "rolled-back"
    assert (
        "licence: not on the allow-list: Apache-2.0" in read_trailers(rollout.message())["Reason"]
    )


def test_a_group_canary_completes_after_its_step(rollout: Rollout, tmp_path: Path) -> None:
    start = now() - timedelta(seconds=30)
    started = rollout.start(now=start, group="early")
    assert "group early" in started.message
    assert rollout.state()["canary"]["group"] == "early"
    metrics = FileProvider(samples_file(tmp_path / "m.json", HEALTHY, HEALTHY))
    assert rollout.step(metrics, start + timedelta(seconds=4)).outcome == "completed"


def test_a_decision_that_cannot_be_pushed_is_escalated(rollout: Rollout, tmp_path: Path) -> None:
    start = now() - timedelta(seconds=30)
    rollout.start(now=start)
    metrics = FileProvider(samples_file(tmp_path / "m.json", SPIKE, HEALTHY))
    target = rollout.target()
    # the remote goes away after the state was read: every push of the decision fails
    fetch = target.git.fetch
    calls = {"n": 0}

    def flaky_fetch(remote: str, branch: str) -> Any:
        calls["n"] += 1
        if calls["n"] > 1:
            rollout.repo.git("remote", "set-url", "origin", str(tmp_path / "gone.git"))
        return fetch(remote, branch)

    target.git.fetch = flaky_fetch  # type: ignore[method-assign]
    with pytest.raises(PushEscalatedError, match="after 3 retries") as raised:
        step_rollout(
            target, StepRequest("hello", "prod", start + timedelta(seconds=4)), lambda _s: metrics
        )
    assert raised.value.exit_code == 1
    assert rollout.slept == [1.0, 2.0, 4.0]
    alert = rollout.recorder.events()[-1]  # type: ignore[union-attr]
    assert alert["type"] == "io.powerx.rollout.escalated"
    assert alert["data"]["severity"] == "alert"
    assert "canary" in rollout.state()  # nothing landed


def test_a_decision_refused_when_the_rollout_changed_meanwhile(
    rollout: Rollout, tmp_path: Path
) -> None:
    start = now() - timedelta(seconds=30)
    rollout.start(now=start)
    metrics = FileProvider(samples_file(tmp_path / "m.json", HEALTHY, HEALTHY))
    target = rollout.target()
    fetch = target.git.fetch
    calls = {"n": 0}

    def racing_fetch(remote: str, branch: str) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:  # someone else expands first, between our read and our push
            other = make_clone(rollout, tmp_path / "other")
            other_target = Target(GitRepo(other), remote="origin")
            step_rollout(
                other_target,
                StepRequest("hello", "prod", start + timedelta(seconds=4)),
                lambda _s: metrics,
            )
        return fetch(remote, branch)

    target.git.fetch = racing_fetch  # type: ignore[method-assign]
    with pytest.raises(GateError, match="changed while it was being judged"):
        step_rollout(
            target, StepRequest("hello", "prod", start + timedelta(seconds=4)), lambda _s: metrics
        )
    assert rollout.state()["canary"]["weight"] == 50
    assert rollout.subjects().count("Canary hello 1.1.0 in prod expands to 50%") == 1


@pytest.mark.parametrize("left", ["--soft", "--mixed"])
def test_a_decision_after_a_fast_forward_cut_short_lands_and_the_clone_catches_up(
    rollout: Rollout, tmp_path: Path, left: str
) -> None:
    """A watch killed after pushing a decision, while moving its clone to it, leaves the
    decision's file in the work tree (--soft: and the index) with the branch before it."""
    start = now() - timedelta(seconds=30)
    rollout.start(now=start)
    metrics = FileProvider(samples_file(tmp_path / "m.json", HEALTHY, HEALTHY))
    assert rollout.step(metrics, start + timedelta(seconds=4)).outcome == "expanded"
    rollout.repo.git("reset", "-q", left, "HEAD~1")
    assert rollout.repo.git("status", "--porcelain").split() == ["M", STATE]
    done = rollout.step(metrics, start + timedelta(seconds=7))
    assert done.outcome == "completed"
    assert rollout.subjects()[:2] == [
        "Complete the rollout of hello in prod: 1.0.0 -> 1.1.0",
        "Canary hello 1.1.0 in prod expands to 50%",
    ]
    assert rollout.slept == []  # landed at the first push, never retried
    assert rollout.repo.head() == rollout.remote_git("rev-parse", "main")
    assert rollout.repo.git("status", "--porcelain") == ""


def test_a_persons_edits_in_the_clone_are_kept_and_the_decision_lands(
    rollout: Rollout, tmp_path: Path
) -> None:
    start = now() - timedelta(seconds=30)
    rollout.start(now=start)
    before = rollout.repo.head()
    edited = (rollout.repo.path / STATE).read_text() + "# my note, not committed yet\n"
    (rollout.repo.path / STATE).write_text(edited)
    metrics = FileProvider(samples_file(tmp_path / "m.json", HEALTHY, HEALTHY))
    grown = rollout.step(metrics, start + timedelta(seconds=4))
    assert grown.outcome == "expanded" and rollout.state()["canary"]["weight"] == 50
    assert rollout.subjects().count("Canary hello 1.1.0 in prod expands to 50%") == 1
    assert rollout.slept == []
    assert rollout.repo.head() == before  # the clone stays behind: git pull brings the decision
    assert (rollout.repo.path / STATE).read_text() == edited


def make_clone(rollout: Rollout, path: Path) -> Path:
    git(path.parent, "clone", "-q", str(rollout.remote), str(path))
    return path


def test_local_decisions_without_a_remote(rollout: Rollout, tmp_path: Path) -> None:
    start = now() - timedelta(seconds=30)
    target = rollout.target(remote=None)
    start_rollout(target, StartRequest("hello", "1.1.0", "prod", start))
    assert rollout.repo.git("log", "-1", "--format=%s").startswith("Start the canary")
    metrics = FileProvider(samples_file(tmp_path / "m.json", HEALTHY, HEALTHY))
    result = step_rollout(
        target, StepRequest("hello", "prod", start + timedelta(seconds=4)), lambda _s: metrics
    )
    assert result.outcome == "expanded"
    assert "weight: 50" in (rollout.repo.path / STATE).read_text()


# -- against a real Prometheus -------------------------------------------------------------


@dataclass
class Metrics:
    """One exporter and one Prometheus for a whole test module; each test its own plugin."""

    exporter: Exporter
    prometheus: Prometheus


@pytest.fixture(scope="module")
def metrics_source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Metrics]:
    with running_exporter() as exporter:
        directory = tmp_path_factory.mktemp("prometheus")
        for plugin in ("healthy", "spike", "stopped"):
            serve(exporter, plugin)  # series start now, so tests find data waiting
        exporter.set("noise", "stable", version="1.0.0", noise=0.03)
        exporter.set("noise", "canary", version="1.1.0", noise=0.03, latency=0.102)
        with running_prometheus(exporter, directory) as prometheus:
            yield Metrics(exporter, prometheus)


def serve(exporter: Exporter, plugin: str, **canary: Any) -> None:
    exporter.set(plugin, "stable", version="1.0.0")
    exporter.set(plugin, "canary", version="1.1.0", **canary)


def prometheus_target(prometheus: Prometheus) -> Callable[[RolloutSpec], Any]:
    provider = PrometheusProvider(prometheus.url, timeout=10.0, retries=0)
    return lambda _spec: provider


def wait_for_data(prometheus: Prometheus, plugin: str) -> None:
    for group in ("canary", "stable"):
        query = render_query(ERROR_RATIO, plugin=plugin, version="", group=group)
        prometheus.wait_for_samples(query, 4)


def watch(rollout: Rollout, prometheus: Prometheus, **options: Any) -> RolloutResult:
    return watch_rollout(
        rollout.target(sleep=time.sleep),
        rollout.plugin,
        "prod",
        prometheus_target(prometheus),
        clock=now,
        interval=0.5,
        **{"max_rounds": 40, **options},
    )


def test_healthy_canary_expands_to_100_percent(
    release_repo: Repo, tmp_path: Path, metrics_source: Metrics
) -> None:
    rollout = make_rollout(release_repo, tmp_path, plugin="healthy")
    wait_for_data(metrics_source.prometheus, "healthy")
    rollout.start(now=now() - timedelta(seconds=5))
    rounds: list[RolloutResult] = []
    result = watch(rollout, metrics_source.prometheus, on_round=rounds.append)
    assert result.outcome == "completed", [r.message for r in rounds]
    assert [r.outcome for r in rounds if r.commit] == ["expanded", "completed"]
    assert rollout.state()["version"] == "1.1.0"
    assert result.verdict is not None and result.verdict.decision == "pass"
    assert {m.status for m in result.verdict.metrics} == {"pass"}


def test_an_error_spike_is_rolled_back_quickly(
    release_repo: Repo, tmp_path: Path, metrics_source: Metrics, capsys: Any
) -> None:
    rollout = make_rollout(release_repo, tmp_path, plugin="spike", minStepDuration=600)
    exporter = metrics_source.exporter
    wait_for_data(metrics_source.prometheus, "spike")
    rollout.start(now=now() - timedelta(seconds=5))
    spike: dict[str, float] = {}
    rounds: list[str] = []

    def on_round(result: RolloutResult) -> None:
        rounds.append(result.outcome)
        if result.outcome == "waiting" and not spike:
            exporter.set("spike", "canary", error_ratio=0.2)
            spike["at"] = time.monotonic()

    result = watch(rollout, metrics_source.prometheus, on_round=on_round, max_rounds=600)
    elapsed = time.monotonic() - spike["at"]  # reported, not asserted: the machine may be slow
    assert result.outcome == "rolled-back", result.message
    assert rollout.subjects()[0] == "Roll back spike in prod: 1.1.0 -> 1.0.0"
    # quickly: on the first verdicts after the spike, not once the 10-minute step is over
    assert "expanded" not in rounds and rounds[-1] == "rolled-back", rounds
    with capsys.disabled():
        print(f"\n  error spike -> revert commit: {elapsed:.1f} s (interval 0.5 s, scrape 1 s)")


def test_noise_within_5_percent_does_not_roll_back(
    release_repo: Repo, tmp_path: Path, metrics_source: Metrics
) -> None:
    rollout = make_rollout(release_repo, tmp_path, plugin="noise")
    wait_for_data(metrics_source.prometheus, "noise")
    rollout.start(now=now() - timedelta(seconds=5))
    rounds: list[RolloutResult] = []
    result = watch(rollout, metrics_source.prometheus, on_round=rounds.append)
    assert result.outcome == "completed", [r.message for r in rounds]
    assert all(r.outcome != "rolled-back" for r in rounds)


def test_prometheus_stopped_mid_rollout_holds_and_alerts(
    release_repo: Repo, tmp_path: Path, metrics_source: Metrics, recorder: Recorder
) -> None:
    # a step longer than the test: "resumed" (not a step's end) however slow the machine is
    rollout = make_rollout(release_repo, tmp_path, plugin="stopped", minStepDuration=600)
    rollout.recorder = recorder
    prometheus = metrics_source.prometheus
    wait_for_data(prometheus, "stopped")
    rollout.start(now=now() - timedelta(seconds=5))
    provider = PrometheusProvider(prometheus.url, timeout=10.0, retries=0)
    assert rollout.step(provider).outcome == "waiting"
    prometheus.stop()
    try:
        held = rollout.step(provider)
        assert held.outcome == "held", held.message
        assert held.verdict is not None and "error-ratio error" in held.message
        assert "canary: Prometheus at http://127.0.0.1" in held.verdict.explain()
        alert = recorder.events()[-1]
        assert alert["type"] == "io.powerx.rollout.held"
        assert alert["data"]["severity"] == "warning"
        assert {m["status"] for m in alert["data"]["verdict"]["metrics"]} == {"error"}
        assert rollout.step(provider).outcome == "holding"
    finally:
        prometheus.start()
    wait_for_data(prometheus, "stopped")
    assert rollout.step(provider).outcome == "resumed"
    assert "holdingSince" not in rollout.state()["canary"]


def test_powerx_rollback_during_a_canary_withdraws_only_the_canary(rollout: Rollout) -> None:
    rollout.start()
    started = rollout.remote_git("rev-parse", "main")
    request = RollbackRequest("hello", "prod", "INC-1: canary breaks logins", operator="rita")
    result = rollback(GitRepo(rollout.repo.path), request, branch="main", remote="origin")
    assert (result.plan.from_version, result.plan.to_version) == ("1.1.0", "1.0.0")
    assert result.plan.reverts == started
    state = rollout.state()
    assert (state["version"], "canary" in state) == ("1.0.0", False)
    assert rollout.subjects()[0] == "Roll back hello in prod: 1.1.0 -> 1.0.0"
    with pytest.raises(GateError, match="was rolled back from prod"):
        rollout.start()


def test_a_policy_without_metrics_cannot_start_a_canary(release_repo: Repo, tmp_path: Path) -> None:
    made = make_rollout(release_repo, tmp_path, metrics=[])
    with pytest.raises(InputError, match="no metrics for hello") as raised:
        made.start()
    assert raised.value.location is not None
    assert raised.value.location.path == "policies/rollout.yaml"

"""policies/rollout.yaml: defaults, durations, per-plugin overrides and bad input with file:line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT, Repo

from pipeline.cli.powerx import cli
from pipeline.errors import CombinedInputError, InputError
from pipeline.models import PolicySet, parse_document
from pipeline.models.rollout import RolloutPolicy, parse_duration, render_query
from pipeline.scaffold import scaffold_files

PATH = "policies/rollout.yaml"
HEADER = "apiVersion: powerx.io/v1alpha1\nkind: RolloutPolicy\n"
METRIC = (
    "metrics:\n"
    "  - name: errors\n"
    '    query: sum(rate(errors{plugin="{plugin}",group="{group}"}[1m]))\n'
    "    direction: increase\n"
)


def load(text: str) -> RolloutPolicy:
    return parse_document(text.encode(), PATH, RolloutPolicy)


def refuse(text: str) -> InputError:
    with pytest.raises(InputError) as caught:
        load(text)
    return caught.value


def test_defaults_follow_the_issue() -> None:
    policy = load(HEADER + METRIC)
    spec = policy.for_plugin("hello")
    assert spec.steps == [10, 50, 100]
    assert (spec.thresholds.pass_, spec.thresholds.marginal) == (95, 75)
    metric = spec.metrics[0]
    assert (metric.max_deviation, metric.weight, metric.critical, metric.no_data) == (
        0.05,
        1.0,
        False,
        "fail",
    )
    assert spec.provider is None and spec.plugin == "hello"
    assert PolicySet().rollout.metrics == []


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30", 30.0),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("1.5s", 1.5),
        ("2m10s", 130.0),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert load(HEADER + f"interval: {text}\n").interval == seconds
    assert parse_duration(text) == seconds


def test_per_plugin_overrides_replace_fields_and_metrics_by_name() -> None:
    policy = load(
        HEADER
        + "failAfter: 10m\n"
        + METRIC
        + "  - name: latency\n"
        + "    query: latency{version='{version}'}\n"
        + "    direction: increase\n"
        + "plugins:\n"
        + "  ledger:\n"
        + "    steps: [5, 100]\n"
        + "    interval: 10s\n"
        + "    thresholds: {pass: 90, marginal: 50}\n"
        + "    metrics:\n"
        + "      - {name: errors, query: 'e{group=\"{group}\"}', direction: either, critical: true}\n"
        + "      - {name: cpu, query: 'cpu{group=\"{group}\"}', direction: increase, noData: pass}\n"
    )
    ledger, other = policy.for_plugin("ledger"), policy.for_plugin("other")
    assert ledger.steps == [5, 100] and other.steps == [10, 50, 100]
    assert (ledger.interval, other.interval) == (10.0, 60.0)
    assert ledger.fail_after == other.fail_after == 600.0
    assert ledger.thresholds.pass_ == 90 and other.thresholds.pass_ == 95
    assert [m.name for m in ledger.metrics] == ["errors", "latency", "cpu"]
    assert ledger.metrics[0].critical and not other.metrics[0].critical


def test_render_query_keeps_promql_braces() -> None:
    rendered = render_query(
        'sum(rate(x{plugin="{plugin}",version="{version}",group="{group}"}[1m]))',
        plugin="hello",
        version="1.2.0",
        group="canary",
    )
    assert rendered == 'sum(rate(x{plugin="hello",version="1.2.0",group="canary"}[1m]))'


BAD = {
    "non-increasing steps": (
        "steps: [10, 10, 100]\n",
        3,
        "steps must increase strictly, e.g. [10, 50, 100] (found [10, 10, 100])",
    ),
    "last step not 100": ("steps: [10, 50]\n", 3, "the last step must be 100"),
    "step out of range": ("steps: [0, 100]\n", 3, "between 1 and 100"),
    "bad duration": (
        "interval: 5 minutes\n",
        3,
        "interval: not a duration: use seconds or e.g. '30s', '5m', '1h30m' (found '5 minutes')",
    ),
    "negative duration": ("interval: -5\n", 3, "greater than 0"),
    "infinite duration": ("interval: .inf\n", 3, "must be a finite duration"),
    "boolean duration": (
        "interval: true\n",
        3,
        "interval: not a duration: use seconds or e.g. '30s', '5m', '1h30m' (found True)",
    ),
    "list as duration": ("interval: [5]\n", 3, "interval: Input should be a valid number"),
    "window too short for minSamples": (
        "analysisWindow: 30s\nsampleInterval: 10s\n",
        1,
        "analysisWindow 30s / sampleInterval 10s gives at most 4 sample(s), fewer than minSamples 5",
    ),
    "override window too short": (
        "plugins:\n  ledger: {analysisWindow: 20s}\n",
        1,
        "plugins.ledger: analysisWindow 20s / sampleInterval 10s gives at most 3 sample(s)",
    ),
    "too many points for Prometheus": (
        "analysisWindow: 1h\nsampleInterval: 0.1\n",
        1,
        "gives 36001 samples; Prometheus serves at most 11,000",
    ),
    "unknown key": ("intervall: 5m\n", 3, "unknown field 'intervall'"),
    "query without group or version": (
        'metrics:\n  - name: e\n    query: up{plugin="{plugin}"}\n    direction: increase\n',
        5,
        "use the {group} or {version} placeholder",
    ),
    "bad direction": (
        METRIC.replace("direction: increase", "direction: up"),
        6,
        "metrics.0.direction: Input should be 'increase', 'decrease' or 'either'",
    ),
    "duplicate metrics": (
        METRIC + METRIC.removeprefix("metrics:\n"),
        3,
        "metric names must be unique",
    ),
    "marginal above pass": (
        "thresholds: {pass: 70, marginal: 80}\n",
        3,
        "marginal must not be above pass",
    ),
    "prometheus without url": ("provider: {type: prometheus}\n", 3, "needs a url"),
    "file without path": ("provider: {type: file}\n", 3, "needs a path"),
    "credentials in the url": (
        "provider: {type: prometheus, url: 'http://user:secret@prom:9090'}\n",
        3,
        "provider.url",
    ),
    "half of basic auth": (
        "provider: {type: prometheus, url: 'http://p:9090', usernameEnv: U}\n",
        3,
        "basic auth needs both usernameEnv and passwordEnv",
    ),
    "bearer and basic": (
        "provider: {type: prometheus, url: 'http://p:9090', bearerTokenEnv: T, "
        "usernameEnv: U, passwordEnv: P}\n",
        3,
        "either bearerTokenEnv or usernameEnv",
    ),
    "bad override steps": (
        "plugins:\n  ledger:\n    steps: [50, 10, 100]\n",
        5,
        "increase strictly",
    ),
    "bad plugin name": ("plugins:\n  Ledger: {}\n", 4, "lower-case"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_names_file_line_and_problem(case: str) -> None:
    body, line, message = BAD[case]
    error = refuse(HEADER + body)
    assert error.location is not None
    assert (error.location.path, error.location.line) == (PATH, line), error.diagnostics()
    assert message in error.message


def test_unknown_key_suggests_the_right_one() -> None:
    error = refuse(HEADER + "minStepDuraton: 5m\n")
    assert error.hint == "did you mean 'minStepDuration'?"


def test_several_problems_are_reported_together() -> None:
    with pytest.raises(CombinedInputError) as caught:
        load(HEADER + "steps: [50, 10]\ninterval: soon\n")
    assert len(caught.value.errors) == 2


def test_the_live_and_scaffold_policies_load() -> None:
    live = load((PROJECT / PATH).read_text())
    assert [m.name for m in live.metrics] == ["error-ratio", "latency-p95", "throughput"]
    assert live.for_plugin("ledger-sync").steps == [5, 25, 50, 100]
    assert live.provider is not None and live.provider.bearer_token_env == "POWERX_PROMETHEUS_TOKEN"
    scaffold = load(scaffold_files()[PATH].decode())
    assert scaffold.metrics[0].critical and scaffold.steps == [10, 50, 100]


def test_powerx_check_rejects_a_bad_rollout_policy(run_cli: Any, release_repo: Repo) -> None:
    text = (
        (Path(release_repo.path) / PATH)
        .read_text()
        .replace("steps: [10, 50, 100]", "steps: [50, 10, 100]")
    )
    release_repo.commit({PATH: text}, "break the rollout policy")
    result = run_cli(cli, "check", "--repo", str(release_repo.path))
    assert result.code == 2, result.out + result.err
    assert f"at {PATH}:5" in result.out
    assert "steps must increase strictly, e.g. [10, 50, 100] (found [50, 10, 100])" in result.out

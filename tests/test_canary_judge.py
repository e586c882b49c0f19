"""The judge against a real Prometheus scraping a controlled exporter, and on file samples."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus import (
    ERROR_RATIO,
    LATENCY,
    Exporter,
    Prometheus,
    running_exporter,
    running_prometheus,
)
from test_canary_providers import FakePrometheus

from pipeline.canary.judge import Verdict, judge
from pipeline.canary.providers import FileProvider, PrometheusProvider
from pipeline.models.rollout import RolloutPolicy, RolloutSpec

WINDOW = 10
PLUGINS = ("healthy", "spiky", "noisy", "silent", "absent")


def spec(plugin: str = "any", **fields: Any) -> RolloutSpec:
    metrics = fields.pop(
        "metrics",
        [
            {
                "name": "error-ratio",
                "query": ERROR_RATIO,
                "direction": "increase",
                "critical": True,
            },
            {"name": "latency", "query": LATENCY, "direction": "increase"},
        ],
    )
    policy = RolloutPolicy.model_validate(
        {
            "apiVersion": "powerx.io/v1alpha1",
            "kind": "RolloutPolicy",
            "sampleInterval": "1s",
            "analysisWindow": f"{WINDOW}s",
            "minSamples": 5,
            "metrics": metrics,
            **fields,
        }
    )
    return policy.for_plugin(plugin)


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Exporter, Prometheus]]:
    """One Prometheus for the module; each scenario is its own plugin, so they share the wait."""
    with running_exporter(seed=7) as exporter:
        for plugin in PLUGINS:
            exporter.set(plugin, "stable", version="1.0.0", error_ratio=0.01, latency=0.1)
            exporter.set(plugin, "canary", version="1.1.0", error_ratio=0.01, latency=0.1)
        exporter.set("spiky", "canary", error_ratio=0.2)
        exporter.set("noisy", "stable", noise=0.03)
        exporter.set("noisy", "canary", noise=0.03, latency=0.102)
        exporter.set("silent", "canary", nan=True)
        exporter.set("absent", "canary", emit=False)
        with running_prometheus(exporter, tmp_path_factory.mktemp("prometheus")) as server:
            server.wait_for_samples(
                ERROR_RATIO.replace("{plugin}", "healthy").replace("{group}", "canary"), WINDOW + 1
            )
            yield exporter, server


def run(server: Prometheus, plugin: str, rollout: RolloutSpec | None = None) -> Verdict:
    end = datetime.now(UTC)
    with PrometheusProvider(server.url, timeout=2.0, retries=1, backoff=0.05) as provider:
        return judge(
            rollout or spec(plugin),
            provider,
            plugin=plugin,
            canary_version="1.1.0",
            stable_version="1.0.0",
            start=end - timedelta(seconds=WINDOW),
            end=end,
        )


def test_a_healthy_canary_passes_with_every_number_shown(scene: Any) -> None:
    verdict = run(scene[1], "healthy")
    assert verdict.decision == "pass", verdict.explain()
    assert verdict.score == 100
    ratio = verdict.metrics[0]
    assert ratio.status == "pass" and ratio.canary_n >= 8 and ratio.stable_n >= 8
    assert ratio.canary_mean == pytest.approx(0.01, rel=0.01)
    assert ratio.query_canary == ERROR_RATIO.replace("{plugin}", "healthy").replace(
        "{group}", "canary"
    )
    text = verdict.explain()
    assert text.startswith("verdict: pass (score 100.0)")
    assert "error-ratio" in text and "latency" in text
    data = json.loads(json.dumps(verdict.as_dict()))
    assert data["metrics"][0]["canary"]["query"] == ratio.query_canary


def test_queries_may_tell_the_sides_apart_by_version(scene: Any) -> None:
    by_version = 'powerx_plugin_latency_seconds{plugin="{plugin}",version="{version}"}'
    metrics = [{"name": "latency", "query": by_version, "direction": "increase"}]
    verdict = run(scene[1], "healthy", spec(metrics=metrics))
    assert verdict.decision == "pass", verdict.explain()
    result = verdict.metrics[0]
    assert 'version="1.1.0"' in result.query_canary and 'version="1.0.0"' in result.query_stable
    assert result.canary_n >= 8 and result.stable_n >= 8


def test_an_error_spike_on_the_canary_fails_at_once(scene: Any) -> None:
    verdict = run(scene[1], "spiky")
    assert verdict.decision == "fail", verdict.explain()
    ratio = verdict.metrics[0]
    assert ratio.status == "high" and ratio.critical
    assert ratio.deviation is not None and ratio.deviation > 10
    assert ratio.p_value is not None and ratio.p_value < 0.001
    assert "critical metric(s) failed: error-ratio high" in verdict.reason


def test_noise_within_five_percent_passes(scene: Any) -> None:
    verdict = run(scene[1], "noisy")
    assert verdict.decision == "pass", verdict.explain()
    latency = verdict.metrics[1]
    assert latency.deviation is not None and abs(latency.deviation) < 0.05


@pytest.mark.parametrize(
    ("rule", "decision"), [("fail", "fail"), ("hold", "hold"), ("pass", "pass")]
)
@pytest.mark.parametrize("plugin", ["silent", "absent"])
def test_nan_and_missing_series_follow_the_no_data_rule(
    scene: Any, plugin: str, rule: str, decision: str
) -> None:
    metrics = [{"name": "latency", "query": LATENCY, "direction": "increase", "noData": rule}]
    verdict = run(scene[1], plugin, spec(plugin, metrics=metrics))
    assert verdict.decision == decision, verdict.explain()
    latency = verdict.metrics[0]
    assert latency.status == "no-data"
    assert latency.canary_n == 0 and latency.stable_n >= 8
    if plugin == "silent":
        assert latency.canary_dropped >= 8
        assert "NaN/Inf dropped" in latency.detail
    assert f"noData rule '{rule}'" in latency.detail


def test_prometheus_stopped_holds_then_recovers(scene: Any) -> None:
    server = scene[1]
    server.stop()
    try:
        verdict = run(server, "healthy")
    finally:
        server.start()
    assert verdict.decision == "hold", verdict.explain()
    assert {m.status for m in verdict.metrics} == {"error"}
    assert "waiting for error-ratio error, latency error" in verdict.reason
    assert "cannot be reached" in verdict.metrics[0].detail
    assert run(server, "spiky").decision == "fail"


# --- judge decisions on file samples ------------------------------------------------------


def file_judge(tmp_path: Path, samples: dict[str, list[Any]], rollout: RolloutSpec) -> Verdict:
    path = tmp_path / "samples.json"
    path.write_text(json.dumps({"samples": samples}))
    end = datetime(2026, 1, 1, tzinfo=UTC)
    return judge(
        rollout,
        FileProvider(path),
        plugin="p",
        canary_version="2.0.0",
        stable_version="1.0.0",
        start=end - timedelta(minutes=5),
        end=end,
    )


def metric(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "query": f"{name}{{v={{version}}}}", "direction": "increase", **fields}


STABLE = [1.0, 1.1, 0.9, 1.0, 1.05, 0.95, 1.0, 1.02]
HIGHER = [x * 1.5 for x in STABLE]


def test_a_failed_metric_lowers_the_score_to_hold_or_fail(tmp_path: Path) -> None:
    metrics = [metric("a", weight=3), metric("b")]
    samples = {
        "a{v=2.0.0}": STABLE,
        "a{v=1.0.0}": STABLE,
        "b{v=2.0.0}": HIGHER,
        "b{v=1.0.0}": STABLE,
    }
    marginal = file_judge(tmp_path, samples, spec(metrics=metrics))
    assert (marginal.decision, marginal.score) == ("hold", 75.0)
    assert marginal.reason == "marginal score 75.0 < 95 (failed: b high)"
    assert [m.contribution for m in marginal.metrics] == [3.0, 0.0]
    failed = file_judge(tmp_path, samples, spec(metrics=metrics, thresholds={"marginal": 80}))
    assert (failed.decision, failed.score) == ("fail", 75.0)
    assert failed.reason == "score 75.0 < 80 (failed: b high)"
    lenient = file_judge(tmp_path, samples, spec(metrics=metrics, thresholds={"pass": 75}))
    assert lenient.decision == "pass" and lenient.reason == "score 75.0 >= 75 (failed: b high)"


def test_a_change_in_the_good_direction_or_without_significance_passes(tmp_path: Path) -> None:
    lower = [x * 0.5 for x in STABLE]
    metrics = [metric("a"), metric("b", direction="decrease"), metric("c", direction="either")]
    samples = {
        "a{v=2.0.0}": lower,
        "a{v=1.0.0}": STABLE,
        "b{v=2.0.0}": HIGHER,
        "b{v=1.0.0}": STABLE,
        # a 20% higher mean, but only one outlier: the ranks do not differ
        "c{v=2.0.0}": [*STABLE[:-1], 2.6],
        "c{v=1.0.0}": STABLE,
    }
    verdict = file_judge(tmp_path, samples, spec(metrics=metrics))
    assert verdict.decision == "pass", verdict.explain()
    a, b, c = verdict.metrics
    assert "not bad for this metric" in a.detail and "not bad for this metric" in b.detail
    assert c.deviation is not None and c.deviation > 0.05
    assert "not significant" in c.detail


def test_a_zero_stable_mean_uses_the_absolute_tolerance(tmp_path: Path) -> None:
    zeros = [0.0] * 8
    metrics = [metric("errors", tolerance=0.01), metric("strict")]
    samples = {
        "errors{v=2.0.0}": [0.005] * 8,
        "errors{v=1.0.0}": zeros,
        "strict{v=2.0.0}": [0.005] * 8,
        "strict{v=1.0.0}": zeros,
    }
    verdict = file_judge(tmp_path, samples, spec(metrics=metrics))
    errors, strict = verdict.metrics
    assert errors.status == "pass" and "absolute tolerance" in errors.detail
    assert strict.status == "high" and strict.deviation is None
    assert "the stable mean is 0" in strict.detail
    both_zero = file_judge(
        tmp_path,
        {"strict{v=2.0.0}": zeros, "strict{v=1.0.0}": zeros},
        spec(metrics=[metric("strict")]),
    )
    assert both_zero.metrics[0].deviation == 0.0 and both_zero.decision == "pass"


def test_a_hold_turns_into_a_fail_when_even_passing_metrics_would_not_save_the_step(
    tmp_path: Path,
) -> None:
    metrics = [metric("a", weight=4), metric("b", noData="hold")]
    samples: dict[str, list[Any]] = {
        "a{v=2.0.0}": HIGHER,
        "a{v=1.0.0}": STABLE,
        "b{v=1.0.0}": STABLE,
    }
    verdict = file_judge(tmp_path, samples, spec(metrics=metrics))
    assert verdict.decision == "fail"
    assert "even if b no-data passed, the score stays below 75" in verdict.reason
    light = [metric("a", weight=1), metric("b", noData="hold", weight=4)]
    assert file_judge(tmp_path, samples, spec(metrics=light)).decision == "hold"


def test_inf_samples_are_dropped_and_reported(tmp_path: Path) -> None:
    samples: dict[str, list[Any]] = {"a{v=2.0.0}": [*STABLE, "+Inf", "NaN"], "a{v=1.0.0}": STABLE}
    verdict = file_judge(tmp_path, samples, spec(metrics=[metric("a")]))
    result = verdict.metrics[0]
    assert (result.canary_n, result.canary_dropped, result.status) == (8, 2, "pass")
    assert "2 NaN/Inf canary sample(s) dropped" in result.detail
    assert result.as_dict()["canary"]["dropped"] == 2


def test_no_metrics_fails_and_all_no_data_pass_rules_pass(tmp_path: Path) -> None:
    empty = file_judge(tmp_path, {}, spec(metrics=[]))
    assert empty.decision == "fail" and empty.score is None
    assert "defines no metrics" in empty.reason
    lenient = file_judge(tmp_path, {}, spec(metrics=[metric("a", noData="pass")]))
    assert (lenient.decision, lenient.score) == ("pass", None)
    assert "n/a" in lenient.explain()


def test_a_query_prometheus_rejects_holds_with_its_error(scene: Any) -> None:
    metrics = [{"name": "broken", "query": 'rate(x{group="{group}"}', "direction": "increase"}]
    verdict = run(scene[1], "healthy", spec(metrics=metrics))
    assert verdict.decision == "hold"
    result = verdict.metrics[0]
    assert result.status == "error"
    assert "rejected the query: bad_data: " in result.detail


def test_once_the_provider_is_down_no_further_metric_waits_for_it() -> None:
    fake = FakePrometheus()
    fake.script = [(503, {"status": "error", "error": "overloaded"})]
    try:
        end = datetime.now(UTC)
        with PrometheusProvider(fake.url, retries=1, sleep=lambda _: None) as provider:
            verdict = judge(
                spec(metrics=[metric("a"), metric("b"), metric("c")]),
                provider,
                plugin="p",
                canary_version="2.0.0",
                stable_version="1.0.0",
                start=end - timedelta(minutes=5),
                end=end,
            )
    finally:
        fake.close()
    assert len(fake.requests) == 2  # one query, two attempts
    assert verdict.decision == "hold"
    assert [m.status for m in verdict.metrics] == ["error"] * 3
    assert verdict.metrics[1].detail.startswith("not queried: canary: Prometheus at ")
    assert "overloaded" in verdict.metrics[2].detail

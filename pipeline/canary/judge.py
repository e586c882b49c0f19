"""The judge: canary against stable, metric by metric, into one explained verdict.

For each metric both sides are queried over the same window. The relative deviation of the
canary's mean from the stable's is compared with the metric's allowed deviation; a deviation
beyond it in the bad direction counts only when a two-sided Mann-Whitney U test confirms the
samples differ (p < ALPHA), so noise alone never rolls back. Each metric is classified
pass / high / low / no-data / error, then:

1. a failed critical metric fails the step at once;
2. a provider error, or missing data under the `hold` rule, holds the step, unless the
   step would fail even if every such metric passed;
3. otherwise the weighted share of passing metrics (0-100) against the thresholds gives
   pass (>= pass), hold (>= marginal) or fail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pipeline.canary.providers import MetricsProvider, ProviderUnavailable, QueryRejected
from pipeline.canary.stats import Finite, finite, mann_whitney_u, mean
from pipeline.models.rollout import MetricSpec, RolloutSpec, render_query

ALPHA = 0.05
"""Significance level of the two-sided Mann-Whitney U test (95% confidence)."""

Status = Literal["pass", "high", "low", "no-data", "error"]
Decision = Literal["pass", "hold", "fail"]
Outcome = Literal["pass", "fail", "hold", "skip"]


@dataclass(frozen=True)
class MetricResult:
    """What the judge found for one metric, with everything a human needs to see why."""

    name: str
    query_canary: str
    query_stable: str
    canary_n: int
    canary_mean: float | None
    stable_n: int
    stable_mean: float | None
    deviation: float | None
    """(canary - stable) / |stable|; None when not computable (no data, stable mean 0)."""
    p_value: float | None
    status: Status
    critical: bool
    weight: float
    outcome: Outcome
    """How the metric counts: pass/fail in the score, hold the step, or skip (no data: pass)."""
    contribution: float
    """The weight this metric adds to the score's numerator (0 unless it passed)."""
    detail: str
    canary_dropped: int = 0
    stable_dropped: int = 0
    """NaN/Inf samples that were left out of the means and the test."""
    canary_samples: tuple[float, ...] = ()
    stable_samples: tuple[float, ...] = ()
    """The finite samples the means and the test were computed from, oldest first."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, NaN/Inf written as null."""
        return {
            "name": self.name,
            "status": self.status,
            "outcome": self.outcome,
            "critical": self.critical,
            "weight": self.weight,
            "contribution": self.contribution,
            "canary": {
                "query": self.query_canary,
                "n": self.canary_n,
                "mean": _json_number(self.canary_mean),
                "dropped": self.canary_dropped,
            },
            "stable": {
                "query": self.query_stable,
                "n": self.stable_n,
                "mean": _json_number(self.stable_mean),
                "dropped": self.stable_dropped,
            },
            "deviation": _json_number(self.deviation),
            "pValue": _json_number(self.p_value),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Verdict:
    """The judge's decision on one step, and why."""

    decision: Decision
    score: float | None
    metrics: tuple[MetricResult, ...]
    reason: str
    plugin: str = ""
    canary_version: str = ""
    stable_version: str = ""
    start: datetime | None = None
    end: datetime | None = None
    pass_threshold: float | None = None
    marginal_threshold: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, for `--format json` and webhooks."""
        return {
            "decision": self.decision,
            "score": self.score,
            "reason": self.reason,
            "plugin": self.plugin,
            "canaryVersion": self.canary_version,
            "stableVersion": self.stable_version,
            "window": {
                "start": self.start.isoformat() if self.start else None,
                "end": self.end.isoformat() if self.end else None,
            },
            "thresholds": {"pass": self.pass_threshold, "marginal": self.marginal_threshold},
            "metrics": [metric.as_dict() for metric in self.metrics],
        }

    def explain(self) -> str:
        """A compact text table, for commit messages and the terminal."""
        score = "n/a" if self.score is None else f"{self.score:.1f}"
        lines = [f"verdict: {self.decision} (score {score}): {self.reason}"]
        if self.start and self.end:
            lines.append(
                f"window: {_utc(self.start)} .. {_utc(self.end)}, "
                f"canary {self.canary_version} vs stable {self.stable_version}"
            )
        header = ("metric", "status", "canary n/mean", "stable n/mean", "deviation", "p")
        rows = [header, *(_row(metric) for metric in self.metrics)]
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines += [
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in rows
        ]
        lines += [f"  {m.name}: {m.detail}" for m in self.metrics if _worth_explaining(m)]
        return "\n".join(lines)


def _row(metric: MetricResult) -> tuple[str, ...]:
    status = metric.status + (" (critical)" if metric.critical else "")
    return (
        metric.name,
        status,
        f"{metric.canary_n}/{_fmt(metric.canary_mean)}",
        f"{metric.stable_n}/{_fmt(metric.stable_mean)}",
        "n/a" if metric.deviation is None else f"{metric.deviation:+.1%}",
        "n/a" if metric.p_value is None else _p_text(metric.p_value),
    )


def _p_text(p_value: float) -> str:
    return "<0.001" if p_value < 0.001 else f"{p_value:.3f}"


def _utc(when: datetime) -> str:
    return f"{when.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


def _p_clause(p_value: float) -> str:
    return "p<0.001" if p_value < 0.001 else f"p={p_value:.3f}"


def _worth_explaining(metric: MetricResult) -> bool:
    """Every metric that did not simply pass within its allowed deviation."""
    plain = metric.status == "pass" and "beyond" not in metric.detail
    return not plain or bool(metric.canary_dropped or metric.stable_dropped)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _json_number(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def judge(
    spec: RolloutSpec,
    provider: MetricsProvider,
    *,
    plugin: str,
    canary_version: str,
    stable_version: str,
    start: datetime,
    end: datetime,
) -> Verdict:
    """Judge the canary of one step over [start, end] (pure but for the provider).

    Once the provider is unavailable, the remaining metrics are not queried (each would
    wait for its own timeouts and retries): they are `error` with the same reason.
    """
    results: list[MetricResult] = []
    down: ProviderUnavailable | None = None
    for metric in spec.metrics:
        base = RenderedMetric.render(metric, plugin, canary_version, stable_version)
        if down is not None:
            results.append(base.error(f"not queried: {down.message}"))
            continue
        try:
            results.append(
                judge_metric(base, provider, start, end, spec.sample_interval, spec.min_samples)
            )
        except QueryRejected as error:
            results.append(base.error(error.message))
        except ProviderUnavailable as error:
            down = error
            results.append(base.error(error.message))
    decision, score, reason = decide(
        tuple(results), spec.thresholds.pass_, spec.thresholds.marginal
    )
    return Verdict(
        decision=decision,
        score=score,
        metrics=tuple(results),
        reason=reason,
        plugin=plugin,
        canary_version=canary_version,
        stable_version=stable_version,
        start=start,
        end=end,
        pass_threshold=spec.thresholds.pass_,
        marginal_threshold=spec.thresholds.marginal,
    )


def judge_metric(
    base: RenderedMetric,
    provider: MetricsProvider,
    start: datetime,
    end: datetime,
    step: float,
    min_samples: int,
) -> MetricResult:
    """Query both sides of one metric and classify the comparison.

    Raises ProviderUnavailable (QueryRejected for a refused query), its message prefixed
    with the side that failed.
    """
    samples: dict[str, Finite] = {}
    for group, query in (("canary", base.query_canary), ("stable", base.query_stable)):
        try:
            samples[group] = finite(provider.samples(query, start, end, step))
        except ProviderUnavailable as error:
            raise type(error)(
                f"{group}: {error.message}", location=error.location, hint=error.hint
            ) from error
    return classify(base.metric, base, samples["canary"], samples["stable"], min_samples)


@dataclass(frozen=True)
class RenderedMetric:
    """One metric with its two rendered queries: builds its MetricResult."""

    metric: MetricSpec
    query_canary: str
    query_stable: str

    @classmethod
    def render(cls, metric: MetricSpec, plugin: str, canary: str, stable: str) -> RenderedMetric:
        return cls(
            metric,
            render_query(metric.query, plugin=plugin, version=canary, group="canary"),
            render_query(metric.query, plugin=plugin, version=stable, group="stable"),
        )

    def error(self, detail: str) -> MetricResult:
        return self.result("error", outcome="hold", detail=detail)

    def result(
        self,
        status: Status,
        *,
        outcome: Outcome,
        detail: str,
        canary: Finite | None = None,
        stable: Finite | None = None,
        deviation: float | None = None,
        p_value: float | None = None,
    ) -> MetricResult:
        return MetricResult(
            name=self.metric.name,
            query_canary=self.query_canary,
            query_stable=self.query_stable,
            canary_n=len(canary.values) if canary else 0,
            canary_mean=mean(canary.values) if canary and canary.values else None,
            stable_n=len(stable.values) if stable else 0,
            stable_mean=mean(stable.values) if stable and stable.values else None,
            deviation=deviation,
            p_value=p_value,
            status=status,
            critical=self.metric.critical,
            weight=self.metric.weight,
            outcome=outcome,
            contribution=self.metric.weight if outcome == "pass" else 0.0,
            detail=detail,
            canary_dropped=canary.dropped if canary else 0,
            stable_dropped=stable.dropped if stable else 0,
            canary_samples=canary.values if canary else (),
            stable_samples=stable.values if stable else (),
        )


_NO_DATA_OUTCOME: dict[str, Outcome] = {"fail": "fail", "hold": "hold", "pass": "skip"}


def classify(
    metric: MetricSpec, base: RenderedMetric, canary: Finite, stable: Finite, min_samples: int
) -> MetricResult:
    """pass / high / low / no-data for one metric from the finite samples of both sides."""
    short = [
        f"{group} has {len(side.values)} finite sample(s)"
        + (f" ({side.dropped} NaN/Inf dropped)" if side.dropped else "")
        for group, side in (("canary", canary), ("stable", stable))
        if len(side.values) < min_samples
    ]
    if short:
        return base.result(
            "no-data",
            outcome=_NO_DATA_OUTCOME[metric.no_data],
            detail=f"{'; '.join(short)}, fewer than {min_samples}: noData rule '{metric.no_data}'",
            canary=canary,
            stable=stable,
        )
    canary_mean, stable_mean = mean(canary.values), mean(stable.values)
    delta = canary_mean - stable_mean
    deviation = delta / abs(stable_mean) if stable_mean != 0 else (0.0 if delta == 0 else None)
    test = mann_whitney_u(canary.values, stable.values)
    notes = [
        f"{side.dropped} NaN/Inf {group} sample(s) dropped"
        for group, side in (("canary", canary), ("stable", stable))
        if side.dropped
    ]
    status, why = _status(metric, delta, deviation, test.p_value)
    return base.result(
        status,
        outcome="pass" if status == "pass" else "fail",
        detail="; ".join([why, *notes]),
        canary=canary,
        stable=stable,
        deviation=deviation,
        p_value=test.p_value,
    )


def _status(
    metric: MetricSpec, delta: float, deviation: float | None, p_value: float
) -> tuple[Status, str]:
    allowed = f"{metric.max_deviation:.1%}"
    if abs(delta) <= metric.tolerance:
        return "pass", f"difference {delta:+.4g} within the absolute tolerance {metric.tolerance:g}"
    if deviation is not None and abs(deviation) <= metric.max_deviation:
        return "pass", f"deviation {deviation:+.1%} within {allowed}"
    size = "the stable mean is 0" if deviation is None else f"deviation {deviation:+.1%}"
    status: Status = "high" if delta > 0 else "low"
    bad = metric.direction == "either" or (status == "high") == (metric.direction == "increase")
    if not bad:
        return "pass", f"{size} beyond {allowed}, but a {status} value is not bad for this metric"
    if p_value >= ALPHA:
        return (
            "pass",
            f"{size} beyond {allowed}, but not significant at {ALPHA} ({_p_clause(p_value)})",
        )
    return status, f"{size} beyond {allowed}, significant at {ALPHA} ({_p_clause(p_value)})"


def decide(
    results: tuple[MetricResult, ...], pass_threshold: float, marginal: float
) -> tuple[Decision, float | None, str]:
    """The step's decision, its score and the reason, from the metric results."""
    if not results:
        return (
            "fail",
            None,
            "the rollout policy defines no metrics, so nothing shows the canary is healthy",
        )
    critical = [r.name for r in results if r.critical and r.outcome == "fail"]
    scored = [r for r in results if r.outcome in ("pass", "fail")]
    pending = [r for r in results if r.outcome == "hold"]
    total = sum(r.weight for r in scored)
    score = 100 * sum(r.contribution for r in scored) / total if total else None
    failed = ", ".join(_label(r) for r in scored if r.outcome == "fail")
    if critical:
        return "fail", score, f"critical metric(s) failed: {failed}"
    if pending:
        best = sum(r.weight for r in [*scored, *pending])
        best_score = (
            100 * (sum(r.contribution for r in scored) + sum(r.weight for r in pending)) / best
        )
        waiting = ", ".join(_label(r) for r in pending)
        if best_score < marginal:
            return (
                "fail",
                score,
                f"failed: {failed}; even if {waiting} passed, the score stays below {marginal:g}",
            )
        return "hold", score, f"waiting for {waiting}"
    if score is None:
        return "pass", None, "no metric has data, and every metric's noData rule is 'pass'"
    if score >= pass_threshold:
        return (
            "pass",
            score,
            f"score {score:.1f} >= {pass_threshold:g}" + (f" (failed: {failed})" if failed else ""),
        )
    if score >= marginal:
        return "hold", score, f"marginal score {score:.1f} < {pass_threshold:g} (failed: {failed})"
    return "fail", score, f"score {score:.1f} < {marginal:g} (failed: {failed})"


def _label(result: MetricResult) -> str:
    return f"{result.name} {result.status}"

"""The canary view: one plugin's rollout in one environment, charted from what git records.

Every decision of the controller is a commit; its message carries the verdict and the
measured samples of the analysis (`pipeline.canary.analysis`). The page charts, per judged
step, each metric's canary and stable samples against the threshold they were judged by,
and the traffic weight over time, as inline SVG. While the rollout runs, the `#live` part
polls itself (`?part=live`, every 2 s); once it is over, the part no longer asks again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from pipeline.canary.analysis import RecordedDecision, rollout_decisions
from pipeline.canary.stats import mean
from pipeline.errors import InputError
from pipeline.models.environment import PluginState
from pipeline.names import deployed_plugins, environment_names, require_name, require_plugin
from pipeline.snapshot import Snapshot
from pipeline.web import svg
from pipeline.web.views import Data, NotFoundError, Params, Source, View

POLL = "every 2s"
"""How often a running rollout's page asks for its live part."""


def not_found(error: InputError) -> NotFoundError:
    """A lookup's "did you mean" error as a 404."""
    return NotFoundError(error.message, hint=error.hint)


def plugin_state(snapshot: Snapshot, plugin: str, environment: str) -> PluginState:
    """The plugin's state in the environment (NotFoundError, with did-you-mean, if none)."""
    try:
        require_name("environment", environment, environment_names(snapshot))
        require_plugin(snapshot, plugin)
        loaded = snapshot.plugin_state(environment, plugin)
        if loaded is None:
            require_name(
                "plugin",
                plugin,
                deployed_plugins(snapshot, environment),
                where=f"deployed in {environment}",
                hint=f"open /matrix?env={environment} to see what {environment} runs",
            )
    except InputError as error:
        raise not_found(error) from None
    assert loaded is not None
    return loaded.model


def threshold(metric: dict[str, Any]) -> list[tuple[str, float]]:
    """The limits a metric was judged by: stable mean x (1 +- max deviation), bad side(s)."""
    stable = [float(value) for value in metric.get("stable") or []]
    deviation = metric.get("maxDeviation")
    if not stable or deviation is None:
        return []
    base = mean(stable)
    direction = metric.get("direction")
    limits = []
    if direction in ("increase", "either"):
        limits.append((f"+{deviation:.0%}", base + abs(base) * deviation))
    if direction in ("decrease", "either"):
        limits.append((f"-{deviation:.0%}", base - abs(base) * deviation))
    return limits


def metric_chart(metric: dict[str, Any], every: float, weight: int | None, version: str) -> str:
    """Canary and stable samples of one metric, with its threshold line(s)."""
    name = str(metric.get("name", "?"))
    canary = [float(v) for v in metric.get("canary") or []]
    stable = [float(v) for v in metric.get("stable") or []]
    length = max(len(canary), len(stable), 1) - 1
    lines = [svg.Line("stable", "series-stable", [(i * every, v) for i, v in enumerate(stable)])]
    for label, value in threshold(metric):
        lines.append(
            svg.Line(
                f"threshold (stable mean {label})",
                "threshold",
                [(0, value), (length * every, value)],
            )
        )
    lines.append(  # drawn last: on top where it equals stable
        svg.Line(
            f"canary {version}",
            "series-canary",
            [(i * every, v) for i, v in enumerate(canary)],
            f"canary {version}: {metric.get('query') or name}",
        )
    )
    share = f" at {weight}%" if weight is not None else ""
    return svg.line_chart(
        lines,
        title=f"{name}{share}: {metric.get('status', '?')}",
        x_label=f"seconds into the analysis window (a sample every {every:g} s)",
        y_label=name,
    )


def weight_chart(decisions: list[RecordedDecision], now: datetime | None) -> str:
    """The canary's traffic weight over time, as a step line from the rollout's start."""
    start = decisions[0].time
    points: list[tuple[float, float]] = []
    weight = 0
    for decision in decisions:
        at = (decision.time - start).total_seconds()
        points.append((at, weight))
        weight = decision.weight if decision.weight is not None else weight
        points.append((at, weight))
    if now is not None:
        points.append((max((now - start).total_seconds(), points[-1][0]), weight))
    return svg.line_chart(
        [svg.Line("canary weight (%)", "weight", points)],
        title="traffic weight of the canary",
        x_label=f"seconds since the start ({start:%Y-%m-%d %H:%M:%S} UTC)",
        y_label="weight %",
        y_floor=0,
        y_ceiling=100,
    )


def decision_data(decision: RecordedDecision, weight_before: int | None, version: str) -> Data:
    """One decision, with a chart per metric when it recorded its samples (`version`: the
    canary's, from the rollout's start; a rollback's own Version is the stable one)."""
    analysis = decision.analysis
    metrics = []
    if analysis is not None:
        every = float(analysis.get("every") or 1)
        for metric in analysis["metrics"]:
            if not isinstance(metric, dict):
                continue
            metrics.append(
                {
                    "name": metric.get("name"),
                    "status": metric.get("status"),
                    "canary": metric.get("canary") or [],
                    "stable": metric.get("stable") or [],
                    "thresholds": [value for _, value in threshold(metric)],
                    "svg": metric_chart(metric, every, weight_before, version),
                }
            )
    return {
        "commit": decision.commit,
        "short": decision.commit[:12],
        "permalink": f"/audit/{decision.commit}",
        "time": decision.time.isoformat(),
        "action": decision.action,
        "summary": decision.summary,
        "weight": decision.weight,
        "judged_at": weight_before,
        "decision": decision.decision,
        "score": decision.score,
        "explanation": decision.explanation,
        "window": (
            {"start": analysis.get("start"), "end": analysis.get("end")} if analysis else None
        ),
        "metrics": metrics,
    }


def canary_data(source: Source, params: Params) -> Data:
    """The rollout of one plugin in one environment: state, decisions, charts, verdict."""
    plugin = params.text("plugin") or ""
    environment = params.text("environment") or ""
    part = params.text("part")
    if part not in (None, "live"):
        raise InputError(f"part={part!r} is not a part of this page", hint="give part=live")
    snapshot = Snapshot(source.git, source.head)
    state = plugin_state(snapshot, plugin, environment)
    canary = state.canary
    running = canary is not None
    recorded = rollout_decisions(source.git, source.head, plugin, environment)
    decisions = []
    weight: int | None = None
    version = (recorded[0].version or "") if recorded else ""
    for decision in recorded:
        decisions.append(decision_data(decision, weight, version))
        weight = decision.weight if decision.weight is not None else weight
    judged = [d for d in decisions if d["decision"] is not None]
    last = decisions[-1] if decisions else None
    rolled_back = last if last is not None and last["action"] == "rollback" else None
    page = f"/canary/{plugin}/{environment}"
    return {
        "head": source.head.id,
        "plugin": plugin,
        "environment": environment,
        "stable": state.version,
        "canary": canary.model_dump(mode="json", by_alias=True) if canary else None,
        "running": running,
        "outcome": (
            "running"
            if running
            else "rolled back"
            if rolled_back
            else "completed"
            if last is not None and last["action"] == "rollout-complete"
            else "no rollout recorded"
            if last is None
            else "over"
        ),
        "part": part,
        "poll": POLL if running else None,
        "live_url": page + "?" + urlencode({"part": "live"}),
        "json": page + ".json",
        "audit": "/audit?" + urlencode({"plugin": plugin, "environment": environment}),
        "decisions": decisions,
        "verdict": judged[-1] if judged else None,
        "rollback": rolled_back,
        "weight_svg": (
            weight_chart(recorded, datetime.now(UTC) if running else None) if recorded else None
        ),
    }


VIEWS = [
    View("canary", "/canary/{plugin}/{environment}", canary_data, "canary.html", "Canary", False),
]

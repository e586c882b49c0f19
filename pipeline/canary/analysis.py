"""The measured samples of each analysis, recorded in the decision's commit, and read back.

A decision commit (expand, hold, resume, complete, roll back) carries the judge's verdict
as a text table (`Verdict.explain`); `analysis_line` adds one line with what the table is
computed from: per metric, its finite samples on both sides (oldest first, every
`sampleInterval` seconds of the window) and the rule and query it was judged by. `rollout_decisions`
reads a rollout's decisions back from git history, so the console charts recorded data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipeline import layout
from pipeline.canary.judge import Verdict
from pipeline.canary.status import ROLLOUT_ACTIONS
from pipeline.gitrepo import Commit, GitRepo, read_trailers
from pipeline.models.rollout import RolloutSpec

PREFIX = "analysis (JSON): "
"""The line of a decision commit's message that holds the measured samples."""
MAX_DECISIONS = 200
"""Decisions of one rollout read back at most (a rollout has a few: one per step or hold)."""


def analysis_line(verdict: Verdict, spec: RolloutSpec) -> str:
    """One message line: the window, and each metric's rule and samples (6 digits)."""
    rules = {metric.name: metric for metric in spec.metrics}
    metrics = []
    for result in verdict.metrics:
        rule = rules.get(result.name)
        metrics.append(
            {
                "name": result.name,
                "status": result.status,
                "direction": rule.direction if rule else None,
                "maxDeviation": rule.max_deviation if rule else None,
                "tolerance": rule.tolerance if rule else None,
                "query": rule.query if rule else None,
                "canary": [_short(value) for value in result.canary_samples],
                "stable": [_short(value) for value in result.stable_samples],
            }
        )
    data = {
        "decision": verdict.decision,
        "score": None if verdict.score is None else round(verdict.score, 1),
        "start": verdict.start.isoformat() if verdict.start else None,
        "end": verdict.end.isoformat() if verdict.end else None,
        "every": spec.sample_interval,
        "metrics": metrics,
    }
    return PREFIX + json.dumps(data, separators=(",", ":"))


def _short(value: float) -> float:
    return float(f"{value:.6g}")


@dataclass(frozen=True)
class RecordedDecision:
    """One decision of a rollout as its commit records it."""

    commit: str
    time: datetime
    action: str
    summary: str
    version: str | None
    weight: int | None
    """The canary's weight after the decision (0 after a rollback)."""
    decision: str | None
    score: str | None
    explanation: str
    """The message body: the verdict table and the reasons, without the samples line."""
    analysis: dict[str, Any] | None
    """The samples line, parsed (None: a start, a manual rollback, or an older commit)."""


def read_decision(commit: Commit) -> RecordedDecision | None:
    """The decision a commit records, or None when it is no rollout decision."""
    message = commit.message
    trailers = read_trailers(message)
    action = trailers.get("Action")
    if action not in ROLLOUT_ACTIONS:
        return None
    paragraphs = message.strip().split("\n\n")
    body = "\n\n".join(paragraphs[1:-1]) if len(paragraphs) > 2 else ""
    analysis = None
    kept = []
    for line in body.splitlines():
        if line.startswith(PREFIX):
            analysis = _parse(line[len(PREFIX) :])
        else:
            kept.append(line)
    weight = trailers.get("Weight")
    return RecordedDecision(
        commit=str(commit.id),
        time=datetime.fromtimestamp(commit.commit_time, UTC),
        action=action,
        summary=paragraphs[0].splitlines()[0] if paragraphs else "",
        version=trailers.get("Version"),
        weight=0
        if action == "rollback"
        else (int(weight) if weight and weight.isdigit() else None),
        decision=trailers.get("Decision") or _text(analysis, "decision"),
        score=trailers.get("Score") or _text(analysis, "score"),
        explanation="\n".join(kept).strip(),
        analysis=analysis,
    )


def _text(analysis: dict[str, Any] | None, key: str) -> str | None:
    """A field of the samples line as text (a rollback's verdict has no trailer of its own)."""
    value = analysis.get(key) if analysis else None
    return f"{value:.1f}" if isinstance(value, float) else (str(value) if value else None)


def _parse(text: str) -> dict[str, Any] | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) and isinstance(data.get("metrics"), list) else None


def rollout_decisions(
    git: GitRepo, tip: Commit, plugin: str, environment: str
) -> list[RecordedDecision]:
    """The decisions of the latest rollout of `plugin` in `environment`, oldest first.

    Walks the state file's history back to the latest `rollout-start` (at most
    `MAX_DECISIONS` decisions); empty when the file's history holds no rollout.
    """
    path = layout.plugin_state_path(environment, plugin)
    found: list[RecordedDecision] = []
    for change in git.path_history(tip, path):
        decision = read_decision(change.commit)
        if decision is None:
            if found:
                break  # a plain promotion before the rollout's first decision
            continue
        found.append(decision)
        if decision.action == "rollout-start" or len(found) >= MAX_DECISIONS:
            break
    if not found or found[-1].action != "rollout-start":
        return []
    return found[::-1]

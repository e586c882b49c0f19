"""What one command did to a rollout, and the webhook message that tells people."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pipeline.canary.judge import Verdict
from pipeline.canary.record import Target
from pipeline.canary.state import Current
from pipeline.notify import Event

Outcome = Literal[
    "started",
    "waiting",
    "expanded",
    "completed",
    "held",
    "holding",
    "resumed",
    "rolled-back",
]
FINAL: frozenset[str] = frozenset({"completed", "rolled-back"})


@dataclass(frozen=True)
class RolloutResult:
    """What one command did to a rollout."""

    plugin: str
    environment: str
    outcome: Outcome
    stable: str
    canary: str | None
    weight: int
    message: str
    commit: str | None = None
    verdict: Verdict | None = None
    steps: tuple[int, ...] = ()

    @property
    def final(self) -> bool:
        """True once the rollout is over (completed or rolled back)."""
        return self.outcome in FINAL

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "plugin": self.plugin,
            "environment": self.environment,
            "outcome": self.outcome,
            "stable": self.stable,
            "canary": self.canary,
            "weight": self.weight,
            "steps": list(self.steps),
            "message": self.message,
            "commit": self.commit,
            "verdict": self.verdict.as_dict() if self.verdict else None,
        }


def result_of(
    current: Current,
    outcome: Outcome,
    message: str,
    commit: str | None = None,
    verdict: Verdict | None = None,
    *,
    weight: int | None = None,
) -> RolloutResult:
    """The result of a decision that keeps the canary (by default at its current weight)."""
    canary = current.state.canary
    return RolloutResult(
        current.state.plugin,
        current.environment,
        outcome,
        current.state.version,
        canary.version if canary else None,
        weight if weight is not None else (canary.weight if canary else 0),
        message,
        commit,
        verdict,
        tuple(current.spec.steps),
    )


def notify(
    target: Target,
    result: RolloutResult,
    kind: str,
    details: str,
    *,
    severity: Literal["info", "warning", "alert"] = "info",
) -> None:
    """Send `result` to the target's webhooks (nothing when none is configured)."""
    if not target.notifier.configured:
        return
    subject = f"{result.plugin}/{result.environment}"
    text = (
        f"PowerX rollout {result.plugin} in {result.environment}: {result.message}"
        + (f" (commit {result.commit[:12]})" if result.commit else "")
        + f"\n{details}"
    )
    target.notifier.send(Event(kind, subject, text, result.as_dict(), severity=severity))

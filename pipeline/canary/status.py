"""Where a rollout stands and its latest decisions, read from git history (the audit trail)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipeline.canary.record import Target
from pipeline.canary.state import branch_tip, read_state
from pipeline.gitrepo import read_trailers
from pipeline.models.environment import Canary


@dataclass(frozen=True)
class Decision:
    """One recorded decision of a rollout, from git history."""

    commit: str
    time: datetime
    action: str
    summary: str


@dataclass(frozen=True)
class RolloutStatus:
    """Where a rollout stands, read from git."""

    plugin: str
    environment: str
    stable: str
    canary: Canary | None
    steps: tuple[int, ...]
    decisions: tuple[Decision, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "plugin": self.plugin,
            "environment": self.environment,
            "stable": self.stable,
            "canary": self.canary.model_dump(mode="json", by_alias=True) if self.canary else None,
            "steps": list(self.steps),
            "decisions": [
                {
                    "commit": d.commit,
                    "time": d.time.isoformat(),
                    "action": d.action,
                    "summary": d.summary,
                }
                for d in self.decisions
            ],
        }


ROLLOUT_ACTIONS = frozenset(
    {
        "rollout-start",
        "rollout-step",
        "rollout-hold",
        "rollout-resume",
        "rollout-complete",
        "rollback",
    }
)


def rollout_status(
    target: Target, plugin: str, environment: str, *, limit: int = 10
) -> RolloutStatus:
    """The state of `plugin`'s rollout in `environment` and its latest decisions."""
    tip = branch_tip(target)
    current = read_state(target.git, tip, plugin, environment)
    decisions = []
    for change in target.git.path_history(tip, current.path):
        trailers = read_trailers(change.commit.message)
        if trailers.get("Action") in ROLLOUT_ACTIONS:
            decisions.append(
                Decision(
                    str(change.commit.id),
                    datetime.fromtimestamp(change.commit.commit_time, UTC),
                    trailers["Action"],
                    change.commit.message.splitlines()[0],
                )
            )
        if len(decisions) >= limit:
            break
    return RolloutStatus(
        plugin,
        environment,
        current.state.version,
        current.state.canary,
        tuple(current.spec.steps),
        tuple(decisions),
    )

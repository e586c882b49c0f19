"""The status file a sync keeps on the way (`SyncReport`): per-plugin status and outcome,
rewritten atomically after each plugin that changed and at the end."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pipeline.agent.desired import DesiredPlugin
from pipeline.agent.store import PluginStore
from pipeline.agent.sync_result import REPORTED, PluginSync
from pipeline.models.agent import (
    MAX_HEALTH_RECORDS,
    AgentStatus,
    HealthRecord,
    PluginStatus,
    SyncAction,
)
from pipeline.models.base import API_VERSION

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time in UTC (the default clock)."""
    return datetime.now(UTC)


@dataclass(kw_only=True)
class SyncReport:
    """The report of one sync: every plugin's status (from the previous report on) and the
    outcomes so far."""

    store: PluginStore
    previous: AgentStatus | None
    clock: Clock
    environment: str
    tenant: str | None
    statuses: dict[str, PluginStatus] = field(default_factory=dict)
    outcomes: list[PluginSync] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.previous is not None:
            self.statuses = dict(self.previous.plugins)

    def remove(self, name: str) -> PluginSync:
        """Deactivate a plugin the environment no longer names (its files stay)."""
        before = self.statuses.pop(name, None)
        self.store.deactivate(name)
        self.save()
        result = PluginSync(
            name=name,
            desired_version=None,
            observed_version=None,
            action="removed",
            healthy=None,
            message="no longer in the environment: deactivated (files kept)",
        )
        if before is not None:
            was = observed_text(before)
            result = PluginSync(name, None, None, "removed", None, f"{result.message}; was {was}")
        self.outcomes.append(result)
        return result

    def _record(
        self,
        plugin: DesiredPlugin,
        before: PluginStatus | None,
        checks: list[HealthRecord],
        action: SyncAction,
        *,
        observed: tuple[str, str] | None,
        healthy: bool | None,
        message: str,
        changed: bool = True,
    ) -> PluginSync:
        latest = find_check(checks, plugin.digest)
        observed_digest = observed[1] if observed else None
        moved = before is None or before.observed_digest != observed_digest
        self.statuses[plugin.name] = PluginStatus(
            desired_version=plugin.version,
            desired_digest=plugin.digest,
            enabled=plugin.enabled,
            observed_version=observed[0] if observed else None,
            observed_digest=observed_digest,
            healthy=latest.healthy if latest else None,
            last_action=action,
            last_change=self.clock() if moved else (before.last_change if before else None),
            last_error=message if action in REPORTED or healthy is False else None,
            checks=checks[:MAX_HEALTH_RECORDS],
        )
        if changed:
            self.save()
        outcome = PluginSync(
            name=plugin.name,
            desired_version=plugin.version,
            observed_version=observed[0] if observed else None,
            action=action,
            healthy=healthy,
            message=message,
        )
        self.outcomes.append(outcome)
        return outcome

    def save(self) -> None:
        """Write the report as it stands (atomically)."""
        failures = [o.message for o in self.outcomes if not o.ok]
        self.store.write_status(
            AgentStatus(
                api_version=API_VERSION,
                kind="AgentStatus",
                environment=self.environment,
                tenant=self.tenant,
                last_sync=self.clock(),
                ok=not failures,
                last_error=failures[-1] if failures else None,
                plugins=dict(sorted(self.statuses.items())),
            )
        )


def find_check(checks: list[HealthRecord], digest: str) -> HealthRecord | None:
    """The health record of the version with `digest`, or None."""
    return next((record for record in checks if record.digest == digest), None)


def observed_text(status: PluginStatus | None) -> str:
    """The version a status saw active, for messages."""
    if status is None or status.observed_version is None:
        return "(inactive)"
    return status.observed_version

"""`<store>/status.json`: what the host-side reconciler (`powerx agent sync`) last observed.

The agent writes this file atomically at the end of every sync (and after every plugin it
touches), so monitoring and `powerx plugin enable` can read what each host runs, which
versions passed their health check, and what went wrong. The active symlinks of the store
are the truth about what runs; this file is the report.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from pipeline.models.base import Document, Name, SemVer, Strict
from pipeline.models.digest import Sha256Digest

SyncAction = Literal[
    "installed",
    "unchanged",
    "rolled-back",
    "disabled",
    "failed",
    "removed",
    "unlicensed",
    "ungranted",
]
"""What one sync did to one plugin (unlicensed: deactivated, its licence needs an entitlement
that is missing or expired; ungranted: not activated, it declares permissions the tenant has
not granted in git; files and data kept)."""

MAX_HEALTH_RECORDS = 10
"""Health-check records kept per plugin (newest first)."""


class HealthRecord(Strict):
    """One health check of one installed version."""

    version: SemVer
    digest: Sha256Digest
    healthy: bool | None = Field(
        description="null: not run yet, an HTTP check waits until the version is active"
    )
    checked_at: datetime = Field(alias="checkedAt")
    detail: str = Field(default="", description="what the check saw (exit code, HTTP status)")


class PluginStatus(Strict):
    """The desired and observed state of one plugin on this host."""

    desired_version: SemVer = Field(alias="desiredVersion")
    desired_digest: Sha256Digest = Field(alias="desiredDigest")
    enabled: bool = Field(description="what the environment asks for")
    observed_version: SemVer | None = Field(
        default=None, alias="observedVersion", description="the active version; null: inactive"
    )
    observed_digest: Sha256Digest | None = Field(default=None, alias="observedDigest")
    healthy: bool | None = Field(
        default=None, description="the last health check of the desired version (null: none)"
    )
    last_action: SyncAction = Field(alias="lastAction")
    last_change: datetime | None = Field(
        default=None, alias="lastChange", description="when the active version last changed"
    )
    last_error: str | None = Field(default=None, alias="lastError")
    checks: list[HealthRecord] = Field(
        default_factory=list,
        description=f"latest health checks, newest first (<= {MAX_HEALTH_RECORDS})",
    )

    def check_for(self, digest: str) -> HealthRecord | None:
        """The latest health check of the version with this artifact digest."""
        return next((record for record in self.checks if record.digest == digest), None)


class AgentStatus(Document):
    """The report of the last `powerx agent sync` on one plugin store."""

    kind: Literal["AgentStatus"]
    environment: Name = Field(description="the environment folder last synced from")
    tenant: Name | None = Field(default=None, description="the tenant resolved for canaries")
    last_sync: datetime = Field(alias="lastSync")
    ok: bool = Field(description="every plugin converged and passed its health check")
    last_error: str | None = Field(default=None, alias="lastError")
    plugins: dict[Name, PluginStatus] = Field(default_factory=dict)

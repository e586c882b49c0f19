"""What `powerx agent sync` reports to its caller: one `PluginSync` per plugin and the
`SyncResult` of the whole sync (its exit code)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import EXIT_GATE, EXIT_OK
from pipeline.models.agent import (
    SyncAction,
)

FAILING: frozenset[str] = frozenset({"failed", "rolled-back", "ungranted"})
REPORTED: frozenset[str] = FAILING | {"unlicensed"}
"""Actions whose message is kept as the plugin's last error in the status file."""


@dataclass(frozen=True)
class PluginSync:
    """What one sync did to one plugin."""

    name: str
    desired_version: str | None
    observed_version: str | None
    action: SyncAction
    healthy: bool | None
    message: str

    @property
    def ok(self) -> bool:
        """Converged and not known to be unhealthy."""
        return self.action not in FAILING and self.healthy is not False


@dataclass(frozen=True)
class SyncResult:
    """The outcome of one sync: `ok` when every plugin converged and passed its check."""

    ok: bool
    plugins: tuple[PluginSync, ...]
    environment: str = ""
    tenant: str | None = None
    status_path: Path | None = None

    @property
    def exit_code(self) -> int:
        """0 when ok, 1 when a health check or a verification failed."""
        return EXIT_OK if self.ok else EXIT_GATE

    def plugin(self, name: str) -> PluginSync:
        """The outcome for one plugin (KeyError if the sync did not touch it)."""
        for item in self.plugins:
            if item.name == name:
                return item
        raise KeyError(name)

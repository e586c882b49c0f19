"""`powerx plugin status`: desired against observed, per plugin, from the store itself.

The active links are the truth about what runs; the status file says what the last sync
wanted and saw. A row is *drifting* when the two disagree (a sync was interrupted, or
someone changed the store by hand) or, given the environment folder, when the folder now
asks for something the last sync did not install.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pipeline.agent.desired import load_desired
from pipeline.agent.store import PluginStore
from pipeline.errors import EXIT_GATE, EXIT_OK, InputError
from pipeline.models.agent import AgentStatus, PluginStatus


@dataclass(frozen=True)
class PluginRow:
    """One plugin on this host."""

    name: str
    desired_version: str | None
    enabled: bool | None
    active_version: str | None
    healthy: bool | None
    last_action: str | None
    last_error: str | None
    drift: str | None
    """Why desired and observed disagree, or None when they agree."""


@dataclass(frozen=True)
class StoreReport:
    """Every plugin of the store, and the last sync's summary."""

    store: Path
    environment: str
    tenant: str | None
    last_sync: datetime
    ok: bool
    last_error: str | None
    plugins: tuple[PluginRow, ...]

    @property
    def exit_code(self) -> int:
        """0 when the last sync was ok and nothing drifts, else 1."""
        clean = self.ok and all(
            row.drift is None and row.healthy is not False for row in self.plugins
        )
        return EXIT_OK if clean else EXIT_GATE


def store_report(
    store: PluginStore, environment_dir: Path | None = None, tenant: str | None = None
) -> StoreReport:
    """Compare the status file, the active links and (optionally) the environment folder."""
    status = store.read_status()
    if status is None:
        raise InputError(
            f"{store.root} has no status file: it was never synced",
            hint="run 'powerx agent sync --env DIR --store DIR' first",
        )
    wanted = {}
    if environment_dir is not None:
        desired = load_desired(environment_dir, tenant if tenant is not None else status.tenant)
        wanted = {p.name: (p.version, p.digest, p.enabled) for p in desired.plugins}
    names = sorted(set(status.plugins) | set(store.active_names()) | set(wanted))
    rows = tuple(_row(store, status, name, wanted.get(name), environment_dir) for name in names)
    return StoreReport(
        store=store.root,
        environment=status.environment,
        tenant=status.tenant,
        last_sync=status.last_sync,
        ok=status.ok,
        last_error=status.last_error,
        plugins=rows,
    )


def _row(
    store: PluginStore,
    status: AgentStatus,
    name: str,
    wanted: tuple[str, str, bool] | None,
    environment_dir: Path | None,
) -> PluginRow:
    entry: PluginStatus | None = status.plugins.get(name)
    active = store.active_target(name)
    found = store.identify(name, active) if active is not None else None
    active_version = found[0] if found else (active.name if active else None)
    drift = _drift(store, name, entry, active, wanted, environment_dir)
    return PluginRow(
        name=name,
        desired_version=entry.desired_version if entry else None,
        enabled=entry.enabled if entry else None,
        active_version=active_version,
        healthy=entry.healthy if entry else None,
        last_action=entry.last_action if entry else None,
        last_error=entry.last_error if entry else None,
        drift=drift,
    )


def _drift(
    store: PluginStore,
    name: str,
    entry: PluginStatus | None,
    active: Path | None,
    wanted: tuple[str, str, bool] | None,
    environment_dir: Path | None,
) -> str | None:
    if entry is None:
        if active is None:
            return "new in the environment: the next sync installs it"
        return "active, but unknown to the last sync"
    expected = (
        store.version_dir(name, entry.observed_version, entry.observed_digest)
        if entry.observed_version and entry.observed_digest
        else None
    )
    if active != expected:
        return "the active link differs from what the last sync recorded"
    if environment_dir is not None:
        if wanted is None:
            return "no longer in the environment: the next sync deactivates it"
        if (entry.desired_version, entry.desired_digest, entry.enabled) != wanted:
            return "the environment changed since the last sync"
    return None

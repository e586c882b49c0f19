"""`powerx agent sync`: make a host's plugin store match an environment folder.

For each plugin of the environment, in name order, holding the store's lock:

1. resolve the version for the host's tenant (stable, or the canary the tenant is in);
2. unless that version is already installed, take its `.pxp` from the store's CAS by digest,
   check its sha256, extract it safely into `staging/`, check that its `plugin.yaml` names the
   same plugin and version, and rename the folder into `plugins/` (never half a plugin);
3. run its health check (command or HTTP, with a timeout) unless it already passed;
4. enabled and healthy: switch `active/<name>` to it atomically. Unhealthy: the previous
   active version stays (or is restored): a rollback, recorded in the status file.
   Disabled (`enabled: false`): the version is installed and checked, but not active.

Plugins no longer in the environment are deactivated (their files stay), and so are plugins
whose licence needs an entitlement that is missing or expired (`agent.licence`). The tenants'
grants in git are carried into the store's tenant settings, and a sync for one tenant keeps
inactive a plugin that declares permissions the tenant has not granted (`agent.grants`).
The status file is rewritten after each plugin that changed and at the end. A sync killed
at any point leaves every active link on a whole, checked version; running it again
converges.

The parts: `reconcile` (one plugin at a time), `sync_report` (the status file kept on the
way), `sync_result` (what the caller gets back).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from pipeline.agent.desired import load_desired
from pipeline.agent.grants import carry_grants
from pipeline.agent.licence import licence_root_for
from pipeline.agent.reconcile import PAUSE_STAGES, PauseHook, SyncRun, no_pause
from pipeline.agent.store import PluginStore
from pipeline.agent.sync_report import Clock, utc_now
from pipeline.agent.sync_result import PluginSync, SyncResult
from pipeline.errors import InputError
from pipeline.models.agent import AgentStatus
from pipeline.packaging.archive import MAX_BYTES

__all__ = [
    "HEALTH_ENV_KEPT",
    "PAUSE_STAGES",
    "Clock",
    "PauseHook",
    "PluginSync",
    "SyncResult",
    "health_environment",
    "no_pause",
    "sync",
    "utc_now",
]


HEALTH_ENV_KEPT = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "PYTHONPATH")
"""The only variables of the agent's environment a health command sees (no tokens)."""


def health_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The base environment of health commands: a few harmless variables of the agent's."""
    return {key: environ[key] for key in HEALTH_ENV_KEPT if key in environ}


def sync(
    environment_dir: Path,
    store: PluginStore,
    *,
    tenant: str | None = None,
    health_timeout: float = 30.0,
    retry_failed: bool = False,
    max_package_bytes: int = MAX_BYTES,
    clock: Clock = utc_now,
    pause: PauseHook = no_pause,
    environ: Mapping[str, str] | None = None,
    on_wait: Callable[[], None] | None = None,
    licence_root: Path | None = None,
) -> SyncResult:
    """Make `store` match the environment folder; see the module docstring.

    Raises InputError (nothing changed) when the folder is invalid; per-plugin problems
    (missing or damaged artifact, failed health check) are reported in the result. A
    version that failed a command check is checked again at every sync (the check runs
    before activation: harmless); one that failed an HTTP check, which runs on the
    activated version, only with `retry_failed`.

    A plugin whose licence needs an entitlement is deactivated (files kept) while none
    covers the tenant and version at `clock()`, and activated again once one does; the
    entitlements are read from `licence_root` (default: the repo checkout the environment
    folder sits in; see `pipeline.agent.licence`).
    """
    desired = load_desired(environment_dir, tenant)
    with store.locked(on_wait):
        pause("locked")
        store.clean_leftovers()
        carry_grants(store.root, desired.environment, tenant)
        run = SyncRun(
            store=store,
            previous=_previous_status(store),
            clock=clock,
            pause=pause,
            health_timeout=health_timeout,
            environ=health_environment(os.environ if environ is None else environ),
            environment=desired.environment.name,
            tenant=tenant,
            retry_failed=retry_failed,
            max_package_bytes=max_package_bytes,
            licence_root=licence_root or licence_root_for(environment_dir),
            granting=desired.environment,
        )
        results = [run.reconcile(plugin) for plugin in desired.plugins]
        wanted = {plugin.name for plugin in desired.plugins}
        for name in sorted((set(run.statuses) | set(store.active_names())) - wanted):
            results.append(run.remove(name))
        run.save()
    ok = all(item.ok for item in results)
    return SyncResult(ok, tuple(results), desired.environment.name, tenant, store.status_path)


def _previous_status(store: PluginStore) -> AgentStatus | None:
    try:
        return store.read_status()
    except InputError:
        return None  # a damaged report is rebuilt from the store itself

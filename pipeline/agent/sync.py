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

Plugins no longer in the environment are deactivated (their files stay). The status file is
rewritten after each plugin that changed and at the end. A sync killed at any point leaves
every active link on a whole, checked version; running it again converges.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pipeline.agent.desired import DesiredPlugin, load_desired
from pipeline.agent.health import HealthResult, effective_timeout, run_health_check
from pipeline.agent.install import install_version, read_installed_manifest
from pipeline.agent.store import PluginStore
from pipeline.errors import EXIT_GATE, EXIT_OK, InputError, PowerXError
from pipeline.models.agent import (
    MAX_HEALTH_RECORDS,
    AgentStatus,
    HealthRecord,
    PluginStatus,
    SyncAction,
)
from pipeline.models.base import API_VERSION
from pipeline.models.plugin import MANIFEST_FILE, PluginManifest
from pipeline.packaging.archive import MAX_BYTES

Clock = Callable[[], datetime]
PauseHook = Callable[[str], None]
"""Called with a stage name at each step of a sync (a test seam; see `PAUSE_STAGES`)."""

PAUSE_STAGES = ("locked", "extracted", "installed", "checked", "switched")
"""Where a sync can be paused by a test: after taking the lock, after extracting into
staging, after the rename into plugins/, after the health check, after the active switch."""

FAILING: frozenset[str] = frozenset({"failed", "rolled-back"})

DEFERRED = "an HTTP check runs once the version is active (enable it)"
"""The detail of the health record of a disabled version whose check is HTTP."""


HEALTH_ENV_KEPT = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "PYTHONPATH")
"""The only variables of the agent's environment a health command sees (no tokens)."""


def health_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The base environment of health commands: a few harmless variables of the agent's."""
    return {key: environ[key] for key in HEALTH_ENV_KEPT if key in environ}


def utc_now() -> datetime:
    """The current time in UTC (the default clock)."""
    return datetime.now(UTC)


def no_pause(stage: str) -> None:
    """The default pause hook: carry on."""


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
) -> SyncResult:
    """Make `store` match the environment folder; see the module docstring.

    Raises InputError (nothing changed) when the folder is invalid; per-plugin problems
    (missing or damaged artifact, failed health check) are reported in the result. A
    version that failed a command check is checked again at every sync (the check runs
    before activation: harmless); one that failed an HTTP check, which runs on the
    activated version, only with `retry_failed`.
    """
    desired = load_desired(environment_dir, tenant)
    with store.locked(on_wait):
        pause("locked")
        store.clean_leftovers()
        run = _Run(
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


@dataclass
class _Run:
    """One sync, holding the lock: reconciles plugin after plugin and keeps the report."""

    store: PluginStore
    previous: AgentStatus | None
    clock: Clock
    pause: PauseHook
    health_timeout: float
    environ: dict[str, str]
    environment: str
    tenant: str | None
    retry_failed: bool = False
    max_package_bytes: int = MAX_BYTES
    statuses: dict[str, PluginStatus] = field(default_factory=dict)
    outcomes: list[PluginSync] = field(default_factory=list)
    manifests: dict[Path, PluginManifest] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.previous is not None:
            self.statuses = dict(self.previous.plugins)

    # -- one plugin --------------------------------------------------------------------

    def reconcile(self, plugin: DesiredPlugin) -> PluginSync:
        """Bring one plugin to its desired state; the outcome (also kept in the status)."""
        before = self.statuses.get(plugin.name)
        checks = list(before.checks) if before else []
        target = self.store.version_dir(plugin.name, plugin.version, plugin.digest)
        active = self.store.active_target(plugin.name)
        record = _find(checks, plugin.digest)
        if target.is_dir() and record is not None:
            if plugin.enabled and active == target and record.healthy:
                return self._unchanged(plugin, before, record)
            if not plugin.enabled and active is None and record.healthy is not False:
                return self._unchanged(plugin, before, record)
        try:
            folder = self._install(plugin, target)
        except (PowerXError, OSError) as error:
            return self._failed(plugin, before, checks, active, error)
        if not plugin.enabled:
            if record is None or record.healthy is not True:
                record = self._check(plugin, folder, defer_http=True)
                checks = _with(checks, record)
            return self._disable(plugin, before, checks, record)
        if record is None or not record.healthy:
            after = self._checks_after_activation(folder)  # HTTP: the active version answers
            if after and record is not None and record.healthy is False and not self.retry_failed:
                # trying again would switch the host to a version known to fail: only on request
                return self._roll_back(plugin, before, checks, record, active, folder, retry=True)
            if after:
                self.store.activate(plugin.name, folder)
                self.pause("switched")
            record = self._check(plugin, folder, defer_http=False)
            checks = _with(checks, record)
        if record.healthy:
            return self._activate(plugin, before, checks, record, active, folder)
        return self._roll_back(plugin, before, checks, record, active, folder)

    def _install(self, plugin: DesiredPlugin, target: Path) -> Path:
        folder, manifest = install_version(
            self.store,
            plugin.name,
            plugin.version,
            plugin.digest,
            max_bytes=self.max_package_bytes,
            pause=self.pause,
            source_hint=f"the environment's {plugin.source}",
        )
        if manifest is not None:
            self.manifests[folder] = manifest
        return folder

    def _check(self, plugin: DesiredPlugin, folder: Path, *, defer_http: bool) -> HealthRecord:
        """Run the version's health check (an HTTP check of an inactive version waits)."""
        try:
            manifest = self._manifest(folder)
        except InputError as error:
            result = HealthResult(False, f"cannot read {MANIFEST_FILE}: {error.message}", 0.0)
        else:
            if defer_http and _needs_active(manifest):
                return HealthRecord(
                    version=plugin.version,
                    digest=plugin.digest,
                    healthy=None,
                    checked_at=self.clock(),
                    detail=DEFERRED,
                )
            env = {
                **self.environ,
                "POWERX_PLUGIN_DIR": str(folder),
                "POWERX_PLUGIN_NAME": plugin.name,
                "POWERX_PLUGIN_VERSION": plugin.version,
            }
            check = manifest.health_check
            timeout = effective_timeout(check, self.health_timeout)
            result = run_health_check(check, folder, timeout=timeout, env=env, serve=manifest.serve)
        self.pause("checked")
        return HealthRecord(
            version=plugin.version,
            digest=plugin.digest,
            healthy=result.healthy,
            checked_at=self.clock(),
            detail=result.detail,
        )

    def _manifest(self, folder: Path) -> PluginManifest:
        """The installed version's plugin.yaml (read once per sync)."""
        if folder not in self.manifests:
            self.manifests[folder] = read_installed_manifest(folder)
        return self.manifests[folder]

    def _checks_after_activation(self, folder: Path) -> bool:
        """True for an HTTP check: only the activated (running) version can answer it."""
        try:
            return _needs_active(self._manifest(folder))
        except InputError:
            return False

    # -- outcomes ----------------------------------------------------------------------

    def _unchanged(
        self, plugin: DesiredPlugin, before: PluginStatus | None, record: HealthRecord | None
    ) -> PluginSync:
        observed = plugin if plugin.enabled else None
        return self._record(
            plugin,
            before,
            list(before.checks) if before else [],
            "unchanged",
            observed=(observed.version, observed.digest) if observed else None,
            healthy=record.healthy if record else None,
            message="already in the desired state",
            changed=False,
        )

    def _activate(
        self,
        plugin: DesiredPlugin,
        before: PluginStatus | None,
        checks: list[HealthRecord],
        record: HealthRecord,
        active: Path | None,
        folder: Path,
    ) -> PluginSync:
        if self.store.active_target(plugin.name) != folder:
            self.store.activate(plugin.name, folder)
            self.pause("switched")
        was = _observed_text(before)
        message = f"active: {was} -> {plugin.version}" + (" (canary)" if plugin.canary else "")
        observed_before = before.observed_digest if before else None
        action: SyncAction = "installed" if observed_before != plugin.digest else "unchanged"
        return self._record(
            plugin,
            before,
            checks,
            action,
            observed=(plugin.version, plugin.digest),
            healthy=True,
            message=f"{message}; health: {record.detail}",
            changed=action == "installed",
        )

    def _roll_back(
        self,
        plugin: DesiredPlugin,
        before: PluginStatus | None,
        checks: list[HealthRecord],
        record: HealthRecord,
        active: Path | None,
        folder: Path,
        *,
        retry: bool = False,
    ) -> PluginSync:
        failure = f"{plugin.name} {plugin.version} failed its health check: {record.detail}"
        if retry:
            failure += (
                f" (at {record.checked_at.isoformat()}; not retried: it would activate a "
                "failing version; sync with --retry-failed to try again)"
            )
        fallback = self._fallback(plugin, before, active, folder)
        if fallback is None:
            if self.store.deactivate(plugin.name):
                failure += "; deactivated, no earlier working version to go back to"
            return self._record(
                plugin, before, checks, "failed", observed=None, healthy=False, message=failure
            )
        version, digest, path = fallback
        if self.store.active_target(plugin.name) != path:
            self.store.activate(plugin.name, path)
            self.pause("switched")
        return self._record(
            plugin,
            before,
            checks,
            "rolled-back",
            observed=(version, digest),
            healthy=False,
            message=f"{failure}; kept {version} active",
        )

    def _fallback(
        self,
        plugin: DesiredPlugin,
        before: PluginStatus | None,
        active: Path | None,
        folder: Path,
    ) -> tuple[str, str, Path] | None:
        """The last working version: the active one, else the one the report last saw."""
        if active is not None and active != folder and active.is_dir():
            found = self._identify(plugin.name, active, before)
            if found is not None:
                return (*found, active)
        if before is not None and before.observed_version and before.observed_digest:
            if before.observed_digest == plugin.digest:
                return None
            path = self.store.version_dir(
                plugin.name, before.observed_version, before.observed_digest
            )
            if path.is_dir():
                return before.observed_version, before.observed_digest, path
        return None

    def _identify(
        self, name: str, folder: Path, before: PluginStatus | None
    ) -> tuple[str, str] | None:
        """(version, digest) of an installed version folder."""
        candidates = []
        if before is not None:
            if before.observed_version and before.observed_digest:
                candidates.append((before.observed_version, before.observed_digest))
            candidates += [(c.version, c.digest) for c in before.checks]
        for version, digest in candidates:
            if self.store.version_dir(name, version, digest) == folder:
                return version, digest
        return self.store.identify(name, folder)

    def _disable(
        self,
        plugin: DesiredPlugin,
        before: PluginStatus | None,
        checks: list[HealthRecord],
        record: HealthRecord,
    ) -> PluginSync:
        self.store.deactivate(plugin.name)
        health = {True: "passed", False: "FAILED (enable will be refused)", None: "deferred"}[
            record.healthy
        ]
        message = (
            f"disabled: {plugin.version} installed, not active; health check {health}: "
            f"{record.detail}"
        )
        return self._record(
            plugin,
            before,
            checks,
            "disabled",
            observed=None,
            healthy=record.healthy,
            message=message,
        )

    def _failed(
        self,
        plugin: DesiredPlugin,
        before: PluginStatus | None,
        checks: list[HealthRecord],
        active: Path | None,
        error: PowerXError | OSError,
    ) -> PluginSync:
        if isinstance(error, PowerXError):
            message = error.diagnostics()
        else:
            message = f"{plugin.name} {plugin.version}: {error}"
        observed: tuple[str, str] | None = None
        if not plugin.enabled:
            self.store.deactivate(plugin.name)
        elif active is not None:
            observed = self._identify(plugin.name, active, before)
        return self._record(
            plugin, before, checks, "failed", observed=observed, healthy=None, message=message
        )

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
            was = _observed_text(before)
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
        latest = _find(checks, plugin.digest)
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
            last_error=message if action in FAILING or healthy is False else None,
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


def _needs_active(manifest: PluginManifest) -> bool:
    """An HTTP check on a fixed port: only the activated (host-run) version can answer it.

    A plugin with a `serve` block is started for its check on a port of its own instead.
    """
    http = manifest.health_check.http
    return http is not None and manifest.serve is None


def _with(checks: list[HealthRecord], record: HealthRecord) -> list[HealthRecord]:
    """`record` first, replacing the older record of the same digest."""
    return [record, *[c for c in checks if c.digest != record.digest]]


def _find(checks: list[HealthRecord], digest: str) -> HealthRecord | None:
    return next((record for record in checks if record.digest == digest), None)


def _observed_text(status: PluginStatus | None) -> str:
    if status is None or status.observed_version is None:
        return "(inactive)"
    return status.observed_version

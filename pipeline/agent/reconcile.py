"""One sync, plugin after plugin (`SyncRun`): install the desired version, run its health
check, then activate it, roll back to the last working version, or keep it disabled."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.agent.desired import DesiredPlugin
from pipeline.agent.grants import ungranted_reason
from pipeline.agent.health import HealthResult, check_environ, effective_timeout, run_health_check
from pipeline.agent.install import install_version, read_installed_manifest
from pipeline.agent.licence import unlicensed_reason
from pipeline.agent.sync_report import SyncReport, find_check, observed_text
from pipeline.agent.sync_result import PluginSync
from pipeline.bundle.entitlements import Licensed
from pipeline.errors import InputError, PowerXError
from pipeline.models.agent import HealthRecord, PluginStatus, SyncAction
from pipeline.models.environment import Environment
from pipeline.models.plugin import MANIFEST_FILE, PluginManifest
from pipeline.packaging.archive import MAX_BYTES

PauseHook = Callable[[str], None]
"""Called with a stage name at each step of a sync (a test seam; see `PAUSE_STAGES`)."""

PAUSE_STAGES = ("locked", "extracted", "installed", "checked", "switched")
"""Where a sync can be paused by a test: after taking the lock, after extracting into
staging, after the rename into plugins/, after the health check, after the active switch."""


DEFERRED = "an HTTP check runs once the version is active (enable it)"
"""The detail of the health record of a disabled version whose check is HTTP."""


def no_pause(stage: str) -> None:
    """The default pause hook: carry on."""


@dataclass(kw_only=True)
class SyncRun(SyncReport):
    """One sync, holding the lock: reconciles plugin after plugin and keeps the report."""

    pause: PauseHook
    health_timeout: float
    environ: dict[str, str]
    retry_failed: bool = False
    max_package_bytes: int = MAX_BYTES
    licence_root: Path | None = None
    """The repo checkout whose entitlements/ licence plugins (None: not checked)."""
    granting: Environment | None = None
    """The environment whose grants for `tenant` a plugin must fit (None: not checked)."""
    manifests: dict[Path, PluginManifest] = field(default_factory=dict)

    # -- one plugin --------------------------------------------------------------------

    def reconcile(self, plugin: DesiredPlugin) -> PluginSync:
        """Bring one plugin to its desired state; the outcome (also kept in the status)."""
        if plugin.enabled and self.granting is not None and self.tenant is not None:
            refused = self._ungranted(plugin, self.granting, self.tenant)
            if refused is not None:
                return refused
        if plugin.enabled and self.licence_root is not None:
            refused = self._unlicensed(plugin, self.licence_root)
            if refused is not None:
                return refused
        return self._reconcile(plugin)

    def _ungranted(
        self, plugin: DesiredPlugin, environment: Environment, tenant: str
    ) -> PluginSync | None:
        """Keep inactive a plugin that declares permissions the tenant has not granted."""
        manifest = self._desired_manifest(plugin)
        if manifest is None:
            return None
        reason = ungranted_reason(environment, tenant, plugin.name, manifest.permissions)
        if reason is None:
            return None
        return self._refuse(plugin, "ungranted", reason)

    def _desired_manifest(self, plugin: DesiredPlugin) -> PluginManifest | None:
        """The desired version's plugin.yaml, installed first (None: it cannot be installed
        or read; `_reconcile` reports why)."""
        target = self.store.version_dir(plugin.name, plugin.version, plugin.digest)
        try:
            return self._manifest(self._install(plugin, target))
        except (PowerXError, OSError):
            return None

    def _refuse(self, plugin: DesiredPlugin, action: SyncAction, reason: str) -> PluginSync:
        """Deactivate `plugin` for `reason` (files and data kept); the outcome."""
        before = self.statuses.get(plugin.name)
        deactivated = self.store.deactivate(plugin.name)
        return self._record(
            plugin,
            before,
            list(before.checks) if before else [],
            action,
            observed=None,
            healthy=None,
            message=reason,
            changed=deactivated or before is None or before.last_error != reason,
        )

    def _unlicensed(self, plugin: DesiredPlugin, root: Path) -> PluginSync | None:
        """Deactivate an enabled plugin whose licence has no valid entitlement (data kept)."""
        manifest = self._desired_manifest(plugin)
        if manifest is None:
            return None
        wanted = Licensed(plugin.name, plugin.version, manifest.license, self.tenant)
        reason = unlicensed_reason(root, wanted, now=self.clock())
        if reason is None:
            return None
        return self._refuse(plugin, "unlicensed", reason)

    def _reconcile(self, plugin: DesiredPlugin) -> PluginSync:
        before = self.statuses.get(plugin.name)
        checks = list(before.checks) if before else []
        target = self.store.version_dir(plugin.name, plugin.version, plugin.digest)
        active = self.store.active_target(plugin.name)
        record = find_check(checks, plugin.digest)
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
            env = check_environ(self.environ, folder, plugin.name, plugin.version)
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
        was = observed_text(before)
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


def _needs_active(manifest: PluginManifest) -> bool:
    """An HTTP check on a fixed port: only the activated (host-run) version can answer it.

    A plugin with a `serve` block is started for its check on a port of its own instead.
    """
    http = manifest.health_check.http
    return http is not None and manifest.serve is None


def _with(checks: list[HealthRecord], record: HealthRecord) -> list[HealthRecord]:
    """`record` first, replacing the older record of the same digest."""
    return [record, *[c for c in checks if c.digest != record.digest]]

"""The local PowerX host: runs the active plugins of a store for its tenants.

For every tenant it serves and every plugin active in the store with a `serve` block, the
host starts an instance (see `instance`), supervises it (`supervisor.Slot`), and answers
HTTP (`app`): the reverse proxy `/t/<tenant>/p/<plugin>/...`, the host API `/v1/...` and its
own status. Plugins whose declared permissions the tenant has not granted are not started,
nor those the tenant disabled (`disabled:` in tenant.yaml, `pipeline.host.enablement`).
A running host follows its store: when an active link changes (an install or a sync from
another process), it swaps the new version in; when a tenant.yaml changes, it stops what
the tenant disabled and tries the plugins it refused for want of a grant, or that were
disabled, again (`follow`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pipeline.agent.grants import admin_grant_command, missing_permissions
from pipeline.agent.store import PluginStore
from pipeline.errors import InputError, PowerXError
from pipeline.host.enablement import enable_command
from pipeline.host.instance import Instance, StartError, Version
from pipeline.host.permissions import UsageRecorder, grant_command
from pipeline.host.sources import read_version
from pipeline.host.supervisor import DEFAULT_MAX_RESTARTS, Slot
from pipeline.host.tenants import SETTINGS_FILE, TenantStore

LOGS_DIR = Path("host") / "logs"
DEFAULT_TENANT = "dev"

Say = Callable[[str], None]


def missing_grants(version: Version, tenants: TenantStore, tenant: str, store: Path) -> str | None:
    """Why `version` may not run for `tenant` (a permission it declares is not granted)."""
    settings = tenants.load(tenant)
    missing = missing_permissions(version.manifest.permissions, settings.granted(version.plugin))
    if not missing:
        return None
    if settings.grants_from is not None:  # git's grants, carried by the agent: change them there
        commands = admin_grant_command(settings.grants_from, tenant, version.plugin, missing)
    else:
        commands = "; ".join(grant_command(version.plugin, p, tenant, store) for p in missing)
    names = ", ".join(repr(p) for p in missing)
    return (
        f"{version.plugin} declares {names}, which tenant {tenant!r} has not granted; "
        f"grant it with: {commands}"
    )


def disabled_detail(plugin: str, tenant: str, store: Path) -> str:
    """Why a disabled plugin does not run, with the command that enables it."""
    return (
        f"{plugin} is disabled for tenant {tenant!r}; enable it with: "
        f"{enable_command(plugin, tenant, store)}"
    )


@dataclass(frozen=True)
class Identity:
    """Who calls the host API: the instance a token was given to."""

    tenant: str
    plugin: str
    instance: Instance


class Host:
    """The plugins of `store` running for `tenants`; call `start`, then `close`."""

    def __init__(
        self,
        store: PluginStore,
        tenants: list[str],
        *,
        api_url: str = "",
        max_restarts: int = DEFAULT_MAX_RESTARTS,
        environ: Mapping[str, str] | None = None,
        say: Say = lambda line: None,
    ) -> None:
        self.store = store
        self.tenant_store = TenantStore(store.root)
        self.tenants = tenants
        self.api_url = api_url
        self.max_restarts = max_restarts
        self.environ = environ
        self.say = say
        self.recorder = UsageRecorder(store.root)
        self.slots: dict[tuple[str, str], Slot] = {}
        self.tokens: dict[str, Identity] = {}
        self.versions: dict[str, Version] = {}
        self.run_id = time.strftime("%Y%m%dT%H%M%S")

    # -- instances ---------------------------------------------------------------------

    def log_path(self, tenant: str, plugin: str, run: str | None = None) -> Path:
        return self.store.root / LOGS_DIR / tenant / plugin / f"{run or self.run_id}.log"

    async def launch(
        self, version: Version, tenant: str, *, run: str | None = None, log: Path | None = None
    ) -> Instance:
        """Start `version` for `tenant`, ready and healthy (StartError otherwise).

        Its output goes to `log`, else to the log of run `run` (default: this host's run).
        """
        instance = Instance(
            version,
            tenant,
            api_url=self.api_url,
            log_path=log or self.log_path(tenant, version.plugin, run),
            environ=self.environ,
        )
        self.tokens[instance.token] = Identity(tenant, version.plugin, instance)
        try:
            await instance.start()
        except BaseException:
            self.tokens.pop(instance.token, None)
            raise
        return instance

    def forget(self, instance: Instance) -> None:
        """A stopped instance's token opens nothing any more."""
        self.tokens.pop(instance.token, None)

    def slot(self, tenant: str, plugin: str) -> Slot:
        key = (tenant, plugin)
        if key not in self.slots:
            self.slots[key] = Slot(
                tenant,
                plugin,
                lambda version, tenant, log: self.launch(version, tenant, log=log),
                max_restarts=self.max_restarts,
                on_stopped=self.forget,
                say=self.say,
            )
        return self.slots[key]

    async def deploy(self, tenant: str, version: Version, *, run: str | None = None) -> Instance:
        """Start `version` beside the live one and swap it in once healthy.

        Raises StartError when the tenant disabled the plugin (its instance is stopped),
        did not grant what it declares, or when it does not come up; the live instance (if
        any) then keeps serving.
        """
        if not self.tenant_store.load(tenant).enabled(version.plugin):
            detail = await self.disable(tenant, version.plugin)
            raise StartError("disabled", detail)
        slot = self.slot(tenant, version.plugin)
        refusal = missing_grants(version, self.tenant_store, tenant, self.store.root)
        if refusal is not None:
            if slot.serving is None:
                slot.refuse(refusal)
            raise StartError("permissions", refusal)
        candidate = await self.launch(version, tenant, run=run)
        await slot.swap(candidate)
        return candidate

    async def disable(self, tenant: str, plugin: str) -> str:
        """Stop the plugin's instance for `tenant` (if any) and mark its slot disabled."""
        detail = disabled_detail(plugin, tenant, self.store.root)
        old = self.slots.get((tenant, plugin))
        if old is not None and old.state == "disabled":
            return detail
        if old is not None:
            await old.close()  # a closed slot restarts nothing: a new one waits for enable
        self.say(f"  {tenant}/{plugin}: disabled for this tenant, not running")
        self.slots.pop((tenant, plugin), None)
        slot = self.slot(tenant, plugin)
        slot.state, slot.detail = "disabled", detail
        return detail

    # -- the store ---------------------------------------------------------------------

    def active_versions(self) -> dict[str, Version]:
        """Every active plugin of the store that can run (has a serve block)."""
        found: dict[str, Version] = {}
        for name in self.store.active_names():
            folder = self.store.active_target(name)
            if folder is None:
                continue
            try:
                version = read_version(self.store, name, folder)
            except PowerXError as error:
                self.say(f"! {name}: cannot read the active version: {error.message}")
                continue
            if version is not None and version.manifest.serve is not None:
                found[name] = version
        return found

    async def start(self) -> None:
        """Start every runnable active plugin for every tenant (failures are reported)."""
        for tenant in self.tenants:
            self.tenant_store.load(tenant)  # an unknown tenant is an input error
        self.versions = self.active_versions()
        await self._start_all(self.versions)

    async def _start_all(self, versions: dict[str, Version]) -> None:
        jobs = [
            self._start_one(tenant, version)
            for tenant in self.tenants
            for version in versions.values()
        ]
        await asyncio.gather(*jobs)

    async def _start_one(self, tenant: str, version: Version) -> None:
        try:
            await self.deploy(tenant, version)
        except StartError as error:
            if error.step == "disabled":
                return
            slot = self.slot(tenant, version.plugin)
            live = slot.serving
            if live is not None:  # the old version goes on serving: say so, not "failed"
                slot.detail = (
                    f"{version.revision} did not start ({error}); still serving "
                    f"{live.version.revision}"
                )
            elif slot.state != "refused":
                slot.state, slot.detail = "failed", str(error)
            self.say(f"! {tenant}/{version.plugin} {version.revision}: {error}")
        except PowerXError as error:  # e.g. a tenant.yaml broken by a hand edit: not fatal
            slot = self.slot(tenant, version.plugin)
            if slot.serving is None and slot.state != "refused":  # refused: retried on a fix
                slot.state, slot.detail = "failed", error.diagnostics()
            self.say(f"! {tenant}/{version.plugin} {version.revision}: {error.diagnostics()}")
        else:
            self.say(f"  {tenant}/{version.plugin} {version.revision}: running")

    async def refresh(self) -> None:
        """Follow the store: start what became active, swap what changed, stop what left."""
        now = self.active_versions()
        changed = {
            name: version
            for name, version in now.items()
            if name not in self.versions or self.versions[name].folder != version.folder
        }
        gone = [name for name in self.versions if name not in now]
        self.versions = now
        # tenant.yaml may have disabled a plugin, enabled it again or granted what it lacked
        retry = [
            self._start_one(tenant, now[plugin])
            for (tenant, plugin), slot in list(self.slots.items())
            if plugin in now and plugin not in changed and self._to_retry(tenant, plugin, slot)
        ]
        await asyncio.gather(self._start_all(changed), *retry)
        for name in gone:
            for tenant in self.tenants:
                slot = self.slots.pop((tenant, name), None)
                if slot is not None:
                    await slot.close()
                    self.say(f"  {tenant}/{name}: no longer active, stopped")

    def _to_retry(self, tenant: str, plugin: str, slot: Slot) -> bool:
        """Whether a slot must be looked at again after a tenant.yaml change."""
        if slot.state in ("refused", "disabled"):
            return True
        try:
            return not self.tenant_store.load(tenant).enabled(plugin)
        except PowerXError:
            return False  # a broken tenant.yaml: the running instance goes on

    async def follow(self, stop: asyncio.Event) -> None:
        """Refresh whenever the store's active links or a tenant.yaml change, until `stop`."""
        from watchfiles import Change, awatch

        active = self.store.active_dir
        active.mkdir(parents=True, exist_ok=True)
        self.tenant_store.tenants_dir.mkdir(parents=True, exist_ok=True)

        def followed(change: Change, path: str) -> bool:
            changed = Path(path)
            return changed.parent == active or changed.name == SETTINGS_FILE

        async for _changes in awatch(
            active,
            self.tenant_store.tenants_dir,
            stop_event=stop,
            debounce=200,
            watch_filter=followed,
        ):
            await self.refresh()

    async def close(self) -> None:
        """Stop every instance (the store stays as it is)."""
        await asyncio.gather(*(slot.close() for slot in self.slots.values()))

    def identify(self, token: str) -> Identity | None:
        """The instance a host-API token belongs to (None: unknown or stopped)."""
        return self.tokens.get(token)


def require_tenants(tenants: TenantStore, wanted: list[str]) -> list[str]:
    """The tenants to serve: those asked for (each must exist), else all, else none."""
    if wanted:
        for tenant in wanted:
            tenants.load(tenant)
        return wanted
    names = tenants.names()
    if not names:
        raise InputError(
            f"the plugin store {tenants.root} has no tenant yet",
            hint="install a plugin for one (powerx plugin install --from DIR --tenant T), "
            "or create one with powerx plugin grant",
        )
    return names

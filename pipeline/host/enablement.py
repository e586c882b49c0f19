"""Enable or disable an installed plugin for one tenant of the local host.

The switch is the tenant's own setting: `disabled:` in `tenants/<tenant>/tenant.yaml`
(`TenantSettings.disabled`), written atomically with the file's comments kept. The plugin
stays installed and active in the store (other tenants keep running it); a running host
follows the file: it stops a disabled plugin's instance for that tenant, answers its proxy
path with 503 "disabled" and the command that enables it, and starts it again once enabled.
`powerx plugin enable|disable --tenant` and the console's enable/disable actions call
`plan_enabled` (what would change, nothing written) and `set_enabled` (do it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.agent.store import PluginStore
from pipeline.host.tenants import TenantStore, check_tenant_name
from pipeline.names import require_name


@dataclass(frozen=True)
class EnableRequest:
    """Enable (`enabled`) or disable `plugin` for `tenant` in the plugin store `store`."""

    store: Path
    tenant: str
    plugin: str
    enabled: bool


@dataclass(frozen=True)
class EnableResult:
    """Whether `plugin` is now (or would be) enabled for `tenant`, and whether that changed."""

    tenant: str
    plugin: str
    enabled: bool
    changed: bool


def enable_command(plugin: str, tenant: str, store: Path, *, enabled: bool = True) -> str:
    """The command that enables (or disables) `plugin` for `tenant`."""
    verb = "enable" if enabled else "disable"
    return f"powerx plugin {verb} {plugin} --tenant {tenant} --plugin-store {store}"


def installed_plugins(store: Path) -> list[str]:
    """The plugins a tenant of the store's host can run: those active in the store."""
    return PluginStore(store).active_names()


def plan_enabled(request: EnableRequest) -> EnableResult:
    """What `set_enabled` would do; nothing is written.

    InputError ("did you mean") for a tenant or a plugin the store does not have.
    """
    tenants = TenantStore(request.store)
    settings = tenants.load(check_tenant_name(request.tenant))
    require_name(
        "plugin",
        request.plugin,
        installed_plugins(request.store),
        where=f"installed in the plugin store {request.store}",
        hint=f"install it first: powerx plugin install --from DIR --tenant {request.tenant} "
        f"--plugin-store {request.store}",
    )
    changed = settings.enabled(request.plugin) != request.enabled
    return EnableResult(request.tenant, request.plugin, request.enabled, changed)


def set_enabled(request: EnableRequest) -> EnableResult:
    """Enable or disable the plugin for the tenant (one atomic write of its tenant.yaml).

    Nothing to change (already so): nothing is written, `changed` is False.
    """
    plan = plan_enabled(request)
    if not plan.changed:
        return plan
    changed = TenantStore(request.store).set_disabled(
        request.tenant, request.plugin, not request.enabled
    )
    return EnableResult(request.tenant, request.plugin, request.enabled, changed)

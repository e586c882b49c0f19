"""The console's actions on the local host's plugin store: install, enable, disable.

Each calls the library function its CLI command calls: `install` that of `powerx plugin
install --from` (`pipeline.host.install`), `enable` and `disable` those of `powerx plugin
enable|disable --tenant` (`pipeline.host.enablement`). A preview says what would change
and writes nothing. A running host follows the store and the tenant's file by itself.
Parameters: `tenant` and `path` (install; `grant=1` also grants what the plugin declares,
as `--grant-declared`), `tenant` and `plugin` (enable, disable).
"""

from __future__ import annotations

from pathlib import Path

from pipeline.errors import InputError
from pipeline.host.enablement import EnableRequest, EnableResult, plan_enabled, set_enabled
from pipeline.web.local import NO_STORE_HINT
from pipeline.web.views import LOCAL_SCOPE, Action, Data, Params, Source

ROLE = "developer"


def store_of(source: Source) -> Path:
    """The console's plugin store (InputError when it was started without one)."""
    if source.store is None:
        raise InputError("the console has no plugin store to act on", hint=NO_STORE_HINT)
    return source.store


def required(params: Params, name: str, hint: str) -> str:
    """A parameter the action cannot do without."""
    value = params.text(name)
    if value is None:
        raise InputError(f"the action needs {name}", hint=hint)
    return value


def plugin_folder(source: Source, params: Params) -> Path:
    """The `path` parameter: an existing folder under one of the console's install roots
    (`powerx serve --allow-install-from`), absolute (the console's working directory means
    nothing to the person at the browser)."""
    from pipeline.web.actions import confine

    raw = required(params, "path", "give the plugin's folder (with plugin.yaml) as path")
    path = confine(raw, source.install_roots)
    if not path.is_dir():
        raise InputError(
            f"path {raw!r} is not a folder", hint="give the plugin's folder (with plugin.yaml)"
        )
    return path


def granting(params: Params) -> bool:
    return params.text("grant") in ("1", "true", "on", "yes")


def install_preview(source: Source, params: Params) -> Data:
    """What installing `path` for `tenant` would do: plugin, version, permissions, tenant."""
    from pipeline.agent.store import PluginStore
    from pipeline.host.install import locate
    from pipeline.host.tenants import TenantStore, check_tenant_name
    from pipeline.packaging.manifest import read_manifest

    store = store_of(source)
    tenant = check_tenant_name(params.text("tenant") or "dev")
    folder, may_build = locate(plugin_folder(source, params))
    manifest = read_manifest(folder).manifest
    tenants = TenantStore(store)
    granted = tenants.load(tenant).granted(manifest.name) if tenants.exists(tenant) else set()
    declared = list(manifest.permissions)
    missing = [p for p in declared if p not in granted]
    grant = granting(params)
    if missing and not grant:
        outcome = (
            f"refused at step 'permissions': tenant {tenant!r} has not granted "
            f"{', '.join(missing)} (grant them, or install with grant=1)"
        )
    else:
        outcome = f"{manifest.name} {manifest.version} becomes active in {store}"
    target = PluginStore(store).active_target(manifest.name) if store.is_dir() else None
    active = target.name if target is not None else None  # <version>-<digest prefix>
    changes = [
        {
            "path": f"{store}/active/{manifest.name}",
            "before": active,
            "after": f"{manifest.version} (from {folder})",
        }
    ]
    if grant and missing:
        changes.append(
            {
                "path": f"{store}/tenants/{tenant}/tenant.yaml",
                "before": ", ".join(sorted(granted)) or None,
                "after": "grants " + ", ".join(declared),
            }
        )
    return {
        "summary": (
            f"Install {manifest.name} {manifest.version} from {folder} for tenant {tenant}"
            + (" (built first)" if may_build else "")
        ),
        "changes": changes,
        "notes": [
            "declares " + (", ".join(declared) if declared else "no permission"),
            "a running host starts it (or swaps it in) once it is active",
        ],
        "blocked": outcome if missing and not grant else None,
        "action": "install",
        "store": str(store),
        "tenant": tenant,
        "tenantExists": tenants.exists(tenant),
        "path": str(folder),
        "builds": may_build,
        "plugin": manifest.name,
        "version": manifest.version,
        "declared": declared,
        "granted": sorted(granted),
        "missing": missing,
        "grant": grant,
        "outcome": outcome,
    }


def install_apply(source: Source, params: Params, operator: str) -> Data:
    """Install and activate the plugin in `path` for `tenant` (as `powerx plugin install`)."""
    from pipeline.agent.store import PluginStore
    from pipeline.host.install import InstallRequest, install

    store = store_of(source)
    tenant = params.text("tenant") or "dev"
    request = InstallRequest(
        plugin_folder(source, params), PluginStore(store), tenant, grant_declared=granting(params)
    )
    result = install(request)
    version = result.version
    return {
        "action": "install",
        "operator": operator,
        "store": str(store),
        "tenant": tenant,
        "plugin": version.plugin,
        "version": version.version,
        "digest": f"sha256:{version.digest}",
        "revision": version.revision,
        "previous": result.previous,
        "health": result.health,
        "detail": f"/local/{tenant}/{version.plugin}",
    }


def switch_request(source: Source, params: Params, enabled: bool) -> EnableRequest:
    """The enable/disable request of `tenant` and `plugin`."""
    tenant = required(params, "tenant", "give the tenant of the local host")
    plugin = required(params, "plugin", "give the plugin's name")
    return EnableRequest(store_of(source), tenant, plugin, enabled)


def result_data(result: EnableResult, operator: str | None) -> Data:
    """An enable/disable result as data: what changes (or, with an operator, changed)."""
    verb = "enable" if result.enabled else "disable"
    word = "enabled" if result.enabled else "disabled"
    if not result.changed:
        outcome = f"{result.plugin} is already {word} for tenant {result.tenant}: no change"
    elif operator is None:
        follows = "start" if result.enabled else "stop"
        outcome = (
            f"{result.plugin} would be {word} for tenant {result.tenant} "
            f"(a running host would {follows} it)"
        )
    else:
        follows = "starts" if result.enabled else "stops"
        outcome = f"{result.plugin} {word} for tenant {result.tenant}; a running host {follows} it"
    data: Data = {
        "summary": outcome,
        "changes": [
            {
                "path": f"tenants/{result.tenant}/tenant.yaml (disabled)",
                "before": ("disabled" if result.enabled else "enabled") if result.changed else word,
                "after": word,
            }
        ],
        "action": verb,
        "tenant": result.tenant,
        "plugin": result.plugin,
        "enabled": result.enabled,
        "changed": result.changed,
        "outcome": outcome,
        "detail": f"/local/{result.tenant}/{result.plugin}",
    }
    if operator is not None:
        data["operator"] = operator
    return data


def enable_preview(source: Source, params: Params) -> Data:
    return result_data(plan_enabled(switch_request(source, params, True)), None)


def enable_apply(source: Source, params: Params, operator: str) -> Data:
    return result_data(set_enabled(switch_request(source, params, True)), operator)


def disable_preview(source: Source, params: Params) -> Data:
    return result_data(plan_enabled(switch_request(source, params, False)), None)


def disable_apply(source: Source, params: Params, operator: str) -> Data:
    return result_data(set_enabled(switch_request(source, params, False)), operator)


def local_scope(params: Params) -> str:
    return LOCAL_SCOPE


ACTIONS: list[Action] = [
    Action(
        "install",
        "/actions/install",
        "Install from Local Directory",
        ROLE,
        local_scope,
        install_preview,
        install_apply,
    ),
    Action("enable", "/actions/enable", "Enable", ROLE, local_scope, enable_preview, enable_apply),
    Action(
        "disable", "/actions/disable", "Disable", ROLE, local_scope, disable_preview, disable_apply
    ),
]
"""The local host's actions (registered by the console's action machinery)."""

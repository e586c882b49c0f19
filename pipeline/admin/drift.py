"""`px-admin drift`: what git says an environment should run against what a site reports.

A site reports through the agent's status file (`<store>/status.json`, `AgentStatus`), or
through its whole plugin store (the status file, the active links that are the truth about
what runs, and the tenants' `disabled:` lists of the local host). Git's side is the
environment the status names, at a revision of the release repo, resolved for the site's
tenant (canaries included) by the agent's own rule (`canary.assignment`).

Every plugin that differs is one `DriftItem` with its cause:

- `not-synced`: git asks for another version (or enabled state) than the last sync
  applied, or names a plugin the site never synced;
- `unknown-plugin`: the site runs a plugin git does not name in that environment;
- `health-failed`: the desired version failed its health check (rolled back, inactive);
- `install-failed`: the desired version could not be installed (artifact missing, damaged);
- `unlicensed`: inactive, its licence needs an entitlement the tenant lacks;
- `ungranted`: it declares permissions a tenant has not granted in git: inactive (a site
  synced for that tenant), or not started for that tenant by the host (`drift_grants`);
- `disabled-by-hand`: inactive though git and the last sync enabled it (active link
  removed, or disabled for a tenant in the host's tenant.yaml);
- `enabled-by-hand`: active though git disables it;
- `changed-by-hand`: the active link points at another version than the last sync set;
- `unknown-tenant`: the site syncs for a tenant the environment no longer serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline import layout
from pipeline.admin.drift_grants import host_refusal
from pipeline.admin.drift_model import (
    DriftItem,
    DriftReport,
    SiteReport,
    Wanted,
)
from pipeline.agent.store import PluginStore
from pipeline.canary.assignment import version_for_tenant
from pipeline.errors import InputError
from pipeline.host.tenants import TenantStore
from pipeline.market.catalog_read import read_model
from pipeline.models.agent import AgentStatus, PluginStatus
from pipeline.models.environment import Environment, PluginState
from pipeline.names import deployed_plugins, require_environment
from pipeline.snapshot import Snapshot


@dataclass(frozen=True)
class Site:
    """A site's report: its status, and its store when the whole store was given."""

    source: str
    status: AgentStatus
    store: PluginStore | None = None


def site_from_status(path: Path) -> Site:
    """A site known by its status file only."""
    from pipeline.agent.store import MAX_STATUS_BYTES
    from pipeline.jsonio import read_json_model

    status = read_json_model(
        path,
        AgentStatus,
        max_bytes=MAX_STATUS_BYTES,
        what="the agent's status file",
        hint="name the status.json a 'powerx agent sync' wrote",
    )
    if status is None:
        raise InputError(f"{path} does not exist", hint="name an agent's status.json")
    return Site(str(path), status)


def site_from_store(root: Path) -> Site:
    """A site known by its whole plugin store (status file, active links, tenants)."""
    store = PluginStore(root)
    if not store.root.is_dir():
        raise InputError(f"{root} does not exist", hint="name a plugin store folder")
    status = store.read_status()
    if status is None:
        raise InputError(
            f"{store.root} has no status file: it was never synced",
            hint="run 'powerx agent sync --env-dir DIR --plugin-store DIR' there first",
        )
    return Site(str(store.root), status, store)


def drift(snapshot: Snapshot, sites: list[Site], env: str | None = None) -> DriftReport:
    """Compare each site with its environment in git; InputError for an unknown
    environment, or a site of another environment than `env`."""
    if not sites:
        raise InputError(
            "name what a site reports: --status FILE or --plugin-store DIR",
            hint="e.g. px-admin drift --env prod --status /var/lib/powerx/store/status.json",
        )
    reports = []
    for site in sites:
        named = site.status.environment
        if env is not None and named != env:
            raise InputError(
                f"{site.source} reports environment {named}, not {env}",
                hint=f"drop --env, or name a site of {env}",
            )
        require_environment(snapshot, named)
        reports.append(compare_site(snapshot, site))
    return DriftReport(snapshot.short_id, tuple(reports))


def git_wanted(
    snapshot: Snapshot, environment: Environment, tenant: str | None
) -> dict[str, Wanted]:
    """plugin -> what git says the site of `tenant` (None: any, the stable) should run."""
    wanted: dict[str, Wanted] = {}
    for name in sorted(deployed_plugins(snapshot, environment.name)):
        state = read_model(snapshot, layout.plugin_state_path(environment.name, name), PluginState)
        if state is None:
            continue
        if tenant is None:
            version, digest = state.version, state.digest
        else:
            version, digest = version_for_tenant(state, tenant, environment)
        wanted[name] = Wanted(version, digest, state.enabled)
    return wanted


def compare_site(snapshot: Snapshot, site: Site) -> SiteReport:
    """Every plugin of git or the site that differs, with its cause."""
    status = site.status
    loaded = snapshot.environment(status.environment)
    assert loaded is not None  # require_environment found its file
    environment = loaded.model
    items: list[DriftItem] = []
    tenant = status.tenant
    if tenant is not None and tenant not in {t.id for t in environment.tenants}:
        items.append(
            DriftItem(
                None,
                "unknown-tenant",
                f"the site syncs for tenant {tenant}, which environment {environment.name} "
                "no longer serves: point its agent at a tenant of the environment",
            )
        )
        tenant = None  # compare with the stable versions
    wanted = git_wanted(snapshot, environment, tenant)
    active = set(site.store.active_names()) if site.store is not None else set()
    disabled = _tenant_disabled(site, environment)
    for name in sorted(set(wanted) | set(status.plugins) | active):
        item = _plugin_drift(site, name, wanted.get(name), status.plugins.get(name), disabled)
        want = wanted.get(name)
        if (
            item is None
            and site.store is not None
            and status.tenant is None
            and want
            and want.enabled
        ):
            refusal = host_refusal(site.store, environment, name)
            if refusal is not None:
                item = DriftItem(name, "ungranted", refusal, want.version, want.version)
        if item is not None:
            items.append(item)
    return SiteReport(
        site.source, status.environment, status.tenant, status.last_sync, tuple(items)
    )


def _tenant_disabled(site: Site, environment: Environment) -> dict[str, list[str]]:
    """plugin -> the tenants of the environment whose local-host settings disable it."""
    if site.store is None:
        return {}
    tenants = TenantStore(site.store.root)
    served = [t.id for t in environment.tenants]
    if site.status.tenant is not None:
        served = [t for t in served if t == site.status.tenant]
    found: dict[str, list[str]] = {}
    for tenant in tenants.names():
        if tenant in served:
            for plugin in tenants.load(tenant).disabled:
                found.setdefault(plugin, []).append(tenant)
    return found


def _plugin_drift(
    site: Site,
    name: str,
    wanted: Wanted | None,
    entry: PluginStatus | None,
    disabled: dict[str, list[str]],
) -> DriftItem | None:
    """The drift of one plugin (None: git and the site agree)."""
    store = site.store
    observed = entry.observed_version if entry else None
    link = store.active_target(name) if store is not None else None
    if store is not None and link is not None and (entry is None or observed is None):
        found = store.identify(name, link)
        observed = found[0] if found else link.name
    env = site.status.environment
    synced = site.status.last_sync.isoformat(timespec="seconds")
    if wanted is None:
        if observed is None:
            return None  # known to the site, not running, and git no longer names it
        return DriftItem(
            name,
            "unknown-plugin",
            f"the site runs {name} {observed}, which git does not name in {env} (removed "
            "since the last sync, or installed by hand): the next sync deactivates it",
            None,
            observed,
        )
    desired = wanted.version
    if entry is None:
        return DriftItem(
            name,
            "not-synced",
            f"git names {name} {desired} in {env}; the site's last sync ({synced}) did not: "
            "not yet synced",
            desired,
            observed,
        )
    applied = Wanted(entry.desired_version, entry.desired_digest, entry.enabled)
    if applied != wanted:
        same = applied.version == wanted.version and applied.digest != wanted.digest
        return DriftItem(
            name,
            "not-synced",
            f"git asks for {_state(wanted, same)}; the last sync ({synced}) applied "
            f"{_state(applied, same)}: not yet synced",
            desired,
            observed,
        )
    item = _from_last_action(name, entry, desired, observed)
    if item is not None:
        return item
    if store is not None:
        item = _by_hand(store, name, link, wanted, entry, desired, observed)
        if item is not None:
            return item
    if wanted.enabled and name in disabled:
        tenants = ", ".join(disabled[name])
        return DriftItem(
            name,
            "disabled-by-hand",
            f"disabled on the host for tenant(s) {tenants} (tenant.yaml 'disabled:'), though "
            f"git enables it: powerx plugin enable {name} --tenant TENANT --plugin-store "
            f"{store.root if store else 'DIR'}",
            desired,
            observed,
        )
    return None


def _from_last_action(
    name: str, entry: PluginStatus, desired: str, observed: str | None
) -> DriftItem | None:
    """The drift the last sync itself reported (refused, unhealthy, not installed)."""
    error = entry.last_error or entry.last_action
    if entry.last_action in ("ungranted", "unlicensed"):
        return DriftItem(name, entry.last_action, error, desired, observed)
    if entry.last_action == "rolled-back" or (
        entry.last_action == "failed" and entry.healthy is False
    ):
        return DriftItem(name, "health-failed", error, desired, observed)
    if entry.last_action == "failed":
        return DriftItem(name, "install-failed", error, desired, observed)
    if entry.enabled and entry.healthy is False:
        return DriftItem(name, "health-failed", error, desired, observed)
    return None


def _by_hand(
    store: PluginStore,
    name: str,
    link: Path | None,
    wanted: Wanted,
    entry: PluginStatus,
    desired: str,
    observed: str | None,
) -> DriftItem | None:
    """What the active link (`link`: where it points) shows that the last sync did not do."""
    recorded = (
        store.version_dir(name, entry.observed_version, entry.observed_digest)
        if entry.observed_version and entry.observed_digest
        else None
    )
    if link == recorded:
        return None
    if link is None:
        return DriftItem(
            name,
            "disabled-by-hand",
            f"{name} {entry.observed_version} was activated by the last sync, but its active "
            f"link {store.active_link(name)} is gone (removed by hand): the next sync restores it",
            desired,
            None,
        )
    if not wanted.enabled:
        return DriftItem(
            name,
            "enabled-by-hand",
            f"git disables {name}, but the site runs it (active link set by hand): the next "
            "sync deactivates it",
            desired,
            observed,
        )
    found = store.identify(name, link)
    return DriftItem(
        name,
        "changed-by-hand",
        f"the active link points at {link.name}, not the {entry.observed_version} the last sync "
        "activated (changed by hand): the next sync switches it back",
        desired,
        found[0] if found else link.name,
    )


def _state(wanted: Wanted, with_digest: bool) -> str:
    """A desired state for messages: version, artifact when asked, disabled."""
    text = wanted.version + (f" (sha256:{wanted.digest[:12]})" if with_digest else "")
    return text + ("" if wanted.enabled else " (disabled)")

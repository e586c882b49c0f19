"""Grants at activation: a plugin runs for a tenant only within what the tenant granted it.

`missing_permissions` is the one rule ("declared minus granted"), asked by the agent here
and by the local host (`pipeline.host.host.missing_grants`). The grants come from git:
`tenants[].grants` of `environments/<env>/environment.yaml` (`px-admin grant`). A sync
carries them into the plugin store's `tenants/<tenant>/tenant.yaml` (`carry_grants`), so
the host that runs the store enforces the same grants per tenant; a sync for one tenant
(`--tenant`) also refuses to activate a plugin that declares more than that tenant granted
(`ungranted_reason`): fail closed, a tenant with no grants runs only plugins that declare
no permission.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pipeline.models.environment import Environment


def missing_permissions(declared: Iterable[str], granted: Iterable[str]) -> tuple[str, ...]:
    """What a plugin declares that the tenant has not granted, in plugin.yaml's order."""
    allowed = frozenset(granted)
    return tuple(dict.fromkeys(p for p in declared if p not in allowed))


def admin_grant_command(
    env: str, tenant: str, plugin: str, permissions: Iterable[str], verb: str = "grant"
) -> str:
    """The `px-admin` command that grants (or, with `verb="revoke"`, revokes) `permissions`
    to `plugin` for `tenant` in git."""
    return f"px-admin {verb} {tenant} {plugin} {' '.join(permissions)} --env {env}"


def tenant_grants(environment: Environment, tenant: str) -> dict[str, list[str]]:
    """plugin -> the permissions `tenant` granted it in the environment (none: empty)."""
    for entry in environment.tenants:
        if entry.id == tenant:
            return {plugin: list(perms) for plugin, perms in entry.grants.items()}
    return {}


def ungranted_reason(
    environment: Environment, tenant: str, plugin: str, declared: Iterable[str]
) -> str | None:
    """Why `plugin` may not be active for `tenant` (None: the grant covers what it declares),
    naming the missing permissions and the command that grants them."""
    granted = tenant_grants(environment, tenant).get(plugin, [])
    missing = missing_permissions(declared, granted)
    if not missing:
        return None
    names = ", ".join(repr(p) for p in missing)
    return (
        f"{plugin} declares {names}, which tenant {tenant!r} has not granted in environment "
        f"{environment.name!r}; not activated (files kept); grant it with: "
        f"{admin_grant_command(environment.name, tenant, plugin, missing)}"
    )


def carry_grants(store_root: Path, environment: Environment, tenant: str | None) -> list[str]:
    """Write git's grants into the store's tenant settings: of `tenant`, or (None) of every
    tenant of the environment. The tenants whose tenant.yaml was written."""
    from pipeline.host.tenants import TenantStore  # the store's tenant files (no host code)

    tenants = TenantStore(store_root)
    written = []
    for entry in environment.tenants:
        if tenant is not None and entry.id != tenant:
            continue
        grants = {plugin: list(perms) for plugin, perms in entry.grants.items()}
        title = entry.name or ""
        if tenants.replace_grants(
            entry.id, grants, environment=environment.name, display_name=title
        ):
            written.append(entry.id)
    return written

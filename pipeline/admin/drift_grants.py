"""Drift the host makes per tenant: an active plugin it refuses to start for a tenant of the
environment whose grant in git lacks what the plugin declares (`agent.grants`' rule).

A store synced for one tenant reports this itself (the agent keeps the plugin inactive,
`ungranted`); a store synced for every tenant activates the plugin and leaves the refusal
to the host, tenant by tenant, so `px-admin drift --plugin-store` looks for it here.
"""

from __future__ import annotations

from pipeline.agent.grants import admin_grant_command, missing_permissions, tenant_grants
from pipeline.agent.install import read_installed_manifest
from pipeline.agent.store import PluginStore
from pipeline.errors import InputError
from pipeline.models.environment import Environment


def host_refusal(store: PluginStore, environment: Environment, plugin: str) -> str | None:
    """Why the host does not run the active `plugin` for some tenants (None: it runs it for
    every tenant, or it is not active), with the commands that grant what is missing."""
    link = store.active_target(plugin)
    if link is None:
        return None
    try:
        declared = read_installed_manifest(link).permissions
    except InputError:
        return None  # an unreadable version: the host reports it as it starts
    refused = []
    commands = []
    for tenant in environment.tenants:
        granted = tenant_grants(environment, tenant.id).get(plugin, [])
        missing = missing_permissions(declared, granted)
        if missing:
            refused.append(f"{tenant.id} (missing {', '.join(missing)})")
            commands.append(admin_grant_command(environment.name, tenant.id, plugin, missing))
    if not refused:
        return None
    return (
        f"{plugin} is enabled in {environment.name}, but tenant(s) {'; '.join(refused)} "
        "did not grant all it declares: the host does not start it for them; grant it "
        f"with: {'; '.join(commands)}"
    )

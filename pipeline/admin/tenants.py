"""`px-admin tenant add|remove` and `px-admin group add|remove|assign`: edits of
environment.yaml (see `pipeline.admin.plan` for how each one lands).

A tenant with grants (plugins active for it) or entitlements is only removed with
`offboard`, which revokes them in the same commit and says so.
"""

from __future__ import annotations

from collections.abc import Sequence

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from pipeline.admin.plan import AdminEdit, Editor
from pipeline.admin.state import entitlement_records, environment_names
from pipeline.admin.yamledit import EnvironmentFile, require_new_name
from pipeline.errors import InputError
from pipeline.names import deployed_plugins, unknown_name
from pipeline.snapshot import Snapshot


def add_tenant(env: str, tenant: str, name: str | None, groups: Sequence[str] = ()) -> Editor:
    """Add `tenant` to `env` (and to existing `groups` of it)."""
    require_new_name("tenant", tenant)

    def edit(snapshot: Snapshot) -> AdminEdit:
        file = EnvironmentFile.read(snapshot, env)
        if tenant in file.tenant_ids():
            index = file.tenant_index(tenant)
            raise InputError(
                f"tenant {tenant!r} already exists in environment {env}",
                location=file.loaded.locate("tenants", index, "id"),
                hint="choose another id, or edit the tenant that is there",
            )
        for group in groups:
            file.group(group)
        entry = CommentedMap([("id", tenant)])
        if name:
            entry["name"] = name
        file.tenants().append(entry)
        for group in groups:
            file.group(group).append(tenant)
        notes = tuple(f"member of group {group}" for group in groups)
        return AdminEdit(
            "tenant-add",
            (env,),
            f"Add tenant {tenant} to {env}",
            {file.path: file.content()},
            notes,
            extra={"Tenant": tenant},
        )

    return edit


def remove_tenant(env: str, tenant: str, *, offboard: bool = False) -> Editor:
    """Remove `tenant` from `env`; refused while it has grants or entitlements unless
    `offboard` (which revokes them first, in the same commit)."""

    def edit(snapshot: Snapshot) -> AdminEdit:
        file = EnvironmentFile.read(snapshot, env)
        entry = file.tenant(tenant)
        grants = dict(entry.get("grants") or {})
        elsewhere = [
            other
            for other in environment_names(snapshot)
            if other != env
            and (found := snapshot.environment(other)) is not None
            and any(t.id == tenant for t in found.model.tenants)
        ]
        records = [] if elsewhere else entitlement_records(snapshot, tenant)
        granted = [f"plugin {plugin} (granted {', '.join(p)})" for plugin, p in grants.items()]
        held = [f"entitlement {record.path}" for record in records]
        active = granted + held
        if active and not offboard:
            raise InputError(
                f"tenant {tenant} of {env} still has {'; '.join(active)}",
                location=file.loaded.locate("tenants", file.tenant_index(tenant)),
                hint="revoke them first (px-admin revoke / px-admin entitlement revoke), "
                "or pass --offboard to revoke them in the same commit",
            )
        notes = [f"revoked the grant of {item}" for item in granted]
        notes += [f"revoked {item}" for item in held]
        for group in file.groups_of(tenant):
            file.group(group).remove(tenant)
            notes.append(f"removed from group {group}")
        file.tenants().remove(entry)
        if elsewhere:
            notes.append(
                f"its entitlements stay: tenant {tenant} is also in {', '.join(elsewhere)}"
            )
        changes: dict[str, bytes | None] = {file.path: file.content()}
        changes.update({record.path: None for record in records})
        return AdminEdit(
            "tenant-offboard" if active else "tenant-remove",
            (env,),
            f"{'Offboard' if active else 'Remove'} tenant {tenant} from {env}",
            changes,
            tuple(notes),
            extra={"Tenant": tenant},
        )

    return edit


def add_group(env: str, group: str, tenants: Sequence[str] = ()) -> Editor:
    """Create `group` in `env` with `tenants` as its members."""
    require_new_name("group", group)

    def edit(snapshot: Snapshot) -> AdminEdit:
        file = EnvironmentFile.read(snapshot, env)
        groups = file.groups()
        if group in groups:
            raise InputError(
                f"group {group!r} already exists in environment {env}",
                location=file.loaded.locate("groups", group),
                hint=f"add tenants to it with px-admin group assign {group} TENANT --env {env}",
            )
        for tenant in tenants:
            file.tenant(tenant)
        members = CommentedSeq(dict.fromkeys(tenants))
        members.fa.set_flow_style()
        groups[group] = members
        return AdminEdit(
            "group-add",
            (env,),
            f"Add group {group} to {env}",
            {file.path: file.content()},
            tuple(f"member: {tenant}" for tenant in dict.fromkeys(tenants)),
            extra={"Group": group},
        )

    return edit


def remove_group(env: str, group: str) -> Editor:
    """Remove `group` from `env`; refused while a canary rollout runs on it."""

    def edit(snapshot: Snapshot) -> AdminEdit:
        file = EnvironmentFile.read(snapshot, env)
        file.group(group)
        rollouts = _rollouts_on(snapshot, env, group)
        if rollouts:
            raise InputError(
                f"group {group} of {env} runs the canary of {', '.join(rollouts)}",
                location=file.loaded.locate("groups", group),
                hint="finish or roll back those rollouts first",
            )
        del file.groups()[group]
        return AdminEdit(
            "group-remove",
            (env,),
            f"Remove group {group} from {env}",
            {file.path: file.content()},
            extra={"Group": group},
        )

    return edit


def assign(env: str, group: str, tenants: Sequence[str], *, remove: bool = False) -> Editor:
    """Put `tenants` in `group` of `env` (or, with `remove`, take them out of it)."""
    if not tenants:
        raise InputError("name at least one TENANT to assign")

    def edit(snapshot: Snapshot) -> AdminEdit:
        file = EnvironmentFile.read(snapshot, env)
        members = file.group(group)
        for tenant in tenants:
            file.tenant(tenant)
            if remove and tenant not in members:
                raise unknown_name("member", tenant, list(members), where=f"of group {group}")
            if not remove and tenant in members:
                raise InputError(f"tenant {tenant} is already in group {group} of {env}")
        for tenant in dict.fromkeys(tenants):
            if remove:
                members.remove(tenant)
            else:
                members.append(tenant)
        verb = "Remove" if remove else "Assign"
        who = ", ".join(dict.fromkeys(tenants))
        return AdminEdit(
            "group-unassign" if remove else "group-assign",
            (env,),
            f"{verb} {who} {'from' if remove else 'to'} group {group} of {env}",
            {file.path: file.content()},
            extra={"Group": group, "Tenant": who},
        )

    return edit


def _rollouts_on(snapshot: Snapshot, env: str, group: str) -> list[str]:
    found = []
    for plugin in sorted(deployed_plugins(snapshot, env)):
        state = snapshot.plugin_state(env, plugin)
        if state is not None and state.model.canary and state.model.canary.group == group:
            found.append(plugin)
    return found

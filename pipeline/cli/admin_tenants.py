"""`px-admin tenant add|remove|list|show` and `px-admin group add|remove|assign`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from pipeline.cli.admin_common import (
    change_options,
    changing,
    echo_table,
    env_required,
    read_snapshot,
    reading,
    run_change,
)


@click.group()
def tenant() -> None:
    """Tenants of an environment (environment.yaml): one commit per change."""


@tenant.command("add")
@click.argument("tenant_id", metavar="TENANT")
@env_required
@click.option("--name", help="The tenant's display name (e.g. Acme Corporation).")
@click.option(
    "--group", "groups", multiple=True, metavar="GROUP", help="Also put it in GROUP (repeatable)."
)
@changing
def tenant_add(
    tenant_id: str, environment: str, name: str | None, groups: tuple[str, ...], **kw: Any
) -> int:
    """Add TENANT to --env ENV (a tenant already there is refused)."""
    from pipeline.admin.tenants import add_tenant

    options = change_options(kw)
    return run_change(add_tenant(environment, tenant_id, name, groups), options)


@tenant.command("remove")
@click.argument("tenant_id", metavar="TENANT")
@env_required
@click.option(
    "--offboard",
    is_flag=True,
    help="Revoke its grants and entitlements in the same commit (else they refuse it).",
)
@changing
def tenant_remove(tenant_id: str, environment: str, offboard: bool, **kw: Any) -> int:
    """Remove TENANT from --env ENV (and from its groups).

    Refused while plugins are granted to it or it holds entitlements, unless --offboard.
    """
    from pipeline.admin.tenants import remove_tenant

    options = change_options(kw)
    return run_change(remove_tenant(environment, tenant_id, offboard=offboard), options)


@tenant.command("list")
@click.option("--env", "environment", metavar="ENV", help="Only this environment.")
@reading
def tenant_list(environment: str | None, repo_dir: Path, branch: str, output_format: str) -> int:
    """Every tenant of every environment (or of --env ENV): groups and granted plugins."""
    from pipeline.admin.state import environment_names, environment_view

    snapshot = read_snapshot(repo_dir, branch)
    envs = [environment] if environment else environment_names(snapshot)
    rows: list[dict[str, Any]] = []
    for env in envs:
        if environment is None and snapshot.environment(env) is None:
            continue
        view = environment_view(snapshot, env)
        for item in view.tenants:
            rows.append(
                {
                    "environment": env,
                    "tenant": item.id,
                    "name": item.name,
                    "groups": view.groups_of(item.id),
                    "grants": {p: list(perms) for p, perms in item.grants.items()},
                }
            )
    if output_format == "json":
        click.echo(json.dumps({"tenants": rows}, indent=2))
        return 0
    if not rows:
        click.echo("no tenants (px-admin tenant add TENANT --env ENV)")
        return 0
    table = [("ENVIRONMENT", "TENANT", "NAME", "GROUPS", "GRANTED PLUGINS")]
    for row in rows:
        table.append(
            (
                row["environment"],
                row["tenant"],
                row["name"] or "-",
                ", ".join(row["groups"]) or "-",
                ", ".join(row["grants"]) or "-",
            )
        )
    echo_table(table)
    return 0


@tenant.command("show")
@click.argument("tenant_id", metavar="TENANT")
@click.option("--env", "environment", metavar="ENV", help="Only this environment.")
@reading
def tenant_show(
    tenant_id: str, environment: str | None, repo_dir: Path, branch: str, output_format: str
) -> int:
    """TENANT in each environment it is in: groups, grants and entitlements."""
    from pipeline.admin.entitlements import tenant_environments
    from pipeline.admin.state import entitlement_records, environment_view

    snapshot = read_snapshot(repo_dir, branch)
    envs = tenant_environments(snapshot, tenant_id, environment)
    shown: list[dict[str, Any]] = []
    for env in envs:
        view = environment_view(snapshot, env)
        found = view.tenant(tenant_id)
        assert found is not None
        shown.append(
            {
                "environment": env,
                "name": found.name,
                "groups": view.groups_of(tenant_id),
                "grants": {p: list(perms) for p, perms in found.grants.items()},
            }
        )
    records = entitlement_records(snapshot, tenant_id)
    entitlements: list[dict[str, Any]] = [
        {
            "file": r.path,
            "plugin": r.entitlement.plugin,
            "type": r.entitlement.type,
            "plan": r.entitlement.plan,
            "notAfter": r.entitlement.not_after.isoformat(),
        }
        for r in records
    ]
    if output_format == "json":
        data = {"tenant": tenant_id, "environments": shown, "entitlements": entitlements}
        click.echo(json.dumps(data, indent=2))
        return 0
    click.echo(f"tenant {tenant_id}")
    for item in shown:
        click.echo(f"  {item['environment']}: {item['name'] or '(no name)'}")
        click.echo(f"    groups: {', '.join(item['groups']) or '-'}")
        for plugin, perms in item["grants"].items():
            click.echo(f"    grant: {plugin}: {', '.join(perms) or '(none)'}")
    for entry in entitlements:
        plan = f" ({entry['plan']} plan)" if entry["plan"] else ""
        click.echo(
            f"  entitlement: {entry['plugin']} {entry['type']}{plan} until {entry['notAfter']}"
        )
    return 0


@click.group()
def group() -> None:
    """Tenant groups of an environment (e.g. a canary group): one commit per change."""


@group.command("add")
@click.argument("group_name", metavar="GROUP")
@click.argument("tenants", nargs=-1, metavar="[TENANT]...")
@env_required
@changing
def group_add(group_name: str, tenants: tuple[str, ...], environment: str, **kw: Any) -> int:
    """Create GROUP in --env ENV, with TENANTs as its members."""
    from pipeline.admin.tenants import add_group

    return run_change(add_group(environment, group_name, tenants), change_options(kw))


@group.command("remove")
@click.argument("group_name", metavar="GROUP")
@env_required
@changing
def group_remove(group_name: str, environment: str, **kw: Any) -> int:
    """Remove GROUP from --env ENV (refused while a canary rollout runs on it)."""
    from pipeline.admin.tenants import remove_group

    return run_change(remove_group(environment, group_name), change_options(kw))


@group.command("assign")
@click.argument("group_name", metavar="GROUP")
@click.argument("tenants", nargs=-1, required=True, metavar="TENANT...")
@env_required
@click.option("--remove", is_flag=True, help="Take the TENANTs out of GROUP instead.")
@changing
def group_assign(
    group_name: str, tenants: tuple[str, ...], environment: str, remove: bool, **kw: Any
) -> int:
    """Put TENANTs of --env ENV into GROUP (or take them out with --remove)."""
    from pipeline.admin.tenants import assign

    editor = assign(environment, group_name, tenants, remove=remove)
    return run_change(editor, change_options(kw))

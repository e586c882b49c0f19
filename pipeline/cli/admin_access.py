"""`px-admin grant|revoke`, `px-admin entitlement add|revoke|list`, `px-admin env create|list`."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
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
from pipeline.cli.options import registry_options, store_options
from pipeline.errors import InputError


@click.command("grant")
@click.argument("tenant")
@click.argument("plugin_and_permissions", nargs=-1, metavar="PLUGIN [PERMISSION]...")
@env_required
@click.option(
    "--from-template",
    "template",
    metavar="FILE",
    help="Grant what this least-privilege template lists (px-plugin permissions template: "
    "its YAML, or its --format json output).",
)
@click.option(
    "--store",
    envvar="POWERX_STORE",
    help="The artifact store: what PLUGIN's plugin.yaml declares is read from its package "
    "[$POWERX_STORE].",
)
@registry_options()
@changing
def grant(
    tenant: str,
    plugin_and_permissions: tuple[str, ...],
    environment: str,
    template: str | None,
    store: str | None,
    registry_credentials_env: str | None,
    ca_file: Path | None,
    **kw: Any,
) -> int:
    """Let PLUGIN use PERMISSIONs for TENANT in --env ENV.

    Only what PLUGIN's plugin.yaml declares (at the version ENV runs) can be granted:
    the package is read from --store.
    """
    from pipeline.admin.grants import grant as grant_editor
    from pipeline.admin.grants import read_template

    plugin, permissions = _plugin_and_permissions(plugin_and_permissions, template is not None)
    if template is not None:
        found = read_template(Path(template))
        if plugin is not None and found.plugin is not None and found.plugin != plugin:
            raise InputError(
                f"{template} is the template of {found.plugin}, not of {plugin}",
                hint="name the plugin the template was written for",
            )
        plugin = plugin or found.plugin
        if plugin is None:
            raise InputError(
                f"{template} does not say which plugin it is for: name PLUGIN",
                hint=f"px-admin grant {tenant} PLUGIN --from-template {template} --env ...",
            )
        permissions = found.permissions
    if not store:
        raise InputError(
            "a grant needs the artifact store: what the plugin declares is read from its package",
            hint="pass --store (or set $POWERX_STORE)",
        )
    assert plugin is not None
    editor = grant_editor(environment, tenant, plugin, permissions)
    options = store_options(registry_credentials_env, ca_file)
    return run_change(editor, change_options(kw), store=store, store_options=options)


def _plugin_and_permissions(
    args: tuple[str, ...], from_template: bool
) -> tuple[str | None, tuple[str, ...]]:
    if from_template:
        if len(args) > 1:
            raise InputError("with --from-template, name only TENANT [PLUGIN]: no PERMISSION")
        return (args[0] if args else None), ()
    if len(args) < 2:
        raise InputError(
            "name PLUGIN and at least one PERMISSION (or --from-template FILE)",
            hint="e.g. px-admin grant acme hello tenant-data:read --env prod",
        )
    return args[0], args[1:]


@click.command("revoke")
@click.argument("tenant")
@click.argument("plugin")
@click.argument("permissions", nargs=-1, metavar="[PERMISSION]...")
@env_required
@changing
def revoke(
    tenant: str, plugin: str, permissions: tuple[str, ...], environment: str, **kw: Any
) -> int:
    """Take PERMISSIONs (all, when none is named) back from PLUGIN for TENANT in --env ENV."""
    from pipeline.admin.grants import revoke as revoke_editor

    return run_change(revoke_editor(environment, tenant, plugin, permissions), change_options(kw))


@click.group()
def entitlement() -> None:
    """A tenant's licences (entitlements/<plugin>/<tenant>/): one commit per change."""


@entitlement.command("add")
@click.argument("tenant")
@click.argument("plugin")
@click.option("--plan", help="The plan bought (a purchase needs one).")
@click.option(
    "--until",
    type=click.DateTime(["%Y-%m-%d"]),
    required=True,
    help="The day the licence ends (YYYY-MM-DD, UTC); a day in the past is refused.",
)
@click.option("--trial", is_flag=True, help="A trial instead of a purchase.")
@click.option("--env", "environment", metavar="ENV", help="The environment TENANT is in.")
@changing
def entitlement_add(
    tenant: str,
    plugin: str,
    plan: str | None,
    until: datetime,
    trial: bool,
    environment: str | None,
    **kw: Any,
) -> int:
    """Entitle TENANT to PLUGIN under --plan until --until (replaces one of the same kind)."""
    from pipeline.admin.entitlements import EntitlementRequest, add_entitlement

    request = EntitlementRequest(
        tenant,
        plugin,
        expires=until.replace(tzinfo=UTC),
        now=datetime.now(UTC),
        plan=plan,
        kind="trial" if trial else "purchase",
        environment=environment,
    )
    return run_change(add_entitlement(request), change_options(kw))


@entitlement.command("revoke")
@click.argument("tenant")
@click.argument("plugin")
@click.option("--env", "environment", metavar="ENV", help="The environment TENANT is in.")
@click.option("--trial", is_flag=True, help="Only the trial (default: trial and purchase).")
@changing
def entitlement_revoke(
    tenant: str, plugin: str, environment: str | None, trial: bool, **kw: Any
) -> int:
    """Remove TENANT's entitlements to PLUGIN (its next sync deactivates a paid plugin)."""
    from pipeline.admin.entitlements import revoke_entitlement

    editor = revoke_entitlement(tenant, plugin, "trial" if trial else None, environment)
    return run_change(editor, change_options(kw))


@entitlement.command("list")
@click.option("--tenant", help="Only this tenant's (and the site-wide ones).")
@click.option("--plugin", help="Only this plugin's.")
@reading
def entitlement_list(
    tenant: str | None, plugin: str | None, repo_dir: Path, branch: str, output_format: str
) -> int:
    """Every entitlement of the repo: plugin, tenant, type, plan, end and state."""
    from pipeline.admin.entitlements import entitlement_rows

    rows = entitlement_rows(read_snapshot(repo_dir, branch), datetime.now(UTC), tenant, plugin)
    if output_format == "json":
        data = [{**asdict(row), "not_after": row.not_after.isoformat()} for row in rows]
        renamed = [{("notAfter" if k == "not_after" else k): v for k, v in d.items()} for d in data]
        click.echo(json.dumps({"entitlements": renamed}, indent=2))
        return 0
    if not rows:
        click.echo("no entitlements (px-admin entitlement add TENANT PLUGIN --plan P --until DAY)")
        return 0
    table = [("PLUGIN", "TENANT", "TYPE", "PLAN", "UNTIL", "STATE")]
    for row in rows:
        table.append(
            (
                row.plugin,
                row.tenant or "(site)",
                row.type,
                row.plan or "-",
                row.not_after.date().isoformat(),
                row.state,
            )
        )
    echo_table(table)
    return 0


@click.group("env")
def env() -> None:
    """Environments and the promotion order: one commit per change."""


@env.command("create")
@click.argument("name")
@click.option("--after", required=True, metavar="ENV", help="The environment NAME comes after.")
@click.option(
    "--from-template", "template", metavar="ENV", help="Start with ENV's tenants and groups."
)
@changing
def env_create(name: str, after: str, template: str | None, **kw: Any) -> int:
    """Create environment NAME right after --after ENV in the promotion order.

    Later environments' positions move up by one in the same commit.
    """
    from pipeline.admin.environments import create_environment

    return run_change(create_environment(name, after, template=template), change_options(kw))


@env.command("list")
@reading
def env_list(repo_dir: Path, branch: str, output_format: str) -> int:
    """Every environment in the promotion order: how promotions land, tenants, groups, plugins."""
    from pipeline.admin.environments import environment_rows

    rows = environment_rows(read_snapshot(repo_dir, branch))
    if output_format == "json":
        click.echo(json.dumps({"environments": [asdict(row) for row in rows]}, indent=2))
        return 0
    table = [("POSITION", "ENVIRONMENT", "LANDS BY", "TENANTS", "GROUPS", "PLUGINS")]
    for row in rows:
        position = "-" if row.position is None else str(row.position)
        groups = ", ".join(row.groups) or "-"
        table.append((position, row.name, row.via, str(row.tenants), groups, str(row.plugins)))
    echo_table(table)
    return 0

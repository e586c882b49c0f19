"""`powerx host` and `powerx plugin install|grant|revoke|secret|enable|disable`: the local
PowerX host (`enable`/`disable` with `--env` are a site's switch: `pipeline.cli.agent`)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from pipeline.cli.options import (
    PLUGIN_STORE_ENV,
    branch_option,
    format_option,
    listen_options,
    local_store_default,
    local_store_option,
    operator_option,
    plugin_store_option,
    push_option,
    repo_option,
)
from pipeline.cli.vocabulary import Command, emit
from pipeline.models.plugin import PERMISSIONS

__all__ = ["disable", "enable", "grant", "host", "install", "revoke", "secret"]

RENAMED = {"--store": "--plugin-store"}
"""The issue's spelling `--store` is understood (the vocabulary's is --plugin-store)."""

tenant_option = click.option(
    "--tenant", default="dev", show_default=True, help="The tenant of the local host."
)


@click.command("host", cls=Command, renamed=RENAMED)
@local_store_option()
@click.option(
    "--tenant",
    "tenants",
    multiple=True,
    help="Serve this tenant (repeatable) [default: every tenant of the store].",
)
@listen_options()
@click.option(
    "--max-restarts",
    type=click.IntRange(0, 100),
    default=5,
    show_default=True,
    help="Restarts of a crashing plugin before it is marked failed.",
)
def host(
    store_dir: Path, tenants: tuple[str, ...], port: int, listen: str, max_restarts: int
) -> int:
    """Run the plugins active in a plugin store for its tenants, behind one local address."""
    from pipeline.agent.store import PluginStore
    from pipeline.host.host import Host, require_tenants
    from pipeline.host.server import bind, serving, stop_event
    from pipeline.host.tenants import TenantStore

    store = PluginStore(store_dir)
    served = require_tenants(TenantStore(store.root), list(tenants))
    sock = bind(listen, port)

    def say(line: str) -> None:
        click.echo(line, err=line.startswith("!"))

    async def run() -> None:
        stop = stop_event()
        runner = Host(store, served, max_restarts=max_restarts, say=say)
        async with serving(runner, sock) as live:
            click.echo(f"PowerX local host at {live.url}/ (store {store.root})")
            await runner.start()
            for tenant in served:
                for name in sorted(runner.versions):
                    click.echo(f"  {live.url}/t/{tenant}/p/{name}/")
            click.echo("following the store; Ctrl-C stops", err=False)
            await runner.follow(stop)
        click.echo("stopped")

    asyncio.run(run())
    return 0


@click.command("install", cls=Command, renamed=RENAMED)
@click.option(
    "--from",
    "source",
    required=True,
    type=click.Path(path_type=Path),
    help="A plugin folder (with plugin.yaml) or its built dist/.",
)
@local_store_option()
@tenant_option
@click.option(
    "--grant-declared",
    is_flag=True,
    help="Grant the tenant what plugin.yaml declares (a local tenant).",
)
@format_option()
def install(
    source: Path, store_dir: Path, tenant: str, grant_declared: bool, output_format: str
) -> int:
    """Build (if needed), pack, install, check and activate a plugin from a local folder."""
    from pipeline.agent.store import PluginStore
    from pipeline.cli.agent import pause_from_env
    from pipeline.host.install import PAUSE_STAGES, InstallRequest
    from pipeline.host.install import install as run_install

    request = InstallRequest(source, PluginStore(store_dir), tenant, grant_declared=grant_declared)
    result = run_install(request, pause=pause_from_env(os.environ, PAUSE_STAGES))
    version = result.version
    steps = " ".join(f"{k} {v:.2f}s" for k, v in result.prepared.durations.items())
    data: dict[str, Any] = {
        "plugin": version.plugin,
        "version": version.version,
        "digest": f"sha256:{version.digest}",
        "revision": version.revision,
        "previous": result.previous,
        "built": result.prepared.built,
        "health": result.health,
        "tenant": tenant,
        "store": str(request.store.root),
        "seconds": round(result.seconds, 3),
        "durations": {k: round(v, 4) for k, v in result.prepared.durations.items()},
    }
    text = (
        f"installed {version.plugin} {version.revision} for tenant {tenant}"
        f" (was: {result.previous or 'nothing'})\n"
        f"  health: {result.health}\n  steps: {steps}\n"
        f"  serve it: powerx host --plugin-store {request.store.root}"
        " (a running host switches by itself)\n"
    )
    emit(output_format, data, text)
    return 0


def _grant_command(grant_it: bool) -> Any:
    verb = "grant" if grant_it else "revoke"

    @click.command(verb, cls=Command, renamed=RENAMED)
    @click.argument("plugin")
    @click.argument("permissions", nargs=-1, required=True, type=click.Choice(list(PERMISSIONS)))
    @local_store_option()
    @tenant_option
    @format_option()
    def command(
        plugin: str, permissions: tuple[str, ...], store_dir: Path, tenant: str, output_format: str
    ) -> int:
        from pipeline.host.tenants import TenantStore

        change = TenantStore(store_dir).set_grant(tenant, plugin, list(permissions), grant=grant_it)
        state = "now" if change.changed else "already"
        shown = ", ".join(change.granted) or "nothing"
        text = f"created tenant {tenant} in {change.path}\n" if change.created else ""
        text += f"{state}: tenant {tenant} grants {plugin}: {shown}\n"
        data = {
            "tenant": tenant,
            "plugin": plugin,
            "granted": list(change.granted),
            "changed": change.changed,
            "created": change.created,
        }
        if change.grants_from is not None and change.changed:
            from pipeline.agent.grants import admin_grant_command

            env = change.grants_from
            click.echo(
                f"warning: tenant {tenant}'s grants come from git (environment {env}): the next "
                f"agent sync puts them back; change them there: "
                f"{admin_grant_command(env, tenant, plugin, permissions, verb)}",
                err=True,
            )
        emit(output_format, data, text)
        return 0

    command.help = (
        "Grant PERMISSIONS to PLUGIN for a tenant of the local host."
        if grant_it
        else "Revoke PERMISSIONS from PLUGIN for a tenant of the local host."
    )
    return command


grant = _grant_command(True)
revoke = _grant_command(False)


@click.command("secret", cls=Command, renamed=RENAMED)
@click.argument("plugin")
@click.argument("name")
@local_store_option()
@tenant_option
@format_option()
def secret(plugin: str, name: str, store_dir: Path, tenant: str, output_format: str) -> int:
    """Set secret NAME of PLUGIN for a tenant; the value is read from standard input."""
    from pipeline.errors import InputError
    from pipeline.host.tenants import MAX_SECRETS_BYTES, TenantStore

    value = sys.stdin.read(MAX_SECRETS_BYTES + 1).rstrip("\n")
    if len(value) > MAX_SECRETS_BYTES:
        raise InputError(
            f"the secret on standard input is longer than {MAX_SECRETS_BYTES} characters",
            hint="store a reference (a path or a key id) instead of a large value",
        )
    TenantStore(store_dir).set_secret(tenant, plugin, name, value)
    data = {"tenant": tenant, "plugin": plugin, "secret": name, "characters": len(value)}
    text = f"set secret {name} of {plugin} for tenant {tenant} ({len(value)} characters)\n"
    emit(output_format, data, text)
    return 0


SITE_ONLY = {
    "repo_dir": "--repo",
    "branch": "--branch",
    "remote": "--push",
    "operator": "--operator",
    "reason": "--reason",
}
"""The options of the site's switch (--env), which a local tenant's switch does not take."""


def _enable_command(enabled: bool) -> Any:
    verb = "enable" if enabled else "disable"

    @click.command(verb, cls=Command, renamed=RENAMED)
    @click.argument("name")
    @click.option(
        "--tenant",
        help="A tenant of the local host: switch NAME in its tenant.yaml [default: dev].",
    )
    @click.option(
        "--env",
        "environment",
        help="An environment of a site's release repo: commit the switch there instead.",
    )
    @plugin_store_option(
        f"The local host's plugin store [default: $XDG_STATE_HOME/powerx/store]; with --env "
        f"(enable only, required) a store synced from the environment, where the version "
        f"passed its health check [${PLUGIN_STORE_ENV}].",
        required=False,
    )
    @repo_option("With --env: the site's release repo.")
    @branch_option("With --env: the branch to commit on.")
    @push_option("With --env: push to this remote (default origin), rebasing if needed.")
    @operator_option
    @click.option("--reason", help="With --env: why, recorded in the commit.")
    @format_option()
    @click.pass_context
    def command(
        ctx: click.Context,
        /,
        name: str,
        tenant: str | None,
        environment: str | None,
        store_dir: Path | None,
        output_format: str,
        **site: Any,
    ) -> int:
        if environment is not None:
            if tenant is not None:
                raise click.UsageError("give --env (a site) or --tenant (the local host), not both")
            if enabled and store_dir is None:
                raise click.UsageError(
                    "--env needs --plugin-store: a store synced from the environment, "
                    "where the version passed its health check"
                )
            from pipeline.cli.agent import _switch

            store = store_dir if enabled else None
            return _switch(
                enabled, name, environment, output_format=output_format, store_dir=store, **site
            )
        given = [
            option
            for key, option in SITE_ONLY.items()
            if ctx.get_parameter_source(key) not in (ParameterSource.DEFAULT, None)
        ]
        if given:
            raise click.UsageError(f"{', '.join(given)} only go with --env (a site's switch)")
        return _switch_local(
            enabled, name, tenant or "dev", store_dir or local_store_default(), output_format
        )

    command.help = (
        f"{verb.capitalize()} plugin NAME for a tenant of the local host, or in an environment."
        "\n\nWith --tenant (or neither): the tenant's tenant.yaml; a running host "
        + ("starts it again." if enabled else "stops it.")
        + " With --env: one commit in the site's release repo"
        + (", once its health check passed." if enabled else "; hosts keep it installed.")
    )
    return command


def _switch_local(enabled: bool, plugin: str, tenant: str, store: Path, output_format: str) -> int:
    from pipeline.host.enablement import EnableRequest, set_enabled

    result = set_enabled(EnableRequest(store, tenant, plugin, enabled))
    word = "enabled" if enabled else "disabled"
    if result.changed:
        follows = "starts it" if enabled else "stops it"
        text = (
            f"{word} {plugin} for tenant {tenant} in {store}\n"
            f"  a running host {follows} by itself\n"
        )
    else:
        text = f"{plugin} is already {word} for tenant {tenant}: no change\n"
    data = {
        "plugin": plugin,
        "tenant": tenant,
        "store": str(store),
        "enabled": result.enabled,
        "changed": result.changed,
    }
    emit(output_format, data, text)
    return 0


enable = _enable_command(True)
disable = _enable_command(False)

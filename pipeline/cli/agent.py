"""`powerx agent sync` and `powerx plugin enable|disable|status`: the host-side reconciler."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from pipeline import ci
from pipeline.agent import PAUSE_STAGES, PluginStore, SyncResult, sync
from pipeline.agent.prune import prune
from pipeline.agent.status import StoreReport, store_report
from pipeline.agent.switch import SwitchRequest, set_enabled
from pipeline.agent.sync import PauseHook, no_pause
from pipeline.cli.options import (
    PLUGIN_STORE_ENV,
    branch_option,
    combine,
    env_dir_option,
    format_option,
    health_timeout_option,
    operator_option,
    plugin_store_option,
    push_option,
    repo_option,
)
from pipeline.cli.vocabulary import Command, emit
from pipeline.gitrepo import GitRepo

__all__ = ["agent", "disable", "enable", "status"]

PAUSE_ENV = "POWERX_TEST_PAUSE_AT"
"""Test seam: `POWERX_TEST_PAUSE_AT=<stage>` makes `agent sync` stop at that stage (it says
so on stderr and waits `POWERX_TEST_PAUSE_SECONDS`, default an hour, or until it receives
SIGUSR1) so a test can `kill -9` it there, or run a second sync meanwhile and then let it go
on. Stages: see PAUSE_STAGES."""
PAUSE_SECONDS_ENV = "POWERX_TEST_PAUSE_SECONDS"

STORE_ENV = PLUGIN_STORE_ENV

RENAMED = {"--env": "--env-dir", "--store": "--plugin-store"}
"""Spellings of earlier versions, still understood (with a warning)."""
FormatOption = format_option()


@click.group("agent")
def agent() -> None:
    """The host side: make a local plugin store match an environment folder."""


def pause_from_env(environ: Mapping[str, str], stages: tuple[str, ...] = PAUSE_STAGES) -> PauseHook:
    """The pause hook `POWERX_TEST_PAUSE_AT` asks for (test seam), or none."""
    wanted = environ.get(PAUSE_ENV)
    if not wanted:
        return no_pause
    if wanted not in stages:
        raise click.UsageError(f"{PAUSE_ENV} must be one of {', '.join(stages)}")
    seconds = float(environ.get(PAUSE_SECONDS_ENV, "3600"))

    def pause(stage: str) -> None:
        if stage == wanted:
            resume = {signal.SIGUSR1}
            signal.pthread_sigmask(signal.SIG_BLOCK, resume)  # held until waited for: no race
            print(f"powerx: paused at {stage} ({PAUSE_ENV})", file=sys.stderr, flush=True)
            signal.sigtimedwait(resume, seconds)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, resume)

    return pause


@agent.command("sync", cls=Command, renamed=RENAMED)
@env_dir_option()
@plugin_store_option()
@click.option("--tenant", help="Resolve canaries for this tenant [default: the stable version].")
@health_timeout_option()
@click.option(
    "--retry-failed",
    is_flag=True,
    help="Activate again a version whose HTTP health check failed, to check it again.",
)
@FormatOption
def sync_command(
    environment_dir: Path,
    store_dir: Path,
    tenant: str | None,
    health_timeout: float,
    retry_failed: bool,
    output_format: str,
) -> int:
    """Make the plugin store match the environment folder.

    Installs (verified, extracted, health-checked) and activates each enabled plugin,
    keeps the last working version when a health check fails, deactivates disabled and
    removed plugins, and writes STORE/status.json. Exit 0 when everything converged,
    1 when a health check or verification failed, 2 on bad input.
    """
    result = sync(
        environment_dir,
        PluginStore(store_dir),
        tenant=tenant,
        health_timeout=health_timeout,
        retry_failed=retry_failed,
        pause=pause_from_env(os.environ),
        on_wait=lambda: click.echo(
            f"waiting for another sync of {store_dir} to finish (lock {store_dir}/.lock)",
            err=True,
        ),
    )
    if output_format == "json":
        click.echo(json.dumps(sync_json(result), indent=2))
    else:
        click.echo(sync_text(result), nl=False)
    return result.exit_code


@agent.command("prune", cls=Command, renamed={"--store": "--plugin-store"})
@plugin_store_option()
@click.option(
    "--keep",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="Other versions to keep per plugin (newest first), besides active and desired.",
)
@FormatOption
def prune_command(store_dir: Path, keep: int, output_format: str) -> int:
    """Delete installed versions that are neither active nor desired (artifacts stay)."""
    result = prune(PluginStore(store_dir), keep=keep)
    lines = [f"removed {folder.parent.name} {folder.name}" for folder in result.removed]
    lines.append(f"{len(result.removed)} version(s) removed, {len(result.kept)} kept")
    data = {
        "removed": [{"plugin": f.parent.name, "version": f.name} for f in result.removed],
        "kept": len(result.kept),
    }
    emit(output_format, data, "".join(f"{line}\n" for line in lines))
    return 0


def sync_json(result: SyncResult) -> dict[str, Any]:
    """The sync result as JSON data."""
    return {
        "ok": result.ok,
        "environment": result.environment,
        "tenant": result.tenant,
        "status": str(result.status_path) if result.status_path else None,
        "plugins": [
            {
                "name": p.name,
                "desiredVersion": p.desired_version,
                "observedVersion": p.observed_version,
                "action": p.action,
                "healthy": p.healthy,
                "message": p.message,
            }
            for p in result.plugins
        ],
    }


def sync_text(result: SyncResult) -> str:
    """The sync result for people: one line per plugin, then a verdict."""
    tenant = f" for tenant {result.tenant}" if result.tenant else ""
    lines = [f"sync {result.environment}{tenant}"]
    for p in result.plugins:
        versions = f"{p.desired_version or '-'} (active {p.observed_version or 'none'})"
        lines.append(f"  {p.action:<12} {p.name:<20} {versions}")
        if p.action != "unchanged":
            lines.extend(f"      {line}" for line in p.message.splitlines())
    failed = [p.name for p in result.plugins if not p.ok]
    verdict = "ok" if result.ok else f"FAILED: {', '.join(failed)}"
    lines.append(f"{verdict} ({len(result.plugins)} plugin(s); status {result.status_path})")
    return "\n".join(lines) + "\n"


_switch_options = combine(
    click.argument("name"),
    click.option("--env", "environment", required=True, help="The environment."),
    repo_option("The site's release repo."),
    branch_option(),
    push_option(),
    operator_option,
    click.option("--reason", help="Why: recorded in the commit."),
    FormatOption,
)


def _switch(
    enabled: bool,
    name: str,
    environment: str,
    repo_dir: Path,
    branch: str,
    remote: str | None,
    operator: str | None,
    reason: str | None,
    output_format: str,
    store_dir: Path | None = None,
) -> int:
    request = SwitchRequest(
        plugin=name,
        environment=environment,
        enabled=enabled,
        operator=operator,
        reason=reason,
        ci_run=ci.run_url(os.environ),
    )
    store = PluginStore(store_dir) if store_dir is not None else None
    result = set_enabled(GitRepo(repo_dir), request, branch=branch, remote=remote, store=store)
    word = "enabled" if enabled else "disabled"
    health = result.health
    data = {
        "plugin": name,
        "version": result.version,
        "environment": environment,
        "enabled": enabled,
        "commit": result.commit,
        "health": None
        if health is None
        else {
            "healthy": health.healthy,
            "checkedAt": health.checked_at.isoformat(),
            "detail": health.detail,
        },
    }
    if result.commit is None:
        lines = [f"{name} {result.version} is already {word} in {environment}: no change"]
    else:
        lines = [f"{word} {name} {result.version} in {environment} (commit {result.commit[:12]})"]
        if health is not None and health.healthy is None:
            lines.append("  health check: HTTP, run when hosts activate it (a failure rolls back)")
        elif health is not None:
            lines.append(
                f"  health check passed at {health.checked_at.isoformat()}: {health.detail}"
            )
        lines.append("  hosts follow at their next 'powerx agent sync'")
    emit(output_format, data, "".join(f"{line}\n" for line in lines))
    return 0


@click.command("enable", cls=Command, renamed={"--store": "--plugin-store"})
@_switch_options
@plugin_store_option(
    f"A plugin store synced from this environment, where the version passed its health "
    f"check [${STORE_ENV}]."
)
def enable(**options: Any) -> int:
    """Enable plugin NAME in an environment, once its health check passed: one commit.

    Refused (exit 1) unless STORE's status file records that the version and digest
    environments/ENV/plugins/NAME.yaml names passed its health check.
    """
    return _switch(True, **options)


@click.command("disable")
@_switch_options
def disable(**options: Any) -> int:
    """Disable plugin NAME in an environment: hosts keep it installed but inactive."""
    return _switch(False, **options)


@click.command("status", cls=Command, renamed=RENAMED)
@plugin_store_option()
@env_dir_option(
    "Also compare with this environment folder (what the next sync would do).", required=False
)
@click.option("--tenant", help="The tenant for canaries [default: the last sync's].")
@FormatOption
def status(
    store_dir: Path, environment_dir: Path | None, tenant: str | None, output_format: str
) -> int:
    """Desired against observed per plugin: active version, health, drift.

    Exit 0 when the last sync was ok and nothing drifts, 1 otherwise (for monitoring).
    """
    report = store_report(PluginStore(store_dir), environment_dir, tenant)
    if output_format == "json":
        click.echo(json.dumps(report_json(report), indent=2))
    else:
        click.echo(report_text(report), nl=False)
    return report.exit_code


def report_json(report: StoreReport) -> dict[str, Any]:
    """The store report as JSON data."""
    return {
        "store": str(report.store),
        "environment": report.environment,
        "tenant": report.tenant,
        "lastSync": report.last_sync.isoformat(),
        "ok": report.ok,
        "lastError": report.last_error,
        "plugins": [
            {
                "name": row.name,
                "desiredVersion": row.desired_version,
                "enabled": row.enabled,
                "activeVersion": row.active_version,
                "healthy": row.healthy,
                "lastAction": row.last_action,
                "lastError": row.last_error,
                "drift": row.drift,
            }
            for row in report.plugins
        ],
    }


def _health_word(healthy: bool | None) -> str:
    return {True: "healthy", False: "UNHEALTHY", None: "-"}[healthy]


def report_text(report: StoreReport) -> str:
    """The store report for people: a table, then drift and errors."""
    tenant = f", tenant {report.tenant}" if report.tenant else ""
    lines = [
        f"store {report.store} (environment {report.environment}{tenant}; "
        f"last sync {report.last_sync.isoformat()}, {'ok' if report.ok else 'FAILED'})",
        f"  {'PLUGIN':<20} {'DESIRED':<12} {'ENABLED':<8} {'ACTIVE':<12} {'HEALTH':<10} LAST",
    ]
    for row in report.plugins:
        enabled = {True: "yes", False: "no", None: "-"}[row.enabled]
        lines.append(
            f"  {row.name:<20} {row.desired_version or '-':<12} {enabled:<8} "
            f"{row.active_version or '-':<12} {_health_word(row.healthy):<10} "
            f"{row.last_action or '-'}"
        )
        if row.drift:
            lines.append(f"      drift: {row.drift}")
        if row.last_error:
            lines.append(f"      error: {row.last_error.splitlines()[0]}")
    return "\n".join(lines) + "\n"

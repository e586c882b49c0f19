"""`px-admin diff` and `px-admin drift`: read-only views of what runs where."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli.options import PLUGIN_STORE_ENV, format_option, repo_option
from pipeline.cli.vocabulary import emit

REV_HELP = "The revision of the release repo to read."


def register(cli: click.Group) -> None:
    """Add `diff` and `drift` to `px-admin`."""
    cli.add_command(diff)
    cli.add_command(drift)


@click.command("diff")
@click.argument("env_a")
@click.argument("env_b")
@repo_option()
@click.option("--rev", default="HEAD", show_default=True, help=REV_HELP)
@format_option("Print the differences as text (people) or JSON (tools).")
def diff(env_a: str, env_b: str, repo_dir: Path, rev: str, output_format: str) -> None:
    """What runs differently in ENV_A and ENV_B.

    Plugins (present, version, digest, enabled, canary), tenants, groups, grants, and the
    entitlements of tenants one environment serves and the other does not. Exit 0.
    """
    from pipeline.admin.diff import diff_environments
    from pipeline.admin.state import snapshot_at
    from pipeline.gitrepo import GitRepo

    result = diff_environments(snapshot_at(GitRepo(repo_dir), rev), env_a, env_b)
    emit(output_format, result.to_json(), result.text())


@click.command("drift")
@click.option(
    "--env",
    "environment",
    metavar="ENV",
    help="The environment the sites must report (default: each one's own).",
)
@click.option(
    "--status",
    "status_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="An agent's status file (status.json) a site reports; repeatable.",
)
@click.option(
    "--plugin-store",
    "store_dirs",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    envvar=PLUGIN_STORE_ENV,
    help="A site's whole plugin store (status, active links, tenants); repeatable "
    f"[${PLUGIN_STORE_ENV}].",
)
@repo_option()
@click.option("--rev", default="HEAD", show_default=True, help=REV_HELP)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "prometheus"]),
    default="text",
    show_default=True,
    help="text (people), json (monitoring) or prometheus (text exposition format).",
)
def drift(
    environment: str | None,
    status_files: tuple[Path, ...],
    store_dirs: tuple[Path, ...],
    repo_dir: Path,
    rev: str,
    output_format: str,
) -> int:
    """What git says each site should run against what it reports it runs.

    Each difference comes with its cause: not yet synced, failed health check, failed
    install, unlicensed, not granted, disabled or changed by hand, unknown plugin or
    tenant. Exit 1 when anything drifts, 0 when nothing does.
    """
    from pipeline.admin.drift import drift as compare
    from pipeline.admin.drift import site_from_status, site_from_store
    from pipeline.admin.drift_metrics import prometheus_text
    from pipeline.admin.state import snapshot_at
    from pipeline.gitrepo import GitRepo

    sites = [site_from_status(path) for path in status_files]
    sites += [site_from_store(path) for path in store_dirs]
    report = compare(snapshot_at(GitRepo(repo_dir), rev), sites, environment)
    if output_format == "prometheus":
        click.echo(prometheus_text(report), nl=False)
    else:
        emit(output_format, report.to_json(), report.text())
    return report.exit_code

"""`powerx audit`: the audit trail from git history."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from pipeline.cli.options import format_option, repo_option
from pipeline.cli.vocabulary import Command
from pipeline.gitrepo import GitRepo
from pipeline.promotion.audit import AuditQuery, audit_trail
from pipeline.promotion.render import render_audit_json, render_audit_table


@click.command(cls=Command, renamed={"--format=table": "--format=text"})
@repo_option()
@click.option("--rev", default="HEAD", show_default=True, help="Where the trail starts.")
@click.option("--plugin", help="Only this plugin.")
@click.option("--env", "environment", help="Only this environment.")
@click.option(
    "--since",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    help="Only entries since this date (UTC).",
)
@format_option()
def audit(
    repo_dir: Path,
    rev: str,
    plugin: str | None,
    environment: str | None,
    since: datetime | None,
    output_format: str,
) -> int:
    """The audit trail from git history: who, when, what, which plugin, version, environment."""
    git = GitRepo(repo_dir)
    query = AuditQuery(plugin, environment, since.replace(tzinfo=UTC) if since else None)
    entries = list(audit_trail(git, git.resolve(rev), query))
    click.echo(
        render_audit_json(entries) if output_format == "json" else render_audit_table(entries),
        nl=False,
    )
    return 0
